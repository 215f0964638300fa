"""Ledger: credit notes and their allocations, refunds, balance adjustments, credit status + history.

Revision ID: 0003_ledger
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount

revision = "0003_ledger"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "credit_notes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("card_last_four", sa.String(length=4), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("collection_status", sa.String(length=16), nullable=False),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_notes_amount_positive")),
        sa.CheckConstraint(
            "collection_status IN ('pending','collected','failed')",
            name=op.f("ck_credit_notes_collection_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_notes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
    )
    op.create_index("ix_credit_notes_customer_date", "credit_notes", ["customer_id", "date"])

    op.create_table(
        "credit_note_allocations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("credit_note_id", _ID, nullable=False),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _created_at(),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_note_allocations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_allocations_credit_note_id_credit_notes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_credit_note_allocations_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_allocations")),
        sa.UniqueConstraint(
            "credit_note_id",
            "invoice_id",
            name=op.f("uq_credit_note_allocations_credit_note_id_invoice_id"),
        ),
    )
    op.create_index("ix_credit_note_allocations_invoice", "credit_note_allocations", ["invoice_id"])

    op.create_table(
        "refunds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("credit_note_id", _ID, nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference_number", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        _created_at(),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint(
            "(payment_id IS NULL AND credit_note_id IS NOT NULL)"
            " OR (payment_id IS NOT NULL AND credit_note_id IS NULL)",
            name=op.f("ck_refunds_one_source"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_refunds_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_refunds_credit_note_id_credit_notes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_customer", "refunds", ["customer_id"])
    op.create_index("ix_refunds_payment", "refunds", ["payment_id"])
    op.create_index("ix_refunds_credit_note", "refunds", ["credit_note_id"])

    op.create_table(
        "balance_adjustments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _created_at(),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_balance_adjustments_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_balance_adjustments_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_adjustments")),
    )
    op.create_index("ix_balance_adjustments_customer", "balance_adjustments", ["customer_id"])

    op.create_table(
        "credit_status",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("balance", Amount(), nullable=False),
        sa.Column("credit_threshold", Amount(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('WITHIN_THRESHOLD','OVER_THRESHOLD')", name=op.f("ck_credit_status_status")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_credit_status_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_credit_status")),
    )

    op.create_table(
        "credit_status_history",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("balance", Amount(), nullable=False),
        sa.Column("credit_threshold", Amount(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_credit_status_history_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_status_history")),
    )
    op.create_index(
        "ix_credit_status_history_customer",
        "credit_status_history",
        ["customer_id", "changed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_credit_status_history_customer", table_name="credit_status_history")
    op.drop_table("credit_status_history")
    op.drop_table("credit_status")
    op.drop_index("ix_balance_adjustments_customer", table_name="balance_adjustments")
    op.drop_table("balance_adjustments")
    op.drop_index("ix_refunds_credit_note", table_name="refunds")
    op.drop_index("ix_refunds_payment", table_name="refunds")
    op.drop_index("ix_refunds_customer", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_credit_note_allocations_invoice", table_name="credit_note_allocations")
    op.drop_table("credit_note_allocations")
    op.drop_index("ix_credit_notes_customer_date", table_name="credit_notes")
    op.drop_table("credit_notes")
