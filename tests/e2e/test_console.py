"""The console in a real headless Chromium, over `payrecon demo`'s data in PostgreSQL and a
`payrecon api` process: each acceptance line of issue 15, with the database checked after the
action, a screenshot of each page (tests/e2e/console_browser.SCREENSHOTS) and axe-core finding
no serious or critical violation."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text

from payrecon.store.db import make_engine
from tests.e2e.api_server import serve_api
from tests.e2e.conftest import API_SECRET, BIN
from tests.e2e.console_browser import Console
from tests.services import pg_admin_dsn, pg_url
from tests.services.browser import WebDriver

pytestmark = pytest.mark.integration
USERS = {"alice": ("alice-password-1", "read,write,admin"), "rita": ("rita-password-1", "read")}


@dataclass
class Site:
    url: str
    engine: Engine


def _payrecon(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "payrecon"), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    name = f"payrecon_console_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    tmp = tmp_path_factory.mktemp("console")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")},
        "PAYRECON_DATABASE_URL": pg_url(name),
        "PAYRECON_BROKER_URL": "memory://",
        "PAYRECON_API_TOKEN_SECRET": API_SECRET,
        "PAYRECON_ENVIRONMENT": "test",
        "PAYRECON_FEED_STORE_DIR": str(tmp / "feeds"),
        "PAYRECON_INBOX_DIR": str(tmp / "inbox"),
    }
    engine = make_engine(pg_url(name))
    try:
        _payrecon(env, tmp, "demo", "--quiet")
        for user, (password, scopes) in USERS.items():
            _payrecon(
                env,
                tmp,
                "users",
                "add",
                user,
                "--scope",
                scopes,
                "--password-stdin",
                stdin=password + "\n",
            )
        with serve_api(tmp, pg_url(name)) as server:
            yield Site(server.url, engine)
    finally:
        engine.dispose()
        with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as(webdriver: WebDriver, site: Site, user: str) -> Console:
    console = Console(webdriver, site.url)
    console.sign_in(user, USERS[user][0])
    return console


def _accessible(console: Console) -> None:
    assert console.serious_violations() == []


def _waiting_line(engine: Engine, invoices: int) -> tuple[int, int]:
    """An unmatched credit line whose first suggested customer has `invoices`+ open
    invoices: (line id, customer id)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.id, s.customer_id FROM statement_lines l"
                " JOIN line_suggestions s ON s.statement_line_id = l.id"
                " WHERE l.status = 'unmatched' AND l.amount > 20"
                " ORDER BY l.id, s.score DESC"
            )
        ).all()
        seen: set[int] = set()
        for line_id, customer_id in rows:
            if line_id in seen:
                continue
            seen.add(line_id)
            open_invoices = conn.execute(
                text(
                    "SELECT count(*) FROM invoices i WHERE i.customer_id = :c AND i.total >"
                    " coalesce((SELECT sum(a.amount) FROM allocations a JOIN payments p"
                    " ON p.id = a.payment_id WHERE a.invoice_id = i.id AND p.status = 'active'), 0)"
                ),
                {"c": customer_id},
            ).scalar_one()
            if open_invoices >= invoices:
                return line_id, customer_id
    raise AssertionError(f"the demo has no waiting line whose payer has {invoices} open invoices")


def _line_state(engine: Engine, line_id: int) -> tuple[str, list[tuple[int, Decimal, str]]]:
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM statement_lines WHERE id = :l"), {"l": line_id}
        ).scalar_one()
        allocations = conn.execute(
            text(
                "SELECT a.invoice_id, a.amount, a.rule FROM allocations a JOIN payments p"
                " ON p.id = a.payment_id WHERE p.statement_line_id = :l ORDER BY a.id"
            ),
            {"l": line_id},
        ).all()
    return status, [(int(i), Decimal(a), str(r)) for i, a, r in allocations]


def _audit(engine: Engine, action: str, entity_id: object) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            (str(actor), reason)
            for actor, reason in conn.execute(
                text(
                    "SELECT actor, reason FROM audit_log WHERE action = :a AND entity_id = :e"
                    " ORDER BY id"
                ),
                {"a": action, "e": str(entity_id)},
            )
        ]


def test_sign_in_sets_a_strict_http_only_session(webdriver: WebDriver, site: Site) -> None:
    console = Console(webdriver, site.url)
    console.open("/console/review")
    assert "/console/sign-in" in console.url
    _accessible(console)
    console.screenshot("sign-in")
    console.type("#name", "alice")
    console.type("#password", "not-the-password")
    console.click("#sign-in")
    # the click returns once the form is sent, not once the answer is shown
    console.wait_for(lambda: console.exists(".error"), "the sign-in error")
    assert "The name or password is wrong." in console.text(".error")
    console.type("#name", "alice")
    console.type("#password", USERS["alice"][0] + "\ue007")  # Enter: the keyboard alone
    console.wait_for(lambda: console.url.endswith("/console/review"), "the review queue")
    cookie = console.cookie("payrecon_console")
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True  # outside development
    assert cookie["sameSite"] == "Strict"
    response = httpx.get(f"{site.url}/console/review")
    assert response.status_code == 303  # no session: to the sign-in page
    csp = httpx.get(f"{site.url}/console/sign-in").headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    # the database holds a hash, never the password
    with site.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash, scopes FROM console_users WHERE name = 'alice'")
        ).one()
    assert stored.password_hash.startswith("$argon2id$")
    assert stored.scopes == "admin read write"


def test_review_queue_and_a_one_invoice_match(webdriver: WebDriver, site: Site) -> None:
    console = _as(webdriver, site, "alice")
    console.open("/console/review")
    assert int(console.text("#queue-total")) > 0
    _accessible(console)
    console.screenshot("review-queue")
    webdriver.command("POST", "/window/rect", {"width": 820, "height": 1180})  # a tablet
    assert webdriver.execute("return document.documentElement.scrollWidth <= window.innerWidth")
    console.screenshot("review-queue-tablet")
    webdriver.command("POST", "/window/rect", {"width": 1280, "height": 1000})
    line_id, _customer_id = _waiting_line(site.engine, 1)
    console.click(f'a[href="/console/lines/{line_id}"]')
    console.wait_for(lambda: console.exists("#invoices"), "the line's open invoices")
    assert console.text("#remittance")
    _accessible(console)
    console.screenshot("line")
    first = console.all("#invoices button[id^='match-']")[0]
    invoice_id = int(
        webdriver.command("GET", f"/element/{first}/attribute/id").removeprefix("match-")
    )
    console.type("#reason", "remittance names this invoice")
    webdriver.command("POST", f"/element/{first}/click", {})
    console.wait_for(lambda: console.exists(".notice"), "the result")
    assert "Matched to 1 invoice" in console.text(".notice")
    assert console.text("#line-status") == "matched"
    status, allocations = _line_state(site.engine, line_id)
    assert status == "matched"
    assert [(i, r) for i, _, r in allocations] == [(invoice_id, "manual")]
    assert _audit(site.engine, "statement_line.matched", line_id) == [
        ("alice", "remittance names this invoice")
    ]


def test_a_split_across_two_invoices(webdriver: WebDriver, site: Site) -> None:
    console = _as(webdriver, site, "alice")
    line_id, customer_id = _waiting_line(site.engine, 2)
    console.open(f"/console/lines/{line_id}?customer={customer_id}")
    ids = [
        int(webdriver.command("GET", f"/element/{e}/attribute/id").removeprefix("match-"))
        for e in console.all("#invoices button[id^='match-']")
    ][:2]
    console.type(f"#amount-{ids[0]}", "10.00")
    console.type(f"#amount-{ids[1]}", "5.50")
    console.type("#reason", "customer said: two invoices")
    console.click("#split")
    console.wait_for(lambda: console.exists(".notice"), "the result")
    assert "Matched to 2 invoices" in console.text(".notice")
    status, allocations = _line_state(site.engine, line_id)
    assert status == "matched"
    assert [(i, a) for i, a, _ in allocations] == [
        (ids[0], Decimal("10.00")),
        (ids[1], Decimal("5.50")),
    ]
    assert _audit(site.engine, "statement_line.matched", line_id)[0][0] == "alice"


def test_undo_from_the_why_panel(webdriver: WebDriver, site: Site) -> None:
    with site.engine.connect() as conn:
        allocation_id, line_id, _invoice_id = conn.execute(
            text(
                "SELECT a.id, p.statement_line_id, a.invoice_id FROM allocations a"
                " JOIN payments p ON p.id = a.payment_id WHERE a.rule = 'invoice_reference_exact'"
                " AND p.status = 'active' AND p.statement_line_id IS NOT NULL"
                " AND (SELECT count(*) FROM allocations b WHERE b.payment_id = p.id) = 1"
                " ORDER BY a.id LIMIT 1"
            )
        ).one()
    console = _as(webdriver, site, "alice")
    console.open(f"/console/lines/{line_id}")
    console.click(f'a[href="/console/allocations/{allocation_id}"]')
    console.wait_for(lambda: console.exists("#why-panel"), "the why-panel")
    why = console.text("#why-panel")
    assert "invoice_reference_exact" in why
    assert "in the remittance text" in why
    assert "confidence" in why
    _accessible(console)
    console.screenshot("why-panel")
    console.type("#undo-reason", "wrong customer: a namesake")
    console.click("#undo")
    console.wait_for(lambda: console.exists(".notice"), "the result")
    assert "back in the review queue" in console.text(".notice")
    status, allocations = _line_state(site.engine, line_id)
    assert status == "unmatched"
    assert allocations == []
    with site.engine.connect() as conn:
        assert not conn.execute(
            text("SELECT count(*) FROM allocations WHERE id = :a"), {"a": allocation_id}
        ).scalar_one()
    assert _audit(site.engine, "allocation.deleted", allocation_id) == [
        ("alice", "wrong customer: a namesake")
    ]


def test_a_customer_statement_printable_and_as_csv(webdriver: WebDriver, site: Site) -> None:
    with site.engine.connect() as conn:
        customer_id, balance = conn.execute(
            text("SELECT customer_id, balance FROM customer_balances ORDER BY balance LIMIT 1")
        ).one()
    console = _as(webdriver, site, "rita")
    console.open(f"/console/customers/{customer_id}")
    assert console.exists("#statement-table")
    assert console.text("#closing") == f"{Decimal(balance):,.2f}"
    _accessible(console)
    console.screenshot("customer-statement")
    session = console.cookie("payrecon_console")["value"]
    href = webdriver.command("GET", f"/element/{console.find('#statement-csv')}/property/href")
    response = httpx.get(href, cookies={"payrecon_console": session})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["type"] == "opening_balance"
    closing = next(r for r in rows if r["type"] == "closing_balance")
    assert Decimal(closing["balance"]) == Decimal(balance)


def test_an_admin_triggers_a_task(webdriver: WebDriver, site: Site) -> None:
    console = _as(webdriver, site, "alice")
    console.open("/console")
    assert console.exists("#match-rate")
    _accessible(console)
    console.screenshot("dashboard")
    console.click("#trigger-age_review_queue")
    console.wait_for(lambda: console.exists(".notice"), "the result")
    assert "started" in console.text(".notice")
    with site.engine.connect() as conn:
        triggers = conn.execute(
            text("SELECT actor, idempotency_key FROM task_triggers WHERE task = 'age_review_queue'")
        ).all()
        runs = conn.execute(
            text("SELECT count(*) FROM task_runs WHERE name = 'age_review_queue'")
        ).scalar_one()
    assert [t.actor for t in triggers] == ["alice"]
    assert triggers[0].idempotency_key.endswith("-age_review_queue")
    assert runs >= 1


def test_read_scope_sees_no_action_and_a_forged_post_is_403(
    webdriver: WebDriver, site: Site
) -> None:
    line_id, customer_id = _waiting_line(site.engine, 1)
    console = _as(webdriver, site, "rita")
    console.open(f"/console/lines/{line_id}?customer={customer_id}")
    assert console.exists("#invoices")
    assert not console.exists("#match-form")
    assert not console.exists("button[id^='match-']")
    console.open("/console")
    assert not console.exists("#triggers")
    with site.engine.connect() as conn:
        allocation_id = conn.execute(text("SELECT min(id) FROM allocations")).scalar_one()
    console.open(f"/console/allocations/{allocation_id}")
    assert console.exists("#why-panel")
    assert not console.exists("#undo")
    csrf = webdriver.execute("return document.querySelector('input[name=csrf]').value")
    forged = {"customer": str(customer_id), "action": "account", "reason": "forged"}
    # without the CSRF token, and with the reader's own: both refused
    assert console.post_from_page(f"/console/lines/{line_id}/match", forged) == 403
    assert (
        console.post_from_page(f"/console/lines/{line_id}/match", {**forged, "csrf": csrf}) == 403
    )
    assert console.post_from_page("/console/tasks/audit_ledger", {"csrf": csrf}) == 403
    assert _line_state(site.engine, line_id) == ("unmatched", [])
    assert _audit(site.engine, "statement_line.matched", line_id) == []
    console.open("/console/no-such-page")
    assert "Page not found" in console.text("h1")
    _accessible(console)


def _waiting_provider_payment(engine: Engine) -> tuple[str, int, int]:
    """A collected GoCardless payment whose mandate names no known customer, for the amount of
    an open invoice: (review-queue item id, the invoice's customer, the invoice)."""
    with engine.begin() as conn:
        customer_id, invoice_id, amount, currency = conn.execute(
            text(
                "SELECT i.customer_id, i.id, i.total, i.currency FROM invoices i"
                " WHERE NOT EXISTS (SELECT 1 FROM allocations a WHERE a.invoice_id = i.id)"
                " ORDER BY i.id LIMIT 1"
            )
        ).one()
        provider_id = conn.execute(
            text(
                "INSERT INTO payment_providers (name, kind, enabled, created_at, updated_at)"
                " VALUES ('GoCardless (console test)', 'gocardless', false, now(), now())"
                " RETURNING id"
            )
        ).scalar_one()
        payment_id = conn.execute(
            text(
                "INSERT INTO provider_payments (provider_id, external_id, amount, currency,"
                " status, mandate_external_id, charge_date, provider_created_at, fetched_at,"
                " reference, review_reason) VALUES (:p, 'PM00CONSOLE1', :a, :c, 'confirmed',"
                " 'MD00UNKNOWN', current_date, now(), now(), 'monthly',"
                " 'no customer known for mandate MD00UNKNOWN') RETURNING id"
            ),
            {"p": provider_id, "a": amount, "c": currency},
        ).scalar_one()
    return f"provider-{payment_id}", int(customer_id), int(invoice_id)


def test_a_provider_payment_from_the_queue(webdriver: WebDriver, site: Site) -> None:
    item_id, customer_id, invoice_id = _waiting_provider_payment(site.engine)
    console = _as(webdriver, site, "alice")
    console.open("/console/review?source=gocardless")
    console.click(f'a[href="/console/items/{item_id}"]')
    console.wait_for(lambda: console.exists("#customer"), "the provider payment")
    assert "no customer known for mandate" in console.text("main")
    console.type("#customer", str(customer_id))
    console.click("form.inline button")
    console.wait_for(lambda: console.exists(f"#match-{invoice_id}"), "the customer's invoices")
    _accessible(console)
    console.type("#reason", "mandate belongs to this customer")
    console.click(f"#match-{invoice_id}")
    console.wait_for(lambda: console.exists(".notice"), "the result")
    assert "Matched to 1 invoice" in console.text(".notice")
    with site.engine.connect() as conn:
        payment_id = conn.execute(
            text("SELECT payment_id FROM provider_payments WHERE id = :i"),
            {"i": int(item_id.removeprefix("provider-"))},
        ).scalar_one()
        allocated = (
            conn.execute(
                text("SELECT invoice_id FROM allocations WHERE payment_id = :p"), {"p": payment_id}
            )
            .scalars()
            .all()
        )
        actors = (
            conn.execute(
                text(
                    "SELECT actor FROM audit_log WHERE reason = 'mandate belongs to this customer'"
                )
            )
            .scalars()
            .all()
        )
    assert payment_id is not None
    assert allocated == [invoice_id]
    assert actors
    assert set(actors) == {"alice"}


def test_a_line_put_on_the_customers_account(webdriver: WebDriver, site: Site) -> None:
    line_id, customer_id = _waiting_line(site.engine, 0)
    console = _as(webdriver, site, "alice")
    console.open(f"/console/lines/{line_id}?customer={customer_id}")
    console.type("#reason", "prepayment, invoices to follow")
    console.click("#on-account")
    console.wait_for(lambda: console.exists(".notice"), "the result")
    assert "Put on the customer's account." in console.text(".notice")
    assert _line_state(site.engine, line_id) == ("matched", [])
    with site.engine.connect() as conn:
        payment = conn.execute(
            text(
                "SELECT p.customer_id, p.amount, p.unused_amount, l.amount AS line_amount"
                " FROM payments p JOIN statement_lines l ON l.id = p.statement_line_id"
                " WHERE p.statement_line_id = :l"
            ),
            {"l": line_id},
        ).one()
    assert payment.customer_id == customer_id
    assert payment.unused_amount == payment.amount == payment.line_amount
    assert _audit(site.engine, "statement_line.matched", line_id) == [
        ("alice", "prepayment, invoices to follow")
    ]
