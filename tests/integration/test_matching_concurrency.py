"""Determinism: the same lines and rules give the same allocations whatever the number of
reconcilers running at once (PostgreSQL, where workers really run side by side)."""

from __future__ import annotations

import threading
from pathlib import Path

from benchmarks.matching_data import write_dataset
from benchmarks.matching_payouts import load_payouts
from benchmarks.matching_score import load_and_reconcile
from sqlalchemy import Engine, select

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from tests.conftest import _truncate_all

Snapshot = tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]


def snapshot(engine: Engine) -> Snapshot:
    sl, p, a = t.statement_lines, t.payments, t.allocations
    with engine.connect() as conn:
        allocations = conn.execute(
            select(sl.c.external_id, t.invoices.c.invoice_number, a.c.amount, a.c.rule, p.c.status)
            .join(p, p.c.id == a.c.payment_id)
            .join(sl, sl.c.id == p.c.statement_line_id)
            .join(t.invoices, t.invoices.c.id == a.c.invoice_id)
            .order_by(sl.c.external_id, t.invoices.c.invoice_number)
        ).all()
        statuses = conn.execute(
            select(sl.c.external_id, sl.c.status, sl.c.reason).order_by(sl.c.external_id)
        ).all()
        original = sl.alias("original")
        reversals = conn.execute(
            select(sl.c.external_id, original.c.external_id, mt.payment_reversals.c.kind)
            .select_from(mt.payment_reversals)
            .join(sl, sl.c.id == mt.payment_reversals.c.statement_line_id)
            .join(p, p.c.id == mt.payment_reversals.c.payment_id)
            .join(original, original.c.id == p.c.statement_line_id)
            .order_by(sl.c.external_id)
        ).all()
    return (
        [tuple(r) for r in allocations],
        [tuple(r) for r in statuses],
        [tuple(r) for r in reversals],
    )


def ingest_only(engine: Engine, data: Path, store: Path) -> None:
    import_contract_owners(engine, data / "contract_owners.csv")
    import_customers(engine, data / "customers.csv")
    import_invoices(engine, data / "invoices.csv")
    load_payouts(engine, data / "payouts.json")
    for name in ("statement-1.camt053.xml", "statement-2.sta"):
        received = receive_file(engine, store, data / name)
        ingest_feed_file(engine, store, received.feed_file_id)


def test_two_concurrent_reconcilers_give_what_one_gives(pg_engine: Engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(seed=5, lines=600, out=data)
    load_and_reconcile(pg_engine, data, tmp_path / "store-one")  # one reconciler
    alone = snapshot(pg_engine)

    _truncate_all(pg_engine)
    ingest_only(pg_engine, data, tmp_path / "store-two")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            reconcile_pending(pg_engine, chunk_size=40)  # many chunks, interleaved
        except BaseException as exc:  # surfaced below; a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    together = snapshot(pg_engine)
    assert together == alone
    assert len(alone[0]) > 400
    assert alone[2]
