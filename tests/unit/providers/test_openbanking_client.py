"""The open-banking client: the Bank Account Data shape, date windows with overlap, dedupe."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from payrecon.feeds.http import ProviderResponseError
from payrecon.feeds.openbanking import OpenBankingClient, date_windows
from tests.unit.providers.support import TOKEN, FakeClock, json_response, routed

ACCOUNT = "7e944232-bda9-40bc-b784-660c7ab5fe78"


def _booked(tid: str | None, day: str, amount: str, **extra: Any) -> dict[str, Any]:
    transaction: dict[str, Any] = {
        "internalTransactionId": f"int-{tid or day + amount}",
        "bookingDate": day,
        "valueDate": day,
        "transactionAmount": {"amount": amount, "currency": "EUR"},
        **extra,
    }
    if tid is not None:
        transaction["transactionId"] = tid
    return transaction


BOOKED = [
    _booked(
        "TX1",
        "2024-03-01",
        "120.50",
        debtorName="Payer Ltd",
        debtorAccount={"iban": "DE89370400440532013000"},
        remittanceInformationUnstructured="INV-0001234",
        endToEndId="E2E-1",
        mandateId="MD-9",
        proprietaryBankTransactionCode="SEPA-CT",
    ),
    _booked(
        "TX2",
        "2024-03-10",
        "-5.00",
        creditorName="Bank",
        creditorAccount={"iban": "DE02120300000000202051"},
        remittanceInformationUnstructuredArray=["ACCOUNT", "FEE"],
    ),
    _booked(None, "2024-03-20", "99.99", debtorName="No Id Payer"),
    _booked("TX4", "2024-04-02", "10.00"),
]
PENDING = [
    {
        "internalTransactionId": "pend-1",
        "valueDate": "2024-03-21",
        "transactionAmount": {"amount": "1.00", "currency": "EUR"},
    },
]


def _bank(booked: list[dict[str, Any]], *, repeat_first: bool = False) -> Any:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        assert request.url.path == f"/api/v2/accounts/{ACCOUNT}/transactions/"
        low = date.fromisoformat(request.url.params["date_from"])
        high = date.fromisoformat(request.url.params["date_to"])
        inside = [t for t in booked if low <= date.fromisoformat(t["bookingDate"]) <= high]
        if repeat_first and inside:
            inside = [*inside, inside[0]]
        pending = [t for t in PENDING if low <= date.fromisoformat(t["valueDate"]) <= high]
        return json_response(200, {"transactions": {"booked": inside, "pending": pending}})

    handler.requests = requests  # type: ignore[attr-defined]
    return handler


def _client(handler: Any, clock: FakeClock) -> OpenBankingClient:
    return OpenBankingClient(
        routed(handler), access_token=TOKEN, base_url="https://bad.test", policy=clock.policy()
    )


def test_transactions_map_booked_and_pending(clock: FakeClock) -> None:
    booked, pending = _client(_bank(BOOKED), clock).transactions(
        ACCOUNT, date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)
    )
    assert [t.dedupe_id for t in booked] == ["TX1", "TX2", "int-2024-03-2099.99"]
    first = booked[0]
    assert (first.amount, first.currency, first.booked) == (Decimal("120.50"), "EUR", True)
    assert (first.debtor_iban, first.mandate_id, first.bank_transaction_code) == (
        "DE89370400440532013000",
        "MD-9",
        "SEPA-CT",
    )
    assert booked[1].remittance == "ACCOUNT FEE"
    assert [p.internal_transaction_id for p in pending] == ["pend-1"]
    assert pending[0].booked is False


def test_statement_lines_cover_windows_from_the_overlap_to_the_as_of_date(clock: FakeClock) -> None:
    handler = _bank(BOOKED)
    pages = list(
        _client(handler, clock).statement_line_pages(
            ACCOUNT, since=date(2024, 3, 4), until=date(2024, 4, 5), overlap_days=3, window_days=14
        )
    )
    windows = [(r.url.params["date_from"], r.url.params["date_to"]) for r in handler.requests]
    assert windows == [
        ("2024-03-01", "2024-03-14"),
        ("2024-03-15", "2024-03-28"),
        ("2024-03-29", "2024-04-05"),
    ]
    assert [p.next_cursor for p in pages] == ["2024-03-14", "2024-03-28", "2024-04-05"]
    lines = [line for page in pages for line in page.records]
    assert [line.external_id for line in lines] == ["TX1", "TX2", "int-2024-03-2099.99", "TX4"]
    assert all(line.account == ACCOUNT for line in lines)
    assert lines[0].counterparty_name == "Payer Ltd"
    assert lines[1].counterparty_account == "DE02120300000000202051"
    assert lines[1].amount == Decimal("-5.00")


def test_repeats_and_known_ids_are_dropped_and_pending_never_becomes_a_line(
    clock: FakeClock,
) -> None:
    pages = _client(_bank(BOOKED, repeat_first=True), clock).statement_line_pages(
        ACCOUNT, since=date(2024, 3, 1), until=date(2024, 3, 31), known_ids={"TX2"}
    )
    ids = [line.external_id for page in pages for line in page.records]
    assert ids == ["TX1", "int-2024-03-2099.99"]


def test_a_first_poll_reaches_back_initial_days(clock: FakeClock) -> None:
    handler = _bank(BOOKED)
    list(_client(handler, clock).statement_line_pages(ACCOUNT, until=date(2024, 4, 5)))
    assert handler.requests[0].url.params["date_from"] == "2024-01-06"  # 90 days back


def test_a_booked_transaction_without_any_date_is_refused(clock: FakeClock) -> None:
    undated = {"transactionId": "TX9", "transactionAmount": {"amount": "1.00", "currency": "EUR"}}

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, {"transactions": {"booked": [undated], "pending": []}})

    with pytest.raises(ProviderResponseError) as caught:
        _client(handler, clock).transactions(
            ACCOUNT, date_from=date(2024, 1, 1), date_to=date(2024, 1, 2)
        )
    assert caught.value.place == "$.transactions.booked[0]"


def test_date_windows_are_consecutive_and_inclusive() -> None:
    assert list(date_windows(date(2024, 1, 1), date(2024, 1, 5), 2)) == [
        (date(2024, 1, 1), date(2024, 1, 2)),
        (date(2024, 1, 3), date(2024, 1, 4)),
        (date(2024, 1, 5), date(2024, 1, 5)),
    ]
    assert list(date_windows(date(2024, 1, 5), date(2024, 1, 1), 2)) == []
