"""Provider events drive the ledger, on SQLite and PostgreSQL: a confirmed GoCardless payment is
recorded and allocated (the invoice its reference names, then oldest due first); a charged-back one
is reversed, its invoices reopen and the customer's balance moves back; a cancelled chargeback
reinstates it; a refund trims the allocations and a failed refund gives the money back. Replays and
stale events change nothing.

The provider is a fake at the HTTP seam (`httpx.MockTransport`) whose objects the test edits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from payrecon.domain.providers import Provider, ProviderEvent
from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.services.ledger.balances import get_balance
from payrecon.services.providers.events import load_provider, process_pending_events, store_events
from payrecon.services.providers.sync import provider_clients
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.audit_tables import audit_log
from tests.integration.test_provider_sync import (
    CREDENTIALS,
    NO_WAIT,
    add_provider,
    seed_customer,
    seed_invoice,
    seed_owner,
    snapshot,
)

D = Decimal
T1 = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
GOCARDLESS = "https://api-sandbox.gocardless.com"  # served by the MockTransport


class FakeGoCardless:
    """The provider's objects, served as GoCardless serves them; requests are counted."""

    def __init__(self) -> None:
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []

    def payment(self, pid: str, pence: int, status: str, reference: str = "") -> None:
        self.payments[pid] = {
            "id": pid, "amount": pence, "amount_refunded": 0, "currency": "GBP",
            "status": status, "created_at": "2024-06-28T10:00:00.000Z",
            "charge_date": "2024-07-01", "reference": reference, "description": None,
            "links": {"mandate": "MD0001", "creditor": "CR1"},
        }  # fmt: skip

    def refund(self, rid: str, pid: str, pence: int, status: str) -> None:
        self.refunds[rid] = {
            "id": rid, "amount": pence, "currency": "GBP", "status": status,
            "created_at": "2024-07-03T10:00:00.000Z", "reference": None,
            "links": {"payment": pid},
        }  # fmt: skip

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.reads.append(request.url.path)
        _, resource, identity = request.url.path.split("/")
        store = {"payments": self.payments, "refunds": self.refunds}[resource]
        if identity not in store:
            body = {"error": {"code": 404, "errors": [{"reason": "resource_not_found"}]}}
            return httpx.Response(404, json=body)
        return httpx.Response(200, json={resource: store[identity]})


@pytest.fixture
def provider_state() -> FakeGoCardless:
    return FakeGoCardless()


@pytest.fixture
def http(provider_state: FakeGoCardless) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(provider_state.handle)) as client:
        yield client


class Ledger:
    """One customer with mandate MD0001 and three open invoices, and the provider's events."""

    def __init__(self, engine: Engine, http: httpx.Client) -> None:
        self.engine = engine
        owner = seed_owner(engine)
        self.customer = seed_customer(engine, owner, "C-DD", mandate="MD0001")
        self.invoices = {
            number: seed_invoice(engine, self.customer, number, total, due)
            for number, total, due in (
                ("INV-1", "100.00", date(2024, 1, 10)),
                ("INV-2", "80.00", date(2024, 2, 10)),
                ("INV-3", "50.00", date(2024, 3, 10)),
            )
        }
        self.provider_id = add_provider(engine, "gocardless", GOCARDLESS)
        with engine.connect() as conn:
            self.provider = load_provider(conn, self.provider_id)
        client = provider_clients(http, CREDENTIALS, policy=NO_WAIT)(self.provider)
        assert isinstance(client, GoCardlessClient)
        self.client = client
        self.events = 0

    def event(self, resource: str, action: str, at: datetime, **links: str) -> str:
        self.events += 1
        event = ProviderEvent(
            Provider.GOCARDLESS, f"EV{self.events:04d}", resource, action, at, links=links
        )
        self.receive(event)
        return event.id

    def receive(self, event: ProviderEvent) -> tuple[int, int]:
        with self.engine.begin() as conn:
            return store_events(
                conn, self.provider_id, [event], via="webhook", now=event.created_at
            )

    def process(self, now: datetime) -> None:
        process_pending_events(self.engine, self.provider, self.client, now=now)

    def allocations(self) -> dict[str, tuple[Decimal, str]]:
        """invoice number -> (amount, rule) of the live allocations of active payments."""
        a, i, p = t.allocations.c, t.invoices.c, t.payments.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(i.invoice_number, a.amount, a.rule)
                .join(t.invoices, i.id == a.invoice_id)
                .join(t.payments, p.id == a.payment_id)
                .where(p.status == "active")
            ).all()
        return {r.invoice_number: (r.amount, r.rule) for r in rows}

    def balance(self) -> Decimal:
        return get_balance(self.engine, self.customer).balance

    def payment_status(self, external_id: str) -> str | None:
        p = t.payments.c
        with self.engine.connect() as conn:
            found = conn.execute(select(p.status).where(p.external_id == external_id)).scalar()
        return None if found is None else str(found)


@pytest.fixture
def ledger(engine: Engine, http: httpx.Client) -> Ledger:
    return Ledger(engine, http)


def test_a_charged_back_payment_reverses_its_allocations_and_the_balance_moves_back(
    ledger: Ledger, provider_state: FakeGoCardless
) -> None:
    assert ledger.balance() == D("-230.00")
    provider_state.payment("PM1", 15000, "confirmed", reference="INV-3")
    ledger.event("payments", "confirmed", T1, payment="PM1")
    ledger.process(T1)

    assert ledger.payment_status("PM1") == "active"
    assert ledger.allocations() == {
        "INV-3": (D("50.00"), "invoice_reference_exact"),
        "INV-1": (D("100.00"), "oldest_due_first"),
    }
    assert ledger.balance() == D("-80.00")
    a = t.allocations.c
    with ledger.engine.connect() as conn:
        evidence = conn.execute(select(a.evidence).where(a.rule == "oldest_due_first")).scalar()
    assert evidence["mandate"] == "MD0001"
    assert evidence["provider_payment"] == "PM1"

    provider_state.payment("PM1", 15000, "charged_back", reference="INV-3")
    at = T1 + timedelta(days=20)
    chargeback = ledger.event("payments", "charged_back", at, payment="PM1")
    ledger.process(at)

    assert ledger.payment_status("PM1") == "reversed"
    assert ledger.allocations() == {}  # every invoice is open again
    assert ledger.balance() == D("-230.00")
    with ledger.engine.connect() as conn:
        audited = conn.execute(select(audit_log.c.action, audit_log.c.actor)).all()
    assert [tuple(r) for r in audited] == [("payment.reversed", f"provider:{ledger.provider_id}")]

    # The same delivery again, and an old `confirmed` arriving late: nothing changes.
    before, reads = snapshot(ledger.engine), len(provider_state.reads)
    replayed = ProviderEvent(Provider.GOCARDLESS, chargeback, "payments", "charged_back", at)
    assert ledger.receive(replayed) == (0, 0)
    ledger.event("payments", "confirmed", T1 + timedelta(days=1), payment="PM1")
    ledger.process(at + timedelta(minutes=5))
    assert snapshot(ledger.engine) == {**before, "provider_events": 3}  # one more event, stored
    assert ledger.balance() == D("-230.00")
    assert len(provider_state.reads) == reads  # the stored copy is newer than that event

    provider_state.payment("PM1", 15000, "paid_out", reference="INV-3")
    later = at + timedelta(days=10)
    ledger.event("payments", "chargeback_cancelled", later, payment="PM1")
    ledger.process(later)
    assert ledger.payment_status("PM1") == "active"
    assert ledger.balance() == D("-80.00")
    assert sum(amount for amount, _ in ledger.allocations().values()) == D("150.00")


def test_a_failed_payment_is_never_recorded(ledger: Ledger, provider_state: FakeGoCardless) -> None:
    provider_state.payment("PM2", 9000, "failed")
    ledger.event("payments", "failed", T1, payment="PM2")
    ledger.process(T1)
    assert ledger.payment_status("PM2") is None
    pp = pt.provider_payments.c
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(pp.status, pp.payment_id)).one()
    assert tuple(stored) == ("failed", None)
    assert ledger.balance() == D("-230.00")


def test_a_refund_takes_back_allocations_and_a_failed_refund_gives_the_money_back(
    ledger: Ledger, provider_state: FakeGoCardless
) -> None:
    provider_state.payment("PM1", 15000, "paid_out", reference="INV-3")
    ledger.event("payments", "paid_out", T1, payment="PM1")
    ledger.process(T1)

    provider_state.refund("RF1", "PM1", 6000, "paid")
    at = T1 + timedelta(days=3)
    ledger.event("refunds", "paid", at, refund="RF1")
    ledger.process(at)
    refunds = lt.refunds.c
    with ledger.engine.connect() as conn:
        recorded = conn.execute(select(refunds.amount, refunds.reference_number)).one()
    assert tuple(recorded) == (D("60.00"), "RF1")
    # The invoice due last gives back first: INV-3 (due in March) loses its 50, INV-1 10 more.
    assert ledger.allocations() == {"INV-1": (D("90.00"), "oldest_due_first")}
    assert ledger.balance() == D("-140.00")  # 150 paid - 60 refunded - 230 invoiced

    provider_state.refund("RF1", "PM1", 6000, "failed")
    at += timedelta(days=2)
    ledger.event("refunds", "failed", at, refund="RF1")
    ledger.process(at)
    with ledger.engine.connect() as conn:
        assert conn.execute(select(refunds.id)).all() == []
    assert sum(amount for amount, _ in ledger.allocations().values()) == D("150.00")
    assert ledger.balance() == D("-80.00")


def test_an_event_for_a_resource_the_provider_does_not_know_is_kept_with_its_error(
    ledger: Ledger,
) -> None:
    ledger.event("payments", "confirmed", T1, payment="PM404")
    ledger.process(T1)
    e = pt.provider_events.c
    with ledger.engine.connect() as conn:
        processed, error = conn.execute(select(e.processed_at, e.error)).one()
    assert processed is not None
    assert "404" in error
    assert json.dumps(error).count("Bearer") == 0
