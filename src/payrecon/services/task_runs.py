"""Task runs: every task records its start, its counts and its end (or error) in `task_runs`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, insert, update

from payrecon.services.clock import utcnow
from payrecon.store import tables as t


class RunRecorder:
    def __init__(self) -> None:
        self.counts: dict[str, Any] = {}


@contextmanager
def recorded_run(
    engine: Engine, name: str, *, task_id: str | None, params: Mapping[str, Any]
) -> Iterator[RunRecorder]:
    """Record one run of task `name`; the body fills `recorder.counts`."""
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(t.task_runs)
            .values(
                task_id=task_id,
                name=name,
                status="running",
                params=dict(params),
                counts={},
                started_at=utcnow(),
            )
            .returning(t.task_runs.c.id)
        ).scalar_one()
    recorder = RunRecorder()
    try:
        yield recorder
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(
                update(t.task_runs)
                .where(t.task_runs.c.id == run_id)
                .values(status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow())
            )
        raise
    with engine.begin() as conn:
        conn.execute(
            update(t.task_runs)
            .where(t.task_runs.c.id == run_id)
            .values(status="succeeded", counts=recorder.counts, finished_at=utcnow())
        )
