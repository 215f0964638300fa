"""Providers on the real stack: a sandbox (429s, 5xx and page-boundary duplicates on) served in a
thread, a GoCardless provider configured through the API, a sync killed mid-way in-process, then
`poll_provider` run by the real Celery worker on Redis and PostgreSQL: the payments in PostgreSQL
equal the sandbox's set exactly, and running it again gives the same set. The Redis lock makes a
concurrent poll skip; a signed webhook is processed by the worker after the API's commit; the
provider's secrets appear in no log line of the worker or the API.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, select

from payrecon.api.auth import issue_token
from payrecon.config import Settings
from payrecon.feeds.webhooks import sign_gocardless
from payrecon.sandbox import RunningSandbox, SandboxConfig, SandboxState, serve_in_thread
from payrecon.services.providers.sync import provider_clients, sync_provider
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.db import make_engine
from payrecon.worker.app import create_celery
from payrecon.worker.provider_tasks import lock_name
from tests.e2e.conftest import API_SECRET, Stack
from tests.integration.test_provider_sync import (
    CREDENTIALS,
    NO_WAIT,
    KilledAfter,
    WorkerKilled,
    snapshot,
    stored_payments,
)

D = Decimal
TOKEN = "sandbox-e2e-token-4f0b9d2a"
WEBHOOK_SECRET = "gc-e2e-webhook-secret-81c3"
OWNER_ID = 4242  # clear of the ids other e2e modules import


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    faults = SandboxConfig(
        rate_limit_every=5, fail_every=6, duplicate_page_boundary=True, retry_after=0,
        tokens=(TOKEN,),
    )  # fmt: skip
    with serve_in_thread(SandboxState(seed=11, config=faults)) as running:
        yield running


@pytest.fixture(scope="module")
def engine(stack: Stack) -> Iterator[Engine]:
    eng = make_engine(stack.database_url)
    yield eng
    eng.dispose()


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _import_the_sandbox_customers(stack: Stack, gocardless: dict[str, Any]) -> None:
    """One GBP customer per sandbox mandate, and for each collected payment the GBP invoice it
    names (of the payment's amount)."""
    owners = _write_csv(
        stack.tmp / "provider_owners.csv",
        ["contract_owner_id", "name", "invoice_number_format"],
        [[str(OWNER_ID), "Sandbox Billing Ltd", "INV-#######"]],
    )
    customers = _write_csv(
        stack.tmp / "provider_customers.csv",
        ["customer_id", "name", "contract_owner_id", "currency", "credit_threshold",
         "account_number", "iban", "mandate_id"],
        [[f"SBX-{m}", f"Sandbox customer {m}", str(OWNER_ID), "GBP", "0", "", "", m]
         for m in gocardless["mandates"]],
    )  # fmt: skip
    invoices = _write_csv(
        stack.tmp / "provider_invoices.csv",
        ["invoice_id", "invoice_number", "customer_id", "kind", "issue_date", "due_date",
         "currency", "total"],
        [[p["reference"], p["reference"], f"SBX-{p['mandate']}", "standard", "2024-01-01",
          "2024-02-01", "GBP", p["amount"]]
         for p in gocardless["payments"] if p["collected"]],
    )  # fmt: skip
    for kind, path in (
        ("contract-owners", owners),
        ("customers", customers),
        ("invoices", invoices),
    ):
        done = stack.payrecon("import", kind, str(path))
        assert done.returncode == 0, done.stderr


def _poll(stack: Stack, provider_id: int) -> dict[str, Any]:
    """Trigger `poll_provider` through the API (`POST /v1/tasks/...`), wait for its run."""
    admin = {"Authorization": f"Bearer {issue_token(API_SECRET, ['admin'])}"}
    triggered = httpx.post(
        f"{stack.api_url}/v1/tasks/poll_provider", json={"provider_id": provider_id}, headers=admin
    )
    assert triggered.status_code == 202, triggered.text
    task_id = triggered.json()["taskId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = httpx.get(f"{stack.api_url}/v1/tasks/{task_id}", headers=admin).json()
        if task["state"] in ("SUCCESS", "FAILURE"):
            assert task["state"] == "SUCCESS", task
            counts: dict[str, Any] = task["run"]["counts"]
            return counts
        time.sleep(0.2)
    raise AssertionError(f"poll_provider {task_id} did not finish within 60 s")


def _ledger(engine: Engine) -> tuple[set[str], set[tuple[str, str, D, str]]]:
    p, a, i = t.payments.c, t.allocations.c, t.invoices.c
    with engine.connect() as conn:
        active = set(
            conn.execute(
                select(p.external_id).where(p.source == "gocardless", p.status == "active")
            ).scalars()
        )
        allocations = conn.execute(
            select(p.external_id, i.invoice_number, a.amount, a.rule)
            .join(t.allocations, a.payment_id == p.id)
            .join(t.invoices, i.id == a.invoice_id)
            .where(p.source == "gocardless")
        ).all()
    return active, {(r[0], r[1], r[2], r[3]) for r in allocations}


def test_gocardless_through_the_real_worker_equals_the_sandbox(
    stack: Stack, sandbox: RunningSandbox, engine: Engine
) -> None:
    started = time.monotonic()
    truth = httpx.get(f"{sandbox.url}/_sandbox/truth").json()["gocardless"]
    _import_the_sandbox_customers(stack, truth)
    admin = {"Authorization": f"Bearer {issue_token(API_SECRET, ['admin'])}"}
    created = httpx.post(
        f"{stack.api_url}/v1/payment-providers",
        json={"name": "GoCardless sandbox (e2e)", "kind": "gocardless", "accessToken": TOKEN,
              "webhookSecret": WEBHOOK_SECRET, "baseUrl": sandbox.gocardless_url},
        headers=admin,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    provider = int(created.json()["id"])
    # The customers are GBP and the sandbox pays some in EUR: at a rate of 1 the invoices
    # (GBP, of the payments' amounts) are paid as before; without a rate they would wait.
    rate = httpx.post(
        f"{stack.api_url}/v1/exchange-rates",
        json={"baseCurrency": "EUR", "quoteCurrency": "GBP", "rate": "1", "validFrom": "2023-01-01",
              "note": "e2e: a rate of 1"},
        headers=admin,
    )  # fmt: skip
    assert rate.status_code == 201, rate.text

    # A worker dies between pages: what it committed stays, with its cursor.
    with httpx.Client(transport=KilledAfter(6)) as dying, pytest.raises(WorkerKilled):
        sync_provider(
            engine, provider, provider_clients(dying, CREDENTIALS, policy=NO_WAIT, page_size=9)
        )
    partial = stored_payments(engine, provider)
    assert 0 < len(partial) < len(truth["payments"])

    httpx.post(f"{sandbox.url}/_sandbox/reset")
    counts = _poll(stack, provider)
    assert counts["status"] == "synced"
    faults = httpx.get(f"{sandbox.url}/_sandbox/stats").json()
    assert faults["responses"]["429"] > 0
    assert faults["responses"]["500"] > 0
    assert faults["duplicates_served"] > 0
    expected = {
        (p["id"], f"{D(p['amount']).normalize():f}", p["currency"], p["status"])
        for p in truth["payments"]
    }
    assert stored_payments(engine, provider) == expected
    refunded: dict[str, D] = {}
    for refund in truth["refunds"]:
        refunded[refund["payment"]] = refunded.get(refund["payment"], D(0)) + D(refund["amount"])
    expected_allocations = {
        (p["id"], p["reference"], D(p["amount"]) - refunded.get(p["id"], D(0)),
         "invoice_reference_exact")
        for p in truth["payments"] if p["collected"] and D(p["amount"]) > refunded.get(p["id"], D(0))
    }  # fmt: skip
    active, allocations = _ledger(engine)
    assert active == set(truth["collected_payment_ids"])
    assert allocations == expected_allocations

    before = snapshot(engine)
    again = _poll(stack, provider)
    assert (again["recorded"], again["reversed"], again["events_processed"]) == (0, 0, 0)
    assert snapshot(engine) == before
    assert _ledger(engine) == (active, allocations)

    _a_held_lock_makes_a_poll_skip(stack, provider)
    _the_fan_out_polls_every_enabled_provider(stack, provider)
    assert snapshot(engine) == before
    _a_webhook_is_processed_by_the_worker(stack, engine, provider, truth)
    for log in ("worker.log", "api.log"):
        text = (stack.tmp / log).read_text(encoding="utf-8", errors="replace")
        assert TOKEN not in text, f"{log} carries the provider's access token"
        assert WEBHOOK_SECRET not in text, f"{log} carries the webhook secret"
    # The rate was this module's; the next module records its own (one per pair and date).
    removed = httpx.delete(f"{stack.api_url}/v1/exchange-rates/{rate.json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert time.monotonic() - started < 90


def _a_held_lock_makes_a_poll_skip(stack: Stack, provider: int) -> None:
    client = redis.Redis.from_url(stack.env["PAYRECON_BROKER_URL"])
    lock = client.lock(lock_name(provider), timeout=60, blocking=False)
    assert lock.acquire()
    try:
        assert _poll(stack, provider) == {"provider_id": provider, "skipped": "locked"}
    finally:
        lock.release()
        client.close()


def _the_fan_out_polls_every_enabled_provider(stack: Stack, provider: int) -> None:
    """`poll_providers` (what beat runs) enqueues one `poll_provider` per enabled provider."""
    celery = create_celery(
        Settings(broker_url=stack.env["PAYRECON_BROKER_URL"], environment="test")
    )
    try:
        fanned = celery.send_task("payrecon.poll_providers", queue="ingest").get(timeout=60)
    finally:
        celery.close()
    assert provider in fanned["providers"]
    admin = {"Authorization": f"Bearer {issue_token(API_SECRET, ['admin'])}"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = httpx.get(f"{stack.api_url}/v1/task-runs?name=poll_provider", headers=admin).json()
        if len(runs) >= 4 and runs[0]["status"] != "running":  # 2 polls, the skip, the fan-out's
            assert runs[0]["status"] == "succeeded", runs[0]
            assert runs[0]["params"] == {"provider_id": provider}
            return
        time.sleep(0.2)
    raise AssertionError("the fanned-out poll_provider did not run")


def _a_webhook_is_processed_by_the_worker(
    stack: Stack, engine: Engine, provider: int, truth: dict[str, Any]
) -> None:
    payment = truth["collected_payment_ids"][0]
    moment = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    body = json.dumps(
        {"events": [{"id": "EVE2E0001", "created_at": moment, "resource_type": "payments",
                     "action": "paid_out", "links": {"payment": payment}, "details": {}}]}
    ).encode()  # fmt: skip
    before = snapshot(engine)
    answer = httpx.post(
        f"{stack.api_url}/v1/webhooks/gocardless/{provider}",
        content=body,
        headers={"Webhook-Signature": sign_gocardless(body, WEBHOOK_SECRET)},
    )
    assert answer.status_code == 200, answer.text
    e = pt.provider_events.c
    deadline = time.monotonic() + 30
    processed = None
    while processed is None and time.monotonic() < deadline:
        with engine.connect() as conn:
            processed = conn.execute(
                select(e.processed_at).where(e.provider_id == provider, e.event_id == "EVE2E0001")
            ).scalar()
        time.sleep(0.2)
    assert processed is not None, "the worker did not process the webhook's event"
    assert snapshot(engine) == {**before, "provider_events": before["provider_events"] + 1}
    replay = httpx.post(
        f"{stack.api_url}/v1/webhooks/gocardless/{provider}",
        content=body,
        headers={"Webhook-Signature": sign_gocardless(body, WEBHOOK_SECRET)},
    )
    assert replay.json() == {"events": 1, "new": 0}
