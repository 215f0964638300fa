"""Providers: sync cursors, provider payments and refunds, payouts and their items, provider events.

Revision ID: 0008_providers
Revises: 0001_foundation
Create Date: 2026-11-21

Branches from the foundation beside the others; the heads are merged later. New tables only, so
no batch operations are needed on SQLite. Money columns carry no server default. `provider_id`
(-> payment_providers, 0002_admin) and `provider_refunds.refund_id` (-> refunds, 0003_ledger)
get their foreign keys in a revision after the merge: sibling branches run in no fixed order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount

revision = "0008_providers"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ITEM_AMOUNT = Amount(scale=6, precision=22)


def _stamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _keys(table: str, *unique: tuple[str, ...]) -> list[sa.Constraint]:
    constraints: list[sa.Constraint] = [sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))]
    for columns in unique:
        name = op.f(f"uq_{table}_{'_'.join(columns)}")
        constraints.append(sa.UniqueConstraint(*columns, name=name))
    return constraints


def upgrade() -> None:
    op.create_table(
        "provider_cursors",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("resource", sa.String(length=160), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("watermark", sa.String(length=64), nullable=True),
        sa.Column("newest_seen", sa.String(length=64), nullable=True),
        _stamp("updated_at"),
        *_keys("provider_cursors", ("provider_id", "resource")),
    )

    op.create_table(
        "provider_payments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("dispute_status", sa.String(length=32), nullable=True),
        _stamp("dispute_seen_at", nullable=True),
        sa.Column("mandate_external_id", sa.String(length=128), nullable=True),
        sa.Column("provider_customer_id", sa.String(length=128), nullable=True),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("payout_external_id", sa.String(length=128), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("charge_date", sa.Date(), nullable=True),
        _stamp("provider_created_at"),
        _stamp("fetched_at"),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_provider_payments_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_provider_payments_payment_id_payments"),
            ondelete="SET NULL",
        ),
        *_keys("provider_payments", ("provider_id", "external_id"), ("payment_id",)),
    )
    op.create_index("ix_provider_payments_payout", "provider_payments", ["payout_external_id"])
    op.create_index("ix_provider_payments_customer", "provider_payments", ["customer_id"])

    op.create_table(
        "provider_refunds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("payment_external_id", sa.String(length=128), nullable=True),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        _stamp("provider_created_at"),
        _stamp("fetched_at"),
        sa.Column("refund_id", _ID, nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        *_keys("provider_refunds", ("provider_id", "external_id"), ("refund_id",)),
    )
    op.create_index(
        "ix_provider_refunds_payment", "provider_refunds", ["provider_id", "payment_external_id"]
    )

    op.create_table(
        "payouts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("deducted_fees", Amount(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("arrival_date", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        _stamp("provider_created_at"),
        _stamp("fetched_at"),
        _stamp("items_synced_at", nullable=True),
        sa.Column("statement_line_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["statement_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_payouts_statement_line_id_statement_lines"),
        ),
        *_keys("payouts", ("provider_id", "external_id"), ("statement_line_id",)),
    )
    op.create_index("ix_payouts_reference", "payouts", ["reference"])

    op.create_table(
        "payout_items",
        sa.Column("id", _ID, nullable=False),
        sa.Column("payout_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("amount", _ITEM_AMOUNT, nullable=False),
        sa.Column("fee", _ITEM_AMOUNT, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_external_id", sa.String(length=128), nullable=True),
        sa.Column("refund_external_id", sa.String(length=128), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payout_id"],
            ["payouts.id"],
            name=op.f("fk_payout_items_payout_id_payouts"),
            ondelete="CASCADE",
        ),
        *_keys("payout_items", ("payout_id", "seq")),
    )
    op.create_index("ix_payout_items_payment", "payout_items", ["payment_external_id"])

    op.create_table(
        "provider_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        _stamp("provider_created_at"),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("effect", sa.String(length=16), nullable=False),
        _stamp("received_at"),
        _stamp("processed_at", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("via IN ('webhook','poll')", name=op.f("ck_provider_events_via")),
        *_keys("provider_events", ("provider_id", "event_id")),
    )
    op.create_index(
        "ix_provider_events_pending", "provider_events", ["provider_id", "processed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_provider_events_pending", table_name="provider_events")
    op.drop_table("provider_events")
    op.drop_index("ix_payout_items_payment", table_name="payout_items")
    op.drop_table("payout_items")
    op.drop_index("ix_payouts_reference", table_name="payouts")
    op.drop_table("payouts")
    op.drop_index("ix_provider_refunds_payment", table_name="provider_refunds")
    op.drop_table("provider_refunds")
    op.drop_index("ix_provider_payments_customer", table_name="provider_payments")
    op.drop_index("ix_provider_payments_payout", table_name="provider_payments")
    op.drop_table("provider_payments")
    op.drop_table("provider_cursors")
