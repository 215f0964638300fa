"""The GoCardless client against httpx.MockTransport serving the shared GoCardless fixtures."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from payrecon.domain.errors import InvalidInput
from payrecon.domain.providers import (
    MandateStatus,
    PaymentStatus,
    PayoutStatus,
    Provider,
    RefundStatus,
)
from payrecon.feeds.gocardless import GOCARDLESS_VERSION, GoCardlessClient
from payrecon.feeds.http import ProviderResponseError
from tests.unit.providers.support import TOKEN, FakeClock, json_response, load_fixture, routed

BASE = "https://api.gocardless.test"


def _client(handler: Any, clock: FakeClock, page_size: int = 500) -> GoCardlessClient:
    return GoCardlessClient(
        routed(handler),
        access_token=TOKEN,
        base_url=BASE,
        policy=clock.policy(),
        page_size=page_size,
    )


def _serve_fixture(name: str, action: str = "list", last_page: bool = True) -> Any:
    example = load_fixture(name)[action]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == example["path_template"].replace(
            ":identity", "".join(example["url_params"])
        )
        body = copy.deepcopy(example["body"])
        if last_page and "meta" in body:
            body["meta"]["cursors"]["after"] = None
        return json_response(200, body)

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def test_payments_map_from_the_fixture(clock: FakeClock) -> None:
    handler = _serve_fixture("payments.json")
    pages = list(_client(handler, clock).payment_pages())
    assert len(pages) == 1
    records, cursor = pages[0]
    assert cursor is None
    payment = records[0]
    assert payment.provider is Provider.GOCARDLESS
    assert payment.external_id == "PM123"
    assert payment.amount == Decimal("10.00")
    assert payment.currency == "EUR"
    assert payment.amount_refunded == Decimal("1.50")
    assert payment.status is PaymentStatus.SUBMITTED
    assert payment.charge_date == date(2014, 5, 21)
    assert payment.created_at == datetime(2014, 1, 1, 12, 0, tzinfo=UTC)
    assert (payment.mandate_id, payment.payout_id) == ("MD123", "PO123")
    assert (payment.reference, payment.description) == ("WINEBOX001", "One-off upgrade fee")
    # The fixture repeats PM123 within one page: a page is passed on as the provider sent it.
    assert len(records) == 2


def test_requests_carry_the_version_header_token_and_limit(clock: FakeClock) -> None:
    handler = _serve_fixture("payments.json")
    created = datetime(2024, 3, 1, tzinfo=UTC)
    list(_client(handler, clock, page_size=200).payment_pages(created_at_gte=created))
    request = handler.seen[0]
    assert request.headers["GoCardless-Version"] == GOCARDLESS_VERSION
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url.params["limit"] == "200"
    assert request.url.params["created_at[gte]"] == "2024-03-01T00:00:00Z"
    assert "after" not in request.url.params


def test_mandates_refunds_payouts_and_events_map_from_the_fixtures(clock: FakeClock) -> None:
    mandate = next(iter(_client(_serve_fixture("mandates.json"), clock).mandate_pages())).records[0]
    assert (mandate.external_id, mandate.status) == ("MD123", MandateStatus.PENDING_SUBMISSION)
    assert (mandate.customer_id, mandate.customer_bank_account_id) == ("CU123", "BA123")
    assert (mandate.reference, mandate.scheme) == ("REF-123", "bacs")

    refund = next(iter(_client(_serve_fixture("refunds.json"), clock).refund_pages())).records[0]
    assert (refund.external_id, refund.payment_external_id) == ("RF123", "PM123")
    assert (refund.amount, refund.currency, refund.status) == (
        Decimal("1.50"),
        "EUR",
        RefundStatus.SUBMITTED,
    )
    assert refund.reference == "WINEBOX001"

    payout = next(iter(_client(_serve_fixture("payouts.json"), clock).payout_pages())).records[0]
    assert (payout.external_id, payout.amount, payout.deducted_fees) == (
        "PO123",
        Decimal("10.00"),
        Decimal("0.20"),
    )
    assert (payout.reference, payout.status) == ("ref-1", PayoutStatus.PENDING)
    assert payout.arrival_date == date(2014, 1, 1)

    event = next(iter(_client(_serve_fixture("events.json"), clock).event_pages())).records[0]
    assert (event.id, event.resource_type, event.action) == ("EV123", "mandates", "cancelled")
    assert event.links["payment"] == "PM123"
    assert event.payout_id == "PO123"
    assert event.details["reason_code"] == "ADDACS-B"


def test_payout_items_are_decimal_minor_units_of_the_payout_currency(clock: FakeClock) -> None:
    handler = _serve_fixture("payout_items.json")
    client = _client(handler, clock)
    items = [i for page in client.payout_item_pages("PO123", currency="EUR") for i in page.records]
    assert handler.seen[0].url.params["payout"] == "PO123"
    assert items[0].amount == Decimal("0.450")  # "45.0" cents
    assert (items[0].type, items[0].currency, items[0].payout_external_id) == (
        "payment_paid_out",
        "EUR",
        "PO123",
    )
    assert items[0].links == {"mandate": "MD123", "payment": "PM123", "refund": "RF123"}


def test_get_one_payment(clock: FakeClock) -> None:
    payment = _client(_serve_fixture("payments.json", "get"), clock).get_payment("PM123")
    assert (payment.external_id, payment.amount) == ("PM123", Decimal("10.00"))


def _paged_payments(total: int, *, duplicate: bool = False) -> Any:
    """A server of `total` payments cloned from the fixture, paged by `after` (the last id)."""
    template = load_fixture("payments.json")["get"]["body"]["payments"]
    items = []
    for n in range(total):
        item = copy.deepcopy(template)
        item["id"], item["amount"] = f"PM{n:04d}", 1000 + n
        items.append(item)
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        limit = int(request.url.params["limit"])
        after = request.url.params.get("after")
        start = 0 if after is None else [i["id"] for i in items].index(after) + 1
        if duplicate and after is not None:
            start -= 1
        page = items[start : start + limit]
        more = start + limit < len(items)
        meta = {
            "cursors": {"after": page[-1]["id"] if more else None, "before": None},
            "limit": limit,
        }
        return json_response(200, {"payments": page, "meta": meta})

    handler.requests = requests  # type: ignore[attr-defined]
    return handler


def test_pagination_follows_the_after_cursor_page_by_page(clock: FakeClock) -> None:
    handler = _paged_payments(23)
    pages = list(_client(handler, clock, page_size=10).payment_pages())
    assert [len(p.records) for p in pages] == [10, 10, 3]
    assert [p.next_cursor for p in pages] == ["PM0009", "PM0019", None]
    ids = [r.external_id for p in pages for r in p.records]
    assert ids == [f"PM{n:04d}" for n in range(23)]
    assert [r.url.params.get("after") for r in handler.requests] == [None, "PM0009", "PM0019"]
    assert pages[2].records[-1].amount == Decimal("10.22")


def test_a_committed_cursor_resumes_without_loss_or_duplication(clock: FakeClock) -> None:
    handler = _paged_payments(23)
    first = next(iter(_client(handler, clock, page_size=10).payment_pages()))
    rest = list(_client(handler, clock, page_size=10).payment_pages(after=first.next_cursor))
    ids = [r.external_id for r in first.records] + [r.external_id for p in rest for r in p.records]
    assert ids == [f"PM{n:04d}" for n in range(23)]


def test_page_boundary_duplicates_are_dropped(clock: FakeClock) -> None:
    pages = list(_client(_paged_payments(23, duplicate=True), clock, page_size=10).payment_pages())
    ids = [r.external_id for p in pages for r in p.records]
    assert ids == [f"PM{n:04d}" for n in range(23)]


def test_a_cursor_that_does_not_advance_is_an_error_not_a_loop(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, {"payments": [], "meta": {"cursors": {"after": "PM1"}}})

    with pytest.raises(ProviderResponseError, match="did not advance"):
        list(_client(handler, clock).payment_pages(after="PM1"))


@pytest.mark.parametrize(
    ("field", "value", "place"),
    [
        ("amount", "1000", "$.payments[0].amount"),
        ("amount", None, "$.payments[0].amount"),
        ("status", "teleported", "$.payments[0].status"),
        ("created_at", "yesterday", "$.payments[0].created_at"),
        ("created_at", "2014-01-01T12:00:00", "$.payments[0].created_at"),
        ("id", None, "$.payments[0].id"),
    ],
)
def test_a_malformed_payment_names_its_place(
    clock: FakeClock, field: str, value: object, place: str
) -> None:
    item = copy.deepcopy(load_fixture("payments.json")["get"]["body"]["payments"])
    item[field] = value

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, {"payments": [item], "meta": {"cursors": {"after": None}}})

    with pytest.raises(ProviderResponseError) as caught:
        list(_client(handler, clock).payment_pages())
    assert caught.value.place == place
    assert caught.value.file == "gocardless GET /payments"


def test_a_payout_item_amount_sent_as_a_json_number_is_refused(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = b'{"payout_items": [{"type": "payment_paid_out", "amount": 45.0, "links": {}}]}'
        return httpx.Response(200, content=body)

    with pytest.raises(ProviderResponseError, match="expected a string"):
        list(_client(handler, clock).payout_item_pages("PO1", currency="GBP"))


def test_page_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="page_size"):
        GoCardlessClient(httpx.Client(), access_token=TOKEN, page_size=501)


@pytest.mark.parametrize("identity", ["../mandates", "PM1?status=x", "", "PM 1"])
def test_ids_that_would_escape_the_path_are_refused_before_any_request(
    clock: FakeClock, identity: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    with pytest.raises(InvalidInput):
        _client(handler, clock).get_payment(identity)
