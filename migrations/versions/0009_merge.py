"""Merge the capability branches (admin, ledger, audit log, matching, operations, ingestion,
providers) into one history, and add the foreign keys that cross branches.

Revision ID: 0009_merge
Revises: 0002_admin, 0003_ledger, 0004_audit_log, 0005_matching, 0006_operations,
    0007_ingestion, 0008_providers
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0009_merge"
down_revision = (
    "0002_admin",
    "0003_ledger",
    "0004_audit_log",
    "0005_matching",
    "0006_operations",
    "0007_ingestion",
    "0008_providers",
)
branch_labels = None
depends_on = None

_PROVIDER_TABLES = (
    "provider_cursors",
    "provider_payments",
    "provider_refunds",
    "payouts",
    "provider_events",
)


def upgrade() -> None:
    for table in _PROVIDER_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                op.f(f"fk_{table}_provider_id_payment_providers"),
                "payment_providers",
                ["provider_id"],
                ["id"],
                ondelete="CASCADE" if table == "provider_cursors" else None,
            )
    with op.batch_alter_table("provider_refunds") as batch:
        batch.create_foreign_key(
            op.f("fk_provider_refunds_refund_id_refunds"),
            "refunds",
            ["refund_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("provider_refunds") as batch:
        batch.drop_constraint(op.f("fk_provider_refunds_refund_id_refunds"), type_="foreignkey")
    for table in reversed(_PROVIDER_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(
                op.f(f"fk_{table}_provider_id_payment_providers"), type_="foreignkey"
            )
