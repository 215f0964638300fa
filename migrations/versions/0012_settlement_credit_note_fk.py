"""The foreign key from a tolerated shortfall's settlement to its credit note, which crossed the
0003_ledger and 0005_matching branches before they were merged.

Revision ID: 0012_settlement_credit_note_fk
Revises: 0011_customer_billing_cycle
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0012_settlement_credit_note_fk"
down_revision = "0011_customer_billing_cycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_settlements") as batch:
        batch.create_foreign_key(
            op.f("fk_payment_settlements_credit_note_id_credit_notes"),
            "credit_notes",
            ["credit_note_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_settlements") as batch:
        batch.drop_constraint(
            op.f("fk_payment_settlements_credit_note_id_credit_notes"), type_="foreignkey"
        )
