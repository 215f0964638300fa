"""Concurrent writers on PostgreSQL: the invoice rows are locked, so no race over-allocates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from payrecon.domain.errors import OverAllocation
from payrecon.services.admin.imports import import_customers, import_invoices
from payrecon.services.ledger import credit_notes, payments
from payrecon.services.ledger.credit_notes import CreditNoteInput
from payrecon.services.ledger.payments import InvoicePaymentInput, PaymentInput
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t

D = Decimal
DATA = Path(__file__).resolve().parents[1] / "data"
WRITERS = 8


def race(write: Callable[[], object]) -> list[str]:
    """Run `write` in WRITERS threads released together; 'ok' or the error's code for each."""
    barrier = threading.Barrier(WRITERS)

    def one() -> str:
        barrier.wait()
        try:
            write()
        except OverAllocation as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(WRITERS) as pool:
        return sorted(pool.map(lambda _: one(), range(WRITERS)))


def allocated_to(engine: Engine, invoice_id: int) -> Decimal:
    with engine.connect() as conn:
        by_payments = conn.execute(
            select(func.coalesce(func.sum(t.allocations.c.amount), 0)).where(
                t.allocations.c.invoice_id == invoice_id
            )
        ).scalar_one()
        by_notes = conn.execute(
            select(func.coalesce(func.sum(lt.credit_note_allocations.c.amount), 0)).where(
                lt.credit_note_allocations.c.invoice_id == invoice_id
            )
        ).scalar_one()
    return D(by_payments) + D(by_notes)


def test_concurrent_payments_never_over_allocate_an_invoice(pg_engine: Engine) -> None:
    import_customers(pg_engine, DATA / "customers.csv")
    import_invoices(pg_engine, DATA / "invoices.csv")
    with pg_engine.connect() as conn:
        invoice = conn.execute(
            select(t.invoices.c.id, t.invoices.c.customer_id).where(
                t.invoices.c.invoice_number == "INV-00001"
            )
        ).one()
    request = PaymentInput(
        amount=D("40.00"),
        customer_id=invoice.customer_id,
        date=date(2026, 11, 1),
        invoices=[InvoicePaymentInput(invoice.id, D("40.00"))],
    )
    outcomes = race(lambda: payments.create_payment(pg_engine, request))
    # 153.00 takes three payments of 40.00; the other five are refused, none half-written.
    assert outcomes == ["ok"] * 3 + ["over_allocation"] * 5
    assert allocated_to(pg_engine, invoice.id) == D("120.00")

    note = CreditNoteInput(
        customer_id=invoice.customer_id,
        date=date(2026, 11, 1),
        currency="GBP",
        amount=D("10.00"),
        credit_number="4242",
        auto_apply=True,
    )
    race(lambda: credit_notes.create_credit_note(pg_engine, note))
    # AutoApply never takes more than is open: INV-00002 (40.00) and the 33.00 left on INV-00001.
    assert allocated_to(pg_engine, invoice.id) <= D("153.00")
    with pg_engine.connect() as conn:
        noted = conn.execute(select(func.sum(lt.credit_note_allocations.c.amount))).scalar_one()
    assert D(noted) == D("73.00")
