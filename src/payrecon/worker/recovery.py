"""Recovery without a person: every worker process, at start and every ten seconds, marks lost the
task runs whose worker stopped beating (`services.operations.task_runs.recover_lost_runs`) and
puts their messages back on their queues at once.

Why: with Redis as the broker, a message whose worker was killed (SIGKILL of the main process, a
host lost) stays "unacked" until the broker's visibility timeout, which must stay above the
longest task; without this, the pipeline would wait that long. RabbitMQ (quorum queues) redelivers
as soon as the consumer's connection drops, so there only the runs are marked.

A message a worker took off a Redis queue and was killed before it wrote it down as
unacknowledged is on no queue at all: the book of sent messages (`payrecon.worker.sent`) sends it
again.

A message a worker had received but not started when its Redis connection dropped (a broker
restart) has no run at all: the worker dropped it, and the broker, down at that moment, could
not take it back. It is found as an orphan (`orphaned`): unacknowledged for `ORPHANED_AFTER`
seconds, not due later (a retry's ETA), no run of it running or ended for good, and held by no
worker (this one's own requests, and what the others answer to `inspect`); then it is put back.

A worker killed after a chain step's run committed as succeeded but before Celery sent the
chain's next step leaves that step's message unacknowledged and the next step unsent: the chain
would wait for the visibility timeout (seen in the fault suite: a worker killed just after
`store_files`). Such a message is an orphan too when it is no group's member (a chord counts
its members' results: a second run would count twice) and its next step is a single task that
has no run and is not in the book of sent messages (so it was never sent); put back, its
idempotent work runs again (adding nothing) and the chain goes on.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any, ClassVar

from celery import bootsteps
from celery.worker import state as worker_state

from payrecon.container import get_container
from payrecon.logging import get_logger
from payrecon.services.operations.task_runs import (
    LOST_AFTER_SECONDS,
    interrupted_task_ids,
    recover_lost_runs,
    running_or_ended_task_ids,
    succeeded_task_ids,
    task_ids_with_a_run,
)
from payrecon.worker import sent

log = get_logger(__name__)
EVERY_SECONDS = 10.0
ORPHANED_AFTER = LOST_AFTER_SECONDS


def recover(app: Any) -> dict[str, int]:
    """Mark lost runs; put their messages back (Redis), and those of interrupted runs (a worker
    whose broker connection dropped cancels its running tasks; the broker, down at that moment,
    could not take their messages back). Returns the counts."""
    engine = get_container().engine
    lost = recover_lost_runs(engine, lost_after=LOST_AFTER_SECONDS)
    interrupted = interrupted_task_ids(engine)
    orphans = orphaned(app, engine)
    wanted = {task_id for task_id, _ in lost} | interrupted | orphans
    restored = put_back(app, wanted) if wanted else 0
    vanished = (
        sent.missing(app, engine, lambda: _held_anywhere(app)) if sent.is_redis(_url(app)) else []
    )
    resent = sent.send_again(app, vanished) if vanished else 0
    if lost or restored or resent:
        log.warning(
            "tasks.recovered",
            lost=len(lost),
            interrupted=len(interrupted),
            orphaned=len(orphans),
            messages_put_back=restored,
            messages_sent_again=resent,
        )
    return {
        "lost": len(lost),
        "interrupted": len(interrupted),
        "orphaned": len(orphans),
        "put_back": restored,
        "sent_again": resent,
    }


def _url(app: Any) -> str:
    return str(app.conf.broker_url)


def _held_anywhere(app: Any) -> set[str] | None:
    held = _held_by_other_workers(app)
    return None if held is None else held | _held_here()


def orphaned(app: Any, engine: Any, *, now: float | None = None) -> set[str]:
    """Task ids of unacknowledged Redis messages that no worker holds (see the module's doc)."""
    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        return set()
    now = time.time() if now is None else now
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client, qos = channel.client, channel.qos
        old = [
            tag
            for tag, delivered in client.zrange(qos.unacked_index_key, 0, -1, withscores=True)
            if delivered < now - ORPHANED_AFTER
        ]
        raws = client.hmget(qos.unacked_key, old) if old else []
        messages: dict[str, dict[str, Any]] = {}
        for raw in raws:
            if raw is None:
                continue  # acknowledged meanwhile
            message = json.loads(raw)[0]
            headers = message.get("headers") or {}
            eta = headers.get("eta")
            if eta and datetime.fromisoformat(eta).timestamp() > now - ORPHANED_AFTER:
                continue  # a retry held until it is due
            if headers.get("id"):
                messages[headers["id"]] = message
        if not messages:
            return set()
        ended = running_or_ended_task_ids(engine, set(messages))
        found = set(messages) - ended
        # Succeeded steps whose worker died before it sent the chain's next step.
        nexts = {i: _next_step(messages[i]) for i in ended & succeeded_task_ids(engine, ended)}
        waiting = {i: n for i, n in nexts.items() if n is not None}
        if waiting:
            booked = {n for n in waiting.values() if client.hexists(sent.SENT_KEY, n)}
            sent_or_ran = booked | task_ids_with_a_run(engine, set(waiting.values()))
            found |= {i for i, n in waiting.items() if n not in sent_or_ran}
    if not found:
        return set()
    found -= _held_here()
    if found:
        held = _held_by_other_workers(app)
        found = set() if held is None else found - held
    return found


def _next_step(message: dict[str, Any]) -> str | None:
    """The task id of the chain step a message's task sends when it succeeds, if that is one
    task (not a group or chord) and the message is no group's member; else None."""
    headers = message.get("headers") or {}
    if headers.get("group"):
        return None
    try:
        raw = message["body"]
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            raw = base64.b64decode(raw)
        embed = json.loads(raw)[2] or {}
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    chain = embed.get("chain") or []
    if not chain:
        return None
    step = chain[-1]  # Celery keeps a chain's rest reversed: the next step is the last
    if step.get("subtask_type") or step.get("task") in (None, "celery.group", "celery.chord"):
        return None
    task_id = (step.get("options") or {}).get("task_id")
    return str(task_id) if task_id else None


def _held_here() -> set[str]:
    return {r.id for r in (*worker_state.reserved_requests, *worker_state.active_requests)}


def _held_by_other_workers(app: Any) -> set[str] | None:
    """What the workers that answer hold (running, reserved, due later); None if asking failed."""
    try:
        inspect = app.control.inspect(timeout=1.0)
        replies = [inspect.active(), inspect.reserved(), inspect.scheduled()]
    except Exception:
        return None
    held: set[str] = set()
    for reply in replies:
        for requests in (reply or {}).values():
            for item in requests:
                request = item.get("request", item)  # scheduled ones nest the request
                held.add(request.get("id"))
    return held


def put_back(app: Any, task_ids: Collection[str]) -> int:
    """Put the unacknowledged messages of these tasks back on their queues (Redis broker: its
    `unacked` hash holds every message delivered and not yet acknowledged)."""
    if not task_ids or not app.conf.broker_url.startswith(("redis://", "rediss://")):
        return 0
    restored = 0
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client, qos = channel.client, channel.qos
        for tag, raw in client.hgetall(qos.unacked_key).items():
            message = json.loads(raw)[0]
            if message.get("headers", {}).get("id") in task_ids:
                qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, client)
                restored += 1
    return restored


class Recovery(bootsteps.StartStopStep):  # type: ignore[misc]
    """The worker's recovery timer: at start, then every `EVERY_SECONDS` (the queries are two
    indexed reads of `task_runs`; the broker is asked only when something is to be put back)."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        self._safely(worker)
        self.tref = worker.timer.call_repeatedly(EVERY_SECONDS, self._safely, (worker,))

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()

    def _safely(self, worker: Any) -> None:
        try:
            recover(worker.app)
        except Exception as exc:  # the broker or the database may be down: next time, then
            log.warning("tasks.recovery.failed", error=type(exc).__name__)
