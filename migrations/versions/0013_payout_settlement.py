"""Payout settlement: a bank credit that carries a provider payout reconciles it.

`payouts.reference_key` is the reference as the matcher compares it (capitals and digits only,
indexed, so a chunk's payouts are found with one IN query); `reconciled_at`, `settled_fees` and
`settlement_evidence` record what settling it against `statement_line_id` found. Existing
payouts get their key here. Money columns carry no server default.

Revision ID: 0013_payout_settlement
Revises: 0012_settlement_credit_note_fk
Create Date: 2026-11-22
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount

revision = "0013_payout_settlement"
down_revision = "0012_settlement_credit_note_fk"
branch_labels = None
depends_on = None

_WORDS = re.compile(r"[^\W_]+")  # as payrecon.domain.matching.payouts.payout_reference_key


def upgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("reference_key", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("settled_fees", Amount(scale=6, precision=22), nullable=True))
        batch.add_column(sa.Column("settlement_evidence", sa.JSON(), nullable=True))
        batch.create_index(op.f("ix_payouts_reference_key"), ["reference_key"], unique=False)
    payouts = sa.table(
        "payouts",
        sa.column("id", sa.Integer()),
        sa.column("reference", sa.String()),
        sa.column("reference_key", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(payouts.c.id, payouts.c.reference).where(payouts.c.reference.is_not(None))
    ).all()
    keys = [{"b_id": r.id, "b_key": "".join(_WORDS.findall(r.reference.upper()))} for r in rows]
    if keys:
        conn.execute(
            payouts.update()
            .where(payouts.c.id == sa.bindparam("b_id"))
            .values(reference_key=sa.bindparam("b_key")),
            keys,
        )


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.drop_index(op.f("ix_payouts_reference_key"))
        batch.drop_column("settlement_evidence")
        batch.drop_column("settled_fees")
        batch.drop_column("reconciled_at")
        batch.drop_column("reference_key")
