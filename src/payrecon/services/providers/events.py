"""Provider events: received by webhook (signature checked on the raw body) or pulled with the
event list, stored once per (provider, event id), then processed.

Storing an event records its effect (`payment_effect`); an ignored one is processed at once. A
pending event names a resource whose state is what matters, not the event's action: the resource is
read again from the provider unless the stored copy was read well after the event happened
(`FRESHNESS`), then stored and settled like a pulled one (`provider_ledger`). So replays and events
that arrive out of order change nothing, and a payment's last state wins.

    GoCardless  payments -> get_payment; refunds -> get_refund (and its payment if unknown);
                payouts paid -> get_payout, then its items
    Stripe      charge -> get_charge; refunds (and charge.refunded) -> the charge's refunds;
                dispute -> the status the event carries, on its charge; payout -> its status

A resource the provider no longer knows (4xx) marks the event processed with the error, for review;
a transient failure leaves the events pending for the next run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, select, update

from payrecon.domain.errors import NotFound
from payrecon.domain.providers import (
    DisputeStatus,
    Effect,
    PayoutStatus,
    ProviderEvent,
    ProviderPayment,
    ProviderPayout,
    ProviderRefund,
    payment_effect,
)
from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.feeds.http import ProviderRejectedError
from payrecon.feeds.stripe import StripeClient
from payrecon.feeds.webhooks import (
    InvalidSignatureError,
    parse_gocardless_events,
    parse_stripe_event,
    verify_gocardless,
    verify_stripe,
)
from payrecon.logging import get_logger
from payrecon.services.providers.allocations import ProviderRef, aware
from payrecon.services.providers.ledger import (
    LedgerCounts,
    store_dispute_statuses,
    store_payments,
    store_refunds,
)
from payrecon.services.providers.mandates import apply_mandate_events
from payrecon.services.providers.payouts import mark_payout_status, store_payouts, sync_payout_items
from payrecon.store import admin_tables as a
from payrecon.store import provider_tables as pt
from payrecon.store.bulk import dialect_insert

if TYPE_CHECKING:
    from payrecon.services.providers.credentials import ProviderCredentials

log = get_logger(__name__)
FRESHNESS = timedelta(seconds=60)  # a copy read this long after an event already reflects it
_PAYMENT_EFFECTS = (Effect.RECORD, Effect.REVERSE)
_REFUND_EFFECTS = (Effect.REFUND, Effect.CANCEL_REFUND)
_DISPUTE_STATUSES = frozenset(s.value for s in DisputeStatus)
_PAYOUT_STATUSES = frozenset(s.value for s in PayoutStatus)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """A configured provider. The secrets are as stored, sealed (`ProviderCredentials` opens
    them), `SecretStr` and out of the repr all the same."""

    id: int
    name: str
    kind: str
    base_url: str | None
    enabled: bool
    sealed_access_token: SecretStr | None = field(default=None, repr=False)
    sealed_webhook_secret: SecretStr | None = field(default=None, repr=False)

    @property
    def ref(self) -> ProviderRef:
        return ProviderRef(self.id, self.kind)


def load_provider(conn: Connection, provider_id: int, *, kind: str | None = None) -> ProviderConfig:
    p = a.payment_providers.c
    row = conn.execute(select(a.payment_providers).where(p.id == provider_id)).first()
    if row is None or (kind is not None and row.kind != kind):
        raise NotFound(f"no {kind or 'payment'} provider {provider_id}")
    return ProviderConfig(
        id=row.id,
        name=row.name,
        kind=row.kind,
        base_url=row.base_url,
        enabled=row.enabled,
        sealed_access_token=SecretStr(row.access_token) if row.access_token else None,
        sealed_webhook_secret=SecretStr(row.webhook_secret) if row.webhook_secret else None,
    )


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    provider_id: int
    events: int  # in the body
    new: int  # not seen before
    to_process: int  # of the body, with an effect other than `ignore`
    new_to_process: int  # of those, not seen before: work to enqueue


def receive_gocardless_webhook(
    engine: Engine,
    provider_id: int,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    credentials: ProviderCredentials,
) -> WebhookReceipt:
    """Verify `Webhook-Signature` over the raw body, then store its events (one transaction)."""
    with engine.begin() as conn:
        provider = load_provider(conn, provider_id, kind="gocardless")
        verify_gocardless(body, signature, _webhook_secret(provider, credentials))
        return _store_received(conn, provider, parse_gocardless_events(body), now)


def receive_stripe_webhook(
    engine: Engine,
    provider_id: int,
    body: bytes,
    header: str,
    *,
    now: datetime,
    credentials: ProviderCredentials,
) -> WebhookReceipt:
    """Verify `Stripe-Signature` (300 s tolerance around `now`), then store the event."""
    with engine.begin() as conn:
        provider = load_provider(conn, provider_id, kind="stripe")
        secret = _webhook_secret(provider, credentials)
        verify_stripe(body, header, secret, now=int(now.timestamp()))
        return _store_received(conn, provider, [parse_stripe_event(body)], now)


def _webhook_secret(provider: ProviderConfig, credentials: ProviderCredentials) -> SecretStr:
    secret = credentials.webhook_secret(provider)
    if secret is None:
        raise InvalidSignatureError(f"provider {provider.id} has no webhook secret configured")
    return secret


def _store_received(
    conn: Connection, provider: ProviderConfig, events: list[ProviderEvent], now: datetime
) -> WebhookReceipt:
    new, new_to_process = store_events(conn, provider.id, events, via="webhook", now=now)
    to_process = sum(payment_effect(e) is not Effect.IGNORE for e in events)
    log.info(
        "providers.webhook.received",
        provider_id=provider.id,
        events=len(events),
        new=new,
        to_process=to_process,
    )
    return WebhookReceipt(provider.id, len(events), new, to_process, new_to_process)


def store_events(
    conn: Connection, provider_id: int, events: Sequence[ProviderEvent], *, via: str, now: datetime
) -> tuple[int, int]:
    """Insert the events not stored yet; (new ones, new ones to process)."""
    rows = []
    for event in {e.id: e for e in events}.values():
        effect = payment_effect(event)
        rows.append(
            {
                "provider_id": provider_id,
                "event_id": event.id,
                "resource_type": event.resource_type,
                "action": event.action,
                "links": dict(event.links),
                "details": _jsonable(event.details),
                "provider_created_at": event.created_at,
                "via": via,
                "effect": effect.value,
                "received_at": now,
                "processed_at": now if effect is Effect.IGNORE else None,
            }
        )
    if not rows:
        return 0, 0
    stmt = (
        dialect_insert(conn, pt.provider_events)
        .on_conflict_do_nothing(index_elements=["provider_id", "event_id"])
        .returning(pt.provider_events.c.effect)
    )
    effects = list(conn.execute(stmt, rows).scalars())
    apply_mandate_events(conn, provider_id, events)  # a mandate's status is the provider's word
    return len(effects), sum(e != Effect.IGNORE.value for e in effects)


def _jsonable(value: Any) -> Any:
    """Event details as JSON can hold them (webhook bodies are read with exact decimals)."""
    return json.loads(json.dumps(value, default=str))


@dataclass(slots=True)
class EventCounts:
    processed: int = 0
    failed: int = 0
    fetched: int = 0
    payout_items: int = 0
    lines_retried: int = 0  # bank lines back to pending: their payout's items arrived
    ledger: LedgerCounts = field(default_factory=LedgerCounts)

    def as_counts(self) -> dict[str, int]:
        return {
            "events_processed": self.processed,
            "events_failed": self.failed,
            "events_fetched": self.fetched,
            "payout_items": self.payout_items,
            "lines_retried": self.lines_retried,
        }


@dataclass(slots=True)
class _Fetched:
    """What a chunk of events made us read from the provider, and the events it failed for."""

    payments: dict[str, ProviderPayment] = field(default_factory=dict)
    refunds: dict[str, ProviderRefund] = field(default_factory=dict)
    payouts: dict[str, ProviderPayout] = field(default_factory=dict)
    disputes: list[tuple[str, str, datetime]] = field(default_factory=list)
    payout_statuses: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def reads(self) -> int:
        return len(self.payments) + len(self.refunds) + len(self.payouts)


def process_pending_events(
    engine: Engine,
    provider: ProviderConfig,
    client: GoCardlessClient | StripeClient,
    *,
    now: datetime,
    chunk: int = 200,
) -> EventCounts:
    """Process the provider's pending events, oldest first, one transaction per chunk."""
    counts = EventCounts()
    e = pt.provider_events.c
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(pt.provider_events)
                .where(e.provider_id == provider.id, e.processed_at.is_(None))
                .order_by(e.provider_created_at, e.id)
                .limit(chunk)
            ).all()
        if not rows:
            break
        fetched = _Fetched()
        for row in rows:
            try:
                _read_resource(engine, provider.id, client, row, fetched)
            except ProviderRejectedError as exc:
                fetched.errors[row.id] = str(exc)
        with engine.begin() as conn:
            ref = provider.ref
            counts.ledger.add(store_payments(conn, ref, list(fetched.payments.values()), now))
            counts.ledger.add(store_refunds(conn, ref, list(fetched.refunds.values()), now))
            counts.ledger.add(store_dispute_statuses(conn, ref, fetched.disputes, now))
            store_payouts(conn, provider.id, list(fetched.payouts.values()), now)
            for payout_id, status in fetched.payout_statuses:
                mark_payout_status(conn, provider.id, payout_id, status)
            _mark_processed(conn, [r.id for r in rows], fetched.errors, now)
        counts.processed += len(rows)
        counts.failed += len(fetched.errors)
        counts.fetched += fetched.reads
    items, retried = sync_payout_items(engine, provider.id, client, now)
    counts.payout_items += items
    counts.lines_retried += retried
    return counts


def _mark_processed(
    conn: Connection, ids: Iterable[int], errors: dict[int, str], now: datetime
) -> None:
    e = pt.provider_events.c
    for event_id in ids:
        conn.execute(
            update(pt.provider_events)
            .where(e.id == event_id, e.processed_at.is_(None))
            .values(processed_at=now, error=errors.get(event_id))
        )


def _read_resource(
    engine: Engine,
    provider_id: int,
    client: GoCardlessClient | StripeClient,
    row: Any,
    fetched: _Fetched,
) -> None:
    effect, links, happened = Effect(row.effect), row.links, aware(row.provider_created_at)
    payment_id, refund_id, payout_id = (
        links.get("payment"),
        links.get("refund"),
        links.get("payout"),
    )

    def stale(table: Any, external_id: str) -> bool:
        with engine.connect() as conn:
            read_at = conn.execute(
                select(table.c.fetched_at).where(
                    table.c.provider_id == provider_id, table.c.external_id == external_id
                )
            ).scalar_one_or_none()
        return read_at is None or aware(read_at) < happened + FRESHNESS

    def payment(external_id: str, *, unless_known: bool = False) -> None:
        if external_id in fetched.payments:
            return
        known = not stale(pt.provider_payments, external_id) or (
            unless_known and _known(engine, provider_id, external_id)
        )
        if not known:
            get = client.get_payment if isinstance(client, GoCardlessClient) else client.get_charge
            fetched.payments[external_id] = get(external_id)

    if isinstance(client, GoCardlessClient):
        if effect in _PAYMENT_EFFECTS and payment_id:
            payment(payment_id)
        elif effect in _REFUND_EFFECTS and refund_id and stale(pt.provider_refunds, refund_id):
            refund = fetched.refunds.get(refund_id) or client.get_refund(refund_id)
            fetched.refunds[refund_id] = refund
            if refund.payment_external_id:
                payment(refund.payment_external_id, unless_known=True)
        elif effect is Effect.RECORD_PAYOUT and payout_id and stale(pt.payouts, payout_id):
            fetched.payouts[payout_id] = fetched.payouts.get(payout_id) or client.get_payout(
                payout_id
            )
        return
    status = row.details.get("status")
    if row.resource_type == "dispute" and payment_id and status in _DISPUTE_STATUSES:
        payment(payment_id, unless_known=True)
        fetched.disputes.append((payment_id, status, happened))
    elif effect in _PAYMENT_EFFECTS and payment_id:
        payment(payment_id)
    elif effect in _REFUND_EFFECTS and payment_id:
        payment(payment_id, unless_known=True)
        for page in client.refund_pages(charge=payment_id):
            fetched.refunds.update((r.external_id, r) for r in page.records)
    elif effect is Effect.RECORD_PAYOUT and payout_id:
        status = "cancelled" if status == "canceled" else status
        if status in _PAYOUT_STATUSES:
            fetched.payout_statuses.append((payout_id, status))


def _known(engine: Engine, provider_id: int, external_id: str) -> bool:
    pp = pt.provider_payments.c
    with engine.connect() as conn:
        found = conn.execute(
            select(pp.id).where(pp.provider_id == provider_id, pp.external_id == external_id)
        ).first()
    return found is not None
