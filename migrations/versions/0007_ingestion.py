"""Ingestion: a feed file's source and contract owner; each line's contract owner.

Revision ID: 0007_ingestion
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ingestion"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("feed_files") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), server_default="cli", nullable=False)
        )
        batch.add_column(sa.Column("contract_owner_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_feed_files_contract_owner_id_contract_owners"),
            "contract_owners",
            ["contract_owner_id"],
            ["id"],
        )
    with op.batch_alter_table("statement_lines") as batch:
        batch.add_column(sa.Column("contract_owner_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_statement_lines_contract_owner_id_contract_owners"),
            "contract_owners",
            ["contract_owner_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("statement_lines") as batch:
        batch.drop_constraint(
            op.f("fk_statement_lines_contract_owner_id_contract_owners"), type_="foreignkey"
        )
        batch.drop_column("contract_owner_id")
    with op.batch_alter_table("feed_files") as batch:
        batch.drop_constraint(
            op.f("fk_feed_files_contract_owner_id_contract_owners"), type_="foreignkey"
        )
        batch.drop_column("contract_owner_id")
        batch.drop_column("source")
