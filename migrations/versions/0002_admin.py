"""Admin entities: billing cycles, payment providers, payment links; mandates gain a provider.

Revision ID: 0002_admin
Revises: 0001_foundation
Create Date: 2026-11-21

Branches from the foundation beside the ledger's migration; the heads are merged later. The
`mandates` change uses batch operations so that it runs on SQLite (which recreates the table).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Amount

revision = "0002_admin"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_cycles",
        sa.Column("id", _id(), nullable=False),
        sa.Column("contract_owner_id", _id(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("start_day", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("start_day BETWEEN 1 AND 28", name=op.f("ck_billing_cycles_start_day")),
        sa.ForeignKeyConstraint(
            ["contract_owner_id"],
            ["contract_owners.id"],
            name=op.f("fk_billing_cycles_contract_owner_id_contract_owners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_cycles")),
        sa.UniqueConstraint(
            "contract_owner_id", "name", name=op.f("uq_billing_cycles_contract_owner_id_name")
        ),
    )
    op.create_table(
        "payment_providers",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.String(length=2048), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('gocardless','stripe','openbanking','bank','manual')",
            name=op.f("ck_payment_providers_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_payment_providers_name")),
    )
    op.create_table(
        "payment_links",
        sa.Column("id", _id(), nullable=False),
        sa.Column("provider_id", _id(), nullable=False),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("invoice_id", _id(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_links_amount_positive")),
        sa.CheckConstraint(
            "status IN ('open','paid','expired','cancelled')",
            name=op.f("ck_payment_links_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_links_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_links_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["payment_providers.id"],
            name=op.f("fk_payment_links_provider_id_payment_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint(
            "provider_id", "external_id", name=op.f("uq_payment_links_provider_id_external_id")
        ),
    )
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.create_index("ix_payment_links_customer", ["customer_id"], unique=False)
        batch_op.create_index("ix_payment_links_invoice", ["invoice_id"], unique=False)

    with op.batch_alter_table("mandates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_id", _id(), nullable=True))
        batch_op.add_column(sa.Column("scheme", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_mandates_provider_id_payment_providers"),
            "payment_providers",
            ["provider_id"],
            ["id"],
        )
        batch_op.create_index("ix_mandates_customer", ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mandates", schema=None) as batch_op:
        batch_op.drop_index("ix_mandates_customer")
        batch_op.drop_constraint(
            op.f("fk_mandates_provider_id_payment_providers"), type_="foreignkey"
        )
        batch_op.drop_column("updated_at")
        batch_op.drop_column("scheme")
        batch_op.drop_column("provider_id")
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_links_invoice")
        batch_op.drop_index("ix_payment_links_customer")
    op.drop_table("payment_links")
    op.drop_table("payment_providers")
    op.drop_table("billing_cycles")
