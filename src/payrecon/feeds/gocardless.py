"""GoCardless API client: payments, mandates, refunds, payouts, payout items and events.

Lists are cursor-paginated (`after` = `meta.cursors.after`, `limit` up to 500) and yielded one
`Page` at a time, so the sync service can commit each page's rows with its cursor; resuming from a
committed cursor continues where the crash left off. Lists come newest first, so an incremental
poll passes `created_at_gte` (a watermark a little before the newest row already stored) and relies
on the (provider, external_id) uniqueness to drop what it has seen; status changes of old payments
arrive as events (`event_pages`, or webhooks), each of which `get_payment` can then re-read.

Amounts are integer minor units (pence, cents; JPY has none); payout items are decimal strings in
minor units to one decimal place (GoCardless keeps half pennies of fees), e.g. "45.0" EUR = 0.450.
An item that repeats the last item of the previous page (a page-boundary duplicate) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from payrecon.domain.providers import (
    MandateStatus,
    PaymentStatus,
    PayoutStatus,
    Provider,
    ProviderEvent,
    ProviderMandate,
    ProviderPayment,
    ProviderPayout,
    ProviderPayoutItem,
    ProviderRefund,
    RefundStatus,
    from_minor_units,
)
from payrecon.feeds.http import (
    Fields,
    Page,
    ProviderHTTP,
    ProviderResponseError,
    RetryPolicy,
    body_fields,
    path_segment,
)

GOCARDLESS_LIVE_URL = "https://api.gocardless.com"
GOCARDLESS_SANDBOX_URL = "https://api-sandbox.gocardless.com"
GOCARDLESS_VERSION = "2015-07-06"
MAX_PAGE_SIZE = 500

RecordT = TypeVar("RecordT")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def map_payment(f: Fields) -> ProviderPayment:
    currency = f.text("currency")
    links = f.links()
    return ProviderPayment(
        provider=Provider.GOCARDLESS,
        external_id=f.text("id"),
        amount=from_minor_units(f.integer("amount"), currency),
        currency=currency,
        status=f.enum("status", PaymentStatus),
        created_at=f.timestamp("created_at"),
        charge_date=f.opt_date("charge_date"),
        mandate_id=links.get("mandate"),
        provider_customer_id=links.get("customer"),
        reference=f.opt_text("reference"),
        description=f.opt_text("description"),
        payout_id=links.get("payout"),
        amount_refunded=from_minor_units(
            f.integer("amount_refunded") if f.has("amount_refunded") else 0, currency
        ),
    )


def map_mandate(f: Fields) -> ProviderMandate:
    links = f.links()
    return ProviderMandate(
        provider=Provider.GOCARDLESS,
        external_id=f.text("id"),
        status=f.enum("status", MandateStatus),
        customer_id=links.get("customer"),
        customer_bank_account_id=links.get("customer_bank_account"),
        created_at=f.timestamp("created_at"),
        reference=f.opt_text("reference"),
        scheme=f.opt_text("scheme"),
    )


def map_refund(f: Fields) -> ProviderRefund:
    currency = f.text("currency")
    return ProviderRefund(
        provider=Provider.GOCARDLESS,
        external_id=f.text("id"),
        payment_external_id=f.links().get("payment"),
        amount=from_minor_units(f.integer("amount"), currency),
        currency=currency,
        status=f.enum("status", RefundStatus),
        created_at=f.timestamp("created_at"),
        reference=f.opt_text("reference"),
    )


def map_payout(f: Fields) -> ProviderPayout:
    currency = f.text("currency")
    return ProviderPayout(
        provider=Provider.GOCARDLESS,
        external_id=f.text("id"),
        amount=from_minor_units(f.integer("amount"), currency),
        currency=currency,
        status=f.enum("status", PayoutStatus),
        created_at=f.timestamp("created_at"),
        arrival_date=f.opt_date("arrival_date"),
        reference=f.opt_text("reference"),
        deducted_fees=from_minor_units(f.integer("deducted_fees"), currency)
        if f.has("deducted_fees")
        else None,
        **_payout_fx(f, currency),
    )


def _payout_fx(f: Fields, currency: str) -> dict[str, Any]:
    """GoCardless's `fx` of a payout: the currency it was paid out in and the rate, once known
    (`exchange_rate` is null until the payout is paid; a payout in its own currency has none)."""
    raw = f.raw("fx")
    if raw is None:
        return {}
    fx = Fields(raw, source=f.source, place=f"{f.place}.fx")
    fx_currency = fx.opt_text("fx_currency")
    if fx_currency is None or fx_currency == currency or not fx.has("exchange_rate"):
        return {}
    return {
        "fx_currency": fx_currency,
        "fx_rate": fx.decimal("exchange_rate"),
        "fx_amount": from_minor_units(fx.integer("fx_amount"), fx_currency)
        if fx.has("fx_amount")
        else None,
    }


def map_payout_item(f: Fields, *, payout_id: str, currency: str) -> ProviderPayoutItem:
    amount = f.raw("amount")
    if not isinstance(amount, str):  # documented as a decimal string; never accept a float
        raise ProviderResponseError(f.source, f"{f.place}.amount", f"expected a string: {amount!r}")
    return ProviderPayoutItem(
        provider=Provider.GOCARDLESS,
        payout_external_id=payout_id,
        type=f.text("type"),
        amount=from_minor_units(f.decimal("amount"), currency),
        currency=currency,
        links=f.links(),
    )


def map_event(f: Fields) -> ProviderEvent:
    details = f.raw("details")
    return ProviderEvent(
        provider=Provider.GOCARDLESS,
        id=f.text("id"),
        resource_type=f.text("resource_type"),
        action=f.text("action"),
        created_at=f.timestamp("created_at"),
        links=f.links(),
        details=details if isinstance(details, dict) else {},
    )


def _payout_item_key(item: ProviderPayoutItem) -> str:
    # Items have no id; GoCardless issues one item per type and linked resource.
    return item.type + "|" + "|".join(f"{k}={v}" for k, v in sorted(item.links.items()))


class GoCardlessClient:
    """Read-only GoCardless API client over an injected `httpx.Client` (MockTransport in tests)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        access_token: str | SecretStr,
        base_url: str = GOCARDLESS_LIVE_URL,
        policy: RetryPolicy | None = None,
        page_size: int = MAX_PAGE_SIZE,
        version: str = GOCARDLESS_VERSION,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.page_size = page_size
        self.http = ProviderHTTP(
            client,
            provider="gocardless",
            base_url=base_url,
            token=access_token,
            policy=policy,
            headers={"GoCardless-Version": version},
        )

    def __repr__(self) -> str:
        return f"GoCardlessClient(base_url={self.http.base_url!r})"

    def payment_pages(
        self,
        *,
        after: str | None = None,
        created_at_gte: datetime | None = None,
        status: str | None = None,
        mandate: str | None = None,
    ) -> Iterator[Page[ProviderPayment]]:
        params = {"created_at[gte]": _iso(created_at_gte), "status": status, "mandate": mandate}
        return self._pages("payments", params, after, map_payment, _external_id)

    def mandate_pages(
        self,
        *,
        after: str | None = None,
        created_at_gte: datetime | None = None,
        customer: str | None = None,
    ) -> Iterator[Page[ProviderMandate]]:
        params = {"created_at[gte]": _iso(created_at_gte), "customer": customer}
        return self._pages("mandates", params, after, map_mandate, _external_id)

    def refund_pages(
        self,
        *,
        after: str | None = None,
        created_at_gte: datetime | None = None,
        payment: str | None = None,
    ) -> Iterator[Page[ProviderRefund]]:
        params = {"created_at[gte]": _iso(created_at_gte), "payment": payment}
        return self._pages("refunds", params, after, map_refund, _external_id)

    def payout_pages(
        self,
        *,
        after: str | None = None,
        created_at_gte: datetime | None = None,
        status: str | None = None,
    ) -> Iterator[Page[ProviderPayout]]:
        params = {"created_at[gte]": _iso(created_at_gte), "status": status}
        return self._pages("payouts", params, after, map_payout, _external_id)

    def payout_item_pages(
        self, payout_id: str, *, currency: str, after: str | None = None
    ) -> Iterator[Page[ProviderPayoutItem]]:
        """The credits and debits of one payout. Items carry no currency: pass the payout's."""

        def mapper(f: Fields) -> ProviderPayoutItem:
            return map_payout_item(f, payout_id=payout_id, currency=currency)

        return self._pages("payout_items", {"payout": payout_id}, after, mapper, _payout_item_key)

    def event_pages(
        self,
        *,
        after: str | None = None,
        created_at_gte: datetime | None = None,
        resource_type: str | None = None,
    ) -> Iterator[Page[ProviderEvent]]:
        params = {"created_at[gte]": _iso(created_at_gte), "resource_type": resource_type}
        return self._pages("events", params, after, map_event, lambda e: e.id)

    def get_payment(self, payment_id: str) -> ProviderPayment:
        return map_payment(self._get_one("payments", payment_id))

    def get_refund(self, refund_id: str) -> ProviderRefund:
        return map_refund(self._get_one("refunds", refund_id))

    def get_payout(self, payout_id: str) -> ProviderPayout:
        return map_payout(self._get_one("payouts", payout_id))

    def _get_one(self, resource: str, identity: str) -> Fields:
        path = f"/{resource}/{path_segment(identity)}"
        body = body_fields(self.http.get_json(path), f"gocardless GET {path}")
        return body.obj(resource)

    def _pages(
        self,
        resource: str,
        params: Mapping[str, str | None],
        after: str | None,
        mapper: Callable[[Fields], RecordT],
        key: Callable[[RecordT], str],
    ) -> Iterator[Page[RecordT]]:
        cursor = after
        previous: frozenset[str] = frozenset()
        while True:
            query = {**params, "limit": self.page_size, "after": cursor}
            body = body_fields(
                self.http.get_json(f"/{resource}", query), f"gocardless GET /{resource}"
            )
            records = [mapper(item) for item in body.items(resource)]
            next_cursor = body.obj("meta").obj("cursors").opt_text("after")
            if next_cursor is not None and next_cursor == cursor:
                raise ProviderResponseError(
                    body.source, "$.meta.cursors.after", f"cursor did not advance: {cursor!r}"
                )
            yield Page(tuple(r for r in records if key(r) not in previous), next_cursor)
            if next_cursor is None:
                return
            previous = frozenset(key(r) for r in records)
            cursor = next_cursor


def _external_id(
    record: ProviderPayment | ProviderMandate | ProviderRefund | ProviderPayout,
) -> str:
    return record.external_id
