"""Issue #14's acceptance on the real stack (PostgreSQL, Redis, a Celery worker, the API served
by uvicorn): a GBP customer paid in EUR through the sandbox (Stripe). Without a rate the payment
waits in the review queue (and in `payrecon export review`) and the balance does not move, poll
after poll; with a dated rate recorded through the API it allocates, `bcyAmount` equals
amount x rate rounded by the owner's mode (DOWN here), and the balance moves by it.

Stripe, not GoCardless, so that this module's payments stay out of the GoCardless sets the
providers module compares; the module runs last (its name), and its rate is removed and its
provider disabled at the end."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from payrecon.api.auth import issue_token
from payrecon.sandbox import RunningSandbox, SandboxConfig, SandboxState, serve_in_thread
from payrecon.store import ledger_tables as lt
from payrecon.store.db import make_engine
from tests.e2e.conftest import API_SECRET, Stack

D = Decimal
TOKEN = "sandbox-e2e-fx-token-93a1"
OWNER_ID = 4343  # clear of the ids other e2e modules import
RATE = D("0.8567")
ADMIN = {"Authorization": f"Bearer {issue_token(API_SECRET, ['admin'])}"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    state = SandboxState(
        seed=13, customers=5, payments_per_customer=4, config=SandboxConfig(tokens=(TOKEN,))
    )
    with serve_in_thread(state) as running:
        yield running


@pytest.fixture(scope="module")
def engine(stack: Stack) -> Iterator[Engine]:
    eng = make_engine(stack.database_url)
    yield eng
    eng.dispose()


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _import(stack: Stack, stripe: dict[str, Any]) -> None:
    """A GBP customer per Stripe customer (the Stripe customer id as its mandate), each with one
    GBP invoice; the owner rounds DOWN."""
    customers = sorted({c["customer"] for c in stripe["charges"]})
    files = {
        "contract-owners": _csv(
            stack.tmp / "fx_owners.csv",
            ["contract_owner_id", "name", "price_rounding_mode", "price_decimal_places"],
            [[str(OWNER_ID), "FX Billing Ltd", "DOWN", "2"]],
        ),
        "customers": _csv(
            stack.tmp / "fx_customers.csv",
            [
                "customer_id",
                "name",
                "contract_owner_id",
                "currency",
                "credit_threshold",
                "account_number",
                "iban",
                "mandate_id",
            ],
            [
                [f"FXE-{c}", f"FX customer {c}", str(OWNER_ID), "GBP", "0", "", "", c]
                for c in customers
            ],
        ),
        "invoices": _csv(
            stack.tmp / "fx_invoices.csv",
            [
                "invoice_id",
                "invoice_number",
                "customer_id",
                "kind",
                "issue_date",
                "due_date",
                "currency",
                "total",
            ],
            [
                [
                    f"FXI-{n}",
                    f"INV-{900000 + n}",
                    f"FXE-{c}",
                    "standard",
                    "2023-12-01",
                    "2023-12-31",
                    "GBP",
                    "50000.00",
                ]
                for n, c in enumerate(customers)
            ],
        ),
    }
    for kind, path in files.items():
        done = stack.payrecon("import", kind, str(path))
        assert done.returncode == 0, done.stderr


def _poll(stack: Stack, provider_id: int) -> dict[str, Any]:
    triggered = httpx.post(
        f"{stack.api_url}/v1/tasks/poll_provider", json={"provider_id": provider_id}, headers=ADMIN
    )
    assert triggered.status_code == 202, triggered.text
    task_id = triggered.json()["taskId"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        task = httpx.get(f"{stack.api_url}/v1/tasks/{task_id}", headers=ADMIN).json()
        if task["state"] in ("SUCCESS", "FAILURE"):
            assert task["state"] == "SUCCESS", task
            counts: dict[str, Any] = task["run"]["counts"]
            return counts
        time.sleep(0.3)
    raise AssertionError(f"poll_provider {task_id} did not finish within 90 s")


def _wait_for_run(stack: Stack, task_id: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = _get(stack, f"/v1/tasks/{task_id}")["run"]
        if run is not None and run["status"] != "running":
            assert run["status"] == status, run
            return
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} did not finish within 60 s")


def _get(stack: Stack, path: str) -> Any:
    response = httpx.get(f"{stack.api_url}{path}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def test_a_gbp_customer_paid_in_eur_waits_for_a_rate_then_allocates(
    stack: Stack, sandbox: RunningSandbox, engine: Engine
) -> None:
    stripe = httpx.get(f"{sandbox.url}/_sandbox/truth").json()["stripe"]
    _import(stack, stripe)
    created = httpx.post(
        f"{stack.api_url}/v1/payment-providers",
        json={"name": "Stripe sandbox (fx e2e)", "kind": "stripe", "accessToken": TOKEN,
              "baseUrl": sandbox.stripe_url},
        headers=ADMIN,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    provider = int(created.json()["id"])

    first = _poll(stack, provider)
    assert first["status"] == "synced"
    queue = _get(stack, f"/v1/review-queue?source=stripe&currency=EUR&providerId={provider}")
    assert queue, "the sandbox pays some GBP customers in EUR"
    assert all(i["reason"].startswith("currency_mismatch:") for i in queue)
    waiting = {i["externalId"]: i for i in queue}
    # A customer whose EUR charges were neither refunded nor disputed: each is allocated whole.
    data = sandbox.state.data.stripe
    touched = {r["charge"] for r in data["refunds"]} | {d["charge"] for d in data["disputes"]}
    customers = {int(i["customerId"]) for i in queue}
    customer = min(
        c
        for c in customers
        if not {i["externalId"] for i in queue if int(i["customerId"]) == c} & touched
    )
    before = _get(stack, f"/v1/customer-balances?customer_id={customer}")["balance"]

    # Another poll changes nothing: the payment still waits, the balance stays.
    _poll(stack, provider)
    assert {
        i["externalId"]
        for i in _get(stack, f"/v1/review-queue?source=stripe&currency=EUR&providerId={provider}")
    } == set(waiting)
    assert _get(stack, f"/v1/customer-balances?customer_id={customer}")["balance"] == before
    exported = stack.payrecon("export", "review", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    rows = {r["external_id"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    assert set(waiting) <= set(rows)
    assert all(rows[e]["reason"].startswith("currency_mismatch:") for e in waiting)

    rate = httpx.post(
        f"{stack.api_url}/v1/exchange-rates",
        json={"baseCurrency": "EUR", "quoteCurrency": "GBP", "rate": str(RATE),
              "validFrom": "2023-01-01"},
        headers=ADMIN,
    )  # fmt: skip
    assert rate.status_code == 201, rate.text
    assert rate.json()["settled"] == len(waiting)
    try:
        mine = [i for i in queue if int(i["customerId"]) == customer]
        payments = _get(stack, f"/v1/customer-payments?customer_id={customer}&currencyCode=EUR")
        by_reference = {p["paymentId"]: p for p in payments}
        assert len(payments) == len(mine)
        moved = D(0)
        for payment in by_reference.values():
            expected = (D(payment["amount"]) * RATE).quantize(D("0.01"), rounding=ROUND_DOWN)
            assert payment["bcyAmount"] == expected
            assert (payment["exchangeRate"], payment["bcyCurrency"]) == (RATE, "GBP")
            assert payment["invoices"], "the converted payment allocates to the GBP invoice"
            moved += expected
        r = lt.refunds.c
        with engine.connect() as conn:
            refunded = sum(
                (
                    row.bcy_amount if row.bcy_amount is not None else row.amount
                    for row in conn.execute(
                        select(r.amount, r.bcy_amount).where(
                            r.payment_id.in_(list(by_reference)), r.customer_id == customer
                        )
                    )
                ),
                D(0),
            )
        after = _get(stack, f"/v1/customer-balances?customer_id={customer}")["balance"]
        assert after == before + moved - refunded
        assert not _get(stack, f"/v1/review-queue?source=stripe&currency=EUR&providerId={provider}")
        audit = httpx.post(f"{stack.api_url}/v1/tasks/audit_ledger", json={}, headers=ADMIN)
        assert audit.status_code == 202, audit.text
        _wait_for_run(stack, audit.json()["taskId"], "succeeded")
    finally:
        httpx.delete(f"{stack.api_url}/v1/exchange-rates/{rate.json()['id']}", headers=ADMIN)
        httpx.patch(
            f"{stack.api_url}/v1/payment-providers/{provider}",
            json=[{"op": "replace", "path": "/enabled", "value": False}],
            headers={**ADMIN, "Content-Type": "application/json-patch+json"},
        )
