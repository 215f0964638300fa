"""The console's sign-in and guards without a browser (the browser tests are
tests/e2e/test_console.py): users and their hashes, sessions from a password or an API token,
CSRF on every post, the security headers, redirects only inside the console, a disabled user
signed out at once, the session cookie refused as a bearer token; empty pages that say what to
do next. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from payrecon.api.app import create_app
from payrecon.api.console.session import COOKIE
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.domain.errors import Conflict, InvalidInput
from payrecon.services.operations.console_users import add_user, authenticate
from payrecon.store.audit_tables import audit_log
from payrecon.store.console_tables import console_users
from tests.integration.test_api_balances import SECRET, bearer


def client_for(engine: Engine, tmp: Path, environment: str = "test") -> TestClient:
    settings = Settings(
        api_token_secret=SECRET,
        feed_store_dir=tmp / "store",
        environment=environment,  # type: ignore[arg-type]
        broker_url="memory://",
        secrets_key=Fernet.generate_key().decode(),
    )
    return TestClient(
        create_app(Container(settings=settings, engine=engine)), base_url="https://testserver"
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, **fields: str) -> TestClient:
    form = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "next": "/console/review", **fields},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    return client


def test_users_keep_an_argon2id_hash_and_a_name_once(engine: Engine) -> None:
    add_user(engine, "ann", "long-password", ["read", "write"])
    with engine.connect() as conn:
        row = conn.execute(select(console_users)).one()
        audited = conn.execute(select(audit_log.c.action, audit_log.c.entity_id)).all()
    assert row.password_hash.startswith("$argon2id$")
    assert "long-password" not in row.password_hash
    assert row.scopes == "read write"
    assert [tuple(a) for a in audited] == [("console_user.added", "ann")]
    assert authenticate(engine, "ann", "long-password") is not None
    assert authenticate(engine, "ann", "wrong-password") is None
    assert authenticate(engine, "nobody", "long-password") is None
    with pytest.raises(Conflict):
        add_user(engine, "ann", "another-password", ["read"])
    with pytest.raises(InvalidInput):
        add_user(engine, "bob", "short", ["read"])
    with pytest.raises(InvalidInput):
        add_user(engine, "bob", "long-password", ["root"])


def test_a_session_from_a_password_with_its_cookie_flags(engine: Engine, tmp_path: Path) -> None:
    add_user(engine, "ann", "long-password", ["read"])
    client = client_for(engine, tmp_path)
    login = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(login.text), "name": "ann", "password": "long-password"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=strict" in cookie
    page = client.get("/console/review")
    assert page.status_code == 200
    assert "Nothing waits for review" in page.text  # the empty state says what comes next
    headers = page.headers
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    # the console cookie is no API token
    assert (
        client.get(
            "/v1/customers", headers={"Authorization": f"Bearer {client.cookies[COOKIE]}"}
        ).status_code
        == 401
    )


def test_development_cookies_are_not_secure(engine: Engine, tmp_path: Path) -> None:
    add_user(engine, "ann", "long-password", ["read"])
    client = client_for(engine, tmp_path, "development")
    login = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(login.text), "name": "ann", "password": "long-password"},
        follow_redirects=False,
    )
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "Secure" not in cookie


def test_sign_in_refuses_a_wrong_password_a_missing_token_and_a_foreign_next(
    engine: Engine, tmp_path: Path
) -> None:
    add_user(engine, "ann", "long-password", ["read"])
    client = client_for(engine, tmp_path)
    login = client.get("/console/sign-in")
    wrong = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(login.text), "name": "ann", "password": "nope-nope"},
    )
    assert wrong.status_code == 401
    assert "The name or password is wrong." in wrong.text
    no_csrf = client.post("/console/sign-in", data={"name": "ann", "password": "long-password"})
    assert no_csrf.status_code == 403
    login = client.get("/console/sign-in")
    away = client.post(
        "/console/sign-in",
        data={
            "csrf": csrf_of(login.text),
            "name": "ann",
            "password": "long-password",
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert away.headers["location"] == "/console"


def test_an_api_token_signs_in_with_its_scopes(engine: Engine, tmp_path: Path) -> None:
    client = client_for(engine, tmp_path)
    token = bearer("read")["Authorization"].removeprefix("Bearer ")
    sign_in(client, token=token)
    dashboard = client.get("/console")
    assert dashboard.status_code == 200
    assert 'id="triggers"' not in dashboard.text  # read: no task buttons
    forged = client.post("/console/tasks/audit_ledger", data={"csrf": csrf_of(dashboard.text)})
    assert forged.status_code == 403
    assert "needs the admin scope" in forged.text
    admin = client_for(engine, tmp_path)
    sign_in(admin, token=bearer("admin")["Authorization"].removeprefix("Bearer "))
    assert 'id="triggers"' in admin.get("/console").text


def test_posts_without_the_csrf_token_are_403(engine: Engine, tmp_path: Path) -> None:
    add_user(engine, "ann", "long-password", ["read", "write"])
    client = sign_in(client_for(engine, tmp_path), name="ann", password="long-password")
    for path in ("/console/lines/1/match", "/console/allocations/1/undo"):
        assert client.post(path, data={"reason": "x"}).status_code == 403
        assert client.post(path, data={"reason": "x", "csrf": "guess"}).status_code == 403
    csrf = csrf_of(client.get("/console").text)
    missing = client.post("/console/allocations/1/undo", data={"reason": "x", "csrf": csrf})
    assert missing.status_code == 404
    assert "No such allocation" in missing.text


def test_a_disabled_user_is_signed_out_at_once(engine: Engine, tmp_path: Path) -> None:
    add_user(engine, "ann", "long-password", ["read"])
    client = sign_in(client_for(engine, tmp_path), name="ann", password="long-password")
    assert client.get("/console/review").status_code == 200
    with engine.begin() as conn:
        conn.execute(update(console_users).values(disabled=True))
    response = client.get("/console/review", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")


def test_unknown_pages_and_values_answer_in_the_console_look(
    engine: Engine, tmp_path: Path
) -> None:
    add_user(engine, "ann", "long-password", ["read"])
    client = sign_in(client_for(engine, tmp_path), name="ann", password="long-password")
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert client.get("/console/lines/999").status_code == 404
    assert client.get("/console/customers/999").status_code == 404
    escaped = client.get("/console/review", params={"reason": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in escaped.text
    assert "&lt;script&gt;" in escaped.text
    for age in ("0-2d", "3-6d", "7-29d", "30d+"):
        assert client.get("/console/review", params={"age": age, "owner": "1"}).status_code == 200
    assert client.get("/console/static/console.css").status_code == 200
    # a notice is shown only as the console signed it after an action
    forged = client.get("/console/review", params={"notice": "Call 0800 FRAUD", "sig": "0" * 32})
    assert "Call 0800 FRAUD" not in forged.text
