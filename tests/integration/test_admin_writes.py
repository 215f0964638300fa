"""Creating and patching the admin entities through the API, on SQLite and PostgreSQL: defaults,
validation (422, nothing written), conflicts (409), foreign ids, and the payment providers' secrets,
which are stored and never shown."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from payrecon.store import admin_tables as a
from payrecon.store import tables as t
from tests.integration.test_admin_lists import (
    SEEDED_SECRETS,
    admin_client,
    bearer,
    body_of,
    seed_admin_data,
)
from tests.integration.test_provider_sync import CREDENTIALS

ADMIN = bearer("admin")
WRITE = bearer("write")


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    seed_admin_data(engine)
    return admin_client(engine, tmp_path)


def rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_create_contract_owner_with_seed_defaults(client: TestClient) -> None:
    response = client.post(
        "/v1/contract-owners",
        json={"name": "Delta Billing", "bankIban": "gb29 nwbk 6016 1331 9268 19"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    owner = body_of(response)
    assert response.headers["Location"] == f"/v1/contract-owners/{owner['id']}"
    assert owner["priceRoundingMode"] == "HALF_UP"
    assert owner["priceDecimalPlaces"] == 2
    assert owner["enableBalanceCarryForward"] is True
    assert owner["bankIban"] == "GB29NWBK60161331926819"  # normalised
    assert owner["createdDate"] == owner["updatedDate"]
    assert owner["createdDate"].endswith("+00:00")
    assert body_of(client.get(response.headers["Location"], headers=ADMIN)) == owner


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "priceRoundingMode": "NEAREST"}, "priceRoundingMode"),
        ({"name": "X", "priceDecimalPlaces": 7}, "priceDecimalPlaces"),
        ({"name": "X", "priceDecimalPlaces": "2"}, "priceDecimalPlaces"),
        ({"name": "X", "bankIban": "GB00NWBK60161331926819"}, "bankIban"),
        ({"name": "X", "bankSortCode": "12-34-56"}, "bankSortCode"),
        ({"name": "X", "bankSwiftCode": "NOTASWIFT"}, "bankSwiftCode"),
        ({"name": "X", "availableFrom": "2024-01-01"}, "availableFrom"),
        ({"name": ""}, "name"),
        ({}, "name"),
    ],
)
def test_invalid_contract_owner_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/contract-owners", json=body, headers=ADMIN)
    assert response.status_code == 422
    problem = body_of(response)
    assert problem["code"] == "invalid_input"
    assert any(field in detail["field"] for detail in problem["details"])
    assert rows(engine, t.contract_owners) == 3


def test_billing_cycle_create_patch_and_its_rules(client: TestClient, engine: Engine) -> None:
    created = client.post(
        "/v1/billing-cycles",
        json={"contractOwnerId": 2, "name": "Monthly mid", "startDay": 15},
        headers=WRITE,
    )
    assert created.status_code == 201, created.text
    cycle = body_of(created)
    assert {k: cycle[k] for k in ("contractOwnerId", "name", "startDay")} == {
        "contractOwnerId": 2,
        "name": "Monthly mid",
        "startDay": 15,
    }
    patched = client.patch(
        f"/v1/billing-cycles/{cycle['id']}",
        json=[{"op": "replace", "path": "/startDay", "value": 20}],
        headers=WRITE,
    )
    assert body_of(patched)["startDay"] == 20

    unknown_owner = client.post(
        "/v1/billing-cycles",
        json={"contractOwnerId": 99, "name": "Y", "startDay": 1},
        headers=WRITE,
    )
    assert unknown_owner.status_code == 422
    assert "contract owner 99 does not exist" in body_of(unknown_owner)["message"]
    duplicate = client.post(
        "/v1/billing-cycles", json={"contractOwnerId": 1, "name": "Monthly mid", "startDay": 3},
        headers=WRITE,
    )  # fmt: skip
    assert duplicate.status_code == 409
    assert body_of(duplicate)["code"] == "conflict"
    day_29 = client.post(
        "/v1/billing-cycles",
        json={"contractOwnerId": 1, "name": "Z", "startDay": 29},
        headers=WRITE,
    )
    assert day_29.status_code == 422
    assert rows(engine, a.billing_cycles) == 4


def test_mandate_create_patch_and_its_rules(client: TestClient, engine: Engine) -> None:
    created = client.post(
        "/v1/site-payment-mandates",
        json={"customerId": 3, "providerId": 2, "reference": "MD0009", "scheme": "sepa_core"},
        headers=WRITE,
    )
    assert created.status_code == 201, created.text
    mandate = body_of(created)
    assert mandate["status"] == "active"
    patched = client.patch(
        f"/v1/site-payment-mandates/{mandate['id']}",
        json=[
            {"op": "test", "path": "/status", "value": "active"},
            {"op": "replace", "path": "/status", "value": "cancelled"},
        ],
        headers=WRITE,
    )
    assert body_of(patched)["status"] == "cancelled"
    customers = body_of(client.get("/v1/customers?externalId=C003", headers=WRITE))
    assert customers[0]["mandateReferences"] == ["MD0003", "MD0009"]

    for body, status in [
        ({"customerId": 99, "reference": "MD0010"}, 422),
        ({"customerId": 1, "providerId": 99, "reference": "MD0010"}, 422),
        ({"customerId": 1, "reference": "MD0010", "status": "happy"}, 422),
        ({"customerId": 1, "reference": "MD0001"}, 409),
    ]:
        response = client.post("/v1/site-payment-mandates", json=body, headers=WRITE)
        assert response.status_code == status, body
    assert rows(engine, t.mandates) == 4


def test_payment_link_amounts_are_exact_and_consistent(client: TestClient, engine: Engine) -> None:
    created = client.post(
        "/v1/payment-provider-payment-links",
        content=b'{"providerId": 1, "customerId": 1, "invoiceId": 2, "amount": 80.10,'
        b' "currency": "GBP", "url": "https://pay.example.com/l/NEW", "externalId": "PL9"}',
        headers={**WRITE, "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert '"amount":80.10' in created.text
    link = body_of(created)
    assert link["amount"] == Decimal("80.10")
    assert link["status"] == "open"
    patched = client.patch(
        f"/v1/payment-provider-payment-links/{link['id']}",
        json=[{"op": "replace", "path": "/amount", "value": "0.1234"}],
        headers=WRITE,
    )
    assert '"amount":0.1234' in patched.text
    with engine.connect() as conn:
        stored = conn.execute(
            select(a.payment_links.c.amount).where(a.payment_links.c.id == link["id"])
        ).scalar_one()
    assert stored == Decimal("0.1234")

    base = {"providerId": 1, "customerId": 1, "currency": "GBP", "url": "https://p.example/x"}
    for change, field in [
        ({"amount": "0"}, "amount"),
        ({"amount": "1.00001"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": "5", "currency": "EUR"}, "currency"),  # not the customer's currency
        ({"amount": "5", "invoiceId": 4}, "invoiceId"),  # another customer's invoice
        ({"amount": "5", "invoiceId": 99}, "invoiceId"),
        ({"amount": "5", "url": "javascript:alert(1)"}, "url"),
    ]:
        response = client.post(
            "/v1/payment-provider-payment-links", json={**base, **change}, headers=WRITE
        )
        assert response.status_code == 422, change
        assert field in response.text
    duplicate = client.post(
        "/v1/payment-provider-payment-links",
        json={**base, "amount": "5", "externalId": "PL1"},
        headers=WRITE,
    )
    assert duplicate.status_code == 409
    assert rows(engine, a.payment_links) == 4


def test_provider_secrets_are_stored_and_never_returned(client: TestClient, engine: Engine) -> None:
    token, hook = "tok-brand-new-0a1b2c3d4e", "whsec-brand-new-5f6a7b8c"
    bodies: list[str] = []

    def call(method: str, url: str, **kwargs: Any) -> Any:
        response = client.request(method, url, headers=ADMIN, **kwargs)
        bodies.append(response.text + repr(dict(response.headers)))
        return response

    created = call(
        "POST",
        "/v1/payment-providers",
        json={"name": "GoCardless Sandbox", "kind": "gocardless", "accessToken": token,
              "webhookSecret": hook, "baseUrl": "https://api-sandbox.gocardless.com"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    provider = body_of(created)
    assert "accessToken" not in provider
    assert "webhookSecret" not in provider
    assert provider["accessTokenSet"] is True
    assert provider["webhookSecretSet"] is True
    pid = provider["id"]
    call("GET", f"/v1/payment-providers/{pid}")
    call("GET", "/v1/payment-providers")
    call("GET", "/v1/payment-providers?fields=id,name,accessTokenSet")
    assert call("GET", "/v1/payment-providers?fields=accessToken").status_code == 422
    assert call("GET", f"/v1/payment-providers?accessToken={token}").status_code == 422
    # a patch can set a secret but never read one: `test` and `copy` see only null
    probe = call(
        "PATCH", f"/v1/payment-providers/{pid}",
        json=[{"op": "test", "path": "/accessToken", "value": token}],
    )  # fmt: skip
    assert probe.status_code == 409
    leak = call(
        "PATCH", f"/v1/payment-providers/{pid}",
        json=[{"op": "copy", "from": "/webhookSecret", "path": "/name"}],
    )  # fmt: skip
    assert leak.status_code == 422
    rotated = call(
        "PATCH", f"/v1/payment-providers/{pid}",
        json=[{"op": "replace", "path": "/accessToken", "value": token + "-rotated"},
              {"op": "remove", "path": "/webhookSecret"}],
    )  # fmt: skip
    assert rotated.status_code == 200
    assert body_of(rotated)["webhookSecretSet"] is False
    bad = call("POST", "/v1/payment-providers", json={"name": "", "accessToken": token})
    assert bad.status_code == 422
    for seeded in (1, 2):
        call("GET", f"/v1/payment-providers/{seeded}")
        call(
            "PATCH",
            f"/v1/payment-providers/{seeded}",
            json=[{"op": "add", "path": "/x", "value": 1}],
        )

    with engine.connect() as conn:
        stored = conn.execute(
            select(a.payment_providers.c.access_token, a.payment_providers.c.webhook_secret).where(
                a.payment_providers.c.id == pid
            )
        ).one()
    assert stored.webhook_secret is None
    assert token not in stored.access_token  # sealed at rest
    assert CREDENTIALS.box.open(stored.access_token) == token + "-rotated"
    for secret in (token, hook, *SEEDED_SECRETS):
        assert not [b for b in bodies if secret in b], f"{secret} appeared in a response"


def test_provider_delete(client: TestClient, engine: Engine) -> None:
    in_use = client.delete("/v1/payment-providers/1", headers=ADMIN)  # mandates and links use it
    assert in_use.status_code == 409
    assert rows(engine, a.payment_providers) == 3
    assert client.delete("/v1/payment-providers/3", headers=ADMIN).status_code == 204
    assert client.get("/v1/payment-providers/3", headers=ADMIN).status_code == 404
    assert client.delete("/v1/payment-providers/3", headers=ADMIN).status_code == 404
    duplicate = client.post(
        "/v1/payment-providers", json={"name": "Stripe Live", "kind": "stripe"}, headers=ADMIN
    )
    assert duplicate.status_code == 409


@pytest.mark.parametrize(
    "path",
    [
        "/v1/contract-owners/99",
        "/v1/billing-cycles/99",
        "/v1/payment-providers/99",
        "/v1/site-payment-mandates/99",
        "/v1/payment-provider-payment-links/99",
    ],
)
def test_unknown_ids_are_404(client: TestClient, path: str) -> None:
    assert client.get(path, headers=ADMIN).status_code == 404
    patch = client.patch(path, json=[{"op": "test", "path": "/id", "value": 99}], headers=ADMIN)
    assert patch.status_code == 404
    assert body_of(patch)["code"] == "not_found"
