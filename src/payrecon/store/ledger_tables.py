"""The ledger beyond payments: credit notes and their allocations, refunds, balance adjustments,
and the credit status of each customer with the history of its changes (migration 0003_ledger);
then the few reads every ledger write shares (customer terms, invoice locks, live allocations).

Credit-note allocations have a table of their own beside `allocations` (payment -> invoice), so
that neither needs a nullable owner. An invoice's open amount counts both.
A credit note keeps only the last four characters of the card number (seed 004), never more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Select,
    String,
    Subquery,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    type_coerce,
    union_all,
)

from payrecon.domain.ledger import InvoiceOpen, Rounding
from payrecon.domain.money import RoundingMode
from payrecon.store import tables as t
from payrecon.store.tables import metadata
from payrecon.store.types import Amount, Id

COLLECTION_STATUSES = ("pending", "collected", "failed")
CREDIT_STATUSES = ("WITHIN_THRESHOLD", "OVER_THRESHOLD")


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


credit_notes = Table(
    "credit_notes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("card_last_four", String(4)),
    Column("memo", Text),
    Column("collection_status", String(16), nullable=False),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "collection_status IN ('pending','collected','failed')", name="collection_status"
    ),
)
Index("ix_credit_notes_customer_date", credit_notes.c.customer_id, credit_notes.c.date)

credit_note_allocations = Table(
    "credit_note_allocations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("credit_note_id", Id, ForeignKey("credit_notes.id", ondelete="CASCADE"), nullable=False),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    _created_at(),
    CheckConstraint("amount > 0", name="amount_positive"),
    UniqueConstraint("credit_note_id", "invoice_id"),
)
Index("ix_credit_note_allocations_invoice", credit_note_allocations.c.invoice_id)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("payment_id", Id, ForeignKey("payments.id")),
    Column("credit_note_id", Id, ForeignKey("credit_notes.id")),
    Column("date", Date, nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference_number", String(128)),
    Column("description", Text),
    _created_at(),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "(payment_id IS NULL AND credit_note_id IS NOT NULL)"
        " OR (payment_id IS NOT NULL AND credit_note_id IS NULL)",
        name="one_source",
    ),
)
Index("ix_refunds_customer", refunds.c.customer_id)
Index("ix_refunds_payment", refunds.c.payment_id)
Index("ix_refunds_credit_note", refunds.c.credit_note_id)

balance_adjustments = Table(
    "balance_adjustments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("description", Text),
    _created_at(),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
)
Index("ix_balance_adjustments_customer", balance_adjustments.c.customer_id)

credit_status = Table(
    "credit_status",
    metadata,
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("balance", Amount(), nullable=False),
    Column("credit_threshold", Amount(), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('WITHIN_THRESHOLD','OVER_THRESHOLD')", name="status"),
)

credit_status_history = Table(
    "credit_status_history",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32), nullable=False),
    Column("balance", Amount(), nullable=False),
    Column("credit_threshold", Amount(), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    # Added by 0010_credit_status_cause: what recomputed the status ("payment 12 created", ...).
    Column("cause", String(200)),
)
Index(
    "ix_credit_status_history_customer",
    credit_status_history.c.customer_id,
    credit_status_history.c.changed_at,
)


# Reads shared by the ledger services ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerTerms:
    """What a ledger write needs of a customer: its currency and its contract owner's rounding."""

    id: int
    name: str
    currency: str
    credit_threshold: Decimal
    rounding: Rounding


def customer_terms(conn: Connection, customer_id: int) -> CustomerTerms | None:
    row = conn.execute(
        select(
            t.customers.c.id,
            t.customers.c.name,
            t.customers.c.currency,
            t.customers.c.credit_threshold,
            t.contract_owners.c.price_rounding_mode,
            t.contract_owners.c.price_decimal_places,
        )
        .join(t.contract_owners, t.contract_owners.c.id == t.customers.c.contract_owner_id)
        .where(t.customers.c.id == customer_id)
    ).first()
    if row is None:
        return None
    rounding = Rounding(row.price_decimal_places, RoundingMode(row.price_rounding_mode))
    return CustomerTerms(row.id, row.name, row.currency, row.credit_threshold, rounding)


def lock_rows(conn: Connection, table: Table, ids: Iterable[int]) -> None:
    """On PostgreSQL, SELECT ... FOR UPDATE the rows in id order (no deadlock between writers that
    lock overlapping sets). SQLite has one writer at a time and needs nothing."""
    wanted = sorted(set(ids))
    if wanted and conn.dialect.name == "postgresql":
        conn.execute(
            select(table.c.id).where(table.c.id.in_(wanted)).order_by(table.c.id).with_for_update()
        )


def live_allocations(
    *, exclude_payment_id: int | None = None, exclude_credit_note_id: int | None = None
) -> Subquery:
    """(invoice_id, allocated): live allocations of active payments and collected credit notes,
    leaving out those of the one payment or credit note being rewritten."""
    by_payments = (
        select(t.allocations.c.invoice_id, t.allocations.c.amount)
        .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
        .where(t.payments.c.status == "active")
    )
    if exclude_payment_id is not None:
        by_payments = by_payments.where(t.allocations.c.payment_id != exclude_payment_id)
    by_credit_notes = (
        select(credit_note_allocations.c.invoice_id, credit_note_allocations.c.amount)
        .join(credit_notes, credit_notes.c.id == credit_note_allocations.c.credit_note_id)
        .where(credit_notes.c.collection_status == "collected")
    )
    if exclude_credit_note_id is not None:
        by_credit_notes = by_credit_notes.where(
            credit_note_allocations.c.credit_note_id != exclude_credit_note_id
        )
    both = union_all(by_payments, by_credit_notes).subquery("live")
    return (
        select(both.c.invoice_id, func.sum(both.c.amount).label("allocated"))
        .group_by(both.c.invoice_id)
        .subquery("allocated")
    )


def invoices_for_allocation(
    conn: Connection,
    *,
    invoice_ids: Iterable[int] | None = None,
    customer_id: int | None = None,
    exclude_payment_id: int | None = None,
    exclude_credit_note_id: int | None = None,
) -> dict[int, InvoiceOpen]:
    """The invoices named (or all of a customer's), locked, with what others have allocated."""
    where: ColumnElement[bool] = (
        t.invoices.c.id.in_(sorted(set(invoice_ids)))
        if invoice_ids is not None
        else t.invoices.c.customer_id == customer_id
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(t.invoices.c.id).where(where).order_by(t.invoices.c.id).with_for_update()
        )
    allocated = live_allocations(
        exclude_payment_id=exclude_payment_id, exclude_credit_note_id=exclude_credit_note_id
    )
    rows = conn.execute(
        select(
            t.invoices,
            type_coerce(func.coalesce(allocated.c.allocated, 0), Amount()).label("elsewhere"),
        )
        .outerjoin(allocated, allocated.c.invoice_id == t.invoices.c.id)
        .where(where)
    )
    return {
        r.id: InvoiceOpen(
            id=r.id,
            number=r.invoice_number,
            customer_id=r.customer_id,
            currency=r.currency,
            total=r.total,
            allocated_elsewhere=r.elsewhere,
            issue_date=r.issue_date,
            due_date=r.due_date,
        )
        for r in rows
    }


def invoice_ids_by_number(conn: Connection, numbers: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    rows = conn.execute(
        select(t.invoices.c.invoice_number, t.invoices.c.id).where(
            t.invoices.c.invoice_number.in_(wanted)
        )
    )
    return {r.invoice_number: r.id for r in rows}


def refunded(source: ColumnElement[bool]) -> Select[Any]:
    """The sum refunded where `source` holds: `refunds.c.payment_id == 5`, or correlated to an
    outer query's payment or credit note."""
    return select(type_coerce(func.coalesce(func.sum(refunds.c.amount), 0), Amount())).where(source)
