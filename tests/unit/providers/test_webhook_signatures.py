"""Webhook signatures: the shared GoCardless test vector, tampering, and Stripe's timestamped scheme."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from payrecon.domain.errors import NotAuthorised
from payrecon.domain.providers import Effect, Provider, payment_effect
from payrecon.feeds.webhooks import (
    ExpiredSignatureError,
    InvalidSignatureError,
    WebhookPayloadError,
    parse_gocardless_events,
    parse_stripe_event,
    sign_stripe,
    verify_gocardless,
    verify_stripe,
)
from tests.unit.providers.support import fixture_path

GC_SECRET = "ED7D658C-D8EB-4941-948B-3973214F2D49"
GC_SIGNATURE = "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e"
STRIPE_SECRET = "whsec_test_secret"
NOW = 1_700_000_000


@pytest.fixture
def gc_body() -> bytes:
    return fixture_path("webhook_body.json").read_bytes().rstrip()


def test_the_shared_gocardless_vector_verifies(gc_body: bytes) -> None:
    verify_gocardless(gc_body, GC_SIGNATURE, GC_SECRET)


def test_the_vector_is_over_the_body_without_its_trailing_newline(gc_body: bytes) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_gocardless(gc_body + b"\n", GC_SIGNATURE, GC_SECRET)


@pytest.mark.parametrize("position", [0, 1, 100, -2, -1])
def test_a_one_byte_change_to_the_body_is_refused(gc_body: bytes, position: int) -> None:
    tampered = bytearray(gc_body)
    tampered[position] ^= 0x01
    assert bytes(tampered) != gc_body
    with pytest.raises(InvalidSignatureError):
        verify_gocardless(bytes(tampered), GC_SIGNATURE, GC_SECRET)


@pytest.mark.parametrize("position", [0, 31, 63])
def test_a_one_byte_change_to_the_signature_is_refused(gc_body: bytes, position: int) -> None:
    digit = GC_SIGNATURE[position]
    replacement = "0" if digit != "0" else "1"
    tampered = GC_SIGNATURE[:position] + replacement + GC_SIGNATURE[position + 1 :]
    with pytest.raises(InvalidSignatureError):
        verify_gocardless(gc_body, tampered, GC_SECRET)


@pytest.mark.parametrize("signature", ["", GC_SIGNATURE[:-1], GC_SIGNATURE.upper(), "é" * 64])
def test_malformed_signatures_are_refused_not_crashed(gc_body: bytes, signature: str) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_gocardless(gc_body, signature, GC_SECRET)


def test_the_wrong_secret_is_refused_and_the_refusal_is_a_not_authorised(gc_body: bytes) -> None:
    with pytest.raises(NotAuthorised) as caught:
        verify_gocardless(gc_body, GC_SIGNATURE, GC_SECRET.lower())
    assert GC_SECRET.lower() not in str(caught.value)
    assert GC_SIGNATURE not in str(caught.value)


def test_the_vector_body_holds_two_events_in_order(gc_body: bytes) -> None:
    events = parse_gocardless_events(gc_body)
    assert [e.id for e in events] == ["EV00BD05S5VM2T", "EV00BD05TB8K63"]
    first = events[0]
    assert first.provider is Provider.GOCARDLESS
    assert (first.resource_type, first.action) == ("subscriptions", "created")
    assert first.links == {"subscription": "SB0003JJQ2MR06"}
    assert first.created_at.isoformat() == "2018-07-05T09:13:51.404000+00:00"
    assert events[1].links == {"mandate": "MD000AMA19XGEC"}
    assert [payment_effect(e) for e in events] == [Effect.IGNORE, Effect.IGNORE]


@pytest.mark.parametrize(
    ("body", "place"),
    [
        (b"not json", "body"),
        (b'{"events": {}}', "$.events"),
        (b'{"events": [{"id": "EV1"}]}', "$.events[0].resource_type"),
    ],
)
def test_a_malformed_gocardless_body_names_the_place(body: bytes, place: str) -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_gocardless_events(body)
    assert caught.value.place == place


def _stripe_body() -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "charge.dispute.funds_withdrawn",
        "created": NOW,
        "data": {
            "object": {
                "id": "dp_1",
                "object": "dispute",
                "charge": "ch_1",
                "amount": 1000,
                "currency": "gbp",
                "status": "needs_response",
            }
        },
    }
    return json.dumps(event).encode()


def _stripe_header(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> str:
    # Built independently of the code under test, as Stripe documents it.
    payload = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()}"


def test_a_fresh_stripe_signature_verifies() -> None:
    body = _stripe_body()
    verify_stripe(body, _stripe_header(body, NOW - 10), STRIPE_SECRET, now=NOW)
    assert sign_stripe(body, STRIPE_SECRET, timestamp=NOW) == _stripe_header(body, NOW)


def test_one_matching_v1_among_several_is_enough() -> None:
    body = _stripe_body()
    good = _stripe_header(body, NOW)
    header = f"t={NOW},v1={'0' * 64},{good.split(',')[1]},v0=ignored"
    verify_stripe(body, header, STRIPE_SECRET, now=NOW)


@pytest.mark.parametrize("age", [301, 3600])
def test_a_stale_stripe_signature_is_refused(age: int) -> None:
    body = _stripe_body()
    with pytest.raises(ExpiredSignatureError):
        verify_stripe(body, _stripe_header(body, NOW - age), STRIPE_SECRET, now=NOW)


def test_the_tolerance_is_300_seconds_by_default_and_adjustable() -> None:
    body = _stripe_body()
    verify_stripe(body, _stripe_header(body, NOW - 300), STRIPE_SECRET, now=NOW)
    with pytest.raises(ExpiredSignatureError):
        verify_stripe(body, _stripe_header(body, NOW - 61), STRIPE_SECRET, now=NOW, tolerance=60)
    with pytest.raises(ExpiredSignatureError):
        verify_stripe(body, _stripe_header(body, NOW + 900), STRIPE_SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=abc",
        f"t={NOW}",
        f"t=yesterday,v1={'0' * 64}",
        f"t={NOW},v1={'0' * 64}",
    ],
)
def test_malformed_or_wrong_stripe_headers_are_refused(header: str) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_stripe(_stripe_body(), header, STRIPE_SECRET, now=NOW)


def test_a_tampered_stripe_body_or_wrong_secret_is_refused() -> None:
    body = _stripe_body()
    header = _stripe_header(body, NOW)
    with pytest.raises(InvalidSignatureError):
        verify_stripe(body.replace(b"1000", b"1001"), header, STRIPE_SECRET, now=NOW)
    with pytest.raises(InvalidSignatureError):
        verify_stripe(body, header, "whsec_other", now=NOW)
    stale_and_wrong = _stripe_header(body, NOW - 9999, "whsec_other")
    with pytest.raises(InvalidSignatureError) as caught:
        verify_stripe(body, stale_and_wrong, STRIPE_SECRET, now=NOW)
    assert not isinstance(caught.value, ExpiredSignatureError)


def test_a_stripe_event_maps_to_a_provider_event_with_its_effect() -> None:
    event = parse_stripe_event(_stripe_body())
    assert event.provider is Provider.STRIPE
    assert (event.id, event.resource_type, event.action) == ("evt_1", "dispute", "funds_withdrawn")
    assert event.links == {"dispute": "dp_1", "payment": "ch_1"}
    assert event.payment_id == "ch_1"
    assert event.details == {"type": "charge.dispute.funds_withdrawn", "status": "needs_response"}
    assert payment_effect(event) is Effect.REVERSE


def test_a_malformed_stripe_event_is_a_payload_error() -> None:
    with pytest.raises(WebhookPayloadError):
        parse_stripe_event(b'{"id": "evt_1", "type": "charge.succeeded"}')
