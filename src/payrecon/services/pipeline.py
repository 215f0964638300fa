"""The pipeline as a port: what the entrypoints tell it ("these files were received", "these
customers changed", "a provider's events arrived") and ask of it (a task's state, whether the
broker answers). `bootstrap` wires it to Celery (`worker.dispatch.CeleryPipeline`); the API, the
CLI and the demo only ever see this protocol, so the API does not import the worker.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from payrecon.services.operations.triggers import Trigger


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """The enqueued work for some files: `task_id` is its last step, `step_ids` every step's
    (so that a step that failed is seen at once); with the in-process broker it has already run
    when `files_received` returns."""

    task_id: str
    step_ids: tuple[str, ...] = ()


class Pipeline(Protocol):
    def files_received(self, feed_file_ids: Sequence[int]) -> PipelineRun:
        """Ingest the files (in the order given), reconcile, recompute the balances touched;
        called after the transaction that recorded the files has committed."""
        ...

    def customers_changed(self, customer_ids: Collection[int]) -> None:
        """Recompute these customers' balances and credit status."""
        ...

    def provider_events_received(self, provider_id: int) -> None:
        """Process the provider's stored, pending events."""
        ...

    def trigger(
        self,
        task: str,
        params: Mapping[str, Any],
        *,
        actor: str,
        idempotency_key: str | None = None,
    ) -> Trigger:
        """Validate, record (once per idempotency key), then enqueue a task by its short name."""
        ...

    def wait(self, run: PipelineRun | str, timeout: float) -> Any:
        """The result of a run's last step (or of a task, by id), waiting up to `timeout`
        seconds; raises what a failed step raised, as soon as it failed."""
        ...

    def task_state(self, task_id: str) -> str:
        """PENDING, STARTED, SUCCESS, FAILURE or RETRY."""
        ...

    def broker_reachable(self) -> None:
        """Raises when the broker cannot be reached (the in-process broker always can)."""
        ...

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue, where the broker can tell."""
        ...

    def workers_answering(self, timeout: float = 1.0) -> list[str]:
        """The names of the workers that answer a ping (none with the in-process broker)."""
        ...
