"""Credit-status history records what caused each change.

Revision ID: 0010_credit_status_cause
Revises: 0009_merge
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_credit_status_cause"
down_revision = "0009_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_status_history") as batch:
        batch.add_column(sa.Column("cause", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_status_history") as batch:
        batch.drop_column("cause")
