"""The Stripe client against httpx.MockTransport: starting_after pagination, minor units, mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from payrecon.domain.providers import DisputeStatus, PaymentStatus, PayoutStatus, RefundStatus
from payrecon.feeds.http import ProviderResponseError
from payrecon.feeds.stripe import StripeClient
from tests.unit.providers.support import TOKEN, FakeClock, json_response, routed

CREATED = 1_714_564_800  # 2024-05-01T12:00:00Z


def _charge(n: int, **overrides: Any) -> dict[str, Any]:
    charge = {
        "id": f"ch_{n:04d}",
        "object": "charge",
        "amount": 1000 + n,
        "amount_refunded": 0,
        "captured": True,
        "created": CREATED - n,
        "currency": "gbp",
        "customer": "cus_1",
        "description": "INV-0001234",
        "status": "succeeded",
        "calculated_statement_descriptor": "ACME LTD",
        "payment_method_details": {"type": "sepa_debit", "sepa_debit": {"mandate": "mandate_1"}},
    }
    charge.update(overrides)
    return charge


def _lister(objects: list[dict[str, Any]], *, duplicate: bool = False) -> Any:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        limit = int(request.url.params["limit"])
        after = request.url.params.get("starting_after")
        start = 0 if after is None else [o["id"] for o in objects].index(after) + 1
        if duplicate and after is not None:
            start -= 1
        page = objects[start : start + limit]
        more = start + limit < len(objects)
        return json_response(200, {"object": "list", "has_more": more, "data": page})

    handler.requests = requests  # type: ignore[attr-defined]
    return handler


def _client(handler: Any, clock: FakeClock, page_size: int = 100) -> StripeClient:
    return StripeClient(
        routed(handler),
        api_key=TOKEN,
        base_url="https://api.stripe.test",
        policy=clock.policy(),
        page_size=page_size,
    )


def test_charges_paginate_with_starting_after_and_has_more(clock: FakeClock) -> None:
    handler = _lister([_charge(n) for n in range(7)])
    pages = list(_client(handler, clock, page_size=3).charge_pages())
    assert [p.next_cursor for p in pages] == ["ch_0002", "ch_0005", None]
    assert [r.external_id for p in pages for r in p.records] == [f"ch_{n:04d}" for n in range(7)]
    sent = [r.url.params.get("starting_after") for r in handler.requests]
    assert sent == [None, "ch_0002", "ch_0005"]
    assert handler.requests[0].url.path == "/v1/charges"
    assert handler.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_boundary_duplicates_are_dropped(clock: FakeClock) -> None:
    handler = _lister([_charge(n) for n in range(7)], duplicate=True)
    pages = list(_client(handler, clock, page_size=3).charge_pages())
    assert [r.external_id for p in pages for r in p.records] == [f"ch_{n:04d}" for n in range(7)]


def test_a_charge_maps_to_a_provider_payment(clock: FakeClock) -> None:
    charge = _charge(1, amount_refunded=250)
    payment = next(iter(_client(_lister([charge]), clock).charge_pages())).records[0]
    assert (payment.amount, payment.currency, payment.amount_refunded) == (
        Decimal("10.01"),
        "GBP",
        Decimal("2.50"),
    )
    assert payment.status is PaymentStatus.CONFIRMED
    assert payment.created_at == datetime(2024, 5, 1, 11, 59, 59, tzinfo=UTC)
    assert payment.charge_date == date(2024, 5, 1)
    assert (payment.mandate_id, payment.provider_customer_id) == ("mandate_1", "cus_1")
    assert (payment.reference, payment.description) == ("ACME LTD", "INV-0001234")


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("jpy", 5000, Decimal("5000")),
        ("kwd", 1234, Decimal("1.234")),
        ("isk", 10000, Decimal("100.00")),
    ],
)
def test_stripe_minor_units_follow_stripe_exponents(
    clock: FakeClock, currency: str, amount: int, expected: Decimal
) -> None:
    charge = _charge(1, currency=currency, amount=amount)
    payment = next(iter(_client(_lister([charge]), clock).charge_pages())).records[0]
    assert payment.amount == expected
    assert payment.currency == currency.upper()


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"status": "pending"}, PaymentStatus.SUBMITTED),
        ({"status": "failed"}, PaymentStatus.FAILED),
        ({"captured": False}, PaymentStatus.PENDING_SUBMISSION),
    ],
)
def test_charge_statuses_map_onto_the_shared_vocabulary(
    clock: FakeClock, overrides: dict[str, Any], status: PaymentStatus
) -> None:
    charge = _charge(1, **overrides)
    assert next(iter(_client(_lister([charge]), clock).charge_pages())).records[0].status is status


def test_the_balance_transactions_of_a_payout(clock: FakeClock) -> None:
    transactions = [
        {
            "id": "txn_1",
            "amount": 1000,
            "fee": 34,
            "net": 966,
            "currency": "gbp",
            "type": "charge",
            "source": "ch_1",
            "created": CREATED,
        },
        {
            "id": "txn_2",
            "amount": -300,
            "fee": 0,
            "net": -300,
            "currency": "gbp",
            "type": "refund",
            "source": "re_1",
            "created": CREATED,
        },
        {
            "id": "txn_3",
            "amount": -666,
            "fee": 0,
            "net": -666,
            "currency": "gbp",
            "type": "payout",
            "source": {"id": "po_1", "object": "payout"},
            "created": CREATED,
        },
    ]
    handler = _lister(transactions)
    pages = list(_client(handler, clock).balance_transaction_pages(payout="po_1"))
    assert handler.requests[0].url.params["payout"] == "po_1"
    items = pages[0].records
    assert [(i.type, i.amount, i.fee) for i in items] == [
        ("charge", Decimal("9.66"), Decimal("0.34")),
        ("refund", Decimal("-3.00"), Decimal("0.00")),
        ("payout", Decimal("-6.66"), Decimal("0.00")),
    ]
    assert {i.payout_external_id for i in items} == {"po_1"}
    assert items[0].links == {"source": "ch_1", "payment": "ch_1"}
    assert items[1].links == {"source": "re_1", "refund": "re_1"}
    assert items[2].links == {"source": "po_1", "payout": "po_1"}
    assert items[0].external_id == "txn_1"


def test_payouts_refunds_and_disputes_map(clock: FakeClock) -> None:
    payout = {
        "id": "po_1",
        "amount": 66600,
        "currency": "eur",
        "status": "in_transit",
        "created": CREATED,
        "arrival_date": CREATED + 86400,
        "statement_descriptor": "STRIPE PAYOUT 0001",
    }
    record = next(iter(_client(_lister([payout]), clock).payout_pages())).records[0]
    assert (record.amount, record.currency, record.status) == (
        Decimal("666.00"),
        "EUR",
        PayoutStatus.IN_TRANSIT,
    )
    assert (record.reference, record.arrival_date) == ("STRIPE PAYOUT 0001", date(2024, 5, 2))

    refund = {
        "id": "re_1",
        "amount": 300,
        "charge": "ch_1",
        "currency": "gbp",
        "status": "succeeded",
        "created": CREATED,
    }
    mapped = next(iter(_client(_lister([refund]), clock).refund_pages())).records[0]
    assert (mapped.payment_external_id, mapped.amount, mapped.status) == (
        "ch_1",
        Decimal("3.00"),
        RefundStatus.PAID,
    )

    dispute = {
        "id": "dp_1",
        "amount": 1000,
        "charge": "ch_1",
        "currency": "gbp",
        "status": "lost",
        "created": CREATED,
        "reason": "fraudulent",
    }
    disputed = next(iter(_client(_lister([dispute]), clock).dispute_pages())).records[0]
    assert (disputed.payment_external_id, disputed.status) == ("ch_1", DisputeStatus.LOST)


def test_has_more_without_progress_is_an_error(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, {"object": "list", "has_more": True, "data": []})

    with pytest.raises(ProviderResponseError, match="did not advance"):
        list(_client(handler, clock).charge_pages())


def test_a_float_amount_is_refused(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        charge = b'{"id": "ch_1", "currency": "gbp", "status": "succeeded", "amount": 10.5}'
        return httpx.Response(200, content=b'{"has_more": false, "data": [' + charge + b"]}")

    with pytest.raises(ProviderResponseError) as caught:
        list(_client(handler, clock).charge_pages())
    assert caught.value.place == "$.data[0].amount"
