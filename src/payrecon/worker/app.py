"""The Celery app. JSON only, acks late with one message prefetched, three named queues.

With the default broker `memory://` every task runs in the calling process (the embedded default
of `make demo`); with `redis://` they run on real workers: `payrecon worker`.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, signals
from kombu.entity import Queue

from payrecon.config import Settings
from payrecon.container import get_container
from payrecon.services.rules import load_rule_book
from payrecon.worker.recovery import Recovery
from payrecon.worker.registry import TASKS

QUEUES = ("ingest", "match", "balances")
# The pipeline's own steps, not triggered by name (so not in TASKS): routing a file's parts and
# storing a run's files go with the parsing, a run's last step with the reconciling, so that a
# host serving only `match,balances` finishes the runs it reconciles.
PIPELINE_STEPS = {
    "payrecon.route_part": "ingest",
    "payrecon.store_files": "ingest",
    "payrecon.finish_reconcile": "match",
}
ROUTES = {
    **{spec.celery_name: spec.queue for spec in TASKS.values()},
    **PIPELINE_STEPS,
}


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "payrecon",
        broker=settings.broker_url,
        backend=settings.celery_result_backend,
        include=["payrecon.worker.tasks", "payrecon.worker.provider_tasks"],
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[_queue(name, settings) for name in QUEUES],
        task_default_queue="ingest",
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        task_always_eager=settings.in_process_worker,
        task_eager_propagates=True,
        task_store_eager_result=True,
        task_track_started=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        result_expires=7 * 24 * 3600,
        broker_connection_retry_on_startup=True,
        # A broker that restarts is waited for, for ever: the worker reconnects, it never exits.
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # A task whose acknowledgement can no longer reach the broker is redelivered, not lost.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Redis: a message unacknowledged this long goes back to its queue. Above the longest
        # task (tasks work a file, a chunk or a partition: seconds to a few minutes), so a task
        # still running is never delivered twice; a killed worker's message comes back sooner,
        # through `worker.recovery`. RabbitMQ redelivers when the consumer's connection drops.
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Whoever sends a task (the CLI, the API, a worker sending a chain's next step) waits
            # for a broker that is restarting, as long as the publish retries below (a minute),
            # instead of giving up after one connect timeout (a RabbitMQ node takes ~10 s to
            # stop and boot again; Redis is back too soon for this to show).
            "connect_retries_timeout": 60,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
            **({"confirm_publish": True} if _amqp(settings) else {}),
        },
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
        # A broker or result store that restarts is outlived: results are stored, and the next
        # step of a chain is sent, once it is back (about a minute of retries), not dropped.
        result_backend_always_retry=True,
        result_backend_max_retries=60,
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 60,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        task_time_limit=settings.visibility_timeout - 30,
        task_soft_time_limit=settings.visibility_timeout - 60,
        # Quorum queues (RabbitMQ) take no global QoS; Celery sets per-consumer QoS for them.
        worker_detect_quorum_queues=True,
        enable_utc=True,
        timezone="UTC",
    )
    app.steps["worker"].add(Recovery)
    return app


def _amqp(settings: Settings) -> bool:
    return settings.broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))


def _queue(name: str, settings: Settings) -> Queue:
    """A named queue; on RabbitMQ a durable quorum queue (replicated, and a consumer's lost
    connection puts its unacknowledged messages back at once)."""
    if _amqp(settings):
        return Queue(name, durable=True, queue_arguments={"x-queue-type": "quorum"})
    return Queue(name)


@signals.task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))


@signals.task_postrun.connect
def _unbind_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


@signals.worker_init.connect
def _validate_rules_at_start(**_: Any) -> None:
    # A bad rules file stops the worker at start, not at the first line it would match.
    load_rule_book()


@signals.worker_process_init.connect
def _dispose_engine_after_fork(**_: Any) -> None:
    # Connections inherited from the parent must not be shared with it: drop them, keep none.
    get_container().engine.dispose(close=False)


app = create_celery(get_container().settings)
