"""The provider sync against the sandbox over real HTTP (429s, 5xx and page-boundary duplicates on),
on SQLite and PostgreSQL: what is stored equals the sandbox's truth set, a rerun adds nothing, and a
sync killed between pages resumes from its cursor to the same set.

The helpers here (`seed_owner`, `seed_customer`, `seed_invoice`, `add_provider`, `snapshot`, the
`sandbox` fixture) serve the other test_provider_* modules too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, insert, select

from payrecon.bootstrap import provider_credentials
from payrecon.config import Settings
from payrecon.domain.providers import DisputeStatus
from payrecon.feeds.http import RetryPolicy
from payrecon.sandbox import RunningSandbox, SandboxConfig, SandboxState, serve_in_thread
from payrecon.services.ledger.exchange_rates import RateInput, record_rate
from payrecon.services.providers.openbanking import register_openbanking_account
from payrecon.services.providers.sync import provider_clients, sync_provider
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import admin_tables as a
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t

D = Decimal
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
TOKEN = "sandbox-token-7d41c0e9"  # the sandbox accepts only this; no log line may carry it
FAULTS = SandboxConfig(
    rate_limit_every=4, fail_every=7, duplicate_page_boundary=True, retry_after=0, tokens=(TOKEN,)
)
NO_WAIT = RetryPolicy(sleep=lambda _seconds: None)
# What the worker and the API use in the test environment: the development key ring, and the
# local sandbox allowed as a base URL.
CREDENTIALS = provider_credentials(Settings(environment="test"))
SYNCED_TABLES = (
    pt.provider_payments, pt.provider_refunds, pt.payouts, pt.payout_items, pt.provider_events,
    pt.provider_cursors, t.payments, t.allocations, lt.refunds, t.feed_files, t.statement_lines,
)  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with serve_in_thread(SandboxState(seed=42, config=FAULTS)) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def seed_owner(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(t.contract_owners)
                .values(name="Acme Billing", created_at=T0, updated_at=T0)
                .returning(t.contract_owners.c.id)
            ).scalar_one()
        )


def seed_customer(
    engine: Engine, owner: int, name: str, *, mandate: str | None = None, currency: str = "GBP"
) -> int:
    with engine.begin() as conn:
        customer = int(
            conn.execute(
                insert(t.customers)
                .values(
                    external_id=name,
                    name=name,
                    contract_owner_id=owner,
                    currency=currency,
                    credit_threshold=D("0.00"),
                    created_at=T0,
                )
                .returning(t.customers.c.id)
            ).scalar_one()
        )
        if mandate:
            conn.execute(
                insert(t.mandates).values(customer_id=customer, reference=mandate, created_at=T0)
            )
    return customer


def seed_invoice(engine: Engine, customer: int, number: str, total: str, due: date) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(t.invoices)
                .values(
                    external_id=number,
                    invoice_number=number,
                    customer_id=customer,
                    issue_date=date(2024, 1, 1),
                    due_date=due,
                    currency="GBP",
                    total=D(total),
                    open_amount=D(total),
                    created_at=T0,
                )
                .returning(t.invoices.c.id)
            ).scalar_one()
        )


def add_provider(
    engine: Engine, kind: str, base_url: str, *, token: str = TOKEN, secret: str | None = None
) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(a.payment_providers)
                .values(
                    name=f"{kind} {base_url}",
                    kind=kind,
                    base_url=base_url,
                    enabled=True,
                    access_token=CREDENTIALS.box.seal(token),
                    webhook_secret=CREDENTIALS.box.seal(secret) if secret else None,
                    created_at=T0,
                    updated_at=T0,
                )
                .returning(a.payment_providers.c.id)
            ).scalar_one()
        )


def snapshot(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in SYNCED_TABLES
        }


def truth(sandbox: RunningSandbox) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{sandbox.url}/_sandbox/truth").json()
    return answer


def stored_payments(engine: Engine, provider_id: int) -> set[tuple[str, str, str, str]]:
    pp = pt.provider_payments.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(pp.external_id, pp.amount, pp.currency, pp.status).where(
                pp.provider_id == provider_id
            )
        ).all()
    return {(r.external_id, f"{r.amount.normalize():f}", r.currency, r.status) for r in rows}


def active_ledger_payments(engine: Engine, source: str) -> set[str]:
    p = t.payments.c
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(p.external_id).where(p.source == source, p.status == "active")
            ).scalars()
        )


def with_rates(engine: Engine, *currencies: str) -> None:
    """Rates to GBP for these currencies, valid from before the sandbox's data."""
    for currency in currencies:
        record_rate(
            engine,
            RateInput(
                currency, "GBP", D("0.85") if currency != "JPY" else D("0.0052"), date(2023, 1, 1)
            ),
            actor="test",
        )


def _expected_payments(gocardless: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (p["id"], f"{D(p['amount']).normalize():f}", p["currency"], p["status"])
        for p in gocardless["payments"]
    }


def _seed_gocardless_customers(engine: Engine, gocardless: dict[str, Any], skip: str) -> int:
    owner = seed_owner(engine)
    for n, mandate in enumerate(gocardless["mandates"]):
        if mandate != skip:
            seed_customer(engine, owner, f"GC{n:03d}", mandate=mandate)
    return owner


def test_gocardless_sync_equals_the_truth_and_a_rerun_adds_nothing(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client
) -> None:
    expected = truth(sandbox)["gocardless"]
    late = expected["payments"][0]["mandate"]  # its customer is configured only later
    owner = _seed_gocardless_customers(engine, expected, skip=late)
    provider = add_provider(engine, "gocardless", sandbox.gocardless_url)
    with_rates(engine, "EUR")  # the GBP customers' EUR payments convert (test_currencies waits)
    clients = provider_clients(http, CREDENTIALS, policy=NO_WAIT, page_size=9)

    first = sync_provider(engine, provider, clients)

    assert stored_payments(engine, provider) == _expected_payments(expected)
    collected = set(expected["collected_payment_ids"])
    waiting = {p["id"] for p in expected["payments"] if p["mandate"] == late and p["collected"]}
    assert waiting, "the seed gives the first mandate a collected payment"
    assert active_ledger_payments(engine, "gocardless") == collected - waiting
    assert first.ledger.awaiting_review == len(waiting)
    pp = pt.provider_payments.c
    with engine.connect() as conn:
        reasons = conn.execute(
            select(pp.review_reason).where(pp.external_id.in_(sorted(waiting)))
        ).scalars()
        assert all(late in (reason or "") for reason in reasons)

    seed_customer(engine, owner, "GC-late", mandate=late)
    sync_provider(engine, provider, clients)
    assert active_ledger_payments(engine, "gocardless") == collected
    _assert_refunds_payouts_and_events(engine, provider, expected)

    before = snapshot(engine)
    again = sync_provider(engine, provider, clients)
    assert snapshot(engine) == before
    assert (again.ledger.recorded, again.ledger.reversed, again.events.processed) == (0, 0, 0)
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()
    assert stats["responses"]["429"] > 0
    assert stats["responses"]["500"] > 0
    assert stats["duplicates_served"] > 0


def _assert_refunds_payouts_and_events(
    engine: Engine, provider: int, expected: dict[str, Any]
) -> None:
    pr, po, pi, pe = (
        x.c for x in (pt.provider_refunds, pt.payouts, pt.payout_items, pt.provider_events)
    )
    with engine.connect() as conn:
        refunds = conn.execute(select(pr.external_id, pr.amount, pr.refund_id)).all()
        ledger_refunds = {
            r.id: r.amount for r in conn.execute(select(lt.refunds.c.id, lt.refunds.c.amount))
        }
        payouts = conn.execute(
            select(po.external_id, po.amount, po.reference, func.count(pi.id))
            .outerjoin(pt.payout_items, pi.payout_id == po.id)
            .where(po.provider_id == provider)
            .group_by(po.external_id, po.amount, po.reference)
        ).all()
        pending = conn.execute(
            select(func.count()).select_from(pt.provider_events).where(pe.processed_at.is_(None))
        ).scalar_one()
        events = conn.execute(select(func.count()).select_from(pt.provider_events)).scalar_one()
    assert {(r.external_id, f"{r.amount:.2f}") for r in refunds} == {
        (r["id"], r["amount"]) for r in expected["refunds"]
    }
    assert all(ledger_refunds[r.refund_id] == r.amount for r in refunds)  # each one in the ledger
    assert {(p.external_id, f"{p.amount:.2f}", p.reference, p[3]) for p in payouts} == {
        (p["id"], p["amount"], p["reference"], p["items"]) for p in expected["payouts"]
    }
    assert (events, pending) == (expected["events"], 0)


class WorkerKilled(BaseException):
    """Not an Exception: nothing on the way up may catch it, as nothing survives a SIGKILL."""


class KilledAfter(httpx.BaseTransport):
    """A transport that dies (as a killed worker would) after `requests` answered requests."""

    def __init__(self, requests: int) -> None:
        self.left = requests
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left == 0:
            raise WorkerKilled(f"killed before {request.url.path}")
        self.left -= 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_sync_killed_between_pages_resumes_to_the_same_set(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client
) -> None:
    expected = truth(sandbox)["gocardless"]
    _seed_gocardless_customers(engine, expected, skip="")
    provider = add_provider(engine, "gocardless", sandbox.gocardless_url)
    with_rates(engine, "EUR")
    progress = []
    # Killed in the payments, the refunds/payouts, the events pass (the mandates pass comes
    # first and takes a few requests).
    for budget in (10, 19, 36):
        with httpx.Client(transport=KilledAfter(budget)) as dying, pytest.raises(WorkerKilled):
            sync_provider(
                engine, provider, provider_clients(dying, CREDENTIALS, policy=NO_WAIT, page_size=9)
            )
        progress.append(stored_payments(engine, provider))
    assert progress[0] < progress[1] <= progress[2] <= _expected_payments(expected)
    with engine.connect() as conn:
        cursor = pt.read_cursor(conn, provider, "payments")
    assert cursor["watermark"] is not None, "the payments pass was finished by the second run"

    sync_provider(
        engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT, page_size=9)
    )
    assert stored_payments(engine, provider) == _expected_payments(expected)
    assert active_ledger_payments(engine, "gocardless") == set(expected["collected_payment_ids"])
    _assert_refunds_payouts_and_events(engine, provider, expected)
    p = t.payments.c
    with engine.connect() as conn:
        doubled = conn.execute(
            select(p.external_id).group_by(p.external_id).having(func.count() > 1)
        ).all()
    assert doubled == []
    before = snapshot(engine)
    sync_provider(
        engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT, page_size=9)
    )
    assert snapshot(engine) == before


def test_stripe_charges_refunds_and_disputes(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client
) -> None:
    expected = truth(sandbox)["stripe"]
    owner = seed_owner(engine)
    for n, customer in enumerate(sorted({c["customer"] for c in expected["charges"]})):
        seed_customer(engine, owner, f"ST{n:03d}", mandate=customer)
    provider = add_provider(engine, "stripe", sandbox.stripe_url)
    with_rates(engine, "EUR", "JPY")

    sync_provider(
        engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT, page_size=7)
    )

    status = {"succeeded": "confirmed", "pending": "submitted", "failed": "failed"}
    assert stored_payments(engine, provider) == {
        (c["id"], f"{D(c['amount']).normalize():f}", c["currency"], status[c["status"]])
        for c in expected["charges"]
    }
    disputes = {d["charge"]: d["status"] for d in sandbox.state.data.stripe["disputes"]}
    withdrawn = {
        c
        for c, s in disputes.items()
        if s in (DisputeStatus.LOST, DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW)
    }
    assert withdrawn, "the seed has a lost dispute"
    succeeded = {c["id"] for c in expected["charges"] if c["status"] == "succeeded"}
    assert active_ledger_payments(engine, "stripe") == succeeded - withdrawn
    p = t.payments.c
    with engine.connect() as conn:
        reversed_ = set(conn.execute(select(p.external_id).where(p.status == "reversed")).scalars())
        jpy = conn.execute(select(p.amount).where(p.currency == "JPY")).scalars().all()
        refunded = conn.execute(select(func.count()).select_from(lt.refunds)).scalar_one()
    assert reversed_ <= withdrawn
    assert jpy
    assert all(amount == amount.to_integral_value() for amount in jpy)
    assert refunded == len(expected["refunds"])
    before = snapshot(engine)
    sync_provider(
        engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT, page_size=7)
    )
    assert snapshot(engine) == before


def test_open_banking_transactions_become_statement_lines_once(
    engine: Engine, sandbox: RunningSandbox, http: httpx.Client
) -> None:
    accounts = truth(sandbox)["openbanking"]
    provider = add_provider(engine, "openbanking", sandbox.openbanking_url)
    for account in accounts:
        assert register_openbanking_account(engine, provider, account)
    assert not register_openbanking_account(engine, provider, next(iter(accounts)))
    as_of = datetime(2024, 3, 15, tzinfo=UTC)  # the sandbox's bank data are of early 2024

    first = sync_provider(
        engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT), now=as_of
    )

    sl = t.statement_lines.c
    with engine.connect() as conn:
        lines = conn.execute(select(sl.account, sl.external_id, sl.amount, sl.status)).all()
        sources = set(conn.execute(select(t.feed_files.c.source)).scalars())
    assert {(r.account, r.external_id, f"{r.amount:.2f}") for r in lines} == {
        (account, b["id"], f"{D(b['amount']):.2f}")
        for account, groups in accounts.items()
        for b in groups["booked"]
    }
    assert first.new_lines == len(lines)
    assert sources == {"openbanking"}
    assert {r.status for r in lines} == {"pending"}
    before = snapshot(engine)
    later = datetime(2024, 3, 16, tzinfo=UTC)  # the next poll overlaps the last days: no repeats
    assert (
        sync_provider(
            engine, provider, provider_clients(http, CREDENTIALS, policy=NO_WAIT), now=later
        ).new_lines
        == 0
    )
    assert snapshot(engine) == before

    reconcile_pending(engine)  # the lines are the matcher's like any bank line
    with engine.connect() as conn:
        waiting = conn.execute(select(func.count()).where(sl.status == "pending")).scalar_one()
    assert waiting == 0
