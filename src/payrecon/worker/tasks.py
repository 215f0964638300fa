"""Tasks: keyword-only ids in, one service call, counts out. Idempotent, so acks_late is safe.

Every task records its run (`task_runs`, beating while it runs), retries with backoff only on
transient errors (a dropped database or broker connection: the run ends `retrying`, which does
not count against the cap), and is dead-lettered when its message has come back more than
`max_deliveries` times after killing its worker; any other error fails the run at once, and the
pipeline with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Task, chain, group
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from payrecon.container import Container, get_container
from payrecon.services.ledger.audit import audit_ledger as audit_ledger_service
from payrecon.services.ledger.balances import customers_to_recompute
from payrecon.services.ledger.balances import recompute_balances as recompute_balances_service
from payrecon.services.ledger.credit_status import (
    update_credit_status as update_credit_status_service,
)
from payrecon.services.operations.task_runs import last_success_started, recorded_run
from payrecon.services.reconciliation.inbox import scan_inbox as scan_inbox_service
from payrecon.services.reconciliation.ingest import (
    ingest_feed_file,
    read_feed_file,
    route_feed_file,
    store_staged_files,
)
from payrecon.services.reconciliation.reconcile import (
    prepare_reconcile as prepare_reconcile_service,
)
from payrecon.services.reconciliation.reconcile import (
    reconcile_partition as reconcile_partition_service,
)
from payrecon.services.reconciliation.reconcile import (
    reconcile_pending as reconcile_pending_service,
)
from payrecon.services.reconciliation.review_ageing import review_queue_age
from payrecon.store.ledger_writes import PARTITIONS, PAYOUT_PARTITION
from payrecon.worker.app import app

TRANSIENT = (OperationalError, RedisConnectionError, ConnectionError, TimeoutError)


class PayreconTask(Task):  # type: ignore[misc]
    autoretry_for = TRANSIENT
    retry_backoff = 5
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 5
    acks_late = True
    reject_on_worker_lost = True


def _recorded(
    task: Any, name: str, params: dict[str, Any], work: Callable[[Container], dict[str, Any]]
) -> dict[str, Any]:
    """Run `work` as one recorded run of the task's message. A delivery past the cap raises
    `DeadLettered`: the task fails, and so the chain stops there (nothing downstream runs on
    half-done work) and `payrecon ingest --wait` exits non-zero, saying why."""
    container = get_container()

    def retrying(exc: BaseException) -> bool:
        return isinstance(exc, TRANSIENT) and task.request.retries < task.max_retries

    with recorded_run(
        container.engine,
        name,
        task_id=task.request.id,
        params=params,
        max_deliveries=container.settings.max_deliveries,
        retrying=retrying,
    ) as run:
        run.counts = work(container)
    return run.counts


@app.task(name="payrecon.ingest_file", bind=True, base=PayreconTask)
def ingest_file(self: Any, *, feed_file_id: int, store: bool = True) -> dict[str, Any]:
    """Parse, route and store a file's lines; or (`store=False`: a pipeline run's files, read
    side by side) only parse it into the staging tables, for `route_part` to route its parts
    and `store_files` to store the run's files in their order."""

    def work(c: Container) -> dict[str, Any]:
        batch_size = c.settings.write_batch_size
        store_dir = c.settings.feed_store_dir
        if store:
            result = ingest_feed_file(c.engine, store_dir, feed_file_id, batch_size=batch_size)
        else:
            result = read_feed_file(c.engine, store_dir, feed_file_id, batch_size=batch_size)
        return {"lines": result.lines, "new_lines": result.new_lines, "status": result.status}

    params = {"feed_file_id": feed_file_id, **({} if store else {"store": False})}
    return _recorded(self, "ingest_file", params, work)


@app.task(name="payrecon.route_part", bind=True, base=PayreconTask)
def route_part(
    self: Any, *, feed_file_id: int, part: int, parts: int, block: int | None = None
) -> dict[str, Any]:
    """Route part `part` of `parts` of a file a pipeline run has read (the parts of a file run
    side by side), in blocks of `block` lines: the sender's size, so that parts routed by
    workers of other settings still cover the file once."""

    def work(c: Container) -> dict[str, Any]:
        result = route_feed_file(
            c.engine,
            feed_file_id,
            part=part,
            parts=parts,
            batch_size=block or c.settings.write_batch_size,
        )
        return {"lines": result.lines, "status": result.status}

    params = {"feed_file_id": feed_file_id, "part": part, "parts": parts, "block": block}
    return _recorded(self, "route_part", params, work)


@app.task(name="payrecon.store_files", bind=True, base=PayreconTask)
def store_files(self: Any, *, feed_file_ids: list[int]) -> dict[str, Any]:
    """Store the staged lines of a run's files, in the run's order (after `ingest_file` of each
    with `store=False` and `route_part` of each part), in one transaction."""

    def work(c: Container) -> dict[str, Any]:
        results = store_staged_files(
            c.engine,
            c.settings.feed_store_dir,
            feed_file_ids,
            batch_size=c.settings.write_batch_size,
        )
        return {
            "files": len(results),
            "lines": sum(r.lines or 0 for r in results),
            "new_lines": sum(r.new_lines for r in results),
            "quarantined": sum(r.status == "quarantined" for r in results),
        }

    return _recorded(self, "store_files", {"feed_file_ids": feed_file_ids}, work)


@app.task(name="payrecon.scan_inbox", bind=True, base=PayreconTask)
def scan_inbox(self: Any) -> dict[str, Any]:
    def work(c: Container) -> dict[str, Any]:
        scan = scan_inbox_service(c.engine, c.settings.feed_store_dir, c.settings.inbox_dir)
        return scan.as_counts()

    counts = _recorded(self, "scan_inbox", {}, work)
    if counts.get("processed"):
        # New lines arrived: match them and move the balances, after this task's commits.
        chain(*reconcile_steps()).apply_async()
    return counts


@app.task(name="payrecon.reconcile_pending", bind=True, base=PayreconTask)
def reconcile_pending(self: Any) -> dict[str, Any]:
    """Returns the run's counts and, for the next step of a chain, the customers reconciled."""
    reconciled: list[int] = []

    def work(c: Container) -> dict[str, Any]:
        result = reconcile_pending_service(c.engine, chunk_size=c.settings.reconcile_chunk_size)
        reconciled.extend(sorted(result.customer_ids))
        return result.as_dict()

    counts = _recorded(self, "reconcile_pending", {}, work)
    return {**counts, "customer_ids": reconciled}


@app.task(name="payrecon.prepare_reconcile", bind=True, base=PayreconTask)
def prepare_reconcile(self: Any) -> dict[str, Any]:
    """A run's start, before its partitions: every pending line gets its partition."""
    return _recorded(self, "prepare_reconcile", {}, lambda c: prepare_reconcile_service(c.engine))


@app.task(name="payrecon.reconcile_partition", bind=True, base=PayreconTask)
def reconcile_partition(self: Any, *, partition: int) -> dict[str, Any]:
    """One partition's pending lines; returns the run's counts and the customers reconciled."""
    reconciled: list[int] = []

    def work(c: Container) -> dict[str, Any]:
        result = reconcile_partition_service(
            c.engine, partition, chunk_size=c.settings.reconcile_chunk_size
        )
        reconciled.extend(sorted(result.customer_ids))
        return result.as_dict()

    counts = _recorded(self, "reconcile_partition", {"partition": partition}, work)
    return {**counts, "customer_ids": reconciled}


@app.task(name="payrecon.finish_reconcile", bind=True, base=PayreconTask)
def finish_reconcile(self: Any, partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """The last step of a pipeline run: the partitions' counts added up (their balances were
    recomputed as each partition went)."""
    totals: dict[str, Any] = {"partitions": len(partitions), "customers": 0}
    for counts in partitions:
        for name in ("lines", "matched", "unmatched", "reversals", "allocations", "moved"):
            totals[name] = totals.get(name, 0) + int(counts.get(name) or 0)
        totals["customers"] += len(counts.get("customer_ids") or ())
    done: dict[str, Any] = _recorded(
        self, "finish_reconcile", {"partitions": len(partitions)}, lambda c: totals
    )
    return done


def reconcile_steps() -> list[Any]:
    """A reconcile run as Celery steps: route what is not routed yet, settle the payouts'
    partition, reconcile the customer partitions side by side (each recomputes the balances it
    moved), add up. Any number of workers gives the allocations of one."""
    return [
        prepare_reconcile.si(),
        reconcile_partition.si(partition=PAYOUT_PARTITION),
        group(reconcile_partition.si(partition=p) for p in range(PARTITIONS)),
        finish_reconcile.s(),
    ]


@app.task(name="payrecon.recompute_balances", bind=True, base=PayreconTask)
def recompute_balances(
    self: Any,
    reconciled: dict[str, Any] | None = None,
    *,
    customer_ids: list[int] | None = None,
    billing_cycle_id: int | None = None,
    since_last_run: bool = False,
) -> dict[str, Any]:
    """All customers, those given, those of a billing cycle or touched since the last run; in a
    chain after `reconcile_pending`, the customers it reconciled (`reconciled`, its result)."""
    params: dict[str, Any] = {
        "customer_ids": customer_ids,
        "billing_cycle_id": billing_cycle_id,
        "since_last_run": since_last_run,
    }
    if reconciled is not None and customer_ids is None:
        customer_ids = list(reconciled.get("customer_ids") or [])
        params = {"reconciled_customers": len(customer_ids)}  # the ids are the previous step's

    def work(c: Container) -> dict[str, Any]:
        since = last_success_started(c.engine, "recompute_balances") if since_last_run else None
        chosen = customer_ids
        if chosen is None and (billing_cycle_id is not None or since is not None):
            chosen = customers_to_recompute(
                c.engine, billing_cycle_id=billing_cycle_id, touched_since=since
            )
        cause = f"recompute_balances task {self.request.id}"
        count = recompute_balances_service(c.engine, customer_ids=chosen, cause=cause)
        return {"customers": count, "since": since.isoformat() if since else None}

    return _recorded(self, "recompute_balances", params, work)


@app.task(name="payrecon.update_credit_status", bind=True, base=PayreconTask)
def update_credit_status(self: Any, *, customer_ids: list[int] | None = None) -> dict[str, Any]:
    def work(c: Container) -> dict[str, Any]:
        cause = f"update_credit_status task {self.request.id}"
        return {
            "customers": update_credit_status_service(
                c.engine, customer_ids=customer_ids, cause=cause
            )
        }

    return _recorded(self, "update_credit_status", {"customer_ids": customer_ids}, work)


@app.task(name="payrecon.age_review_queue", bind=True, base=PayreconTask)
def age_review_queue(self: Any) -> dict[str, Any]:
    def work(c: Container) -> dict[str, Any]:
        # The task, not the domain, reads the clock (STYLE rule 7).
        as_of = datetime.now(UTC).date()
        age = review_queue_age(c.engine, as_of, overdue_days=c.settings.review_overdue_days)
        return age.as_counts()

    return _recorded(self, "age_review_queue", {}, work)


@app.task(name="payrecon.audit_ledger", bind=True, base=PayreconTask)
def audit_ledger(self: Any) -> dict[str, Any]:
    return _recorded(self, "audit_ledger", {}, lambda c: audit_ledger_service(c.engine).as_counts())
