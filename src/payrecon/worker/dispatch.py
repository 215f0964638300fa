"""The pipeline port on Celery. Called only after the transaction that made the work committed."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from celery import chain, group
from celery.exceptions import ChordError
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from payrecon.container import Container
from payrecon.logging import get_logger
from payrecon.services.operations.triggers import Trigger, forget_trigger, record_trigger
from payrecon.services.pipeline import PipelineRun
from payrecon.services.reconciliation.ingest import route_parts
from payrecon.worker.app import QUEUES, app
from payrecon.worker.provider_tasks import QUEUE, process_provider_events
from payrecon.worker.registry import task_spec
from payrecon.worker.tasks import (
    ingest_file,
    recompute_balances,
    reconcile_steps,
    route_part,
    store_files,
)

log = get_logger(__name__)

# What a result store that is restarting raises; the wait outlives it.
_UNREACHABLE = (OSError, OperationalError, RedisConnectionError, RedisTimeoutError)


def _unsubscribe(task_ids: Sequence[str]) -> None:
    """Drop the result store's subscriptions for these tasks now (sending a task subscribes to
    its result), so that none is left for the interpreter's exit to undo over a connection that
    a restart of the store broke."""
    consumer = getattr(app.backend, "result_consumer", None)
    if consumer is None or not hasattr(consumer, "cancel_for"):
        return
    for task_id in task_ids:
        try:
            consumer.cancel_for(task_id)
        except Exception as error:  # the store is down: nothing is left to undo
            log.warning("pipeline.wait.unsubscribe_failed", error=type(error).__name__)
            return


def _freeze(step: Any) -> list[str]:
    """Give a step (a task, or a group of tasks) its task ids now; returns them."""
    frozen = step.freeze()
    return [r.id for r in getattr(frozen, "results", None) or [frozen]]


class CeleryPipeline:
    """The pipeline port (`services.pipeline.Pipeline`) on Celery."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def files_received(self, feed_file_ids: Sequence[int]) -> PipelineRun:
        """Parse every file side by side, route their parts side by side (a file in one part
        per `ingest_part_bytes`), store their lines in the order given (a line two files share
        belongs to the first), route what is not routed yet, settle the payouts' partition,
        then reconcile the customer partitions side by side (each recomputes its customers'
        balances), and add up. With the in-process broker it has run when this returns."""
        steps: list[Any] = []
        if feed_file_ids:
            settings = self.container.settings
            planned = route_parts(
                self.container.engine,
                settings.feed_store_dir,
                feed_file_ids,
                settings.ingest_part_bytes,
            )
            steps += [
                group(ingest_file.si(feed_file_id=i, store=False) for i in feed_file_ids),
                group(
                    route_part.si(
                        feed_file_id=i, part=k, parts=parts, block=settings.write_batch_size
                    )
                    for i, parts in planned
                    for k in range(parts)
                ),
                store_files.si(feed_file_ids=list(feed_file_ids)),
            ]
        steps += reconcile_steps()
        ids = [_freeze(step) for step in steps]  # every step's id, known before it is sent
        chain(*steps).apply_async()
        return PipelineRun(ids[-1][-1], tuple(i for step in ids for i in step))

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

    def wait(self, run: PipelineRun | str, timeout: float) -> Any:
        """The last step's result. A run's earlier steps are watched too: a step that failed
        for good (a chain stops there, and its last step would never answer) raises at once."""
        if isinstance(run, str):
            return AsyncResult(run, app=app).get(timeout=timeout, propagate=True)
        deadline = time.monotonic() + timeout
        results = [AsyncResult(i, app=app) for i in run.step_ids]
        last = AsyncResult(run.task_id, app=app)
        try:
            return self._poll(last, results, deadline, timeout)
        finally:
            _unsubscribe(run.step_ids)

    def _poll(
        self, last: AsyncResult, results: list[AsyncResult], deadline: float, timeout: float
    ) -> Any:
        while True:
            try:
                # Polled, not subscribed (`get` would hold a pub/sub subscription to the result
                # store, which a restart of the store breaks): `maybe_throw` raises what a
                # failed step raised, else gives its result.
                # A step that failed fails the steps after it too (Celery marks the rest of the
                # chain; a chord's callback says only `ChordError: Dependency ... raised`): the
                # first step to fail on its own says what went wrong.
                failed = [result for result in results if result.state == "FAILURE"]
                if failed:
                    own = [r for r in failed if not isinstance(r.result, ChordError)]
                    (own or failed)[0].maybe_throw(propagate=True)
                if last.ready():
                    return last.maybe_throw(propagate=True)
            except _UNREACHABLE as error:
                # The result store is restarting: the run goes on without us; ask again.
                log.warning("pipeline.wait.store_unreachable", error=str(error))
            if time.monotonic() > deadline:
                raise TimeoutError(f"the pipeline did not finish within {timeout:.0f} s")
            time.sleep(0.5)

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

    def workers_answering(self, timeout: float = 1.0) -> list[str]:
        """The names of the workers that answer a ping (none with the in-process broker)."""
        if app.conf.broker_url.startswith("memory://"):
            return []
        replies = app.control.ping(timeout=timeout) or []
        return sorted(name for reply in replies for name in reply)
