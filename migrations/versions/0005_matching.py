"""The matching engine: normalised invoice numbers, review suggestions, payment reversals and
settlements (tolerated shortfalls), and look-up indexes on statement lines.

Revision ID: 0005_matching
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount

revision = "0005_matching"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "invoice_number_keys",
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("number_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_number_keys_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_number_keys")),
    )
    op.create_index("ix_invoice_number_keys_number_key", "invoice_number_keys", ["number_key"])

    op.create_table(
        "line_suggestions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("statement_line_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_line_suggestions_score")),
        sa.ForeignKeyConstraint(
            ["statement_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_line_suggestions_statement_line_id_statement_lines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_line_suggestions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_suggestions")),
        sa.UniqueConstraint(
            "statement_line_id",
            "customer_id",
            name=op.f("uq_line_suggestions_statement_line_id_customer_id"),
        ),
    )

    op.create_table(
        "payment_reversals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("payment_id", _ID, nullable=False),
        sa.Column("statement_line_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("reverses_payment", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('refund','return','chargeback','reversal')",
            name=op.f("ck_payment_reversals_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_reversals_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["statement_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_payment_reversals_statement_line_id_statement_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_reversals")),
        sa.UniqueConstraint(
            "statement_line_id", name=op.f("uq_payment_reversals_statement_line_id")
        ),
    )
    op.create_index("ix_payment_reversals_payment", "payment_reversals", ["payment_id"])

    op.create_table(
        "payment_settlements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("payment_id", _ID, nullable=False),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("credit_note_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('write_off','bank_charges')", name=op.f("ck_payment_settlements_kind")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_settlements_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_settlements_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_settlements_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_settlements")),
        sa.UniqueConstraint("credit_note_id", name=op.f("uq_payment_settlements_credit_note_id")),
    )
    op.create_index("ix_payment_settlements_payment", "payment_settlements", ["payment_id"])

    with op.batch_alter_table("statement_lines") as batch_op:
        batch_op.create_index("ix_statement_lines_end_to_end_id", ["end_to_end_id"])
        batch_op.create_index("ix_statement_lines_mandate_id", ["mandate_id"])
        batch_op.create_index("ix_statement_lines_counterparty_account", ["counterparty_account"])


def downgrade() -> None:
    with op.batch_alter_table("statement_lines") as batch_op:
        batch_op.drop_index("ix_statement_lines_counterparty_account")
        batch_op.drop_index("ix_statement_lines_mandate_id")
        batch_op.drop_index("ix_statement_lines_end_to_end_id")
    op.drop_index("ix_payment_settlements_payment", table_name="payment_settlements")
    op.drop_table("payment_settlements")
    op.drop_index("ix_payment_reversals_payment", table_name="payment_reversals")
    op.drop_table("payment_reversals")
    op.drop_table("line_suggestions")
    op.drop_index("ix_invoice_number_keys_number_key", table_name="invoice_number_keys")
    op.drop_table("invoice_number_keys")
