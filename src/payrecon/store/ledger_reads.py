"""Reads of the ledger's kept amounts, and the same amounts computed from the rows.

Kept (written by `store.ledger_writes` in the transaction of each change):

    invoices.open_amount        total - live payment allocations - collected credit-note ones
    payments.unused_amount      amount - refunds - allocations while active, else 0, in the
                                customer's currency (a converted payment's bcy amount)
    credit_notes.unused_amount  amount - refunds - allocations while collected, else 0

(`domain.allocation.unused_amount` is the one definition of the last two.) A read of candidate
invoices is an indexed read of `open_amount`: it costs the same however many allocations exist.
The `*_from_rows` expressions compute the same from the rows, for the audit and for the
migration that filled the columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select, type_coerce, update

from payrecon.domain.allocation import OpenInvoice
from payrecon.domain.money import ZERO
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.bulk import batched
from payrecon.store.types import Amount

_BATCH = 900  # SQLite's historical limit on bound parameters


def _sum(column: Any, *where: ColumnElement[bool]) -> Any:
    return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery()


def open_amount_from_rows() -> ColumnElement[Decimal]:
    """An invoice's open amount from its allocations, per `invoices` row (correlated sums that use
    the allocation indexes)."""
    a, cna = t.allocations, lt.credit_note_allocations
    paid = _sum(
        a.c.amount,
        a.c.invoice_id == t.invoices.c.id,
        a.c.payment_id.in_(select(t.payments.c.id).where(t.payments.c.status == "active")),
    )
    credited = _sum(
        cna.c.amount,
        cna.c.invoice_id == t.invoices.c.id,
        cna.c.credit_note_id.in_(
            select(lt.credit_notes.c.id).where(lt.credit_notes.c.collection_status == "collected")
        ),
    )
    return type_coerce(t.invoices.c.total - paid - credited, Amount())


def payment_ledger_amount() -> ColumnElement[Decimal]:
    """A payment in its customer's currency: its bcy amount when it was converted at a rate."""
    return type_coerce(func.coalesce(t.payments.c.bcy_amount, t.payments.c.amount), Amount())


def payment_unused_from_rows() -> ColumnElement[Decimal]:
    p = t.payments
    allocated = _sum(t.allocations.c.amount, t.allocations.c.payment_id == p.c.id)
    refunded = _sum(lt.refund_ledger_amount(), lt.refunds.c.payment_id == p.c.id)
    return type_coerce(
        case((p.c.status == "active", payment_ledger_amount() - refunded - allocated), else_=ZERO),
        Amount(),
    )


def credit_note_unused_from_rows() -> ColumnElement[Decimal]:
    n, cna = lt.credit_notes, lt.credit_note_allocations
    allocated = _sum(cna.c.amount, cna.c.credit_note_id == n.c.id)
    refunded = _sum(lt.refunds.c.amount, lt.refunds.c.credit_note_id == n.c.id)
    return type_coerce(
        case((n.c.collection_status == "collected", n.c.amount - refunded - allocated), else_=ZERO),
        Amount(),
    )


def refresh_unused(conn: Connection, kind: str, ids: Sequence[int]) -> None:
    """Set the kept unused amount of these payments or credit notes from their rows."""
    if not ids:
        return
    if kind == "payment":
        table, value = t.payments, payment_unused_from_rows()
    else:
        table, value = lt.credit_notes, credit_note_unused_from_rows()
    conn.execute(update(table).where(table.c.id.in_(list(ids))).values(unused_amount=value))


def refunded(
    conn: Connection, *, payment_id: int | None = None, credit_note_id: int | None = None
) -> Decimal:
    """What refunds have returned of one payment or credit note so far."""
    source = (
        lt.refunds.c.payment_id == payment_id
        if payment_id is not None
        else lt.refunds.c.credit_note_id == credit_note_id
    )
    return Decimal(conn.execute(lt.refunded(source)).scalar_one())


_COLUMNS = (
    t.invoices.c.id,
    t.invoices.c.invoice_number,
    t.invoices.c.customer_id,
    t.invoices.c.currency,
    t.invoices.c.issue_date,
    t.invoices.c.due_date,
    t.invoices.c.open_amount,
)


def _open_invoice(r: Any) -> OpenInvoice:
    """A row of `_COLUMNS`, which are `OpenInvoice`'s fields in order: taken by position (a
    reconcile chunk reads some 5,000 of them, and a row's attributes by name cost more)."""
    return OpenInvoice(*r)


def invoices(
    conn: Connection,
    *,
    ids: Iterable[int] = (),
    customer_id: int | None = None,
    for_update: bool = False,
) -> dict[int, OpenInvoice]:
    """The invoices named (or all of a customer's) with their kept open amounts; locked in id
    order with `for_update` (PostgreSQL)."""
    lock = for_update and conn.dialect.name == "postgresql"
    found: dict[int, OpenInvoice] = {}
    if customer_id is not None:
        conditions = [t.invoices.c.customer_id == customer_id]
    else:
        conditions = [t.invoices.c.id.in_(b) for b in batched(sorted(set(ids)), _BATCH)]
    for condition in conditions:
        stmt = select(*_COLUMNS).where(condition).order_by(t.invoices.c.id)
        if lock:
            stmt = stmt.with_for_update()
        found.update({r.id: _open_invoice(r) for r in conn.execute(stmt).all()})
    return found


def invoices_where(
    conn: Connection, condition: ColumnElement[bool], *, open_only: bool
) -> list[OpenInvoice]:
    """The invoices `condition` selects (open ones only with `open_only`), in id order."""
    stmt = select(*_COLUMNS).where(condition).order_by(t.invoices.c.id)
    if open_only:
        stmt = stmt.where(t.invoices.c.open_amount > 0)
    return [_open_invoice(r) for r in conn.execute(stmt).all()]
