"""Task runs and dead letters.

Every task records its start, counts and end (or error) in `task_runs`. A message that keeps
coming back (the worker died under it: acks late + reject on worker lost redeliver it) is run at
most `max_deliveries` times; the next delivery writes a dead letter instead of running again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from payrecon.domain.errors import NotFound
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.store import tables as t
from payrecon.store.bulk import insert_ignoring_conflicts
from payrecon.store.ops_tables import dead_letters

log = get_logger(__name__)


class RunRecorder:
    def __init__(self, run_id: int | None) -> None:
        self.run_id = run_id
        self.counts: dict[str, Any] = {}

    @property
    def dead_lettered(self) -> bool:
        return self.run_id is None


def _deliveries_so_far(engine: Engine, task_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(t.task_runs)
                .where(t.task_runs.c.task_id == task_id)
            ).scalar_one()
        )


def _dead_letter(
    engine: Engine, task_id: str, name: str, params: Mapping[str, Any], n: int
) -> None:
    with engine.begin() as conn:
        insert_ignoring_conflicts(
            conn,
            dead_letters,
            [
                {
                    "task_id": task_id,
                    "task": name,
                    "params": dict(params),
                    "deliveries": n,
                    "error": f"delivery {n} is past the cap; the earlier runs did not finish",
                    "created_at": utcnow(),
                }
            ],
            ["task_id"],
        )
    log.error("tasks.run.dead_lettered", task=name, deliveries=n)


@contextmanager
def recorded_run(
    engine: Engine,
    name: str,
    *,
    task_id: str | None,
    params: Mapping[str, Any],
    max_deliveries: int | None = None,
) -> Iterator[RunRecorder]:
    """Record one run of task `name`; the body fills `recorder.counts`.

    With `max_deliveries`, a delivery past the cap writes a dead letter and yields a recorder
    whose `dead_lettered` is true: the body must then do nothing."""
    if max_deliveries is not None and task_id is not None:
        previous = _deliveries_so_far(engine, task_id)
        if previous >= max_deliveries:
            _dead_letter(engine, task_id, name, params, previous + 1)
            yield RunRecorder(None)
            return
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
    recorder = RunRecorder(run_id)
    try:
        yield recorder
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(
                update(t.task_runs)
                .where(t.task_runs.c.id == run_id)
                .values(status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow())
            )
        log.warning("tasks.run.failed", task=name, run_id=run_id, error=type(exc).__name__)
        raise
    with engine.begin() as conn:
        conn.execute(
            update(t.task_runs)
            .where(t.task_runs.c.id == run_id)
            .values(status="succeeded", counts=recorder.counts, finished_at=utcnow())
        )
    log.info("tasks.run.succeeded", task=name, run_id=run_id, **recorder.counts)


@dataclass(frozen=True, slots=True)
class TaskRun:
    id: int
    task_id: str | None
    name: str
    status: str
    params: dict[str, Any]
    counts: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _run(row: Any) -> TaskRun:
    return TaskRun(
        id=row.id,
        task_id=row.task_id,
        name=row.name,
        status=row.status,
        params=row.params,
        counts=row.counts,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def list_task_runs(
    engine: Engine,
    *,
    name: str | None = None,
    status: str | None = None,
    task_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TaskRun], int]:
    """Newest first, with the total count of runs that match."""
    where = [
        c
        for c in (
            t.task_runs.c.name == name if name else None,
            t.task_runs.c.status == status if status else None,
            t.task_runs.c.task_id == task_id if task_id else None,
        )
        if c is not None
    ]
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(t.task_runs).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(t.task_runs)
            .where(*where)
            .order_by(t.task_runs.c.started_at.desc(), t.task_runs.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return [_run(r) for r in rows], int(total)


def task_run_by_task_id(engine: Engine, task_id: str) -> TaskRun:
    runs, _ = list_task_runs(engine, task_id=task_id, limit=1)
    if not runs:
        raise NotFound(f"no run of task {task_id} has been recorded")
    return runs[0]


def last_success_started(engine: Engine, name: str) -> datetime | None:
    """When the latest successful run of task `name` started (its work covers what came before)."""
    with engine.connect() as conn:
        started: datetime | None = conn.execute(
            select(func.max(t.task_runs.c.started_at)).where(
                t.task_runs.c.name == name, t.task_runs.c.status == "succeeded"
            )
        ).scalar()
    return started
