"""Enqueueing. Called only after the transaction that made the work has committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import chain
from celery.result import AsyncResult

# Imported for its side effect: the provider tasks register with the app, so triggers find them.
import payrecon.worker.provider_tasks  # noqa: F401
from payrecon.bootstrap import Container
from payrecon.services.operations.triggers import Trigger, forget_trigger, record_trigger
from payrecon.worker.app import app
from payrecon.worker.registry import task_spec
from payrecon.worker.tasks import ingest_file, recompute_balances, reconcile_pending


def enqueue_pipeline(feed_file_ids: Sequence[int]) -> Any:
    """ingest each file (in the order given), then reconcile, then recompute balances.

    Returns the AsyncResult of the last step; with the in-process broker it has already run.
    """
    steps = [ingest_file.si(feed_file_id=i) for i in feed_file_ids]
    steps += [reconcile_pending.si(), recompute_balances.si()]
    return chain(*steps).apply_async()


def trigger(
    container: Container,
    short_name: str,
    raw_params: dict[str, Any],
    *,
    actor: str,
    idempotency_key: str | None = None,
) -> Trigger:
    """Validate, record (once per idempotency key), then enqueue a task by its short name."""
    spec = task_spec(short_name)
    params = spec.validate(raw_params)
    recorded = record_trigger(
        container.engine, short_name, params, actor=actor, idempotency_key=idempotency_key
    )
    if recorded.created:
        try:
            app.tasks[spec.celery_name].apply_async(
                kwargs=params, task_id=recorded.task_id, queue=spec.queue
            )
        except Exception:
            forget_trigger(container.engine, recorded.task_id)
            raise
    return recorded


def task_state(task_id: str) -> str:
    """Celery's state of a task (PENDING, STARTED, SUCCESS, FAILURE, RETRY)."""
    return str(AsyncResult(task_id, app=app).state)


def wait_for(task_id: str, timeout: float) -> Any:
    return AsyncResult(task_id, app=app).get(timeout=timeout, propagate=True)


def broker_reachable() -> None:
    """Raises when the broker cannot be reached (the in-process broker always can)."""
    if app.conf.broker_url.startswith("memory://"):
        return
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue (Redis broker); none for the in-process broker."""
    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        return {}
    from payrecon.worker.app import QUEUES

    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        return {queue: int(client.llen(queue)) for queue in QUEUES}


def workers_answering(timeout: float = 1.0) -> list[str]:
    """The names of the workers that answer a ping (none with the in-process broker)."""
    if app.conf.broker_url.startswith("memory://"):
        return []
    replies = app.control.ping(timeout=timeout) or []
    return sorted(name for reply in replies for name in reply)
