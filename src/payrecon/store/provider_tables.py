"""What the provider sync keeps (migration 0008_providers): a cursor per provider and resource, the
providers' objects as last read, and the events they sent.

A provider object is unique by (provider, external id) and an event by (provider, event id), so
pulling or receiving anything twice adds nothing. `provider_payments.payment_id` links a provider
payment to the ledger payment it produced (at most one each way); `provider_refunds.refund_id` the
same for refunds. A payout is reconciled once `statement_line_id` names the bank line that
carries it (migration 0013_payout_settlement adds `reference_key`, `reconciled_at`,
`settled_fees` and `settlement_evidence`). `provider_id` and `refund_id` name tables of sibling
migration branches (0002_admin, 0003_ledger), so their foreign keys come with the merge
revision 0009_merge.

Watermarks are text because their meaning is the resource's: an ISO timestamp (the `created_at`
filter of a provider list) or an ISO date (the last day an open-banking account was polled).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from payrecon.store.bulk import dialect_insert
from payrecon.store.tables import metadata
from payrecon.store.types import Amount, Id

# Payout items keep GoCardless's tenths of a minor unit (0.005 GBP; 0.0455 KWD) and more.
ITEM_AMOUNT = Amount(scale=6, precision=22)


def _provider_id(*, cascade: bool = False) -> Column[int]:
    # payment_providers comes from the 0002_admin branch; the foreign key from 0009_merge.
    return Column(
        "provider_id",
        Id,
        ForeignKey("payment_providers.id", ondelete="CASCADE" if cascade else None),
        nullable=False,
    )


def _stamp(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


provider_cursors = Table(
    "provider_cursors",
    metadata,
    Column("id", Id, primary_key=True),
    _provider_id(cascade=True),
    # `payments`, `events`, ...; an open-banking account is `transactions:<account id>`.
    Column("resource", String(160), nullable=False),
    Column("cursor", String(255)),  # the next page of an unfinished pass; NULL between passes
    Column("watermark", String(64)),  # where the current pass started (or the next one starts)
    Column("newest_seen", String(64)),  # the newest `created_at` the current pass has seen
    _stamp("updated_at"),
    UniqueConstraint("provider_id", "resource"),
)

provider_payments = Table(
    "provider_payments",
    metadata,
    Column("id", Id, primary_key=True),
    _provider_id(),
    Column("external_id", String(128), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    # Stripe: the status of the charge's dispute and when it was learnt (events may come late).
    Column("dispute_status", String(32)),
    _stamp("dispute_seen_at", nullable=True),
    Column("mandate_external_id", String(128)),
    Column("provider_customer_id", String(128)),
    Column("customer_id", Id, ForeignKey("customers.id")),
    Column("payout_external_id", String(128)),
    Column("reference", String(255)),
    Column("description", Text),
    Column("charge_date", Date),
    _stamp("provider_created_at"),
    _stamp("fetched_at"),  # when this state was read from the provider
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="SET NULL"), unique=True),
    Column("review_reason", Text),  # why a collected payment is not in the ledger yet
    UniqueConstraint("provider_id", "external_id"),
)
Index("ix_provider_payments_payout", provider_payments.c.payout_external_id)
Index("ix_provider_payments_customer", provider_payments.c.customer_id)

provider_refunds = Table(
    "provider_refunds",
    metadata,
    Column("id", Id, primary_key=True),
    _provider_id(),
    Column("external_id", String(128), nullable=False),
    Column("payment_external_id", String(128)),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("reference", String(255)),
    _stamp("provider_created_at"),
    _stamp("fetched_at"),
    # The ledger's refund (0003_ledger branch; the foreign key from 0009_merge).
    Column("refund_id", Id, ForeignKey("refunds.id", ondelete="SET NULL"), unique=True),
    Column("review_reason", Text),
    UniqueConstraint("provider_id", "external_id"),
)
Index(
    "ix_provider_refunds_payment",
    provider_refunds.c.provider_id,
    provider_refunds.c.payment_external_id,
)

payouts = Table(
    "payouts",
    metadata,
    Column("id", Id, primary_key=True),
    _provider_id(),
    Column("external_id", String(128), nullable=False),
    Column("amount", Amount(), nullable=False),  # net of deducted_fees: what reaches the bank
    Column("deducted_fees", Amount()),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("arrival_date", Date),
    Column("reference", String(255)),  # the text the bank line carries
    _stamp("provider_created_at"),
    _stamp("fetched_at"),
    _stamp("items_synced_at", nullable=True),
    Column("statement_line_id", Id, ForeignKey("statement_lines.id"), unique=True),
    # 0013_payout_settlement: `reference` as the matcher compares it (capitals and digits only),
    # and what settling it against `statement_line_id` found: the fees of its items and the
    # evidence in words. The provider's `status` stays the provider's word.
    Column("reference_key", String(255)),
    _stamp("reconciled_at", nullable=True),
    Column("settled_fees", ITEM_AMOUNT),
    Column("settlement_evidence", JSON),
    # 0018_currencies: the provider's foreign exchange of the payout (GoCardless `fx`): its
    # payments in `currency` were paid out in `fx_currency` at `fx_rate`.
    Column("fx_currency", String(3)),
    Column("fx_rate", Amount(scale=8, precision=24)),
    Column("fx_amount", Amount()),
    UniqueConstraint("provider_id", "external_id"),
)
Index("ix_payouts_reference", payouts.c.reference)
Index("ix_payouts_reference_key", payouts.c.reference_key)

payout_items = Table(
    "payout_items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("payout_id", Id, ForeignKey("payouts.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),  # the item's place in the provider's list
    Column("type", String(64), nullable=False),
    Column("amount", ITEM_AMOUNT, nullable=False),  # signed: credits positive, fees negative
    Column("fee", ITEM_AMOUNT),
    Column("currency", String(3), nullable=False),
    Column("payment_external_id", String(128)),
    Column("refund_external_id", String(128)),
    Column("external_id", String(128)),  # Stripe's balance transaction id (GoCardless has none)
    Column("links", JSON, nullable=False),
    UniqueConstraint("payout_id", "seq"),
)
Index("ix_payout_items_payment", payout_items.c.payment_external_id)

provider_events = Table(
    "provider_events",
    metadata,
    Column("id", Id, primary_key=True),
    _provider_id(),
    Column("event_id", String(128), nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("links", JSON, nullable=False),
    Column("details", JSON, nullable=False),
    _stamp("provider_created_at"),
    Column("via", String(8), nullable=False),
    Column("effect", String(16), nullable=False),  # payrecon.domain.providers.Effect
    _stamp("received_at"),
    _stamp("processed_at", nullable=True),
    Column("error", Text),
    UniqueConstraint("provider_id", "event_id"),
    CheckConstraint("via IN ('webhook','poll')", name="via"),
)
Index("ix_provider_events_pending", provider_events.c.provider_id, provider_events.c.processed_at)


def read_cursor(conn: Connection, provider_id: int, resource: str) -> dict[str, str | None]:
    """A resource's stored `cursor`, `watermark` and `newest_seen` ({} before its first pass)."""
    c = provider_cursors.c
    row = conn.execute(
        select(c.cursor, c.watermark, c.newest_seen).where(
            c.provider_id == provider_id, c.resource == resource
        )
    ).first()
    if row is None:
        return {}
    return {"cursor": row.cursor, "watermark": row.watermark, "newest_seen": row.newest_seen}


def save_cursor(
    conn: Connection, provider_id: int, resource: str, values: dict[str, str | None], now: datetime
) -> None:
    """Set the given columns of the resource's cursor row (created on first use)."""
    row = {"provider_id": provider_id, "resource": resource, **values, "updated_at": now}
    stmt = dialect_insert(conn, provider_cursors).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["provider_id", "resource"],
        set_={k: stmt.excluded[k] for k in (*values, "updated_at")},
    )
    conn.execute(stmt)
