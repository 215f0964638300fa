"""Webhook signatures (checked on the raw body, before any parsing) and webhook bodies as events.

GoCardless signs the raw body with the endpoint secret: `Webhook-Signature` is the hex
HMAC-SHA256 of the body. Stripe sends `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`,
each v1 the hex HMAC-SHA256 of `f"{t}.{body}"`; a timestamp further than `tolerance` seconds from
`now` is refused, so a captured request cannot be replayed later. Comparisons are constant-time and
no message names the expected signature or the secret.

    NotAuthorised
    └── InvalidSignatureError      no signature matches the body and secret (GoCardless: 498)
        └── ExpiredSignatureError  a Stripe signature that matches but is outside the tolerance
    FeedFormatError
    └── WebhookPayloadError        a body that is not the provider's event JSON (names the place)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from payrecon.domain.errors import FeedFormatError, NotAuthorised
from payrecon.domain.providers import Provider, ProviderEvent
from payrecon.feeds.gocardless import map_event
from payrecon.feeds.http import ProviderResponseError, as_secret, body_fields
from payrecon.feeds.stripe import object_links

STRIPE_TOLERANCE_SECONDS = 300


class InvalidSignatureError(NotAuthorised):
    code = "signature_invalid"


class ExpiredSignatureError(InvalidSignatureError):
    code = "signature_expired"


class WebhookPayloadError(FeedFormatError):
    code = "webhook_payload_invalid"


def _hmac_hex(secret: str | SecretStr, payload: bytes) -> str:
    key = as_secret(secret).get_secret_value().encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _same(expected_hex: str, given: str) -> bool:
    # compare_digest refuses non-ASCII str; compare bytes so any header value is just "no match".
    return hmac.compare_digest(expected_hex.encode(), given.encode("utf-8", "replace"))


def sign_gocardless(body: bytes, secret: str | SecretStr) -> str:
    """The `Webhook-Signature` GoCardless would send for `body` (the sandbox and tests use it)."""
    return _hmac_hex(secret, body)


def verify_gocardless(body: bytes, signature: str, secret: str | SecretStr) -> None:
    """Raise `InvalidSignatureError` unless `signature` is the hex HMAC-SHA256 of the raw `body`."""
    if not signature or not _same(_hmac_hex(secret, body), signature):
        raise InvalidSignatureError("gocardless webhook: Webhook-Signature does not match the body")


def sign_stripe(body: bytes, secret: str | SecretStr, *, timestamp: int) -> str:
    """A `Stripe-Signature` header value for `body` signed at `timestamp`."""
    return f"t={timestamp},v1={_hmac_hex(secret, str(timestamp).encode() + b'.' + body)}"


def verify_stripe(
    body: bytes,
    header: str,
    secret: str | SecretStr,
    *,
    now: int,
    tolerance: int = STRIPE_TOLERANCE_SECONDS,
) -> None:
    """Raise `InvalidSignatureError` unless one v1 signature of `header` signs `body` at its `t`,
    and `ExpiredSignatureError` if that `t` is more than `tolerance` s away from `now` (Unix time).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isdigit():
                raise InvalidSignatureError(
                    "stripe webhook: Stripe-Signature has no valid timestamp"
                )
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignatureError("stripe webhook: Stripe-Signature has no timestamp")
    if not candidates:
        raise InvalidSignatureError("stripe webhook: Stripe-Signature has no v1 signature")
    expected = _hmac_hex(secret, str(timestamp).encode() + b"." + body)
    if not any(_same(expected, candidate) for candidate in candidates):
        raise InvalidSignatureError("stripe webhook: no v1 signature matches the body")
    if abs(now - timestamp) > tolerance:
        raise ExpiredSignatureError(
            f"stripe webhook: signature timestamp is {abs(now - timestamp)} s away from now "
            f"(tolerance {tolerance} s)"
        )


def _decode(body: bytes, source: str) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise WebhookPayloadError(source, "body", f"not JSON: {exc}") from None


def parse_gocardless_events(body: bytes) -> list[ProviderEvent]:
    """The events of a GoCardless webhook body `{"events": [...]}`, in the order sent."""
    source = "gocardless webhook"
    try:
        return [
            map_event(item) for item in body_fields(_decode(body, source), source).items("events")
        ]
    except ProviderResponseError as exc:
        raise WebhookPayloadError(exc.file, exc.place, exc.problem) from None


def parse_stripe_event(body: bytes) -> ProviderEvent:
    """A Stripe event `{"id", "type": "charge.succeeded", "created", "data": {"object": {...}}}`.

    `resource_type` is the object's kind (`charge`, `refund`, `dispute`, `payout`), `action` the
    last part of the type; `details` keep the full type and the object's status.
    """
    source = "stripe webhook"
    try:
        event = body_fields(_decode(body, source), source)
        kind = event.text("type")
        obj = event.obj("data").obj("object")
        resource = obj.opt_text("object") or kind.rsplit(".", 1)[0]
        return ProviderEvent(
            provider=Provider.STRIPE,
            id=event.text("id"),
            resource_type=resource,
            action=kind.rsplit(".", 1)[-1],
            created_at=event.epoch("created"),
            links=object_links(obj.data()),
            details={"type": kind, "status": obj.opt_text("status")},
        )
    except ProviderResponseError as exc:
        raise WebhookPayloadError(exc.file, exc.place, exc.problem) from None
