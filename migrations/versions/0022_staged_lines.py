"""The staging tables of a pipeline run's files: every file is parsed and routed at once, each by
its own task, into `staged_lines` (and `staged_suggestions`, `staged_files`); one step then stores
them in `statement_lines` in the run's file order (services.reconciliation.ingest).

Revision ID: 0022_staged_lines
Revises: 0021_payment_list_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount, Id

revision = "0022_staged_lines"
down_revision = "0021_payment_list_indexes"
branch_labels = None
depends_on = None


def _feed_file(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("feed_file_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_file_id"],
            ["feed_files.id"],
            name=op.f(f"fk_{table}_feed_file_id_feed_files"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "staged_files",
        *_feed_file("staged_files"),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("contract_owner_id", Id, nullable=True),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed_file_id", name=op.f("pk_staged_files")),
    )
    op.create_table(
        "staged_lines",
        *_feed_file("staged_lines"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("contract_owner_id", Id, nullable=True),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("counterparty_name", sa.String(length=255), nullable=True),
        sa.Column("counterparty_account", sa.String(length=64), nullable=True),
        sa.Column("remittance", sa.Text(), nullable=True),
        sa.Column("structured_reference", sa.String(length=64), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=128), nullable=True),
        sa.Column("mandate_id", sa.String(length=64), nullable=True),
        sa.Column("bank_transaction_code", sa.String(length=64), nullable=True),
        sa.Column("return_reason", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("customer_id", Id, nullable=True),
        sa.Column("partition", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed_file_id", "seq", name=op.f("pk_staged_lines")),
    )
    op.create_table(
        "staged_suggestions",
        *_feed_file("staged_suggestions"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "feed_file_id", "seq", "customer_id", name=op.f("pk_staged_suggestions")
        ),
    )


def downgrade() -> None:
    op.drop_table("staged_suggestions")
    op.drop_table("staged_lines")
    op.drop_table("staged_files")
