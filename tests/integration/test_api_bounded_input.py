"""Input outside what the database holds is a 422 in the error shape, never a 500: ids and page
numbers past BIGINT, amounts with more precision than NUMERIC(19, 4) (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from payrecon.api.listquery import MAX_PAGE
from tests.integration.test_admin_lists import admin_client, bearer

TOO_BIG = str(2**63)  # one past BIGINT
WRITE = bearer("admin")


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    return admin_client(engine, tmp_path)


def assert_invalid(response: object, where: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status == 422, (where, status, response.text)  # type: ignore[attr-defined]
    assert set(response.json()) == {"code", "message", "details"}, where  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/customers/{TOO_BIG}",
        f"/v1/invoices/{TOO_BIG}",
        f"/v1/customer-payments/{TOO_BIG}",
        f"/v1/credit-notes/{TOO_BIG}",
        f"/v1/customers/{TOO_BIG}/credit-notes",
        f"/v1/contract-owners/{TOO_BIG}",
        f"/v1/payment-providers/{TOO_BIG}",
        f"/v1/feeds/{TOO_BIG}",
        f"/v1/statement-lines/{TOO_BIG}",
        f"/v1/allocations/{TOO_BIG}",
        f"/v1/customer-balances?customer_id={TOO_BIG}",
        f"/v1/customer-credit-status?customer_id={TOO_BIG}",
        f"/v1/customer-payments?customer_id={TOO_BIG}",
        f"/v1/customers?page={TOO_BIG}",
        f"/v1/customers?page={MAX_PAGE + 1}",
        f"/v1/task-runs?page={MAX_PAGE + 1}",
        f"/v1/customers?id={TOO_BIG}",
        "/v1/customer-payments?amount_greater_than=1.00001",
        "/v1/customer-payments?amount_less_than=1234567890123456",
        "/v1/customer-payments?amount=NaN",
        "/v1/customer-payments?amount=1.00001",
        "/v1/invoices?total=1.00001",
    ],
)
def test_out_of_range_reads_are_422(client: TestClient, path: str) -> None:
    assert_invalid(client.get(path, headers=WRITE), path)


def test_the_last_page_that_fits_is_served(client: TestClient) -> None:
    response = client.get(f"/v1/customers?page={MAX_PAGE}&pageSize=1000", headers=WRITE)
    assert response.status_code == 200, response.text
    assert response.json() == []


def test_out_of_range_ids_in_bodies_are_422(client: TestClient) -> None:
    big = 2**63
    cases = [
        ("/v1/customer-balance-adjustments", {"customerId": big, "amountInMajorCurrency": "1"}),
        ("/v1/refunds", {"paymentId": big, "amount": "1", "date": "2024-01-01"}),
        ("/v1/customer-payments", {"customerId": big, "amount": "1"}),
        ("/v1/billing-cycles", {"contractOwnerId": big, "name": "x", "startDay": 1}),
        (
            "/v1/credit-notes",
            {"customerId": big, "date": "2024-01-01", "currencyCode": "GBP", "amount": "1"},
        ),
    ]
    for path, body in cases:
        assert_invalid(client.post(path, json=body, headers=WRITE), path)


def test_a_webhook_for_an_out_of_range_provider_is_422_without_a_token(
    client: TestClient,
) -> None:
    for kind in ("stripe", "gocardless"):
        response = client.post(f"/v1/webhooks/{kind}/33443379407917113344", content=b"{}")
        assert_invalid(response, kind)
