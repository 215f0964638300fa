"""Admin entities (migration 0002_admin): billing cycles, payment providers, payment links, and the
columns that make a foundation `mandates` row a seed-000 SitePaymentMandate.

Payment providers hold their access token and webhook secret in plain columns: the API never
returns them and nothing logs them (the services keep them in `SecretStr` until the write).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from payrecon.store.tables import mandates, metadata
from payrecon.store.types import Amount, Id

billing_cycles = Table(
    "billing_cycles",
    metadata,
    Column("id", Id, primary_key=True),
    Column("contract_owner_id", Id, ForeignKey("contract_owners.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("start_day", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("contract_owner_id", "name"),
    CheckConstraint("start_day BETWEEN 1 AND 28", name="start_day"),
)

payment_providers = Table(
    "payment_providers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("base_url", String(2048)),
    Column("enabled", Boolean, nullable=False),
    Column("access_token", Text),
    Column("webhook_secret", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "kind IN ('gocardless','stripe','openbanking','bank','manual')",
        name="kind",
    ),
)

payment_links = Table(
    "payment_links",
    metadata,
    Column("id", Id, primary_key=True),
    Column("provider_id", Id, ForeignKey("payment_providers.id"), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("invoice_id", Id, ForeignKey("invoices.id")),
    Column("url", String(2048), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("external_id", String(128)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("provider_id", "external_id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("status IN ('open','paid','expired','cancelled')", name="status"),
)
Index("ix_payment_links_customer", payment_links.c.customer_id)
Index("ix_payment_links_invoice", payment_links.c.invoice_id)

# The foundation's `mandates` gains its provider, scheme and update time (0002_admin adds them).
mandates.append_column(Column("provider_id", Id, ForeignKey("payment_providers.id")))
mandates.append_column(Column("scheme", String(32)))
mandates.append_column(Column("updated_at", DateTime(timezone=True)))
# 0018_currencies: the provider's customer the mandate belongs to (GoCardless `links.customer`),
# so that a synced mandate of the same provider customer finds its payrecon customer.
mandates.append_column(Column("provider_customer_id", String(128)))
Index("ix_mandates_customer", mandates.c.customer_id)
