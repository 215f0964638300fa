"""Every /v1 route of the app, whoever wrote it: no answer without a valid token, and a `read`
token cannot write. Webhooks are the exception: their provider's signature authenticates them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from payrecon.api.app import create_app
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.store.db import make_engine, upgrade_schema
from tests.integration.test_api_balances import SECRET, bearer

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def v1_routes() -> list[tuple[str, str]]:
    """(method, path) of every /v1 operation in the OpenAPI document, path ids set to 1."""
    app = create_app(Container(settings=Settings(api_token_secret=SECRET), engine=None))  # type: ignore[arg-type]
    found = set()
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/v1/") and "/webhooks/" not in path:
            for method in operations:
                found.add((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return sorted(found)


ROUTES = v1_routes()


def test_the_app_has_the_routes_of_design_md() -> None:
    paths = {path for _, path in ROUTES}
    for expected in (
        "/v1/customer-balances",
        "/v1/customer-balance-adjustments",
        "/v1/customer-credit-status",
        "/v1/customer-payments",
        "/v1/credit-notes",
        "/v1/payment-providers",
        "/v1/feeds",
        "/v1/statement-lines",
        "/v1/task-runs",
        "/v1/tasks/1",
        "/v1/contract-owners",
        "/v1/billing-cycles",
        "/v1/refunds",
    ):
        assert expected in paths, expected
    assert len(ROUTES) > 40


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # Authentication answers before any handler runs, so one database serves every case.
    tmp = tmp_path_factory.mktemp("auth")
    url = f"sqlite:///{tmp / 'payrecon.db'}"
    upgrade_schema(url)
    settings = Settings(api_token_secret=SECRET, feed_store_dir=tmp / "store", environment="test")
    return TestClient(create_app(Container(settings=settings, engine=make_engine(url))))


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_answer_without_a_valid_token(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer forged.token.value"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] in WRITE_METHODS])
def test_a_read_token_cannot_write(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, headers=bearer("read"), json={})
    assert response.status_code == 403, (method, path, response.status_code, response.text)
