"""Indexes for the customer-payments list's filters that do not name a customer: the payments of
one date or date range (`date=`, `date_start=`...), and a payment by its reference
(`reference_number=`, compared case-insensitively as `lower(reference_number)`). Without them each
such request read the whole table twice (the page and its count): 0.4-0.7 s at a million payments
(benchmarks/api_load.py, docs/performance.md).

Revision ID: 0021_payment_list_indexes
Revises: 0020_console_users
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_payment_list_indexes"
down_revision = "0020_console_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_payments_date", "payments", ["date", "id"])
    op.create_index(
        "ix_payments_reference_number_lower", "payments", [sa.text("lower(reference_number)")]
    )


def downgrade() -> None:
    op.drop_index("ix_payments_reference_number_lower", table_name="payments")
    op.drop_index("ix_payments_date", table_name="payments")
