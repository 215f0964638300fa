"""An index on customers.created_at: the routing of every batch of lines asks whether a customer
was added since the payer-name index was built (the highest id and the latest `created_at`),
which without it was a scan of the customers (150 ms a batch at 500,000 customers).

Revision ID: 0023_customers_created_at
Revises: 0022_staged_lines
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0023_customers_created_at"
down_revision = "0022_staged_lines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customers_created_at", "customers", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_customers_created_at", table_name="customers")
