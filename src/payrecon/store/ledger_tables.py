"""The ledger beyond payments: credit notes and their allocations, refunds, balance adjustments,
and the credit status of each customer with the history of its changes (migration 0003_ledger);
then the reads every ledger write shares (customer terms, invoice numbers, sums refunded).

Credit-note allocations have a table of their own beside `allocations` (payment -> invoice), so
that neither needs a nullable owner. An invoice's open amount (kept on `invoices`) counts both.
A credit note keeps only the last four characters of the card number (seed 004), never more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
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
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    type_coerce,
)

from payrecon.domain.ledger import Rounding
from payrecon.domain.money import RoundingMode
from payrecon.store import tables as t
from payrecon.store.tables import metadata
from payrecon.store.types import Amount, Id

_OWNER_DEFAULT = Rounding()
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
    # Added by 0014_kept_amounts: amount - refunds - allocations while collected.
    Column("unused_amount", Amount(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "collection_status IN ('pending','collected','failed')", name="collection_status"
    ),
    CheckConstraint("unused_amount >= 0 AND unused_amount <= amount", name="unused_amount"),
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
    # Added by 0014_kept_amounts: every allocation explains itself, as payments' do.
    Column("rule", String(64), nullable=False),
    Column("confidence", Amount(scale=3, precision=4), nullable=False),
    Column("evidence", JSON, nullable=False),
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
    # Added by 0018_currencies: a refund of a payment counted through a rate, in the customer's
    # currency (NULL: the refund is in the customer's currency).
    Column("bcy_amount", Amount()),
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
    # When the balance or threshold beside the status was last written (a recompute that finds
    # all three unchanged leaves the row).
    Column("checked_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('WITHIN_THRESHOLD','OVER_THRESHOLD')", name="status"),
    # 0025_room_for_hot_updates: room on each page for the recomputes' updates.
    postgresql_with={"fillfactor": 80},
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
    rounding: Rounding  # the owner's rule for amounts in the customer's currency
    owner_id: int
    owner_rounding: Rounding = _OWNER_DEFAULT  # the owner's rule as set (for other currencies)

    def rounding_for(self, currency: str) -> Rounding:
        """The owner's rule for an amount in `currency`, never finer than its minor unit."""
        return self.owner_rounding.in_currency(currency)


def customer_terms(conn: Connection, customer_id: int) -> CustomerTerms | None:
    row = conn.execute(
        select(
            t.customers.c.id,
            t.customers.c.name,
            t.customers.c.currency,
            t.customers.c.credit_threshold,
            t.contract_owners.c.price_rounding_mode,
            t.contract_owners.c.price_decimal_places,
            t.customers.c.contract_owner_id,
        )
        .join(t.contract_owners, t.contract_owners.c.id == t.customers.c.contract_owner_id)
        .where(t.customers.c.id == customer_id)
    ).first()
    if row is None:
        return None
    owner = Rounding(row.price_decimal_places, RoundingMode(row.price_rounding_mode))
    return CustomerTerms(
        row.id,
        row.name,
        row.currency,
        row.credit_threshold,
        owner.in_currency(row.currency),
        row.contract_owner_id,
        owner,
    )


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


def refund_ledger_amount() -> ColumnElement[Decimal]:
    """A refund in the customer's currency: its bcy amount when its payment was converted."""
    return type_coerce(func.coalesce(refunds.c.bcy_amount, refunds.c.amount), Amount())


def refunded(source: ColumnElement[bool]) -> Select[Any]:
    """The sum refunded (in the customer's currency) where `source` holds:
    `refunds.c.payment_id == 5`, or correlated to an outer query's payment or credit note."""
    total = func.coalesce(func.sum(refund_ledger_amount()), 0)
    return select(type_coerce(total, Amount())).where(source)
