"""Kept amounts: each invoice's open amount and each payment's and credit note's unused amount are
stored and kept by the ledger write path, so reading candidate invoices no longer sums every
allocation made so far. Existing rows are filled from their allocations here.

Credit-note allocations explain themselves like payments' (rule, confidence, evidence): existing
ones were made by hand (`manual`), or settle a tolerated shortfall (`write_off`, `bank_charges`).
Provider payments now use the rule book's rule names: `provider_payment_reference` is
`invoice_reference_exact`, `provider_payment_fifo` is `oldest_due_first`.

Revision ID: 0014_kept_amounts
Revises: 0013_payout_settlement
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount

revision = "0014_kept_amounts"
down_revision = "0013_payout_settlement"
branch_labels = None
depends_on = None

_RENAMED = {
    "provider_payment_reference": "invoice_reference_exact",
    "provider_payment_fifo": "oldest_due_first",
}

invoices = sa.table(
    "invoices", sa.column("id"), sa.column("total", Amount()), sa.column("open_amount", Amount())
)
payments = sa.table(
    "payments",
    sa.column("id"),
    sa.column("amount", Amount()),
    sa.column("status"),
    sa.column("unused_amount", Amount()),
)
credit_notes = sa.table(
    "credit_notes",
    sa.column("id"),
    sa.column("amount", Amount()),
    sa.column("collection_status"),
    sa.column("unused_amount", Amount()),
)
allocations = sa.table(
    "allocations",
    sa.column("payment_id"),
    sa.column("invoice_id"),
    sa.column("amount", Amount()),
    sa.column("rule"),
)
cna = sa.table(
    "credit_note_allocations",
    sa.column("credit_note_id"),
    sa.column("invoice_id"),
    sa.column("amount", Amount()),
    sa.column("rule"),
    sa.column("confidence", Amount(scale=3, precision=4)),
    sa.column("evidence", sa.JSON()),
)
refunds = sa.table(
    "refunds", sa.column("payment_id"), sa.column("credit_note_id"), sa.column("amount", Amount())
)
settlements = sa.table(
    "payment_settlements", sa.column("credit_note_id"), sa.column("kind"), sa.column("invoice_id")
)


def _sum(
    column: sa.ColumnElement[object], *where: sa.ColumnElement[bool]
) -> sa.ScalarSelect[object]:
    return sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(*where).scalar_subquery()


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("open_amount", Amount(), nullable=True))
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("unused_amount", Amount(), nullable=True))
    with op.batch_alter_table("credit_notes") as batch:
        batch.add_column(sa.Column("unused_amount", Amount(), nullable=True))
    with op.batch_alter_table("credit_note_allocations") as batch:
        batch.add_column(sa.Column("rule", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("confidence", Amount(scale=3, precision=4), nullable=True))
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
    conn = op.get_bind()
    active = sa.select(payments.c.id).where(payments.c.status == "active")
    collected = sa.select(credit_notes.c.id).where(credit_notes.c.collection_status == "collected")
    conn.execute(
        invoices.update().values(
            open_amount=invoices.c.total
            - _sum(
                allocations.c.amount,
                allocations.c.invoice_id == invoices.c.id,
                allocations.c.payment_id.in_(active),
            )
            - _sum(
                cna.c.amount, cna.c.invoice_id == invoices.c.id, cna.c.credit_note_id.in_(collected)
            )
        )
    )
    conn.execute(
        payments.update().values(
            unused_amount=sa.case(
                (
                    payments.c.status == "active",
                    payments.c.amount
                    - _sum(refunds.c.amount, refunds.c.payment_id == payments.c.id)
                    - _sum(allocations.c.amount, allocations.c.payment_id == payments.c.id),
                ),
                else_=0,
            )
        )
    )
    conn.execute(
        credit_notes.update().values(
            unused_amount=sa.case(
                (
                    credit_notes.c.collection_status == "collected",
                    credit_notes.c.amount
                    - _sum(refunds.c.amount, refunds.c.credit_note_id == credit_notes.c.id)
                    - _sum(cna.c.amount, cna.c.credit_note_id == credit_notes.c.id),
                ),
                else_=0,
            )
        )
    )
    settled = (
        sa.select(settlements.c.kind)
        .where(
            settlements.c.credit_note_id == cna.c.credit_note_id,
            settlements.c.invoice_id == cna.c.invoice_id,
        )
        .scalar_subquery()
    )
    conn.execute(
        cna.update().values(
            rule=sa.func.coalesce(settled, "manual"),
            confidence=1,
            evidence=sa.literal({}, sa.JSON()),
        )
    )
    for old, new in _RENAMED.items():
        conn.execute(allocations.update().where(allocations.c.rule == old).values(rule=new))
    with op.batch_alter_table("invoices") as batch:
        batch.alter_column("open_amount", existing_type=Amount(), nullable=False)
        batch.create_check_constraint(
            op.f("ck_invoices_open_amount"), "open_amount >= 0 AND open_amount <= total"
        )
    for table in ("payments", "credit_notes"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("unused_amount", existing_type=Amount(), nullable=False)
            batch.create_check_constraint(
                op.f(f"ck_{table}_unused_amount"), "unused_amount >= 0 AND unused_amount <= amount"
            )
    with op.batch_alter_table("credit_note_allocations") as batch:
        batch.alter_column("rule", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("confidence", existing_type=Amount(scale=3, precision=4), nullable=False)
        batch.alter_column("evidence", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    conn = op.get_bind()
    for old, new in _RENAMED.items():
        conn.execute(
            allocations.update()
            .where(allocations.c.rule == new, allocations.c.payment_id.in_(_provider_payments()))
            .values(rule=old)
        )
    with op.batch_alter_table("credit_note_allocations") as batch:
        batch.drop_column("evidence")
        batch.drop_column("confidence")
        batch.drop_column("rule")
    for table in ("credit_notes", "payments"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_unused_amount"), type_="check")
            batch.drop_column("unused_amount")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint(op.f("ck_invoices_open_amount"), type_="check")
        batch.drop_column("open_amount")


def _provider_payments() -> sa.Select[tuple[object]]:
    source = sa.table("payments", sa.column("id"), sa.column("source"))
    return sa.select(source.c.id).where(source.c.source.in_(["gocardless", "stripe"]))
