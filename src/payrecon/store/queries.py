"""Set-based reads shared by the services."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Select, func, select

from payrecon.domain.matching import LineToMatch, OpenInvoice
from payrecon.store import tables as t
from payrecon.store.bulk import batched


def live_allocated_by_invoice() -> Select[tuple[int, object]]:
    """Sum of live allocations (of active payments) per invoice."""
    return (
        select(t.allocations.c.invoice_id, func.sum(t.allocations.c.amount).label("allocated"))
        .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
        .where(t.payments.c.status == "active")
        .group_by(t.allocations.c.invoice_id)
    )


def open_invoices_by_number(conn: Connection, numbers: Iterable[str]) -> list[OpenInvoice]:
    """The invoices whose numbers are among `numbers`, with their open amounts."""
    allocated = live_allocated_by_invoice().subquery()
    open_amount = t.invoices.c.total - func.coalesce(allocated.c.allocated, 0)
    found: list[OpenInvoice] = []
    for batch in batched(sorted(set(numbers)), 900):
        rows = conn.execute(
            select(
                t.invoices.c.id,
                t.invoices.c.invoice_number,
                t.invoices.c.customer_id,
                t.invoices.c.currency,
                t.invoices.c.issue_date,
                t.invoices.c.due_date,
                open_amount.label("open_amount"),
            )
            .outerjoin(allocated, allocated.c.invoice_id == t.invoices.c.id)
            .where(t.invoices.c.invoice_number.in_(batch))
        )
        found.extend(
            OpenInvoice(
                id=r.id,
                number=r.invoice_number,
                customer_id=r.customer_id,
                currency=r.currency,
                issue_date=r.issue_date,
                due_date=r.due_date,
                open_amount=r.open_amount,
            )
            for r in rows
        )
    return found


def pending_lines(conn: Connection, limit: int) -> list[LineToMatch]:
    """The next pending lines in booking-date order, then file order."""
    rows = conn.execute(
        select(
            t.statement_lines.c.id,
            t.statement_lines.c.booking_date,
            t.statement_lines.c.amount,
            t.statement_lines.c.currency,
            t.statement_lines.c.remittance,
            t.statement_lines.c.structured_reference,
        )
        .where(t.statement_lines.c.status == "pending")
        .order_by(
            t.statement_lines.c.booking_date,
            t.statement_lines.c.feed_file_id,
            t.statement_lines.c.seq,
        )
        .limit(limit)
    )
    return [
        LineToMatch(
            id=r.id,
            booking_date=r.booking_date,
            amount=r.amount,
            currency=r.currency,
            remittance=r.remittance,
            structured_reference=r.structured_reference,
        )
        for r in rows
    ]
