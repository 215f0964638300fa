"""The API's first slice: health, balances in seed 000's shape, bearer-token auth."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from payrecon.api.app import create_app
from payrecon.api.auth import issue_token
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.store import tables as t
from tests.integration.test_pipeline_services import load_ledger, run_pipeline

SECRET = "test-secret-for-the-api-tests-only-0123456789"


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    load_ledger(engine)
    run_pipeline(
        engine, tmp_path / "store", Path(__file__).parents[1] / "data" / "statement.camt053.xml"
    )
    settings = Settings(
        api_token_secret=SECRET, feed_store_dir=tmp_path / "store", environment="test"
    )
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def bearer(
    *scopes: str, secret: str = SECRET, ttl: timedelta = timedelta(minutes=5)
) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, scopes, ttl=ttl)}"}


def test_healthz_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["database"] == "ok"


def test_customer_balance_in_the_seed_shape(client: TestClient, engine: Engine) -> None:
    with engine.connect() as conn:
        cid = conn.execute(
            select(t.customers.c.id).where(t.customers.c.external_id == "C001")
        ).scalar_one()
    response = client.get(f"/v1/customer-balances?customer_id={cid}", headers=bearer("read"))
    assert response.status_code == 200
    body = json.loads(response.text, parse_float=str)
    assert body == {
        "id": cid,
        "customerId": cid,
        "balance": "23.34",
        "totalPayments": "216.34",
        "totalPaymentsSinceLastInvoice": "216.34",
        "paymentMethodSummary": {"paymentMethod": "DIRECT_DEBIT", "summaryType": "NONE"},
        "repaymentPlanSummary": {
            "repaymentPlanAmount": "0.00",
            "repaymentPlanRemainingPeriods": 0,
            "summaryType": "NONE",
        },
    }
    # Amounts are JSON numbers, written with their exact digits.
    assert '"balance":23.34' in response.text


def test_unknown_customer_is_404_with_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/customer-balances?customer_id=999999", headers=bearer("read"))
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "customer 999999 does not exist",
        "details": None,
    }


def test_invalid_query_is_422(client: TestClient) -> None:
    response = client.get("/v1/customer-balances?customer_id=abc", headers=bearer("read"))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        bearer("read", secret="another-secret-of-enough-length-0123456789"),
        bearer("read", ttl=timedelta(seconds=-1)),
    ],
)
def test_v1_refuses_a_missing_or_invalid_token(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/customer-balances?customer_id=1", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_openapi_names_the_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/v1/customer-balances"} <= set(paths)
