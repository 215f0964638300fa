"""What the sandbox answers to each provider path, as pure functions of its data and the query
(a development tool). Faults, auth and HTTP belong to `payrecon.sandbox.app`.

GoCardless: `GET /{resource}` with `limit` (1..500, default 50), `after`,
`created_at[gte|gt|lte|lt]` and the usual filters; `GET /{resource}/{id}`. Stripe: `GET
/v1/{resource}` with `limit` (1..100, default 10), `starting_after`, `created[gte|gt|lte|lt]` and
filters; `GET /v1/{resource}/{id}`.
Open banking: `GET /api/v2/accounts/{id}/transactions/?date_from=&date_to=`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from payrecon.sandbox.records import JsonObject, SandboxData

GOCARDLESS_FILTERS: Mapping[str, tuple[str, ...]] = {
    "payments": ("status", "mandate", "currency", "customer"),
    "mandates": ("status", "customer"),
    "refunds": ("payment", "mandate"),
    "payouts": ("status", "currency"),
    "events": ("resource_type", "action", "payment", "mandate", "payout", "refund"),
    "customers": (),
}
STRIPE_FILTERS: Mapping[str, tuple[str, ...]] = {
    "charges": ("customer",),
    "refunds": ("charge",),
    "disputes": ("charge",),
    "payouts": ("status",),
    "balance_transactions": ("type", "source"),
}
_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}


class SandboxRequestError(Exception):
    """An answer other than 200: `reason` is the provider's error code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass(frozen=True)
class Answer:
    body: JsonObject
    duplicates: int = 0


def _limit(query: Mapping[str, str], default: int, most: int) -> int:
    text = query.get("limit", str(default))
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise SandboxRequestError(422, "validation_failed", f"limit must be 1..{most}")
    return int(text)


def _window(
    items: list[JsonObject],
    key: Callable[[int, JsonObject], str],
    cursor: str | None,
    limit: int,
    duplicate: bool,
) -> tuple[int, int, bool]:
    """Where the page after `cursor` starts, how many of it repeat the previous page, and whether
    more follow it."""
    start, repeats = 0, 0
    if cursor:
        keys = [key(i, item) for i, item in enumerate(items)]
        if cursor not in keys:
            raise SandboxRequestError(400, "invalid_cursor", f"unknown cursor {cursor!r}")
        start = keys.index(cursor) + 1
        if duplicate and limit >= 2:  # limit 1 would never advance
            start, repeats = start - 1, 1
    return start, repeats, start + limit < len(items)


def _field(obj: JsonObject, name: str) -> object:
    links = obj.get("links")
    if name in obj:
        return obj[name]
    return links.get(name) if isinstance(links, dict) else None


def _filtered(
    items: list[JsonObject],
    query: Mapping[str, str],
    names: tuple[str, ...],
    created: str,
    parse: Callable[[str], Any],
) -> list[JsonObject]:
    out = [o for o in items if all(str(_field(o, n)) == query[n] for n in names if n in query)]
    for bound in _COMPARE:
        text = query.get(f"{created}[{bound}]")
        if text is None:
            continue
        try:
            limit = parse(text)
        except ValueError:
            raise SandboxRequestError(422, "validation_failed", f"bad {created}[{bound}]") from None
        compare = _COMPARE[bound]
        out = [o for o in out if compare(parse(str(o[created])), limit)]
    return out


def gocardless_list(
    data: SandboxData, resource: str, query: Mapping[str, str], *, duplicate: bool
) -> Answer:
    limit = _limit(query, 50, 500)
    if resource == "payout_items":
        payout = query.get("payout")
        if not payout:
            raise SandboxRequestError(422, "validation_failed", "payout is required")
        if payout not in data.payout_items:
            raise SandboxRequestError(404, "resource_not_found", f"no payout {payout}")
        items = data.payout_items[payout]

        def key(i: int, item: JsonObject) -> str:
            return f"{payout}-{i}"
    else:
        if resource not in GOCARDLESS_FILTERS:
            raise SandboxRequestError(404, "resource_not_found", f"no resource {resource}")
        items = _filtered(
            data.gocardless[resource],
            query,
            GOCARDLESS_FILTERS[resource],
            "created_at",
            datetime.fromisoformat,
        )

        def key(i: int, item: JsonObject) -> str:
            return str(item["id"])

    cursor = query.get("after")
    start, repeats, more = _window(items, key, cursor, limit, duplicate)
    page = items[start : start + limit]
    cursors = {
        "before": key(start, page[0]) if page and cursor else None,
        "after": key(start + len(page) - 1, page[-1]) if page and more else None,
    }
    return Answer({resource: page, "meta": {"cursors": cursors, "limit": limit}}, repeats)


def gocardless_get(data: SandboxData, resource: str, identity: str) -> Answer:
    for item in data.gocardless.get(resource, []):
        if item["id"] == identity:
            return Answer({resource: item})
    raise SandboxRequestError(404, "resource_not_found", f"no {resource} {identity}")


def stripe_list(
    data: SandboxData, resource: str, query: Mapping[str, str], *, duplicate: bool
) -> Answer:
    if resource not in STRIPE_FILTERS:
        raise SandboxRequestError(404, "resource_missing", f"unrecognized URL /v1/{resource}")
    limit = _limit(query, 10, 100)
    items = data.stripe[resource]
    payout = query.get("payout")
    if payout is not None:
        if resource != "balance_transactions" or payout not in data.payout_transactions:
            raise SandboxRequestError(404, "resource_missing", f"no such payout: {payout}")
        wanted = set(data.payout_transactions[payout])
        items = [t for t in items if t["id"] in wanted]
    items = _filtered(items, query, STRIPE_FILTERS[resource], "created", int)

    def key(_i: int, item: JsonObject) -> str:
        return str(item["id"])

    start, repeats, more = _window(items, key, query.get("starting_after"), limit, duplicate)
    page = items[start : start + limit]
    body = {"object": "list", "url": f"/v1/{resource}", "has_more": more, "data": page}
    return Answer(body, repeats)


def stripe_get(data: SandboxData, resource: str, identity: str) -> Answer:
    for item in data.stripe.get(resource, []):
        if item["id"] == identity:
            return Answer(item)
    raise SandboxRequestError(404, "resource_missing", f"No such {resource}: '{identity}'")


def openbanking_transactions(
    data: SandboxData, account: str, query: Mapping[str, str], *, duplicate: bool
) -> Answer:
    if account not in data.accounts:
        raise SandboxRequestError(404, "not_found", f"account {account} not found")
    try:
        low = date.fromisoformat(query["date_from"]) if "date_from" in query else date.min
        high = date.fromisoformat(query["date_to"]) if "date_to" in query else date.max
    except ValueError:
        raise SandboxRequestError(400, "invalid_date", "dates must be YYYY-MM-DD") from None
    groups = data.accounts[account]
    booked = [t for t in groups["booked"] if low <= date.fromisoformat(t["bookingDate"]) <= high]
    pending = [t for t in groups["pending"] if low <= date.fromisoformat(t["valueDate"]) <= high]
    repeats = 1 if duplicate and booked else 0
    booked = booked + booked[:repeats]
    return Answer({"transactions": {"booked": booked, "pending": pending}}, repeats)
