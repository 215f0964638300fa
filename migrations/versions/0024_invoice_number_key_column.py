"""Each invoice's normalised number (`INV1234` for `INV-0001234`) kept on the invoice itself,
indexed, instead of in a table of its own (`invoice_number_keys`, from 0005_matching): an
import wrote every invoice twice, and the second table's rows and its foreign key to the
invoices were 9.3 s of a 21.2 s merge of 1,000,000 invoices. NULL until the key is computed
(an invoice written by anything but an import): `store.queries.sync_invoice_keys` fills it.

Revision ID: 0024_invoice_number_key_column
Revises: 0023_customers_created_at
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_invoice_number_key_column"
down_revision = "0023_customers_created_at"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("invoices", sa.Column("number_key", sa.String(64)))
    # The key of an invoice renamed since it was computed is left NULL: the next sync computes
    # it again from the number, as the old table's rename check did.
    op.execute(
        "UPDATE invoices SET number_key = (SELECT k.number_key FROM invoice_number_keys k"
        " WHERE k.invoice_id = invoices.id AND k.invoice_number = invoices.invoice_number)"
    )
    op.create_index("ix_invoices_number_key", "invoices", ["number_key"])
    op.drop_table("invoice_number_keys")


def downgrade() -> None:
    op.create_table(  # as 0005_matching made it
        "invoice_number_keys",
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("number_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_number_keys_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_number_keys")),
    )
    op.create_index("ix_invoice_number_keys_number_key", "invoice_number_keys", ["number_key"])
    op.execute(
        "INSERT INTO invoice_number_keys (invoice_id, invoice_number, number_key)"
        " SELECT id, invoice_number, number_key FROM invoices WHERE number_key IS NOT NULL"
    )
    op.drop_index("ix_invoices_number_key", table_name="invoices")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("number_key")
