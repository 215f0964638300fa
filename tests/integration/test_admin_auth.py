"""Every admin endpoint needs a bearer token (401 without one), reads need `read`, writes `write`,
and contract owners' and payment providers' writes `admin` (403 when the scope falls short).

The app here has an empty database without a schema: a refused request must never reach it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from payrecon.store.db import make_engine
from tests.integration.test_admin_lists import admin_client, bearer, body_of

LISTS = [
    "/v1/contract-owners",
    "/v1/billing-cycles",
    "/v1/payment-providers",
    "/v1/site-payment-mandates",
    "/v1/payment-provider-payment-links",
    "/v1/customers",
    "/v1/invoices",
    "/v1/invoice-payments",
    "/v1/adhoc-invoice-payments",
]
READS = [
    *[("GET", path) for path in LISTS],
    *[("HEAD", path) for path in LISTS],
    *[("GET", f"{path}/1") for path in LISTS],
]
ADMIN_WRITES = [
    ("POST", "/v1/contract-owners"),
    ("PATCH", "/v1/contract-owners/1"),
    ("POST", "/v1/payment-providers"),
    ("PATCH", "/v1/payment-providers/1"),
    ("DELETE", "/v1/payment-providers/1"),
]
WRITES = [
    ("POST", "/v1/billing-cycles"),
    ("PATCH", "/v1/billing-cycles/1"),
    ("POST", "/v1/site-payment-mandates"),
    ("PATCH", "/v1/site-payment-mandates/1"),
    ("POST", "/v1/payment-provider-payment-links"),
    ("PATCH", "/v1/payment-provider-payment-links/1"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    tmp: Path = tmp_path_factory.mktemp("auth")
    return admin_client(make_engine(f"sqlite:///{tmp / 'no-schema.db'}"), tmp)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body = {} if method == "POST" else [] if method == "PATCH" else None
    response = client.request(method, path, json=body, headers=headers)
    if method != "HEAD":
        assert body_of(response)["code"] in {"not_authenticated", "forbidden"}, response.text
    return response.status_code


@pytest.mark.parametrize(("method", "path"), READS + ADMIN_WRITES + WRITES)
def test_no_token_is_401(client: TestClient, method: str, path: str) -> None:
    assert call(client, method, path, {}) == 401
    assert call(client, method, path, {"Authorization": "Bearer not.a.jwt"}) == 401


@pytest.mark.parametrize(("method", "path"), ADMIN_WRITES + WRITES)
def test_a_read_token_cannot_write(client: TestClient, method: str, path: str) -> None:
    assert call(client, method, path, bearer("read")) == 403


@pytest.mark.parametrize(("method", "path"), ADMIN_WRITES)
def test_contract_owners_and_providers_need_admin(
    client: TestClient, method: str, path: str
) -> None:
    assert call(client, method, path, bearer("write")) == 403
