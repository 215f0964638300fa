"""The pipeline port on Celery. Called only after the transaction that made the work committed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from celery import chain
from celery.result import AsyncResult

from payrecon.container import Container
from payrecon.services.operations.triggers import Trigger, forget_trigger, record_trigger
from payrecon.services.pipeline import PipelineRun
from payrecon.worker.app import QUEUES, app
from payrecon.worker.provider_tasks import QUEUE, process_provider_events
from payrecon.worker.registry import task_spec
from payrecon.worker.tasks import ingest_file, recompute_balances, reconcile_pending


class CeleryPipeline:
    """The pipeline port (`services.pipeline.Pipeline`) on Celery."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def files_received(self, feed_file_ids: Sequence[int]) -> PipelineRun:
        """ingest each file (in the order given), then reconcile, then recompute the balances of
        the customers reconciled. With the in-process broker it has run when this returns."""
        steps = [ingest_file.si(feed_file_id=i) for i in feed_file_ids]
        steps += [reconcile_pending.si(), recompute_balances.s()]
        return PipelineRun(str(chain(*steps).apply_async().id))

    def customers_changed(self, customer_ids: Collection[int]) -> None:
        if customer_ids:
            recompute_balances.apply_async(kwargs={"customer_ids": sorted(customer_ids)})

    def provider_events_received(self, provider_id: int) -> None:
        process_provider_events.apply_async(kwargs={"provider_id": provider_id}, queue=QUEUE)

    def trigger(
        self,
        task: str,
        params: Mapping[str, Any],
        *,
        actor: str,
        idempotency_key: str | None = None,
    ) -> Trigger:
        """Validate, record (once per idempotency key), then enqueue a task by its short name."""
        spec = task_spec(task)
        checked = spec.validate(dict(params))
        engine = self.container.engine
        recorded = record_trigger(
            engine, task, checked, actor=actor, idempotency_key=idempotency_key
        )
        if recorded.created:
            try:
                app.tasks[spec.celery_name].apply_async(
                    kwargs=checked, task_id=recorded.task_id, queue=spec.queue
                )
            except Exception:
                forget_trigger(engine, recorded.task_id)
                raise
        return recorded

    def wait(self, task_id: str, timeout: float) -> Any:
        return AsyncResult(task_id, app=app).get(timeout=timeout, propagate=True)

    def task_state(self, task_id: str) -> str:
        return str(AsyncResult(task_id, app=app).state)

    def broker_reachable(self) -> None:
        if app.conf.broker_url.startswith("memory://"):
            return
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue (Redis broker); none for the in-process broker."""
        if not app.conf.broker_url.startswith(("redis://", "rediss://")):
            return {}
        with app.connection_for_read() as connection:
            client = connection.default_channel.client
            return {queue: int(client.llen(queue)) for queue in QUEUES}
