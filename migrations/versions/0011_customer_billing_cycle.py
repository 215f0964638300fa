"""Customers belong to a billing cycle (optional): balances recompute by cycle, and payments
"since the last invoice" count from the start of the cycle's current period.

Revision ID: 0011_customer_billing_cycle
Revises: 0010_credit_status_cause
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_customer_billing_cycle"
down_revision = "0010_credit_status_cause"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column(
                "billing_cycle_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch.create_foreign_key(
            op.f("fk_customers_billing_cycle_id_billing_cycles"),
            "billing_cycles",
            ["billing_cycle_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint(
            op.f("fk_customers_billing_cycle_id_billing_cycles"), type_="foreignkey"
        )
        batch.drop_column("billing_cycle_id")
