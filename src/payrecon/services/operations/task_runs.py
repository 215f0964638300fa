"""Task runs and dead letters.

Every task records its start, counts and end (or error) in `task_runs`, and beats while it runs
(`heartbeat_at`, from a thread of the worker process), so that no run stays "running" for ever:

    succeeded       the work is done (`breached`: done, and its counts say `outcome: breached`:
                    the audit found ledger invariants broken)
    failed          it raised and will not be retried: the pipeline stops there, loudly
    retrying        a transient error (a dropped database or broker connection): Celery runs the
                    same message again later; this does not count against the delivery cap
    lost            its worker died under it: found when the message comes back, when a worker
                    of the same machine sees its process gone (`worker_process.known_gone`), or
                    when its heartbeat stops (`recover_lost_runs`, which the worker layer follows
                    by putting the message back on its queue at once)
    dead_lettered   the message came back more than `max_deliveries` times after killing its
                    worker: it is not run again, a dead letter says so, and the task fails

The cap is for poison messages (ones that kill their worker each time); transient errors are
bounded by the task's own retry limit instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select, update

from payrecon.domain.errors import NotFound, PayreconError
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.operations.worker_process import known_gone, this_process
from payrecon.store import tables as t
from payrecon.store.bulk import insert_ignoring_conflicts
from payrecon.store.listing import ListQueryLike, apply_list_query
from payrecon.store.ops_tables import dead_letters

log = get_logger(__name__)
HEARTBEAT_SECONDS = 10.0
LOST_AFTER_SECONDS = 45.0  # beats missed for this long: the worker is gone
_ENDED_WITH_THEIR_WORKER = ("running", "lost")
OUTCOME = "outcome"  # the key of a run's counts that names how it ended, when not `succeeded`
SUCCEEDED, BREACHED = "succeeded", "breached"
INTERRUPTED = "interrupted"  # stopped by its worker (SystemExit): its message comes again
RETRIED = "retried"  # an attempt that ended `retrying` or `interrupted`, whose retry has started
RUN_STATUSES = (
    "running",
    SUCCEEDED,
    "failed",
    "retrying",
    INTERRUPTED,
    RETRIED,
    "lost",
    "dead_lettered",
    BREACHED,
)


class DeadLettered(PayreconError):
    """A message came back more times than the cap allows: it is not run again."""

    code = "dead_lettered"


class RunRecorder:
    def __init__(self, run_id: int | None) -> None:
        self.run_id = run_id
        self.counts: dict[str, Any] = {}
        self.status = "succeeded"  # the work may say `breached` instead

    @property
    def dead_lettered(self) -> bool:
        return self.run_id is None


def _deaths(engine: Engine, task_id: str, lost_after: float) -> int:
    """Earlier deliveries of the message that ended with their worker: marked lost, or still
    "running" with a heartbeat older than `lost_after` (which are marked lost now)."""
    stale = utcnow() - timedelta(seconds=lost_after)
    runs = t.task_runs
    with engine.begin() as conn:
        gone = _gone_runs(conn, runs.c.task_id == task_id)
        conn.execute(
            update(runs)
            .where(
                runs.c.task_id == task_id,
                runs.c.status == "running",
                or_(
                    func.coalesce(runs.c.heartbeat_at, runs.c.started_at) < stale,
                    runs.c.id.in_(gone),
                ),
            )
            .values(
                status="lost",
                finished_at=utcnow(),
                error="its worker died: the message was delivered again",
            )
        )
        return int(
            conn.execute(
                select(func.count())
                .select_from(runs)
                .where(runs.c.task_id == task_id, runs.c.status.in_(_ENDED_WITH_THEIR_WORKER))
            ).scalar_one()
        )


def _dead_letter(engine: Engine, task_id: str, name: str, params: Mapping[str, Any], n: int) -> str:
    error = f"delivery {n} is past the cap: the {n - 1} earlier runs died with their worker"
    now = utcnow()
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
                    "error": error,
                    "created_at": now,
                }
            ],
            ["task_id"],
        )
        conn.execute(
            insert(t.task_runs).values(
                task_id=task_id,
                name=name,
                status="dead_lettered",
                params=dict(params),
                counts={},
                error=error,
                started_at=now,
                finished_at=now,
                worker=this_process(),
            )
        )
    log.error("tasks.run.dead_lettered", task=name, deliveries=n)
    return error


class _Heartbeat:
    """Beats for one run from a daemon thread until stopped."""

    def __init__(self, engine: Engine, run_id: int, every: float) -> None:
        self._engine, self._run_id, self._every = engine, run_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every)

    def _beat(self) -> None:
        runs = t.task_runs
        while not self._stop.wait(self._every):
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id == self._run_id, runs.c.status == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except Exception as exc:  # a missed beat is retried; losing the run is the fallback
                log.warning(
                    "tasks.run.heartbeat_missed", run_id=self._run_id, error=type(exc).__name__
                )


@contextmanager
def recorded_run(
    engine: Engine,
    name: str,
    *,
    task_id: str | None,
    params: Mapping[str, Any],
    max_deliveries: int | None = None,
    retrying: Callable[[BaseException], bool] = lambda exc: False,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    lost_after: float = LOST_AFTER_SECONDS,
) -> Iterator[RunRecorder]:
    """Record one run of task `name`; the body fills `recorder.counts` (and may set
    `recorder.status = "breached"`). `retrying(exc)` says whether an error will be retried.

    With `max_deliveries`, a delivery past the cap writes a dead letter and raises
    `DeadLettered`, so the pipeline stops there and says why."""
    if max_deliveries is not None and task_id is not None:
        deaths = _deaths(engine, task_id, lost_after)
        if deaths >= max_deliveries:
            raise DeadLettered(_dead_letter(engine, task_id, name, params, deaths + 1))
    now = utcnow()
    with engine.begin() as conn:
        if task_id is not None:  # this delivery is the retry of earlier attempts: settle them
            conn.execute(
                update(t.task_runs)
                .where(
                    t.task_runs.c.task_id == task_id,
                    t.task_runs.c.status.in_(("retrying", INTERRUPTED)),
                )
                .values(status=RETRIED)
            )
        run_id = conn.execute(
            insert(t.task_runs)
            .values(
                task_id=task_id,
                name=name,
                status="running",
                params=dict(params),
                counts={},
                started_at=now,
                heartbeat_at=now,
                worker=this_process(),
            )
            .returning(t.task_runs.c.id)
        ).scalar_one()
    recorder = RunRecorder(run_id)
    try:
        with _Heartbeat(engine, run_id, heartbeat_seconds):
            yield recorder
    except BaseException as exc:
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            # The worker stopped the task (a lost broker connection cancels running tasks, a
            # cold shutdown ends them): the message is unacknowledged and is delivered again.
            status = INTERRUPTED
        else:
            status = "retrying" if retrying(exc) else "failed"
        _finish(engine, run_id, status, error=f"{type(exc).__name__}: {exc}")
        log.warning(
            "tasks.run.failed",
            task=name,
            run_id=run_id,
            error=type(exc).__name__,
            run_status=status,
        )
        raise
    status = BREACHED if recorder.counts.get(OUTCOME) == BREACHED else recorder.status
    _finish(engine, run_id, status, counts=recorder.counts)
    if status == BREACHED:
        log.error("tasks.run.breached", task=name, run_id=run_id)
    log.info(
        "tasks.run.succeeded",
        task=name,
        run_id=run_id,
        run_status=recorder.status,
        **recorder.counts,
    )


def _finish(
    engine: Engine,
    run_id: int,
    status: str,
    *,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """End the run, unless it was marked lost meanwhile (its worker was taken for dead)."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
    if counts is not None:
        values["counts"] = counts
    with engine.begin() as conn:
        conn.execute(
            update(t.task_runs)
            .where(t.task_runs.c.id == run_id, t.task_runs.c.status == "running")
            .values(values)
        )


def _gone_runs(conn: Any, *where: Any) -> list[int]:
    """The running runs (of `where`) whose process this one can tell has exited."""
    runs = t.task_runs
    rows = conn.execute(select(runs.c.id, runs.c.worker).where(runs.c.status == "running", *where))
    return [row.id for row in rows if known_gone(row.worker)]


def recover_lost_runs(
    engine: Engine, *, lost_after: float = LOST_AFTER_SECONDS
) -> list[tuple[str, str]]:
    """Mark lost every run whose process a worker of this machine sees gone, and every run whose
    heartbeat stopped more than `lost_after` seconds ago; returns the (task id, task name) of
    those this call marked (so that, with several workers recovering at once, each message is put
    back by one of them: the update re-checks "running" under the row's lock)."""
    stale = utcnow() - timedelta(seconds=lost_after)
    runs = t.task_runs
    found: list[Any] = []
    with engine.begin() as conn:
        gone = _gone_runs(conn)
        for condition, error in (
            (runs.c.id.in_(gone), "its worker's process exited (seen from the same machine)"),
            (
                func.coalesce(runs.c.heartbeat_at, runs.c.started_at) < stale,
                f"its worker stopped beating for more than {lost_after:.0f} s",
            ),
        ):
            found += conn.execute(
                update(runs)
                .where(runs.c.status == "running", condition)
                .values(status="lost", finished_at=utcnow(), error=error)
                .returning(runs.c.id, runs.c.task_id, runs.c.name)
            ).all()
    for row in found:
        log.warning("tasks.run.lost", task=row.name, run_id=row.id, task_id=row.task_id)
    return [(r.task_id, r.name) for r in found if r.task_id]


def _task_ids_with_runs(
    engine: Engine, task_ids: set[str], statuses: Collection[str] | None = None
) -> set[str]:
    """Those of `task_ids` with a run of one of `statuses` (of any status when None)."""
    runs = t.task_runs
    query = select(runs.c.task_id).where(runs.c.task_id.in_(task_ids))
    if statuses is not None:
        query = query.where(runs.c.status.in_(statuses))
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def running_or_ended_task_ids(engine: Engine, task_ids: set[str]) -> set[str]:
    """Those of `task_ids` with a run running, or one that ended for good (its message is not
    to be delivered again: its work is done; `worker.recovery` asks, of a succeeded one,
    whether the chain's next step was sent)."""
    held = ("running", SUCCEEDED, BREACHED, "failed", "dead_lettered")
    return _task_ids_with_runs(engine, task_ids, held)


def succeeded_task_ids(engine: Engine, task_ids: set[str]) -> set[str]:
    """Those of `task_ids` with a run that succeeded (its work is done and committed)."""
    return _task_ids_with_runs(engine, task_ids, (SUCCEEDED, BREACHED))


def task_ids_with_a_run(engine: Engine, task_ids: set[str]) -> set[str]:
    """Those of `task_ids` with a run of any status (a message of theirs was delivered)."""
    return _task_ids_with_runs(engine, task_ids)


def interrupted_task_ids(engine: Engine) -> set[str]:
    """The tasks whose last attempt was interrupted and whose next delivery has not started:
    their messages are to be put back on their queues (a Redis broker that was down when the
    worker gave them up keeps them unacknowledged until its visibility timeout)."""
    runs, later = t.task_runs, t.task_runs.alias("later")
    newer = select(later.c.id).where(later.c.task_id == runs.c.task_id, later.c.id > runs.c.id)
    with engine.connect() as conn:
        found = conn.execute(
            select(runs.c.task_id).where(
                runs.c.status == INTERRUPTED, runs.c.task_id.is_not(None), ~newer.exists()
            )
        ).scalars()
        return set(found)


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


# The list language of every list (`payrecon.store.listing`) on task runs.
TASK_RUN_FIELDS: dict[str, Any] = {
    "id": t.task_runs.c.id,
    "taskId": t.task_runs.c.task_id,
    "name": t.task_runs.c.name,
    "status": t.task_runs.c.status,
    "error": t.task_runs.c.error,
    "startedAt": t.task_runs.c.started_at,
    "finishedAt": t.task_runs.c.finished_at,
}
TASK_RUN_SHOWN = [*TASK_RUN_FIELDS, "params", "counts", "durationSeconds", "breaches"]


def list_task_run_page(engine: Engine, q: ListQueryLike) -> tuple[list[TaskRun], int]:
    """Task runs with the list conventions (`?name=`, `?status=in:failed,breached`,
    `?name=like:poll`, `sort=`, ...); newest first by default."""
    page, count = apply_list_query(
        select(t.task_runs),
        TASK_RUN_FIELDS,
        q,
        default_sort=[("startedAt", True), ("id", True)],
    )
    with engine.connect() as conn:
        return [_run(r) for r in conn.execute(page)], int(conn.execute(count).scalar_one())


def get_task_run(engine: Engine, run_id: int) -> TaskRun:
    with engine.connect() as conn:
        row = conn.execute(select(t.task_runs).where(t.task_runs.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"task run {run_id} does not exist")
    return _run(row)


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
