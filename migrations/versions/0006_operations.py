"""Operations: task triggers with idempotency keys, and dead letters.

Revision ID: 0006_operations
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_operations"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "task_triggers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_triggers")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_task_triggers_idempotency_key")),
        sa.UniqueConstraint("task_id", name=op.f("uq_task_triggers_task_id")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _ID, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("task_id", name=op.f("uq_dead_letters_task_id")),
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("task_triggers")
