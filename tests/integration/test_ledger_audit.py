"""The nightly audit reports breaches of the ledger's invariants and repairs nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from payrecon.services.ledger.audit import audit_ledger
from payrecon.store import tables as t
from tests.integration.test_pipeline_services import DATA, load_ledger, run_pipeline


def test_a_clean_ledger_has_no_breach(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    report = audit_ledger(engine)
    assert report.breaches == []
    assert report.checked == {"invoices": 4, "payments": 3}


def test_breaches_made_behind_the_services_back_are_reported_not_fixed(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    with engine.begin() as conn:
        payment = conn.execute(
            select(t.payments).where(t.payments.c.external_id == "BR-0001")
        ).one()
        invoice = conn.execute(
            select(t.invoices.c.id).where(t.invoices.c.invoice_number == "INV-00004")
        ).scalar_one()
        # 500.00 more on a 250.00 invoice (already 17.00 paid), from a 16.34 payment.
        conn.execute(
            t.allocations.insert().values(
                payment_id=payment.id,
                invoice_id=invoice,
                amount=Decimal("500.00"),
                currency="GBP",
                rule="manual",
                confidence=Decimal("1.000"),
                evidence={},
                created_at=datetime.now(UTC),
            )
        )
        conn.execute(
            t.statement_lines.update()
            .where(t.statement_lines.c.external_id == "BR-0003")
            .values(status="matched")
        )
    report = audit_ledger(engine)
    assert sorted((b.invariant, b.entity) for b in report.breaches) == [
        ("invoice_over_allocated", "invoice"),
        ("matched_line_without_payment", "statement_line"),
        ("open_amount_drift", "invoice"),  # the kept amounts did not see the forged row
        ("payment_over_applied", "payment"),
        ("unused_amount_drift", "payment"),
    ]
    assert report.as_counts()["breaches"] == 5
    with engine.connect() as conn:  # nothing was repaired
        assert conn.execute(select(func.count()).select_from(t.allocations)).scalar_one() == 5


def test_a_kept_amount_that_drifts_from_the_rows_is_a_breach(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    assert audit_ledger(engine).breaches == []
    with engine.begin() as conn:
        invoice = conn.execute(
            select(t.invoices.c.id, t.invoices.c.open_amount).where(
                t.invoices.c.invoice_number == "INV-00004"
            )
        ).one()
        conn.execute(
            t.invoices.update()
            .where(t.invoices.c.id == invoice.id)
            .values(open_amount=invoice.open_amount - Decimal("0.01"))
        )
    (breach,) = audit_ledger(engine).breaches
    assert (breach.invariant, breach.entity, breach.entity_id) == (
        "open_amount_drift",
        "invoice",
        invoice.id,
    )
    assert breach.detail == "kept 232.9900, the rows give 233.0000"
