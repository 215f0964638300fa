"""Partitions: each statement line is routed, when it is stored, to the partition of the customer
it is identified to (or of the payouts, or of the payment a debit undoes); reconcilers work one
partition each, in booking-date and file order, under that partition's lock. A partial index
serves each partition's pending lines in that order. Lines stored before this migration have no
partition yet and are routed by the next reconcile.

A large file is ingested in chunks that parse and commit on their own; `feed_file_chunks` records
each chunk's counts and sums, so a chunk run twice adds nothing and the file's totals are checked
once every chunk is in.

Revision ID: 0016_partitions
Revises: 0015_seal_provider_secrets
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_partitions"
down_revision = "0015_seal_provider_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("statement_lines") as batch:
        batch.add_column(sa.Column("partition", sa.SmallInteger(), nullable=True))
    op.create_index(
        "ix_statement_lines_pending_by_partition",
        "statement_lines",
        ["partition", "booking_date", "feed_file_id", "seq"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "feed_file_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "feed_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("new_lines", sa.Integer(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_file_id"],
            ["feed_files.id"],
            name=op.f("fk_feed_file_chunks_feed_file_id_feed_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_file_chunks")),
        sa.UniqueConstraint(
            "feed_file_id", "chunk_no", name=op.f("uq_feed_file_chunks_feed_file_id_chunk_no")
        ),
    )


def downgrade() -> None:
    op.drop_table("feed_file_chunks")
    op.drop_index("ix_statement_lines_pending_by_partition", table_name="statement_lines")
    with op.batch_alter_table("statement_lines") as batch:
        batch.drop_column("partition")
