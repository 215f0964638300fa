"""The matching engine's tables (migration 0005_matching; its `invoice_number_keys` became the
invoices' own `number_key` column in 0024_invoice_number_key_column).

    line_suggestions      customers a person may want to pick for a line in the review queue
    payment_reversals     which debit line undid (or, for a refund the ledger records, settled
                          against) which payment
    payment_settlements   shortfalls an owner's tolerance accepted: a write-off or bank charges,
                          each recorded as a collected credit note on the invoice
Plus indexes on the statement-line columns a reversal looks its original payment up by.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from payrecon.store import tables as t
from payrecon.store.tables import metadata
from payrecon.store.types import Amount, Id

DEBIT_KINDS = ("refund", "return", "chargeback", "reversal")
SETTLEMENT_KINDS = ("write_off", "bank_charges")

line_suggestions = Table(
    "line_suggestions",
    metadata,
    Column("id", Id, primary_key=True),
    Column(
        "statement_line_id",
        Id,
        ForeignKey("statement_lines.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("score", Integer, nullable=False),
    Column("basis", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("statement_line_id", "customer_id"),
    CheckConstraint("score BETWEEN 0 AND 100", name="score"),
)

payment_reversals = Table(
    "payment_reversals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("payment_id", Id, ForeignKey("payments.id"), nullable=False),
    Column("statement_line_id", Id, ForeignKey("statement_lines.id"), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("reason_code", String(16)),
    Column("reverses_payment", Boolean, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('refund','return','chargeback','reversal')", name="kind"),
)
Index("ix_payment_reversals_payment", payment_reversals.c.payment_id)

payment_settlements = Table(
    "payment_settlements",
    metadata,
    Column("id", Id, primary_key=True),
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    # credit_notes comes from the sibling branch 0003_ledger; the foreign key from 0012.
    Column("credit_note_id", Id, ForeignKey("credit_notes.id"), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('write_off','bank_charges')", name="kind"),
    CheckConstraint("amount > 0", name="amount_positive"),
)
Index("ix_payment_settlements_payment", payment_settlements.c.payment_id)

# A return or refund quotes the original payment by these.
Index("ix_statement_lines_end_to_end_id", t.statement_lines.c.end_to_end_id)
Index("ix_statement_lines_mandate_id", t.statement_lines.c.mandate_id)
Index("ix_statement_lines_counterparty_account", t.statement_lines.c.counterparty_account)
