"""Provider webhooks through the API, on SQLite and PostgreSQL: the shared GoCardless test vector
verifies (its two events are ignored: 204); a one-byte change to the body or the signature is 498;
Stripe signatures outside the 300 s tolerance are refused; events are stored once and processed
after the commit; replays change nothing; no bearer token is needed. Provider secrets appear in no
log line and no response (the captured logs are searched for them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from payrecon.api.routes.webhooks import provider_events_enqueuer
from payrecon.feeds.webhooks import sign_gocardless, sign_stripe
from payrecon.sandbox import RunningSandbox, SandboxState, serve_in_thread
from payrecon.services.providers.sync import (
    process_received_events,
    provider_clients,
    sync_provider,
)
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from tests.integration.test_admin_lists import admin_client, bearer
from tests.integration.test_provider_events import FakeGoCardless
from tests.integration.test_provider_sync import (
    CREDENTIALS,
    FAULTS,
    NO_WAIT,
    TOKEN,
    add_provider,
    seed_customer,
    seed_owner,
    snapshot,
)

VECTOR_SECRET = "ED7D658C-D8EB-4941-948B-3973214F2D49"
VECTOR_SIGNATURE = "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e"
STRIPE_SECRET = "whsec_test_3b9f1e7a5c2d"


class Webhooks:
    """The API with the worker hand-off replaced by an in-process run against a fake provider."""

    def __init__(self, engine: Engine, tmp_path: Path, provider_state: FakeGoCardless) -> None:
        self.engine = engine
        self.enqueued: list[int] = []
        self.api = admin_client(engine, tmp_path)
        self.http = httpx.Client(transport=httpx.MockTransport(provider_state.handle))
        self.process = True  # run what is enqueued at once, as the in-process broker would
        app: Any = self.api.app
        app.dependency_overrides[provider_events_enqueuer] = lambda: self.enqueue

    def enqueue(self, provider_id: int) -> None:
        self.enqueued.append(provider_id)
        if self.process:
            process_received_events(
                self.engine, provider_id, provider_clients(self.http, CREDENTIALS, policy=NO_WAIT)
            )

    def post(self, path: str, body: bytes, **headers: str) -> httpx.Response:
        return self.api.post(
            path, content=body, headers={"Content-Type": "application/json", **headers}
        )

    def events(self) -> list[tuple[str, str, bool]]:
        e = pt.provider_events.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(e.event_id, e.effect, e.processed_at).order_by(e.id)).all()
        return [(r.event_id, r.effect, r.processed_at is not None) for r in rows]


@pytest.fixture
def hooks(engine: Engine, tmp_path: Path) -> Iterator[Webhooks]:
    state = FakeGoCardless()
    state.payment("PM1", 4200, "confirmed")
    webhooks = Webhooks(engine, tmp_path, state)
    yield webhooks
    webhooks.http.close()


def vector_body(shared_fixtures: Path) -> bytes:
    return (shared_fixtures / "gocardless" / "webhook_body.json").read_bytes().rstrip()


def test_the_shared_gocardless_vector_verifies_and_a_one_byte_change_is_498(
    hooks: Webhooks, shared_fixtures: Path
) -> None:
    provider = add_provider(
        hooks.engine, "gocardless", "https://api-sandbox.gocardless.com", secret=VECTOR_SECRET
    )
    path = f"/v1/webhooks/gocardless/{provider}"
    body = vector_body(shared_fixtures)

    accepted = hooks.post(path, body, **{"Webhook-Signature": VECTOR_SIGNATURE})
    assert accepted.status_code == 204, accepted.text  # a subscription and a mandate: ignored
    stored = [("EV00BD05S5VM2T", "ignore", True), ("EV00BD05TB8K63", "ignore", True)]
    assert hooks.events() == stored
    assert hooks.post(path, body, **{"Webhook-Signature": VECTOR_SIGNATURE}).status_code == 204
    assert hooks.events() == stored
    assert hooks.enqueued == []

    one_byte = body.replace(b"EV00BD05S5VM2T", b"EV00BD05S5VM2U")
    other_signature = VECTOR_SIGNATURE[:-1] + "f"
    for tampered, signature in ((one_byte, VECTOR_SIGNATURE), (body, other_signature)):
        refused = hooks.post(path, tampered, **{"Webhook-Signature": signature})
        assert refused.status_code == 498
        assert refused.json() == {
            "code": "signature_invalid",
            "message": "gocardless webhook: Webhook-Signature does not match the body",
            "details": None,
        }
    assert hooks.post(path, body).status_code == 498  # no signature at all
    assert hooks.events() == stored

    stripe = add_provider(hooks.engine, "stripe", "https://api.stripe.com", secret=STRIPE_SECRET)
    signature = {"Webhook-Signature": VECTOR_SIGNATURE}
    assert hooks.post(f"/v1/webhooks/gocardless/{stripe}", body, **signature).status_code == 404
    assert hooks.post("/v1/webhooks/gocardless/999", body, **signature).status_code == 404


def test_a_signed_payment_event_is_stored_once_and_processed_after_commit(
    hooks: Webhooks,
) -> None:
    owner = seed_owner(hooks.engine)
    seed_customer(hooks.engine, owner, "C-DD", mandate="MD0001")
    secret = "gc-webhook-secret-5521"
    provider = add_provider(
        hooks.engine, "gocardless", "https://api-sandbox.gocardless.com", secret=secret
    )
    body = json.dumps(
        {
            "events": [
                {
                    "id": "EVPAY1", "created_at": "2024-07-01T09:00:00.000Z",
                    "resource_type": "payments", "action": "confirmed",
                    "links": {"payment": "PM1"}, "details": {"cause": "payment_confirmed"},
                }
            ]
        }
    ).encode()  # fmt: skip
    path, headers = (
        f"/v1/webhooks/gocardless/{provider}",
        {"Webhook-Signature": sign_gocardless(body, secret)},
    )

    first = hooks.post(path, body, **headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"events": 1, "new": 1}
    assert hooks.enqueued == [provider]
    assert hooks.events() == [("EVPAY1", "record", True)]
    p = t.payments.c
    with hooks.engine.connect() as conn:
        recorded = conn.execute(select(p.external_id, p.amount, p.source, p.status)).all()
    assert [tuple(r) for r in recorded] == [("PM1", Decimal("42.00"), "gocardless", "active")]

    before = snapshot(hooks.engine)
    again = hooks.post(path, body, **headers)
    assert again.json() == {"events": 1, "new": 0}
    assert hooks.enqueued == [provider]  # nothing new to process: nothing enqueued
    assert snapshot(hooks.engine) == before


def _stripe_event(event_id: str) -> bytes:
    charge = {
        "id": "ch_1", "object": "charge", "amount": 1999, "currency": "gbp",
        "status": "succeeded", "captured": True, "created": 1719824400, "customer": "cus_1",
        "payment_method_details": {"type": "card", "card": {"last4": "4242"}},
    }  # fmt: skip
    event = {
        "id": event_id, "object": "event", "type": "charge.succeeded", "created": 1719824400,
        "data": {"object": charge},
    }  # fmt: skip
    return json.dumps(event).encode()


def test_stripe_signatures_outside_the_tolerance_are_refused(hooks: Webhooks) -> None:
    provider = add_provider(hooks.engine, "stripe", "https://api.stripe.com", secret=STRIPE_SECRET)
    path, body, now = f"/v1/webhooks/stripe/{provider}", _stripe_event("evt_1"), int(time.time())

    def signed(timestamp: int, secret: str = STRIPE_SECRET) -> dict[str, str]:
        return {"Stripe-Signature": sign_stripe(body, secret, timestamp=timestamp)}

    stale = hooks.post(path, body, **signed(now - 301))
    assert stale.status_code == 400
    assert stale.json()["code"] == "signature_expired"
    assert hooks.post(path, body, **signed(now + 400)).status_code == 400  # from the future
    forged = hooks.post(path, body, **signed(now, secret="whsec_someone_else"))
    assert (forged.status_code, forged.json()["code"]) == (400, "signature_invalid")
    assert hooks.events() == []

    hooks.process = False  # the fake provider knows no charge: only the hand-off is checked
    accepted = hooks.post(path, body, **signed(now - 200))
    assert accepted.status_code == 200, accepted.text
    assert hooks.events() == [("evt_1", "record", False)]
    assert hooks.enqueued == [provider]
    assert hooks.post(path, body, **signed(now)).json() == {"events": 1, "new": 0}
    assert hooks.enqueued == [provider]


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with serve_in_thread(SandboxState(seed=7, customers=4, config=FAULTS)) as running:
        yield running


def test_provider_secrets_appear_in_no_log_line_and_no_response(
    hooks: Webhooks, sandbox: RunningSandbox
) -> None:
    secret = "gc-webhook-secret-a91f77"
    responses: list[httpx.Response] = []

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = hooks.api.request(method, path, **kwargs)
        responses.append(response)
        return response

    with capture_logs() as logs:
        created = call(
            "POST", "/v1/payment-providers", headers=bearer("admin"),
            json={"name": "GoCardless sandbox", "kind": "gocardless", "accessToken": TOKEN,
                  "webhookSecret": secret, "baseUrl": sandbox.gocardless_url},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        provider = created.json()["id"]
        call("GET", f"/v1/payment-providers/{provider}", headers=bearer("read"))
        call("GET", "/v1/payment-providers", headers=bearer("read"))
        body = b'{"events": []}'
        call("POST", f"/v1/webhooks/gocardless/{provider}", content=body,
             headers={"Webhook-Signature": sign_gocardless(body, secret)})  # fmt: skip
        call("POST", f"/v1/webhooks/gocardless/{provider}", content=body,
             headers={"Webhook-Signature": "0" * 64})  # fmt: skip
        with httpx.Client() as http:
            result = sync_provider(
                hooks.engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT)
            )
        hooks.enqueue(provider)

    assert result.read["payments"] == len(sandbox.state.truth["gocardless"]["payments"])
    events = {entry["event"] for entry in logs}
    assert {"provider_retry", "providers.sync.done", "providers.webhook.received"} <= events
    for needle in (TOKEN, secret):
        leaked = [entry for entry in logs if needle in repr(entry)]
        assert leaked == [], f"a log line carries a provider secret: {leaked[:1]}"
        assert not [r for r in responses if needle in r.text], "a response carries a secret"
