"""Provider secrets (issue 12): sealed at rest, opened only for a client on one of the provider's
own hosts over https; changing where the token goes clears it; the migration seals what was
stored before; a key rotation re-seals everything."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from payrecon.api.app import create_app
from payrecon.bootstrap import Container, provider_credentials
from payrecon.config import DEVELOPMENT_SECRETS_KEY, Settings
from payrecon.domain.errors import InvalidInput
from payrecon.services.providers.credentials import check_base_url, reseal_provider_secrets
from payrecon.services.providers.sync import provider_clients, sync_provider
from payrecon.store import admin_tables as a
from payrecon.store.db import alembic_config, make_engine, upgrade_schema
from payrecon.store.secrets import SecretBox, SecretUnreadable
from tests.integration.test_admin_lists import SECRET, admin_client, bearer, body_of
from tests.integration.test_provider_sync import CREDENTIALS, NO_WAIT, add_provider

ADMIN = bearer("admin")
TOKEN = "live-token-that-must-not-travel"
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    return admin_client(engine, tmp_path)


def create(client: TestClient, **fields: Any) -> Any:
    body = {"name": "GC", "kind": "gocardless", "accessToken": TOKEN, **fields}
    return client.post("/v1/payment-providers", json=body, headers=ADMIN)


def patch(client: TestClient, pid: int, *operations: dict[str, Any]) -> Any:
    return client.patch(f"/v1/payment-providers/{pid}", json=list(operations), headers=ADMIN)


def stored_token(engine: Engine, pid: int) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(a.payment_providers.c.access_token).where(a.payment_providers.c.id == pid)
        ).scalar_one()
    return None if value is None else str(value)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("gocardless", "http://api.gocardless.com"),
        ("gocardless", "https://evil.example"),
        ("gocardless", "https://api.gocardless.com.evil.example"),
        ("gocardless", "https://user:pw@api.gocardless.com"),
        ("stripe", "https://api.gocardless.com"),
        ("openbanking", "https://api.stripe.com"),
        ("bank", "http://files.example"),
        ("gocardless", "https://api.gocardless.com:99999"),
    ],
)
def test_a_base_url_off_the_providers_hosts_is_refused(kind: str, url: str) -> None:
    with pytest.raises(InvalidInput):
        check_base_url(kind, url, local_sandbox_allowed=True)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("gocardless", "https://api.gocardless.com"),
        ("gocardless", "https://api-sandbox.gocardless.com/"),
        ("stripe", "https://api.stripe.com"),
        ("openbanking", "https://bankaccountdata.gocardless.com"),
        ("bank", "https://files.example"),
        ("gocardless", None),
    ],
)
def test_the_providers_own_hosts_are_accepted(kind: str, url: str | None) -> None:
    check_base_url(kind, url, local_sandbox_allowed=False)


def test_the_local_sandbox_only_where_allowed() -> None:
    check_base_url("stripe", "http://127.0.0.1:8765/stripe", local_sandbox_allowed=True)
    check_base_url("gocardless", "http://localhost:8765", local_sandbox_allowed=True)
    with pytest.raises(InvalidInput, match="development and test"):
        check_base_url("stripe", "http://127.0.0.1:8765/stripe", local_sandbox_allowed=False)
    assert Settings(environment="test").local_sandbox_allowed
    assert not production_settings().local_sandbox_allowed


def production_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "api_token_secret": SECRET,
        "broker_url": "redis://127.0.0.1:6379/0",
        "secrets_key": Fernet.generate_key().decode(),
        **overrides,
    }
    return Settings(**values)


def test_production_refuses_the_development_key_and_a_bad_key() -> None:
    with pytest.raises(ValueError, match="not the development key"):
        production_settings(secrets_key=DEVELOPMENT_SECRETS_KEY)
    with pytest.raises(ValueError, match="not a Fernet key"):
        production_settings(secrets_key="changeme")
    with pytest.raises(ValueError, match="no key"):
        Settings(secrets_key="")


def test_the_api_seals_secrets_and_refuses_other_hosts(client: TestClient, engine: Engine) -> None:
    refused = create(client, baseUrl="http://evil.example")
    assert refused.status_code == 422, refused.text
    assert refused.json()["details"]["field"] == "baseUrl"
    created = create(client, baseUrl="https://api-sandbox.gocardless.com", webhookSecret="wh")
    assert created.status_code == 201, created.text
    pid = body_of(created)["id"]
    sealed = stored_token(engine, pid)
    assert sealed is not None
    assert TOKEN not in sealed
    assert CREDENTIALS.box.open(sealed) == TOKEN
    moved = patch(client, pid, {"op": "replace", "path": "/baseUrl", "value": "http://evil.test"})
    assert moved.status_code == 422
    assert CREDENTIALS.box.open(stored_token(engine, pid) or "") == TOKEN  # nothing written


def test_a_new_destination_clears_the_token(client: TestClient, engine: Engine) -> None:
    pid = body_of(create(client, baseUrl="https://api-sandbox.gocardless.com"))["id"]
    renamed = patch(client, pid, {"op": "replace", "path": "/name", "value": "GC live"})
    assert body_of(renamed)["accessTokenSet"] is True
    moved = patch(
        client, pid, {"op": "replace", "path": "/baseUrl", "value": "https://api.gocardless.com"}
    )
    assert moved.status_code == 200, moved.text
    assert body_of(moved)["accessTokenSet"] is False
    assert stored_token(engine, pid) is None
    # A new URL and a new token in one patch: the new token is kept.
    both = patch(
        client,
        pid,
        {"op": "replace", "path": "/baseUrl", "value": "https://api-sandbox.gocardless.com"},
        {"op": "add", "path": "/accessToken", "value": "sandbox-token-2"},
    )
    assert body_of(both)["accessTokenSet"] is True
    assert CREDENTIALS.box.open(stored_token(engine, pid) or "") == "sandbox-token-2"
    # The kind decides the default host: a Stripe key must not go to GoCardless.
    stripe = body_of(create(client, name="S", kind="stripe", accessToken="sk_live_x"))["id"]
    rekinded = patch(client, stripe, {"op": "replace", "path": "/kind", "value": "gocardless"})
    assert body_of(rekinded)["accessTokenSet"] is False


def test_a_bad_url_already_stored_never_receives_the_token(engine: Engine) -> None:
    pid = add_provider(engine, "gocardless", "http://evil.example", token=TOKEN)
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={})

    with (
        httpx.Client(transport=httpx.MockTransport(record)) as http,
        pytest.raises(InvalidInput, match="must use https"),
    ):
        sync_provider(engine, pid, provider_clients(http, CREDENTIALS, policy=NO_WAIT))
    assert requests == []


def test_production_credentials_refuse_the_sandbox_at_poll_time(engine: Engine) -> None:
    settings = production_settings()
    credentials = provider_credentials(settings)
    pid = add_provider(engine, "stripe", "http://127.0.0.1:9/stripe", token=TOKEN)
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http,
        pytest.raises(InvalidInput, match="local sandbox"),
    ):
        sync_provider(engine, pid, provider_clients(http, credentials, policy=NO_WAIT))


def test_a_production_api_refuses_the_sandbox_url(engine: Engine, tmp_path: Path) -> None:
    settings = production_settings(feed_store_dir=tmp_path / "store")
    client = TestClient(create_app(Container(settings=settings, engine=engine)))
    refused = create(client, baseUrl="http://127.0.0.1:8765/gocardless")
    assert refused.status_code == 422, refused.text


def test_rotation_reseals_every_secret_with_the_new_key(engine: Engine) -> None:
    old = SecretBox([DEVELOPMENT_SECRETS_KEY])
    new_key = Fernet.generate_key().decode()
    pid = add_provider(engine, "gocardless", "https://api.gocardless.com", token=TOKEN, secret="w")
    ring = SecretBox([new_key, DEVELOPMENT_SECRETS_KEY])
    assert ring.open(stored_token(engine, pid) or "") == TOKEN  # the old key still opens
    assert reseal_provider_secrets(engine, ring) == 2
    only_new = SecretBox([new_key])
    assert only_new.open(stored_token(engine, pid) or "") == TOKEN
    with pytest.raises(SecretUnreadable):
        old.open(stored_token(engine, pid) or "")


def test_the_migration_seals_stored_plaintext_and_the_downgrade_opens_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_schema(url, "0013_payout_settlement")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(a.payment_providers).values(
                name="old", kind="stripe", enabled=True, access_token=TOKEN,
                webhook_secret="whsec_old", created_at=T0, updated_at=T0,
            )
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="payrecon db upgrade"):
        upgrade_schema(url)  # secrets on file, and no key ring to seal them with
    keys = [DEVELOPMENT_SECRETS_KEY]
    upgrade_schema(url, secrets_keys=keys)
    box = SecretBox(keys)
    with engine.connect() as conn:
        row = conn.execute(select(a.payment_providers)).one()
    assert TOKEN not in row.access_token
    assert box.open(row.access_token) == TOKEN
    assert box.open(row.webhook_secret) == "whsec_old"
    command.downgrade(alembic_config(url, secrets_keys=keys), "0013_payout_settlement")
    with engine.connect() as conn:
        row = conn.execute(select(a.payment_providers)).one()
    assert (row.access_token, row.webhook_secret) == (TOKEN, "whsec_old")
    engine.dispose()
