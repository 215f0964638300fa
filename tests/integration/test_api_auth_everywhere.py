"""Every /v1 route of the app, whoever wrote it: no answer without a valid token, and a `read`
token cannot write. Webhooks are the exception: their provider's signature authenticates them.
And every route of the app (app.routes, with HEAD and OPTIONS): only health, readiness, metrics,
the signed webhooks and, outside production, the OpenAPI document and its pages answer without
a token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.routing import iter_route_contexts
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


# Every route of the app, not only the documented /v1 ones: what answers without a token.
OPEN_EVERYWHERE = {"/healthz", "/readyz", "/metrics"}
OPEN_OUTSIDE_PRODUCTION = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
SIGNED = re.compile(r"^/v1/webhooks/(gocardless|stripe)/\{provider_id\}$")
# The console (docs/console.md) answers without a token too, by its own rules: the sign-in page,
# its assets and the 404 page are open; every other page sends to the sign-in page (303) and
# every form post without a session and its CSRF token is 403.
# Signing out without a session just shows the sign-in page again.
CONSOLE_OPEN = {"/console/sign-in", "/console/sign-out", "/console/static", "/console/{rest:path}"}


def app_for(environment: str, tmp: Path) -> TestClient:
    url = f"sqlite:///{tmp / 'payrecon.db'}"
    upgrade_schema(url)
    settings = Settings(
        api_token_secret=SECRET,
        feed_store_dir=tmp / "store",
        environment=environment,  # type: ignore[arg-type]
        broker_url="memory://" if environment != "production" else "redis://127.0.0.1:6379/15",
        secrets_key=Fernet.generate_key().decode(),
    )
    return TestClient(create_app(Container(settings=settings, engine=make_engine(url))))


@pytest.mark.parametrize("environment", ["test", "production"])
def test_only_the_open_routes_answer_without_a_token(
    environment: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    client = app_for(environment, tmp_path_factory.mktemp(environment))
    open_paths = OPEN_EVERYWHERE | (
        OPEN_OUTSIDE_PRODUCTION if environment != "production" else set()
    )
    answered: dict[tuple[str, str], int] = {}
    routes = list(iter_route_contexts(client.app.routes))  # type: ignore[attr-defined]
    assert len(routes) > 80
    for route in routes:
        path = route.path
        assert isinstance(path, str), route
        for method in sorted({*(route.methods or set()), "HEAD", "OPTIONS"}):
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            status = client.request(method, concrete, follow_redirects=False).status_code
            answered[(method, path)] = status
            if path == "/console" or path.startswith("/console/"):
                if path not in CONSOLE_OPEN:
                    expected = {"GET": 303, "POST": 403}.get(method, 405)
                    assert status == expected, (environment, method, path, status)
                continue
            if path in open_paths or SIGNED.match(path):
                continue  # open by design (docs/api.md); signed webhooks never say 401
            assert status in (401, 405), (environment, method, path, status)
    reached = {
        path
        for (method, path), status in answered.items()
        if status not in (401, 405) and not path.startswith("/console")
    }
    assert reached <= open_paths | {p for p in reached if SIGNED.match(p)}, reached
    assert reached >= OPEN_EVERYWHERE
    if environment == "production":
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/openapi.json", headers=bearer("read")).status_code == 200
        assert client.get("/docs").status_code == 404
    else:
        assert client.get("/openapi.json").status_code == 200
