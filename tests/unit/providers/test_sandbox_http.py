"""The clients against the real sandbox over real HTTP (uvicorn in a thread on a free port).

With 429s, 5xx and page-boundary duplicates switched on, a full pull still returns exactly the
sandbox's truth set.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.feeds.http import ProviderRejectedError, ProviderUnavailableError
from payrecon.feeds.openbanking import OpenBankingClient
from payrecon.feeds.stripe import StripeClient
from payrecon.sandbox import (
    DEFAULT_TOKEN,
    RunningSandbox,
    SandboxConfig,
    SandboxState,
    serve_in_thread,
)
from tests.unit.providers.support import FakeClock

FAULTS = {"rate_limit_every": 4, "fail_every": 7, "duplicate_page_boundary": True, "retry_after": 0}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with serve_in_thread(SandboxState(seed=42)) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    """Fake sleeps on the real date: the sandbox's rate-limit resets are real HTTP dates."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def http(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    sandbox.state.config = SandboxConfig()
    sandbox.state.reset_counters()
    with httpx.Client() as client:
        yield client


def _faults_on(sandbox: RunningSandbox, http: httpx.Client) -> None:
    answer = http.post(f"{sandbox.url}/_sandbox/config", json=FAULTS)
    assert answer.status_code == 200, answer.text


def _truth(sandbox: RunningSandbox, http: httpx.Client) -> dict[str, Any]:
    truth: dict[str, Any] = http.get(f"{sandbox.url}/_sandbox/truth").json()
    return truth


def _stats(sandbox: RunningSandbox, http: httpx.Client) -> dict[str, Any]:
    stats: dict[str, Any] = http.get(f"{sandbox.url}/_sandbox/stats").json()
    return stats


def _gocardless(sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock) -> GoCardlessClient:
    return GoCardlessClient(
        http,
        access_token=DEFAULT_TOKEN,
        base_url=sandbox.gocardless_url,
        policy=clock.policy(),
        page_size=9,
    )


def test_a_full_gocardless_pull_through_faults_equals_the_truth(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    _faults_on(sandbox, http)
    client = _gocardless(sandbox, http, clock)
    payments = [p for page in client.payment_pages() for p in page.records]
    expected = _truth(sandbox, http)["gocardless"]
    assert len(payments) == len({p.external_id for p in payments})  # no duplicate survived
    pulled = {(p.external_id, f"{p.amount:f}", p.currency, p.status.value) for p in payments}
    truth = {(p["id"], p["amount"], p["currency"], p["status"]) for p in expected["payments"]}
    assert pulled == truth
    assert len(truth) == 100
    collected = {p.external_id for p in payments if p.status.is_collected}
    assert collected == set(expected["collected_payment_ids"])

    events = [e for page in client.event_pages() for e in page.records]
    assert len({e.id for e in events}) == len(events) == expected["events"]
    mandates = [m.external_id for page in client.mandate_pages() for m in page.records]
    assert sorted(mandates) == sorted(expected["mandates"])
    refunds = {
        (r.external_id, f"{r.amount:f}") for page in client.refund_pages() for r in page.records
    }
    assert refunds == {(r["id"], r["amount"]) for r in expected["refunds"]}

    stats = _stats(sandbox, http)
    assert stats["responses"]["429"] > 0
    assert stats["responses"]["500"] > 0
    assert stats["duplicates_served"] > 0
    assert 0.0 in clock.sleeps  # Retry-After: 0 was honoured as given


def test_every_gocardless_payout_is_the_rounded_sum_of_its_items(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    _faults_on(sandbox, http)
    client = _gocardless(sandbox, http, clock)
    payouts = [p for page in client.payout_pages() for p in page.records]
    assert payouts
    for payout in payouts:
        pages = client.payout_item_pages(payout.external_id, currency=payout.currency)
        items = [i for page in pages for i in page.records]
        total = sum((i.amount for i in items), Decimal(0))
        assert total.quantize(Decimal("0.01"), ROUND_HALF_UP) == payout.amount
        assert payout.reference is not None


def test_a_sync_killed_between_pages_resumes_from_its_cursor(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    _faults_on(sandbox, http)
    committed: list[str] = []
    cursor = None
    for n, page in enumerate(_gocardless(sandbox, http, clock).payment_pages()):
        committed += [p.external_id for p in page.records]
        cursor = page.next_cursor
        if n == 2:
            break  # the worker dies here, after committing three pages with their cursor
    resumed = _gocardless(sandbox, http, clock).payment_pages(after=cursor)
    committed += [p.external_id for page in resumed for p in page.records]
    expected = {p["id"] for p in _truth(sandbox, http)["gocardless"]["payments"]}
    assert set(committed) == expected
    # The page straddling the crash may repeat one row; the store's unique key absorbs it.
    assert len(committed) - len(expected) <= 1


def test_a_full_stripe_pull_through_faults_equals_the_truth(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    _faults_on(sandbox, http)
    client = StripeClient(
        http, api_key=DEFAULT_TOKEN, base_url=sandbox.stripe_url, policy=clock.policy(), page_size=7
    )
    expected = _truth(sandbox, http)["stripe"]
    charges = [c for page in client.charge_pages() for c in page.records]
    assert len(charges) == len({c.external_id for c in charges})
    pulled = {(c.external_id, f"{c.amount:f}", c.currency) for c in charges}
    assert pulled == {(c["id"], c["amount"], c["currency"]) for c in expected["charges"]}
    assert "JPY" in {c.currency for c in charges}
    for name, pages in (("refunds", client.refund_pages()), ("disputes", client.dispute_pages())):
        got = {(r.external_id, f"{r.amount:f}") for page in pages for r in page.records}
        assert got == {(r["id"], r["amount"]) for r in expected[name]}
    payouts = [p for page in client.payout_pages() for p in page.records]
    assert {p.external_id for p in payouts} == {p["id"] for p in expected["payouts"]}
    for payout in payouts:
        items = [
            i
            for page in client.balance_transaction_pages(payout=payout.external_id)
            for i in page.records
        ]
        assert sum(i.amount for i in items if i.type != "payout") == payout.amount
    assert _stats(sandbox, http)["responses"]["429"] > 0


def test_a_full_open_banking_pull_through_faults_equals_the_truth(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    _faults_on(sandbox, http)
    client = OpenBankingClient(
        http, access_token=DEFAULT_TOKEN, base_url=sandbox.openbanking_url, policy=clock.policy()
    )
    accounts = _truth(sandbox, http)["openbanking"]
    assert len(accounts) >= 2
    for account, expected in accounts.items():
        pages = client.statement_line_pages(
            account, since=date(2023, 12, 20), until=date(2024, 4, 30), window_days=10
        )
        lines = [line for page in pages for line in page.records]
        assert len(lines) == len({line.external_id for line in lines})
        pulled = {(line.external_id, f"{line.amount:f}", line.currency) for line in lines}
        assert pulled == {(t["id"], t["amount"], t["currency"]) for t in expected["booked"]}
    assert _stats(sandbox, http)["duplicates_served"] > 0


def test_a_wrong_token_is_rejected_without_retry_or_echo(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    client = GoCardlessClient(
        http, access_token="not-the-token", base_url=sandbox.gocardless_url, policy=clock.policy()
    )
    with pytest.raises(ProviderRejectedError) as caught:
        list(client.payment_pages())
    assert caught.value.status == 401
    assert "not-the-token" not in str(caught.value)
    assert _stats(sandbox, http)["responses"] == {"401": 1}


def test_slow_answers_time_out_and_are_retried_then_reported(
    sandbox: RunningSandbox, http: httpx.Client, clock: FakeClock
) -> None:
    http.post(f"{sandbox.url}/_sandbox/config", json={"slow_ms": 300})
    policy = clock.policy(max_attempts=2, timeout=httpx.Timeout(0.05))
    client = GoCardlessClient(
        http, access_token=DEFAULT_TOKEN, base_url=sandbox.gocardless_url, policy=policy
    )
    with pytest.raises(ProviderUnavailableError, match="ReadTimeout") as caught:
        client.get_payment("PM0")
    assert caught.value.attempts == 2


@pytest.mark.parametrize(
    "change",
    [
        {"rate_limit_every": 1},
        {"fail_every": -3},
        {"error_rate": 0.9},
        {"slow_ms": "fast"},
        {"duplicate_page_boundary": "yes"},
        {"tokens": []},
        {"teleport": True},
    ],
)
def test_the_admin_endpoint_refuses_bad_switches(
    sandbox: RunningSandbox, http: httpx.Client, change: dict[str, object]
) -> None:
    answer = http.post(f"{sandbox.url}/_sandbox/config", json=change)
    assert answer.status_code == 400
    assert http.get(f"{sandbox.url}/_sandbox/config").json()["rate_limit_every"] == 0


def test_the_admin_endpoint_applies_switches_and_masks_tokens(
    sandbox: RunningSandbox, http: httpx.Client
) -> None:
    answer = http.post(
        f"{sandbox.url}/_sandbox/config", json={"rate_limit_every": 2, "tokens": ["abc", "defg"]}
    )
    assert answer.status_code == 200
    assert answer.json()["rate_limit_every"] == 2
    assert answer.json()["tokens"] == ["***", "****"]
    assert sandbox.state.config.tokens == ("abc", "defg")
    headers = {"Authorization": "Bearer defg"}
    first = http.get(f"{sandbox.gocardless_url}/payments", headers=headers)
    second = http.get(f"{sandbox.gocardless_url}/payments", headers=headers)
    assert (first.status_code, second.status_code) == (200, 429)
    assert first.headers["RateLimit-Remaining"] == "0"
    assert second.headers["Retry-After"] == "1"
    assert second.json()["error"]["errors"][0]["reason"] == "rate_limit_exceeded"


def test_the_same_seed_gives_the_same_world() -> None:
    assert SandboxState(seed=5).truth == SandboxState(seed=5).truth
    assert SandboxState(seed=5).truth != SandboxState(seed=6).truth
