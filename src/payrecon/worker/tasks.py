"""Tasks: keyword-only ids in, one service call, counts out. Idempotent, so acks_late is safe."""

from __future__ import annotations

from typing import Any

from payrecon.bootstrap import get_container
from payrecon.services.balances import recompute_balances as recompute_balances_service
from payrecon.services.ingest import ingest_feed_file
from payrecon.services.reconcile import reconcile_pending as reconcile_pending_service
from payrecon.services.task_runs import recorded_run
from payrecon.worker.app import app


@app.task(name="payrecon.ingest_file", queue="ingest", bind=True)
def ingest_file(self: Any, *, feed_file_id: int) -> dict[str, Any]:
    container = get_container()
    params = {"feed_file_id": feed_file_id}
    with recorded_run(
        container.engine, "ingest_file", task_id=self.request.id, params=params
    ) as run:
        result = ingest_feed_file(
            container.engine,
            container.settings.feed_store_dir,
            feed_file_id,
            batch_size=container.settings.write_batch_size,
        )
        run.counts = {"lines": result.lines, "new_lines": result.new_lines, "status": result.status}
    return {**run.counts, "feed_file_id": feed_file_id, "error": result.error}


@app.task(name="payrecon.reconcile_pending", queue="match", bind=True)
def reconcile_pending(self: Any) -> dict[str, Any]:
    container = get_container()
    with recorded_run(
        container.engine, "reconcile_pending", task_id=self.request.id, params={}
    ) as run:
        result = reconcile_pending_service(
            container.engine, chunk_size=container.settings.reconcile_chunk_size
        )
        run.counts = result.as_dict()
    return run.counts


@app.task(name="payrecon.recompute_balances", queue="balances", bind=True)
def recompute_balances(self: Any, *, customer_ids: list[int] | None = None) -> dict[str, Any]:
    container = get_container()
    params = {"customer_ids": customer_ids}
    with recorded_run(
        container.engine, "recompute_balances", task_id=self.request.id, params=params
    ) as run:
        run.counts = {
            "customers": recompute_balances_service(container.engine, customer_ids=customer_ids)
        }
    return run.counts
