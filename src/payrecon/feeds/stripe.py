"""Stripe API client: balance transactions (also those of one payout), payouts, charges, refunds and
disputes, mapped to the provider records of `payrecon.domain.providers`.

Lists use `limit` (up to 100), `starting_after` (the id of the last object of the previous page)
and `has_more`, newest first; a page's `next_cursor` is that last id, None after the last page. An
object that repeats one of the previous page (a page-boundary duplicate) is dropped.

Amounts are integers in Stripe's minor units; Stripe's own exponent table applies (zero-decimal JPY,
KRW and friends; three-decimal BHD, JOD, KWD, OMR, TND; ISK is sent as two-decimal for backwards
compatibility). Statuses map onto the GoCardless vocabulary:

    charge   succeeded (captured) -> confirmed, succeeded (uncaptured) -> pending_submission,
             pending -> submitted, failed -> failed
    refund   pending -> submitted, requires_action -> pending_submission, succeeded -> paid,
             failed -> failed, canceled -> cancelled
    payout   pending, in_transit, paid, failed as they are; canceled -> cancelled

A balance transaction becomes a `ProviderPayoutItem` whose `amount` is its net effect on the
balance and whose links name its source under the GoCardless keys (`payment`, `refund`, `payout`,
`dispute`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from payrecon.domain.providers import (
    DisputeStatus,
    PaymentStatus,
    PayoutStatus,
    Provider,
    ProviderDispute,
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

STRIPE_URL = "https://api.stripe.com"
MAX_PAGE_SIZE = 100

STRIPE_EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND"), 0
    ),
    **dict.fromkeys(("VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 3),
    "ISK": 2,
}
_REFUND_STATUS = {
    "pending": "submitted",
    "requires_action": "pending_submission",
    "succeeded": "paid",
    "canceled": "cancelled",
}
_CHARGE_STATUS = {"pending": "submitted", "succeeded": "confirmed"}
_PAYOUT_STATUS = {"canceled": "cancelled"}
# Balance-transaction source id prefixes and the link key each becomes.
_SOURCE_LINKS = (
    ("ch_", "payment"),
    ("py_", "payment"),
    ("re_", "refund"),
    ("pyr_", "refund"),
    ("po_", "payout"),
    ("dp_", "dispute"),
    ("du_", "dispute"),
)

RecordT = TypeVar("RecordT")


def stripe_money(f: Fields, key: str, currency: str) -> Decimal:
    return from_minor_units(f.integer(key), currency, STRIPE_EXPONENTS)


def _currency(f: Fields) -> str:
    return f.text("currency").upper()


def map_charge(f: Fields) -> ProviderPayment:
    currency = _currency(f)
    status = f.enum("status", PaymentStatus, _CHARGE_STATUS)
    if status is PaymentStatus.CONFIRMED and f.raw("captured") is False:
        status = PaymentStatus.PENDING_SUBMISSION
    method = f.obj("payment_method_details")
    method_type = method.opt_text("type")
    mandate = method.obj(method_type).opt_text("mandate") if method_type else None
    return ProviderPayment(
        provider=Provider.STRIPE,
        external_id=f.text("id"),
        amount=stripe_money(f, "amount", currency),
        currency=currency,
        status=status,
        created_at=f.epoch("created"),
        charge_date=f.epoch("created").date(),
        mandate_id=mandate,
        provider_customer_id=f.opt_text("customer"),
        reference=f.opt_text("statement_descriptor")
        or f.opt_text("calculated_statement_descriptor"),
        description=f.opt_text("description"),
        amount_refunded=stripe_money(f, "amount_refunded", currency)
        if f.has("amount_refunded")
        else Decimal(0),
    )


def map_refund(f: Fields) -> ProviderRefund:
    currency = _currency(f)
    return ProviderRefund(
        provider=Provider.STRIPE,
        external_id=f.text("id"),
        payment_external_id=f.opt_text("charge"),
        amount=stripe_money(f, "amount", currency),
        currency=currency,
        status=f.enum("status", RefundStatus, _REFUND_STATUS),
        created_at=f.epoch("created"),
        reference=f.opt_text("description"),
    )


def map_payout(f: Fields) -> ProviderPayout:
    currency = _currency(f)
    return ProviderPayout(
        provider=Provider.STRIPE,
        external_id=f.text("id"),
        amount=stripe_money(f, "amount", currency),
        currency=currency,
        status=f.enum("status", PayoutStatus, _PAYOUT_STATUS),
        created_at=f.epoch("created"),
        arrival_date=f.epoch("arrival_date").date() if f.has("arrival_date") else None,
        reference=f.opt_text("statement_descriptor"),
    )


def map_dispute(f: Fields) -> ProviderDispute:
    currency = _currency(f)
    return ProviderDispute(
        provider=Provider.STRIPE,
        external_id=f.text("id"),
        payment_external_id=f.text("charge"),
        amount=stripe_money(f, "amount", currency),
        currency=currency,
        status=f.enum("status", DisputeStatus),
        created_at=f.epoch("created"),
        reason=f.opt_text("reason"),
    )


def source_links(source: str | None) -> dict[str, str]:
    """Links for a balance transaction's source id, keyed as GoCardless keys them."""
    if not source:
        return {}
    links = {"source": source}
    for prefix, key in _SOURCE_LINKS:
        if source.startswith(prefix):
            links[key] = source
    return links


def map_balance_transaction(f: Fields, *, payout_id: str | None) -> ProviderPayoutItem:
    currency = _currency(f)
    source = f.raw("source")
    source_id = source.get("id") if isinstance(source, dict) else source
    return ProviderPayoutItem(
        provider=Provider.STRIPE,
        payout_external_id=payout_id,
        type=f.text("type"),
        amount=stripe_money(f, "net", currency),
        currency=currency,
        links=source_links(source_id if isinstance(source_id, str) else None),
        external_id=f.text("id"),
        fee=stripe_money(f, "fee", currency),
    )


def object_links(obj: Mapping[str, Any]) -> dict[str, str]:
    """The ids an event's object names, under GoCardless's link keys."""
    kind, identity = obj.get("object"), obj.get("id")
    links: dict[str, str] = {}
    if isinstance(identity, str) and isinstance(kind, str):
        links["payment" if kind == "charge" else kind] = identity
    for key, target in (("charge", "payment"), ("customer", "customer"), ("payout", "payout")):
        value = obj.get(key)
        if isinstance(value, str):
            links.setdefault(target, value)
    return links


class StripeClient:
    """Read-only Stripe API client over an injected `httpx.Client` (use MockTransport in tests)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_key: str | SecretStr,
        base_url: str = STRIPE_URL,
        policy: RetryPolicy | None = None,
        page_size: int = MAX_PAGE_SIZE,
        stripe_version: str | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.page_size = page_size
        self.http = ProviderHTTP(
            client,
            provider="stripe",
            base_url=base_url,
            token=api_key,
            policy=policy,
            headers={"Stripe-Version": stripe_version} if stripe_version else None,
        )

    def __repr__(self) -> str:
        return f"StripeClient(base_url={self.http.base_url!r})"

    def balance_transaction_pages(
        self,
        *,
        starting_after: str | None = None,
        payout: str | None = None,
        created_gte: datetime | None = None,
    ) -> Iterator[Page[ProviderPayoutItem]]:
        """All balance transactions, or (with `payout`) those settled by that payout."""

        def mapper(f: Fields) -> ProviderPayoutItem:
            return map_balance_transaction(f, payout_id=payout)

        params = {"payout": payout, "created[gte]": _epoch(created_gte)}
        return self._pages("/v1/balance_transactions", params, starting_after, mapper)

    def payout_pages(
        self, *, starting_after: str | None = None, created_gte: datetime | None = None
    ) -> Iterator[Page[ProviderPayout]]:
        params = {"created[gte]": _epoch(created_gte)}
        return self._pages("/v1/payouts", params, starting_after, map_payout)

    def charge_pages(
        self,
        *,
        starting_after: str | None = None,
        created_gte: datetime | None = None,
        customer: str | None = None,
    ) -> Iterator[Page[ProviderPayment]]:
        params = {"created[gte]": _epoch(created_gte), "customer": customer}
        return self._pages("/v1/charges", params, starting_after, map_charge)

    def refund_pages(
        self,
        *,
        starting_after: str | None = None,
        created_gte: datetime | None = None,
        charge: str | None = None,
    ) -> Iterator[Page[ProviderRefund]]:
        params = {"created[gte]": _epoch(created_gte), "charge": charge}
        return self._pages("/v1/refunds", params, starting_after, map_refund)

    def dispute_pages(
        self, *, starting_after: str | None = None, created_gte: datetime | None = None
    ) -> Iterator[Page[ProviderDispute]]:
        params = {"created[gte]": _epoch(created_gte)}
        return self._pages("/v1/disputes", params, starting_after, map_dispute)

    def get_charge(self, charge_id: str) -> ProviderPayment:
        path = f"/v1/charges/{path_segment(charge_id)}"
        return map_charge(body_fields(self.http.get_json(path), f"stripe GET {path}"))

    def _pages(
        self,
        path: str,
        params: Mapping[str, str | None],
        starting_after: str | None,
        mapper: Callable[[Fields], RecordT],
    ) -> Iterator[Page[RecordT]]:
        cursor = starting_after
        previous: frozenset[str] = frozenset()
        source = f"stripe GET {path}"
        while True:
            query = {**params, "limit": str(self.page_size), "starting_after": cursor}
            body = body_fields(self.http.get_json(path, query), source)
            items = body.items("data")
            ids = [item.text("id") for item in items]
            records = [
                mapper(item) for item, id_ in zip(items, ids, strict=True) if id_ not in previous
            ]
            more = body.raw("has_more")
            if not isinstance(more, bool):
                raise ProviderResponseError(source, "$.has_more", f"expected a boolean: {more!r}")
            next_cursor = ids[-1] if more and ids else None
            if more and (not ids or next_cursor == cursor):
                raise ProviderResponseError(
                    source, "$.data", "has_more but the page did not advance"
                )
            yield Page(tuple(records), next_cursor)
            if next_cursor is None:
                return
            previous = frozenset(ids)
            cursor = next_cursor


def _epoch(moment: datetime | None) -> str | None:
    return None if moment is None else str(int(moment.timestamp()))
