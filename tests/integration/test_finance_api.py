"""Issue #14's findings 4-8 through the API, on SQLite and PostgreSQL: the audit that alarms,
task runs on the list language, rounding at the edges, the seed fields still missing, the
statement of account (equal, line by line, to the balance the API reports at each date), the
review-queue export, tolerances per owner and open-banking accounts."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, insert, select, update

from payrecon.api.app import create_app
from payrecon.api.auth import issue_token
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.services.ledger.audit import audit_ledger
from payrecon.services.operations.task_runs import recorded_run
from payrecon.services.providers.payouts import retry_lines_waiting_for_items
from payrecon.services.rules import rule_book
from payrecon.store import tables as t
from tests.integration.test_provider_sync import (
    add_provider,
    seed_customer,
    seed_invoice,
    seed_owner,
)

D = Decimal
SECRET = "test-secret-for-the-finance-tests-0123456789"
T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)


def _headers(scope: str) -> dict[str, str]:
    token = issue_token(SECRET, [scope], ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


READ, WRITE, ADMIN = _headers("read"), _headers("write"), _headers("admin")


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    settings = Settings(api_token_secret=SECRET, feed_store_dir=tmp_path / "s", environment="test")
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return json.loads(response.text, parse_float=Decimal)


def _run_audit(engine: Engine) -> int:
    """The audit task's body (`worker.tasks.audit_ledger`): a recorded run of the audit."""
    with recorded_run(engine, "audit_ledger", task_id=None, params={}) as run:
        run.counts = audit_ledger(engine).as_counts()
    assert run.run_id is not None
    return run.run_id


def test_an_audit_with_breaches_ends_breached_counts_them_and_lists_them(
    engine: Engine, client: TestClient
) -> None:
    owner = seed_owner(engine)
    customer = seed_customer(engine, owner, "breached")
    invoice = seed_invoice(engine, customer, "INV-B1", "10.00", due=date(2024, 2, 1))
    clean = _run_audit(engine)
    assert ok(client.get(f"/v1/task-runs/{clean}", headers=ADMIN))["status"] == "succeeded"
    with engine.begin() as conn:  # behind the services' back: 15.00 of a 12.00 payment
        payment = conn.execute(
            insert(t.payments)
            .values(customer_id=customer, source="manual", date=date(2024, 1, 2),
                    amount=D("12.00"), currency="GBP", exchange_rate=D(1), bank_charges=D(0),
                    tax_amount_withheld=D(0), unused_amount=D(0), created_at=T0)
            .returning(t.payments.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            insert(t.allocations).values(
                payment_id=payment, invoice_id=invoice, amount=D("15.00"), currency="GBP",
                rule="manual", confidence=D(1), evidence={}, created_at=T0,
            )
        )  # fmt: skip
        conn.execute(update(t.invoices).values(open_amount=D(0)))

    run_id = _run_audit(engine)

    run = ok(client.get(f"/v1/task-runs/{run_id}", headers=ADMIN))
    assert run["status"] == "breached"
    found = {(b["invariant"], b["entity"], b["entityId"]) for b in run["breaches"]}
    assert ("payment_over_applied", "payment", payment) in found
    assert ("invoice_over_allocated", "invoice", invoice) in found
    metrics = client.get("/metrics").text
    assert f"payrecon_ledger_breaches {float(len(run['breaches']))}" in metrics
    breached = ok(client.get("/v1/task-runs?status=breached", headers=ADMIN))
    assert [r["id"] for r in breached] == [run_id]


def test_task_runs_speak_the_list_language(engine: Engine, client: TestClient) -> None:
    for name in ("audit_ledger", "poll_provider", "poll_providers"):
        with recorded_run(engine, name, task_id=f"t-{name}", params={}) as run:
            run.counts = {"n": 1}
    listed = client.get("/v1/task-runs?fields=id,name", headers=ADMIN)
    assert {tuple(sorted(r)) for r in ok(listed)} == {("id", "name")}
    assert listed.headers["X-Total-Count"] == "3"
    assert [
        r["name"] for r in ok(client.get("/v1/task-runs?name=like:poll&sort=name", headers=ADMIN))
    ] == [
        "poll_provider",
        "poll_providers",
    ]
    for bad in ("sort=bogus", "fields=id,bogus", "bogus=1", "status=in:"):
        response = client.get(f"/v1/task-runs?{bad}", headers=ADMIN)
        assert response.status_code == 422, bad
    assert (
        client.head("/v1/task-runs?name=audit_ledger", headers=ADMIN).headers["X-Total-Count"]
        == "1"
    )


def test_amounts_respect_the_currencys_minor_unit_and_figures_the_owners_rule(
    engine: Engine, client: TestClient
) -> None:
    owner = seed_owner(engine)
    customer = seed_customer(engine, owner, "rounding")
    with engine.begin() as conn:
        conn.execute(update(t.contract_owners).values(price_decimal_places=3))
    paid = ok(
        client.post(
            "/v1/customer-payments",
            json={"customerId": customer, "amount": "1.235", "date": "2024-01-05"},
            headers=WRITE,
        )
    )
    assert paid["amount"] == D("1.24")  # GBP has two places, whatever the owner's places
    with engine.begin() as conn:  # an invoice of three places, recorded while the owner had three
        conn.execute(
            insert(t.invoices).values(
                external_id="INV-R1", invoice_number="INV-R1", customer_id=customer,
                issue_date=date(2024, 1, 1), due_date=date(2024, 2, 1), currency="GBP",
                total=D("60.613"), open_amount=D("60.613"), created_at=T0,
            )
        )  # fmt: skip
        conn.execute(update(t.contract_owners).values(price_decimal_places=2))
    from payrecon.services.ledger.balances import recompute_balances

    recompute_balances(engine, customer_ids=[customer])
    balance = ok(client.get(f"/v1/customer-balances?customer_id={customer}", headers=READ))
    assert balance["balance"] == D("-59.37")  # -59.373 shown by the owner's rule


def test_seed_fields_timestamps_and_adjustment_fields(engine: Engine, client: TestClient) -> None:
    owner = seed_owner(engine)
    customer = seed_customer(engine, owner, "seedy")
    seed_invoice(engine, customer, "INV-00957", "80.00", due=date(2024, 2, 1))
    other = seed_customer(engine, owner, "other")
    seed_invoice(engine, other, "INV-01957", "80.00", due=date(2024, 2, 1))
    note = ok(
        client.post(
            "/v1/credit-notes",
            content=json.dumps(
                {"customerID": customer, "Date": "05 Apr 2016", "CurrencyCode": "GBP",
                 "Amount": 50, "CreditNumber": "424242424242424",
                 "Allocations": [{"amountApplied": 50, "invoiceNumber": 957}]}
            ),
            headers={**WRITE, "Content-Type": "application/json"},
        )
    )  # fmt: skip
    assert [a["invoiceNumber"] for a in note["allocations"]] == ["INV-00957"]
    made = ok(
        client.post(
            "/v1/customer-balance-adjustments",
            json={"customerId": customer, "amountInMajorCurrency": "5.00", "description": "x"},
            headers=WRITE,
        )
    )
    assert set(made) == {"id", "customerId", "amountInMajorCurrency", "currencyId", "description"}
    listed = ok(
        client.get(
            "/v1/customer-balance-adjustments?fields=createdAt,currencyCode&currencyCode=GBP",
            headers=READ,
        )
    )
    assert listed[0]["currencyCode"] == "GBP"
    assert listed[0]["createdAt"].endswith("+00:00")
    status = ok(client.get(f"/v1/customer-credit-status?customer_id={customer}", headers=READ))
    assert status["changedAt"].endswith("+00:00")


def _ledger_over_dates(engine: Engine, client: TestClient) -> int:
    owner = seed_owner(engine)
    customer = seed_customer(engine, owner, "statement")
    with engine.begin() as conn:
        for number, issued, due, total in (
            ("INV-S1", date(2024, 1, 1), date(2024, 1, 31), "100.00"),
            ("INV-S2", date(2024, 2, 1), date(2024, 3, 2), "250.00"),
            ("INV-S3", date(2024, 4, 1), date(2024, 5, 1), "40.00"),
        ):
            conn.execute(
                insert(t.invoices).values(
                    external_id=number, invoice_number=number, customer_id=customer,
                    issue_date=issued, due_date=due, currency="GBP", total=D(total),
                    open_amount=D(total), created_at=T0,
                )
            )  # fmt: skip
    invoices = {
        i["invoiceNumber"]: i["id"]
        for i in ok(client.get(f"/v1/invoices?customerId={customer}", headers=READ))
    }
    paid = ok(
        client.post(
            "/v1/customer-payments",
            json={"customerId": customer, "amount": "120.00", "date": "2024-01-20",
                  "invoices": [{"invoiceId": invoices["INV-S1"], "amountApplied": "100.00"}]},
            headers=WRITE,
        )
    )  # fmt: skip
    ok(
        client.post(
            "/v1/refunds",
            json={"paymentId": paid["id"], "amount": "15.00", "date": "2024-02-10"},
            headers=WRITE,
        )
    )
    ok(
        client.post(
            "/v1/credit-notes",
            json={"customerId": customer, "date": "2024-02-15", "currencyCode": "GBP",
                  "amount": "30.00", "creditNumber": "4242", "allocations": [
                      {"invoiceId": invoices["INV-S2"], "amountApplied": "30.00"}]},
            headers=WRITE,
        )
    )  # fmt: skip
    ok(
        client.post(
            "/v1/exchange-rates",
            json={"baseCurrency": "EUR", "quoteCurrency": "GBP", "rate": "0.85",
                  "validFrom": "2024-01-01"},
            headers=ADMIN,
        )
    )  # fmt: skip
    ok(
        client.post(
            "/v1/customer-payments",
            json={"customerId": customer, "amount": "100.00", "currencyCode": "EUR",
                  "date": "2024-03-05"},
            headers=WRITE,
        )
    )  # fmt: skip
    return customer


def test_the_statement_of_account_equals_the_balance_at_each_date(
    engine: Engine, client: TestClient
) -> None:
    customer = _ledger_over_dates(engine, client)
    statement = ok(
        client.get(
            f"/v1/customers/{customer}/statement?from=2024-01-15&to=2024-04-30", headers=READ
        )
    )
    kinds = [e["type"] for e in statement["entries"]]
    assert kinds == ["payment", "invoice", "refund", "credit_note", "payment", "invoice"]
    assert statement["openingBalance"] == D("-100.00")  # INV-S1, issued before `from`
    last_on: dict[str, Decimal] = {}
    for entry in statement["entries"]:
        last_on[entry["date"]] = entry["balance"]
    for day, balance in last_on.items():
        reported = ok(
            client.get(f"/v1/customer-balances?customer_id={customer}&as_of={day}", headers=READ)
        )
        assert reported["balance"] == balance, day
    now = ok(client.get(f"/v1/customer-balances?customer_id={customer}", headers=READ))
    assert statement["closingBalance"] == now["balance"] == D("-170.00")
    eur = statement["entries"][4]
    assert (eur["amount"], eur["originalAmount"], eur["originalCurrency"]) == (
        D("85.00"),
        D("100.00"),
        "EUR",
    )
    # As of 30 April: INV-S2 (due 2 March) has 220.00 open, 59 days past due; INV-S3 is current.
    assert statement["ageing"] == {
        "current": D("40.00"), "1-30": D("0.00"), "31-60": D("220.00"), "61-90": D("0.00"),
        "90+": D("0.00"),
    }  # fmt: skip
    csv = client.get(
        f"/v1/customers/{customer}/statement?from=2024-01-15&to=2024-04-30&format=csv",
        headers=READ,
    )
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("date,type,id,reference")
    assert lines[1].startswith("2024-01-15,opening_balance")
    assert any(line.startswith("2024-04-30,closing_balance") for line in lines)


def _unmatched_line(engine: Engine, payer: str, reason: str) -> int:
    with engine.begin() as conn:
        feed = conn.execute(
            insert(t.feed_files)
            .values(sha256=payer.encode().hex().ljust(64, "0")[:64], filename="f.xml",
                    status="processed", received_at=T0)
            .returning(t.feed_files.c.id)
        ).scalar_one()  # fmt: skip
        return int(
            conn.execute(
                insert(t.statement_lines)
                .values(feed_file_id=feed, seq=1, account="GB00TEST", external_id=f"X-{payer}",
                        booking_date=date(2024, 1, 3), amount=D("12.34"), currency="GBP",
                        counterparty_name=payer, remittance="thanks", status="unmatched",
                        reason=reason, created_at=T0)
                .returning(t.statement_lines.c.id)
            ).scalar_one()
        )  # fmt: skip


def test_the_review_queue_exports_with_reasons_and_formulas_escaped(
    engine: Engine, client: TestClient
) -> None:
    _unmatched_line(engine, '=HYPERLINK("http://x")', "no_reference: nothing identifies the payer")
    csv = client.get("/v1/review-queue?format=csv", headers=READ)
    assert csv.status_code == 200, csv.text
    rows = csv.text.splitlines()
    assert rows[0] == (
        "id,source,external_id,date,amount,currency,customer_id,counterparty_name,reference,"
        "account,reason,suggestions"
    )
    assert "'=HYPERLINK" in rows[1]
    assert "no_reference: nothing identifies the payer" in rows[1]
    lines_csv = client.get("/v1/statement-lines?status=unmatched&format=csv", headers=READ)
    assert lines_csv.status_code == 200
    assert "'=HYPERLINK" in lines_csv.text
    xlsx = client.get("/v1/review-queue?format=xlsx", headers=READ)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet["H2"].value.startswith("'=")
    assert sheet["E2"].data_type == "n"
    queue = ok(client.get("/v1/review-queue?source=bank&fields=id,source,reason", headers=READ))
    assert queue[0]["source"] == "bank"
    assert queue[0]["id"].startswith("line-")
    assert client.get("/v1/review-queue?format=pdf", headers=READ).status_code == 422


def test_tolerances_per_owner_reach_the_rule_book(engine: Engine, client: TestClient) -> None:
    owner = seed_owner(engine)
    assert (
        ok(client.get(f"/v1/contract-owners/{owner}/tolerances", headers=READ))["source"] == "rules"
    )
    put = client.put(
        f"/v1/contract-owners/{owner}/tolerances",
        json={"writeOff": "0.50", "bankCharges": "2.00"},
        headers=ADMIN,
    )
    assert ok(put)["source"] == "api"
    with engine.connect() as conn:
        book = rule_book(conn)
    assert (
        book.for_owner(owner).tolerances.write_off,
        book.for_owner(owner).tolerances.bank_charges,
    ) == (
        D("0.50"),
        D("2.00"),
    )
    bad = client.put(
        f"/v1/contract-owners/{owner}/tolerances",
        json={"writeOff": "-1", "bankCharges": "0"},
        headers=ADMIN,
    )
    assert bad.status_code == 422
    missing = client.put(
        "/v1/contract-owners/999999/tolerances",
        json={"writeOff": "0", "bankCharges": "0"},
        headers=ADMIN,
    )
    assert missing.status_code == 404
    assert (
        client.put(
            f"/v1/contract-owners/{owner}/tolerances",
            json={"writeOff": "0", "bankCharges": "0"},
            headers=WRITE,
        ).status_code
        == 403
    )


def test_open_banking_accounts_are_registered_through_the_api(
    engine: Engine, client: TestClient
) -> None:
    provider = add_provider(engine, "openbanking", "http://127.0.0.1:9/openbanking")
    first = client.post(
        f"/v1/payment-providers/{provider}/accounts", json={"accountId": "acc-1"}, headers=ADMIN
    )
    assert (first.status_code, first.json()["created"]) == (201, True)
    again = client.post(
        f"/v1/payment-providers/{provider}/accounts", json={"accountId": "acc-1"}, headers=ADMIN
    )
    assert (again.status_code, again.json()["created"]) == (200, False)
    listed = ok(client.get(f"/v1/payment-providers/{provider}/accounts", headers=READ))
    assert [a["accountId"] for a in listed] == ["acc-1"]
    gocardless = add_provider(engine, "gocardless", "http://127.0.0.1:9/gocardless")
    wrong = client.post(
        f"/v1/payment-providers/{gocardless}/accounts", json={"accountId": "x"}, headers=ADMIN
    )
    assert wrong.status_code in (404, 422)


def test_a_line_waiting_for_its_payouts_items_goes_back_to_matching(engine: Engine) -> None:
    waiting = _unmatched_line(
        engine,
        "GOCARDLESS",
        "payout_items_mismatch: payout PO000123 (gocardless), found by reference ACME-1 in the "
        "remittance: its items are not stored yet (the provider sync reads them once the payout "
        "is paid)",
    )
    other = _unmatched_line(engine, "SOMEONE", "no_reference: nothing identifies the payer")
    with engine.begin() as conn:
        assert retry_lines_waiting_for_items(conn, "PO000999") == 0
        assert retry_lines_waiting_for_items(conn, "PO000123") == 1
    sl = t.statement_lines.c
    with engine.connect() as conn:
        status = dict(conn.execute(select(sl.id, sl.status)).all())
    assert (status[waiting], status[other]) == ("pending", "unmatched")


def _one_line_statement(path: Path, amount: str, text: str) -> Path:
    from tests.integration.test_matching_payouts import ACCOUNT, _entry

    closing = D("1000.00") + D(amount)
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>TOL-1</MsgId><CreDtTm>2026-10-21T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>TOL-STMT-1</Id><CreDtTm>2026-10-21T18:00:00</CreDtTm>
<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>GBP</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">1000.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-21</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">{closing}</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-21</Dt></Dt></Bal>
{_entry("TOL-LINE-1", amount, text)}</Stmt></BkToCstmrStmt></Document>
""",
        encoding="utf-8",
    )
    return path


def test_a_tolerance_set_through_the_api_settles_a_short_payment(
    engine: Engine, client: TestClient, tmp_path: Path
) -> None:
    from tests.integration.test_pipeline_services import load_ledger, run_pipeline

    load_ledger(engine)
    owner = ok(client.get("/v1/contract-owners", headers=READ))[0]["id"]
    ok(
        client.put(
            f"/v1/contract-owners/{owner}/tolerances",
            json={"writeOff": "0.50", "bankCharges": "0"},
            headers=ADMIN,
        )
    )
    statement = _one_line_statement(tmp_path / "short.camt053.xml", "99.50", "INV-00003")
    run_pipeline(engine, tmp_path / "store", statement)

    invoice = ok(client.get("/v1/invoices?invoiceNumber=INV-00003", headers=READ))[0]
    assert invoice["openAmount"] == D("0.00")  # 0.49 short, within the owner's 0.50 write-off
    notes = ok(client.get("/v1/credit-notes", headers=READ))
    assert [n["amount"] for n in notes] == [D("0.49")]  # the write-off, as a credit note
    assert audit_ledger(engine).breaches == []


def test_the_cli_registers_an_open_banking_account(engine: Engine, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    provider = add_provider(engine, "openbanking", "http://127.0.0.1:9/openbanking")
    env = {
        **os.environ,
        "PAYRECON_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PAYRECON_ENVIRONMENT": "test",
        "PAYRECON_FEED_STORE_DIR": str(tmp_path / "store"),
    }
    payrecon = str(Path(sys.executable).parent / "payrecon")
    for expected in ("registered", "already registered"):
        done = subprocess.run(
            [payrecon, "providers", "add-account", str(provider), "acc-cli"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"account acc-cli {expected}"
    from payrecon.services.providers.openbanking import list_openbanking_accounts

    assert [a["accountId"] for a in list_openbanking_accounts(engine, provider)] == ["acc-cli"]
