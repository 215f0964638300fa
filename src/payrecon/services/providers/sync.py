"""Incremental sync of one provider: pull what is new, resource by resource, page by page.

Provider lists come newest first, so each pass combines a watermark and a cursor
(`provider_cursors`, one row per provider and resource): a pass asks for objects created at or
after the watermark and follows the page cursor; every page's rows and the advanced cursor are
written in ONE transaction, so a crash between pages resumes from the committed cursor, with the
same watermark, without loss or duplication (the (provider, external id) keys absorb any repeat).
When a pass ends, the next one starts `OVERLAP` before the newest object it saw. Status changes of
older objects come as events (pulled here for GoCardless, pushed by webhooks for both).

    GoCardless   payments, refunds, payouts (+ items of paid payouts), events -> processed
    Stripe       charges, refunds, disputes, payouts (+ their balance transactions)
    Open banking each registered account (`transactions:<account id>`): booked transactions,
                 by date window from the last day polled, as statement lines of that account

Open-banking lines go where bank-file lines go: `statement_lines` (ON CONFLICT (account,
external_id) DO NOTHING) under one `feed_files` row per page (source `openbanking`, SHA-256 of the
page's transaction ids), to be matched by the reconciler. One sync per provider at a time is the
worker's Redis lock; correctness rests on the database keys alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import Connection, Engine, select

from payrecon.domain.errors import InvalidInput
from payrecon.domain.providers import ProviderDispute, ProviderPayment
from payrecon.feeds import gocardless, stripe
from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.feeds.http import Page, RetryPolicy
from payrecon.feeds.openbanking import OpenBankingClient
from payrecon.feeds.stripe import StripeClient
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.providers.credentials import ProviderCredentials
from payrecon.services.providers.events import (
    EventCounts,
    ProviderConfig,
    load_provider,
    process_pending_events,
    store_events,
)
from payrecon.services.providers.ledger import (
    LedgerCounts,
    awaiting_ids,
    settle_payments,
    store_dispute_statuses,
    store_payments,
    store_refunds,
)
from payrecon.services.providers.mandates import MandateCounts, store_mandates
from payrecon.services.providers.openbanking import poll_accounts
from payrecon.services.providers.payouts import store_payouts
from payrecon.store import admin_tables as a
from payrecon.store import provider_tables as pt

log = get_logger(__name__)
R = TypeVar("R")
ProviderClient = GoCardlessClient | StripeClient | OpenBankingClient
ClientFactory = Callable[[ProviderConfig], ProviderClient]
OVERLAP = timedelta(minutes=5)
_SETTLE_CHUNK = 500


def provider_clients(
    http: httpx.Client,
    credentials: ProviderCredentials,
    *,
    policy: RetryPolicy | None = None,
    page_size: int | None = None,
) -> ClientFactory:
    """The client of a provider's kind over `http`, with its stored access token (opened only
    here) and its base URL (checked against the provider's hosts first, `credentials`)."""

    def build(provider: ProviderConfig) -> ProviderClient:
        if provider.kind not in ("gocardless", "stripe", "openbanking"):
            raise InvalidInput(
                f"provider {provider.id} is of kind {provider.kind}: nothing to pull"
            )
        url = credentials.base_url(provider)  # before the token is opened
        token = credentials.access_token(provider)
        if token is None:
            raise InvalidInput(f"provider {provider.id} has no access token configured")
        if provider.kind == "gocardless":
            size = page_size or gocardless.MAX_PAGE_SIZE
            return GoCardlessClient(
                http, access_token=token, base_url=url, policy=policy, page_size=size
            )
        if provider.kind == "stripe":
            size = page_size or stripe.MAX_PAGE_SIZE
            return StripeClient(http, api_key=token, base_url=url, policy=policy, page_size=size)
        return OpenBankingClient(http, access_token=token, base_url=url, policy=policy)

    return build


@dataclass(slots=True)
class SyncResult:
    provider_id: int
    kind: str
    status: str = "synced"  # or "disabled"
    pages: int = 0
    read: dict[str, int] = field(default_factory=dict)  # objects read per resource
    new_lines: int = 0
    ledger: LedgerCounts = field(default_factory=LedgerCounts)
    events: EventCounts = field(default_factory=EventCounts)
    mandates: MandateCounts = field(default_factory=MandateCounts)

    def as_counts(self) -> dict[str, object]:
        return {
            "provider_id": self.provider_id,
            "kind": self.kind,
            "status": self.status,
            "pages": self.pages,
            "read": dict(self.read),
            "new_lines": self.new_lines,
            **self.ledger.as_counts(),
            **self.events.as_counts(),
            **self.mandates.as_counts(),
        }


def sync_provider(
    engine: Engine, provider_id: int, client_factory: ClientFactory, *, now: datetime | None = None
) -> SyncResult:
    """Pull the provider's new objects into the store and the ledger (see the module docstring)."""
    now = now or utcnow()
    with engine.connect() as conn:
        provider = load_provider(conn, provider_id)
    result = SyncResult(provider.id, provider.kind)
    if not provider.enabled:
        result.status = "disabled"
        return result
    client = client_factory(provider)
    if isinstance(client, GoCardlessClient):
        _sync_gocardless(engine, provider, client, now, result)
    elif isinstance(client, StripeClient):
        _sync_stripe(engine, provider, client, now, result)
    else:
        polled = poll_accounts(engine, provider, client, now)
        result.pages, result.read, result.new_lines = polled.pages, polled.read, polled.new_lines
    log.info("providers.sync.done", **result.as_counts())
    return result


def _sync_gocardless(
    engine: Engine,
    provider: ProviderConfig,
    client: GoCardlessClient,
    now: datetime,
    res: SyncResult,
) -> None:
    ref, ledger = provider.ref, res.ledger
    # Mandates first: a payment's customer is found through its mandate.
    res.read["mandates"] = _pass(
        engine, provider.id, "mandates", res, now,
        lambda after, since: client.mandate_pages(after=after, created_at_gte=since),
        lambda conn, page: res.mandates.add(store_mandates(conn, provider.id, page, now)),
    )  # fmt: skip
    res.read["payments"] = _pass(
        engine, provider.id, "payments", res, now,
        lambda after, since: client.payment_pages(after=after, created_at_gte=since),
        lambda conn, page: ledger.add(store_payments(conn, ref, page, now)),
    )  # fmt: skip
    res.read["refunds"] = _pass(
        engine, provider.id, "refunds", res, now,
        lambda after, since: client.refund_pages(after=after, created_at_gte=since),
        lambda conn, page: ledger.add(store_refunds(conn, ref, page, now)),
    )  # fmt: skip
    res.read["payouts"] = _pass(
        engine, provider.id, "payouts", res, now,
        lambda after, since: client.payout_pages(after=after, created_at_gte=since),
        lambda conn, page: store_payouts(conn, provider.id, page, now),
    )  # fmt: skip
    res.read["events"] = _pass(
        engine, provider.id, "events", res, now,
        lambda after, since: client.event_pages(after=after, created_at_gte=since),
        lambda conn, page: store_events(conn, provider.id, page, via="poll", now=now),
    )  # fmt: skip
    _finish(engine, provider, client, now, res)


def _sync_stripe(
    engine: Engine, provider: ProviderConfig, client: StripeClient, now: datetime, res: SyncResult
) -> None:
    ref, ledger = provider.ref, res.ledger

    def disputes(after: str | None, since: datetime | None) -> Iterator[Page[Any]]:
        # A dispute's charge must be stored before its status can move the charge in the ledger.
        for page in client.dispute_pages(starting_after=after, created_gte=since):
            charges = [client.get_charge(c) for c in _unknown_charges(engine, provider.id, page)]
            yield Page((*charges, *page.records), page.next_cursor)

    def store_disputes(conn: Connection, page: Sequence[Any]) -> None:
        charges = [r for r in page if isinstance(r, ProviderPayment)]
        ledger.add(store_payments(conn, ref, charges, now))
        found = [
            (d.payment_external_id, d.status.value, now)
            for d in page
            if isinstance(d, ProviderDispute)
        ]
        ledger.add(store_dispute_statuses(conn, ref, found, now))

    res.read["charges"] = _pass(
        engine, provider.id, "charges", res, now,
        lambda after, since: client.charge_pages(starting_after=after, created_gte=since),
        lambda conn, page: ledger.add(store_payments(conn, ref, page, now)),
    )  # fmt: skip
    res.read["refunds"] = _pass(
        engine, provider.id, "refunds", res, now,
        lambda after, since: client.refund_pages(starting_after=after, created_gte=since),
        lambda conn, page: ledger.add(store_refunds(conn, ref, page, now)),
    )  # fmt: skip
    res.read["disputes"] = _pass(
        engine, provider.id, "disputes", res, now, disputes, store_disputes,
        created=lambda r: r.created_at if isinstance(r, ProviderDispute) else None,
    )  # fmt: skip
    res.read["payouts"] = _pass(
        engine, provider.id, "payouts", res, now,
        lambda after, since: client.payout_pages(starting_after=after, created_gte=since),
        lambda conn, page: store_payouts(conn, provider.id, page, now),
    )  # fmt: skip
    _finish(engine, provider, client, now, res)


def _unknown_charges(engine: Engine, provider_id: int, page: Page[ProviderDispute]) -> list[str]:
    wanted = {d.payment_external_id for d in page.records}
    pp = pt.provider_payments.c
    with engine.connect() as conn:
        known = set(
            conn.execute(
                select(pp.external_id).where(
                    pp.provider_id == provider_id, pp.external_id.in_(sorted(wanted))
                )
            ).scalars()
        )
    return sorted(wanted - known)


def _finish(
    engine: Engine,
    provider: ProviderConfig,
    client: GoCardlessClient | StripeClient,
    now: datetime,
    res: SyncResult,
) -> None:
    """Pending events and payout items, then the collected payments still waiting for a customer
    (whose mandate may have been configured since)."""
    res.events = process_pending_events(engine, provider, client, now=now)
    res.ledger.add(res.events.ledger)
    after = 0
    while True:
        with engine.begin() as conn:
            ids = awaiting_ids(conn, provider.id, after_id=after, limit=_SETTLE_CHUNK)
            if not ids:
                return
            settled = settle_payments(conn, provider.ref, ids, now)
        res.ledger.recorded += settled.recorded
        res.ledger.allocations += settled.allocations
        after = ids[-1]


def _pass(
    engine: Engine,
    provider_id: int,
    resource: str,
    res: SyncResult,
    now: datetime,
    pages: Callable[[str | None, datetime | None], Iterator[Page[R]]],
    write: Callable[[Connection, Sequence[R]], object],
    created: Callable[[R], datetime | None] = lambda record: getattr(record, "created_at", None),
) -> int:
    """One pass over a newest-first list: each page and its cursor in one transaction."""
    with engine.connect() as conn:
        state = pt.read_cursor(conn, provider_id, resource)
    watermark, newest = state.get("watermark"), _moment(state.get("newest_seen"))
    read = 0
    for page in pages(state.get("cursor"), _moment(watermark)):
        for moment in (created(record) for record in page.records):
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        saved: dict[str, str | None] = {"cursor": page.next_cursor, "watermark": watermark}
        if page.next_cursor is None:  # the pass is over: the next one starts near its newest
            saved["watermark"] = _iso(newest - OVERLAP) if newest else watermark
            newest = None
        saved["newest_seen"] = _iso(newest)
        with engine.begin() as conn:
            write(conn, page.records)
            pt.save_cursor(conn, provider_id, resource, saved, now)
        read += len(page.records)
        res.pages += 1
    return read


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def process_received_events(
    engine: Engine, provider_id: int, client_factory: ClientFactory, *, now: datetime | None = None
) -> dict[str, object]:
    """Process the provider's pending events (stored by a webhook) without a full sync."""
    now = now or utcnow()
    with engine.connect() as conn:
        provider = load_provider(conn, provider_id)
    if not provider.enabled:
        return {"provider_id": provider.id, "status": "disabled"}
    client = client_factory(provider)
    if isinstance(client, OpenBankingClient):
        return {"provider_id": provider.id, "status": "no events"}
    counts = process_pending_events(engine, provider, client, now=now)
    return {
        "provider_id": provider.id,
        "status": "processed",
        **counts.as_counts(),
        **counts.ledger.as_counts(),
    }


def pollable_provider_ids(engine: Engine) -> list[int]:
    """The enabled providers with a feed to pull and a token to pull it with."""
    p = a.payment_providers.c
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(p.id)
                .where(
                    p.enabled.is_(True),
                    p.kind.in_(("gocardless", "stripe", "openbanking")),
                    p.access_token.is_not(None),
                )
                .order_by(p.id)
            ).scalars()
        )
