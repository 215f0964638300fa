"""Money in more than one currency, and the finance settings beside the ledger.

- exchange_rates: the dated rates admins record (`/v1/exchange-rates`).
- payments: `bcy_amount`, `rate_source`, `rate_date` (a payment in another currency than its
  customer's is counted in the customer's through a recorded rate; NULL = same currency), and
  `payment_number` (seed 001's own sequence; existing payments get their id). `unused_amount` is
  kept in the customer's currency, so its check compares with the bcy amount.
- allocations: the rate and the payment's own amount and currency, when they differ.
- refunds: `bcy_amount` of a refund of such a payment.
- payouts: the provider's foreign exchange (`fx_currency`, `fx_rate`, `fx_amount`).
- owner_tolerances: tolerances per contract owner, set through the API.
- mandates: `provider_customer_id` (synced GoCardless mandates).

Revision ID: 0018_currencies
Revises: 0017_task_heartbeats
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount, Id

revision = "0018_currencies"
down_revision = "0017_task_heartbeats"
branch_labels = None
depends_on = None

RATE = Amount(scale=8, precision=24)


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", Id, nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("quote_currency", sa.String(length=3), nullable=False),
        sa.Column("rate", RATE, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.CheckConstraint(
            "base_currency <> quote_currency", name=op.f("ck_exchange_rates_two_currencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint(
            "base_currency",
            "quote_currency",
            "valid_from",
            name=op.f("uq_exchange_rates_base_currency_quote_currency_valid_from"),
        ),
    )
    op.create_table(
        "owner_tolerances",
        sa.Column("contract_owner_id", Id, nullable=False),
        sa.Column("write_off", Amount(), nullable=False),
        sa.Column("bank_charges", Amount(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "write_off >= 0 AND bank_charges >= 0", name=op.f("ck_owner_tolerances_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["contract_owner_id"],
            ["contract_owners.id"],
            name=op.f("fk_owner_tolerances_contract_owner_id_contract_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contract_owner_id", name=op.f("pk_owner_tolerances")),
    )
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("bcy_amount", Amount(), nullable=True))
        batch.add_column(sa.Column("rate_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("rate_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("payment_number", sa.Integer(), nullable=True))
    payments = sa.table("payments", sa.column("id"), sa.column("payment_number"))
    bind = op.get_bind()
    bind.execute(payments.update().values(payment_number=payments.c.id))
    if bind.dialect.name == "postgresql":
        # Reconcilers of different partitions number payments at once: a sequence, not max()+1.
        start = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) + 1 FROM payments")).scalar()
        op.execute(f"CREATE SEQUENCE payment_number_seq START WITH {int(start)}")
    with op.batch_alter_table("payments") as batch:
        batch.create_unique_constraint(op.f("uq_payments_payment_number"), ["payment_number"])
        batch.drop_constraint(op.f("ck_payments_unused_amount"), type_="check")
        batch.create_check_constraint(
            op.f("ck_payments_unused_amount"),
            "unused_amount >= 0 AND unused_amount <= COALESCE(bcy_amount, amount)",
        )
        batch.create_check_constraint(
            op.f("ck_payments_bcy_amount_positive"), "bcy_amount IS NULL OR bcy_amount > 0"
        )
    with op.batch_alter_table("allocations") as batch:
        batch.add_column(sa.Column("exchange_rate", RATE, nullable=True))
        batch.add_column(sa.Column("original_amount", Amount(), nullable=True))
        batch.add_column(sa.Column("original_currency", sa.String(length=3), nullable=True))
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("bcy_amount", Amount(), nullable=True))
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("fx_currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("fx_rate", RATE, nullable=True))
        batch.add_column(sa.Column("fx_amount", Amount(), nullable=True))
    with op.batch_alter_table("mandates") as batch:
        batch.add_column(sa.Column("provider_customer_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mandates") as batch:
        batch.drop_column("provider_customer_id")
    with op.batch_alter_table("payouts") as batch:
        for column in ("fx_amount", "fx_rate", "fx_currency"):
            batch.drop_column(column)
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("bcy_amount")
    with op.batch_alter_table("allocations") as batch:
        for column in ("original_currency", "original_amount", "exchange_rate"):
            batch.drop_column(column)
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("ck_payments_bcy_amount_positive"), type_="check")
        batch.drop_constraint(op.f("ck_payments_unused_amount"), type_="check")
        batch.create_check_constraint(
            op.f("ck_payments_unused_amount"), "unused_amount >= 0 AND unused_amount <= amount"
        )
        batch.drop_constraint(op.f("uq_payments_payment_number"), type_="unique")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS payment_number_seq")
    with op.batch_alter_table("payments") as batch:
        for column in ("payment_number", "rate_date", "rate_source", "bcy_amount"):
            batch.drop_column(column)
    op.drop_table("owner_tolerances")
    op.drop_table("exchange_rates")
