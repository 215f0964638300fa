"""Money in more than one currency (issue #14), on SQLite and PostgreSQL, through the sandbox and
the API: a GBP customer's EUR payments wait in the review queue until a rate is on record; a
dated rate (or the provider's payout FX data, or one given by hand) converts them; bcyAmount is
amount x rate rounded by the owner's rule and the balance moves by it; the audit finds no
allocation across currencies without a rate. The review queue lists provider payments beside
bank lines; payouts have their own endpoints; mandates are synced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from payrecon.api.app import create_app
from payrecon.api.auth import issue_token
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.sandbox import RunningSandbox, SandboxConfig, SandboxState, serve_in_thread
from payrecon.services.ledger.audit import audit_ledger
from payrecon.services.providers.sync import provider_clients, sync_provider
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from tests.integration.test_provider_sync import (
    CREDENTIALS,
    NO_WAIT,
    TOKEN,
    add_provider,
    seed_customer,
    seed_invoice,
    seed_owner,
)

D = Decimal
SECRET = "test-secret-for-the-currency-tests-0123456789"
HEADERS = {
    scope: {"Authorization": f"Bearer {issue_token(SECRET, [scope], ttl=timedelta(hours=1))}"}
    for scope in ("read", "write", "admin")
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    state = SandboxState(
        seed=3, customers=6, payments_per_customer=5, config=SandboxConfig(tokens=(TOKEN,))
    )
    with serve_in_thread(state) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def api(engine: Engine, tmp_path: Path) -> TestClient:
    settings = Settings(api_token_secret=SECRET, feed_store_dir=tmp_path / "s", environment="test")
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def body(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return json.loads(response.text, parse_float=Decimal)


def _gbp_customers(engine: Engine, gocardless: dict[str, Any]) -> dict[str, int]:
    """A GBP customer per sandbox mandate with one large GBP invoice to pay."""
    owner = seed_owner(engine)
    customers = {}
    for n, mandate in enumerate(gocardless["mandates"]):
        customer = seed_customer(engine, owner, f"FX{n:03d}", mandate=mandate)
        seed_invoice(engine, customer, f"INV-FX{n:03d}", "100000.00", due=_date("2024-02-01"))
        customers[mandate] = customer
    return customers


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def _eur_collected(gocardless: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in gocardless["payments"] if p["collected"] and p["currency"] == "EUR"]


def _balance(client: TestClient, customer: int) -> Decimal:
    found = body(
        client.get(f"/v1/customer-balances?customer_id={customer}", headers=HEADERS["read"])
    )
    return Decimal(found["balance"])


def test_eur_payments_of_gbp_customers_wait_for_a_rate_then_convert(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client, tmp_path: Path
) -> None:
    gocardless = sandbox.state.truth["gocardless"]
    eur = _eur_collected(gocardless)
    assert eur, "the seed pays some GBP customers in EUR"
    customers = _gbp_customers(engine, gocardless)
    provider = add_provider(engine, "gocardless", sandbox.gocardless_url)
    client = api(engine, tmp_path)

    synced = sync_provider(engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT))

    p = t.payments.c
    with engine.connect() as conn:
        in_ledger = set(conn.execute(select(p.external_id)).scalars())
    assert not {e["id"] for e in eur} & in_ledger  # no EUR added to a GBP balance
    assert synced.ledger.awaiting_review >= len(eur)
    queue = body(client.get("/v1/review-queue?source=gocardless", headers=HEADERS["read"]))
    waiting = {i["externalId"]: i for i in queue}
    assert set(waiting) == {e["id"] for e in eur}
    assert all(i["reason"].startswith("currency_mismatch:") for i in waiting.values())
    assert all(i["id"].startswith("provider-") and i["currency"] == "EUR" for i in waiting.values())
    touched = {customers[e["mandate"]] for e in eur}
    before = {c: _balance(client, c) for c in touched}

    rate = body(
        client.post(
            "/v1/exchange-rates",
            json={"baseCurrency": "EUR", "quoteCurrency": "GBP", "rate": "0.8567",
                  "validFrom": "2023-01-01"},
            headers=HEADERS["admin"],
        )
    )  # fmt: skip
    assert rate["settled"] == len(eur)

    with engine.connect() as conn:
        rows = {
            r.external_id: r
            for r in conn.execute(select(t.payments).where(p.currency == "EUR")).all()
        }
    assert set(rows) == {e["id"] for e in eur}
    moved: dict[int, Decimal] = dict.fromkeys(touched, D(0))
    for e in eur:
        row = rows[e["id"]]
        expected = (D(e["amount"]) * D("0.8567")).quantize(D("0.01"), rounding=ROUND_HALF_UP)
        assert (row.bcy_amount, row.exchange_rate, row.rate_source) == (
            expected,
            D("0.8567"),
            "rate_table",
        )
        view = body(client.get(f"/v1/customer-payments/{row.id}", headers=HEADERS["read"]))
        assert (view["currencyCode"], view["bcyCurrency"], view["bcyAmount"]) == (
            "EUR",
            "GBP",
            expected,
        )
        assert view["amount"] == D(e["amount"])
        moved[customers[e["mandate"]]] += expected
    refunded = _refunds_in_gbp(engine, [rows[e["id"]].id for e in eur])
    for customer in touched:
        assert _balance(client, customer) == before[customer] + moved[customer] - refunded.get(
            customer, D(0)
        )
    a = t.allocations.c
    with engine.connect() as conn:
        converted = conn.execute(
            select(a.currency, a.original_currency, a.exchange_rate).where(
                a.payment_id.in_([r.id for r in rows.values()])
            )
        ).all()
    assert converted
    assert {tuple(r) for r in converted} == {("GBP", "EUR", D("0.8567"))}
    assert not body(client.get("/v1/review-queue?source=gocardless", headers=HEADERS["read"]))
    assert audit_ledger(engine).breaches == []


def _refunds_in_gbp(engine: Engine, payment_ids: list[int]) -> dict[int, Decimal]:
    from payrecon.store import ledger_tables as lt

    r = lt.refunds.c
    found: dict[int, Decimal] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            select(r.customer_id, r.amount, r.bcy_amount).where(r.payment_id.in_(payment_ids))
        ):
            found[row.customer_id] = found.get(row.customer_id, D(0)) + (
                row.bcy_amount if row.bcy_amount is not None else row.amount
            )
    return found


def test_the_providers_payout_fx_rate_converts_paid_out_payments(
    engine: Engine, http: httpx.Client
) -> None:
    state = SandboxState(
        seed=3,
        customers=6,
        payments_per_customer=5,
        config=SandboxConfig(tokens=(TOKEN,), payout_fx_rate="0.85"),
    )
    with serve_in_thread(state) as sandbox:
        gocardless = sandbox.state.truth["gocardless"]
        _gbp_customers(engine, gocardless)
        provider = add_provider(engine, "gocardless", sandbox.gocardless_url)
        sync_provider(engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT))
    paid_out = [p for p in _eur_collected(gocardless) if p["payout"]]
    assert paid_out
    p = t.payments.c
    with engine.connect() as conn:
        rows = {
            r.external_id: r
            for r in conn.execute(select(t.payments).where(p.currency == "EUR")).all()
        }
        fx = conn.execute(
            select(pt.payouts.c.fx_currency, pt.payouts.c.fx_rate).where(
                pt.payouts.c.currency == "EUR"
            )
        ).all()
    assert fx
    assert {tuple(r) for r in fx} == {("GBP", D("0.85"))}
    assert {e["id"] for e in paid_out} <= set(rows)
    assert {rows[e["id"]].rate_source for e in paid_out} == {"provider_payout"}
    assert audit_ledger(engine).breaches == []


def test_a_provider_payment_is_matched_by_hand_through_the_review_queue(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client, tmp_path: Path
) -> None:
    gocardless = sandbox.state.truth["gocardless"]
    customers = _gbp_customers(engine, gocardless)
    provider = add_provider(engine, "gocardless", sandbox.gocardless_url)
    client = api(engine, tmp_path)
    sync_provider(engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT))
    item = body(client.get("/v1/review-queue?source=gocardless&sort=id", headers=HEADERS["read"]))[
        0
    ]
    payment = next(p for p in gocardless["payments"] if p["id"] == item["externalId"])
    customer = customers[payment["mandate"]]
    invoice = body(client.get(f"/v1/invoices?customerId={customer}", headers=HEADERS["read"]))[0]
    without_rate = client.post(
        f"/v1/review-queue/{item['id']}/allocations",
        json={"customerId": customer, "allocations": [], "reason": "no rate yet"},
        headers=HEADERS["write"],
    )
    assert (without_rate.status_code, without_rate.json()["code"]) == (422, "currency_mismatch")

    matched = body(
        client.post(
            f"/v1/review-queue/{item['id']}/allocations",
            json={
                "customerId": customer,
                "exchangeRate": "0.9",
                "allocations": [{"invoiceId": invoice["id"], "amount": "1.00"}],
                "reason": "rate from the bank's advice",
            },
            headers=HEADERS["write"],
        )
    )
    expected = (D(payment["amount"]) * D("0.9")).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert (matched["currencyCode"], matched["bcyAmount"], matched["exchangeRate"]) == (
        "EUR",
        expected,
        D("0.9"),
    )
    assert matched["invoices"] == [
        {"invoiceId": invoice["id"], "invoiceNumber": invoice["invoiceNumber"], "amount": D("1.00")}
    ]
    queue = body(client.get("/v1/review-queue", headers=HEADERS["read"]))
    assert item["id"] not in {i["id"] for i in queue}
    again = client.post(
        f"/v1/review-queue/{item['id']}/allocations",
        json={"customerId": customer, "allocations": [], "reason": "twice"},
        headers=HEADERS["write"],
    )
    assert again.status_code == 409
    assert audit_ledger(engine).breaches == []


def test_payouts_have_their_endpoints_and_mandates_are_synced(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client, tmp_path: Path
) -> None:
    gocardless = sandbox.state.truth["gocardless"]
    _gbp_customers(engine, gocardless)
    provider = add_provider(engine, "gocardless", sandbox.gocardless_url)
    client = api(engine, tmp_path)
    synced = sync_provider(engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT))

    payouts = body(client.get("/v1/payouts?sort=id", headers=HEADERS["read"]))
    assert {p["externalId"] for p in payouts} == {p["id"] for p in gocardless["payouts"]}
    one = body(client.get(f"/v1/payouts/{payouts[0]['id']}", headers=HEADERS["read"]))
    expected = next(p for p in gocardless["payouts"] if p["id"] == one["externalId"])
    assert len(one["items"]) == expected["items"]
    assert one["fees"]["deducted"] is not None
    assert one["payments"]
    assert one["statementLine"] is None
    assert one["reconciled"] is False
    assert client.get("/v1/payouts?bogus=1", headers=HEADERS["read"]).status_code == 422
    assert client.get("/v1/payouts/999999", headers=HEADERS["read"]).status_code == 404

    # Mandates imported from a file now carry their provider and the provider's status.
    m = t.mandates.c
    with engine.connect() as conn:
        rows = conn.execute(select(m.reference, m.provider_id, m.status)).all()
    statuses = {x["id"]: x["status"] for x in sandbox.state.data.gocardless["mandates"]}
    assert {r.reference: (r.provider_id, r.status) for r in rows} == {
        ref: (provider, status) for ref, status in statuses.items()
    }
    assert synced.mandates.updated == len(statuses)


def test_a_rate_is_needed_and_the_audit_catches_a_crossing_without_one(engine: Engine) -> None:
    owner = seed_owner(engine)
    customer = seed_customer(engine, owner, "forged")
    invoice = seed_invoice(engine, customer, "INV-X1", "50.00", due=_date("2024-02-01"))
    from tests.ledger_rows import keep_amounts_from_rows

    with engine.begin() as conn:
        payment = conn.execute(
            t.payments.insert()
            .values(customer_id=customer, source="manual", date=_date("2024-01-02"),
                    amount=D("10.00"), currency="EUR", exchange_rate=D(1), bank_charges=D(0),
                    tax_amount_withheld=D(0), unused_amount=D("10.00"), created_at=_now())
            .returning(t.payments.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            t.allocations.insert().values(
                payment_id=payment, invoice_id=invoice, amount=D("10.00"), currency="EUR",
                rule="manual", confidence=D(1), evidence={}, created_at=_now(),
            )
        )  # fmt: skip
        keep_amounts_from_rows(conn)
        conn.execute(update(t.payments).where(t.payments.c.id == payment).values(status="active"))
    found = {(b.invariant, b.entity) for b in audit_ledger(engine).breaches}
    assert ("cross_currency_without_rate", "allocation") in found


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2024, 1, 2, tzinfo=UTC)
