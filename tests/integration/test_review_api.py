"""The review queue and its corrections through the API, on SQLite and PostgreSQL: unmatched lines
with reasons and suggestions, allocations explained, a manual match that teaches the payer's
account, an allocation deleted; every correction audited."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from benchmarks.matching_files import (
    Customer,
    Invoice,
    Line,
    write_camt053,
    write_customers,
    write_invoices,
    write_owners,
)
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from payrecon.api.app import create_app
from payrecon.api.auth import issue_token
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import tables as t
from payrecon.store.audit_tables import audit_log

SECRET = "test-secret-for-the-review-api-tests-0123456789"
ACCOUNT = "GB33BUKB20201555555555"
DAY = date(2026, 10, 5)
D = Decimal


def bearer(*scopes: str) -> dict[str, str]:
    token = issue_token(SECRET, scopes, ttl=timedelta(minutes=5), subject="reviewer@example.com")
    return {"Authorization": f"Bearer {token}"}


def body(response: Any) -> Any:
    return json.loads(response.text, parse_float=Decimal)


def ingest(engine: Engine, store: Path, path: Path) -> None:
    received = receive_file(engine, store, path)
    ingest_feed_file(engine, store, received.feed_file_id)
    reconcile_pending(engine)


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    bowman = Customer("C1", "Bowman & Co", 1, "GBP", "AC000001", ["GB29NWBK60161331926819"], None)
    okafor = Customer("C2", "Okafor Ltd", 1, "GBP", "AC000002", [], None)
    invoices = [
        Invoice("I1", "INV-0000001", bowman, DAY - timedelta(days=40), DAY, D("120.00")),
        Invoice("I2", "INV-0000002", okafor, DAY - timedelta(days=30), DAY, D("80.00")),
        Invoice("I3", "INV-0000003", okafor, DAY - timedelta(days=20), DAY, D("45.50")),
    ]
    write_owners(tmp_path / "owners.csv", [(1, "Owner", ACCOUNT, None)])
    write_customers(tmp_path / "customers.csv", [bowman, okafor])
    write_invoices(tmp_path / "invoices.csv", invoices)
    import_contract_owners(engine, tmp_path / "owners.csv")
    import_customers(engine, tmp_path / "customers.csv")
    import_invoices(engine, tmp_path / "invoices.csv")
    lines = [
        Line("BR-1", DAY, D("120.00"), "GBP", "", None, remittance="INV-0000001"),
        Line(
            "BR-2",
            DAY,
            D("125.50"),
            "GBP",
            "",
            None,
            name="OKAFOR LIMITED",
            payer_account="NL91ABNA0417164300",
            remittance="thanks",
        ),
        Line("BR-3", DAY, D("-9.99"), "GBP", "", None, remittance="Bank fee"),
    ]
    write_camt053(tmp_path / "one.xml", "STMT-1", ACCOUNT, "GBP", lines)
    ingest(engine, tmp_path / "store", tmp_path / "one.xml")
    settings = Settings(api_token_secret=SECRET, feed_store_dir=tmp_path / "store")
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def ids(engine: Engine) -> dict[str, int]:
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for name, key in (
            (t.statement_lines.c.external_id, t.statement_lines.c.id),
            (t.invoices.c.invoice_number, t.invoices.c.id),
            (t.customers.c.external_id, t.customers.c.id),
        ):
            found.update(dict(conn.execute(select(name, key)).all()))
    return found


def audit(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(audit_log).order_by(audit_log.c.id)).all()


def test_the_review_queue_shows_reasons_and_suggestions(client: TestClient, engine: Engine) -> None:
    response = client.get(
        "/v1/statement-lines?status=unmatched&sort=externalId", headers=bearer("read")
    )
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "2"
    queue = body(response)
    assert [line["externalId"] for line in queue] == ["BR-2", "BR-3"]
    unknown = queue[0]
    assert unknown["reason"].startswith("no_reference: no invoice reference in the line")
    assert [(s["customerId"], s["customerName"]) for s in unknown["suggestions"]] == [
        (ids(engine)["C2"], "Okafor Ltd")
    ]
    assert unknown["amount"] == D("125.50")
    assert queue[1]["reason"].startswith("debit: ")


def test_lists_page_and_count(client: TestClient) -> None:
    page = client.get(
        "/v1/statement-lines?pageSize=2&page=2&sort=externalId", headers=bearer("read")
    )
    assert page.headers["X-Total-Count"] == "3"
    assert [line["externalId"] for line in body(page)] == ["BR-3"]
    head = client.head("/v1/statement-lines?status=matched", headers=bearer("read"))
    assert (head.headers["X-Total-Count"], head.content) == ("1", b"")
    assert (
        client.get(
            "/v1/statement-lines", headers=bearer("read"), params={"pageSize": 0}
        ).status_code
        == 422
    )
    assert client.get("/v1/statement-lines").status_code == 401


def test_an_allocation_explains_itself(client: TestClient, engine: Engine) -> None:
    line = body(client.get(f"/v1/statement-lines/{ids(engine)['BR-1']}", headers=bearer("read")))
    (allocation,) = line["payment"]["allocations"]
    shown = body(client.get(f"/v1/allocations/{allocation['id']}", headers=bearer("read")))
    assert (
        shown["explanation"] == "INV-0000001 in the remittance text; amount equals its open amount"
    )
    assert (shown["rule"], shown["confidence"], shown["invoiceNumber"]) == (
        "invoice_reference_exact",
        D("1.000"),
        "INV-0000001",
    )
    assert shown["evidence"]["token"] == "INV-0000001"
    assert client.get("/v1/allocations/999999", headers=bearer("read")).status_code == 404


def test_a_manual_match_pays_audits_and_teaches_the_account(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    known = ids(engine)
    wanted = {
        "customerId": known["C2"],
        "allocations": [
            {"invoiceId": known["INV-0000002"], "amount": 80},
            {"invoiceId": known["INV-0000003"], "amount": "45.50"},
        ],
        "reason": "Okafor's new bank account; confirmed by phone",
    }
    url = f"/v1/statement-lines/{known['BR-2']}/allocations"
    assert client.post(url, json=wanted, headers=bearer("read")).status_code == 403
    response = client.post(url, json=wanted, headers=bearer("write"))
    assert response.status_code == 201, response.text
    line = body(response)
    assert (line["status"], line["customerId"], line["suggestions"]) == ("matched", known["C2"], [])
    payment = line["payment"]
    assert (payment["amount"], payment["unusedAmount"]) == (D("125.50"), D("0.00"))
    assert [(a["rule"], a["amount"]) for a in payment["allocations"]] == [
        ("manual", D("80.00")),
        ("manual", D("45.50")),
    ]
    assert "matched by hand by reviewer@example.com" in payment["allocations"][0]["explanation"]
    (entry,) = audit(engine)
    assert (entry.actor, entry.action, entry.entity_id) == (
        "reviewer@example.com",
        "statement_line.matched",
        str(known["BR-2"]),
    )
    assert entry.reason == wanted["reason"]
    assert entry.details["learnedAccount"] == "NL91ABNA0417164300"
    # The next payment from that account is recognised without anyone's help.
    later = [
        Line(
            "BR-9",
            DAY + timedelta(days=3),
            D("12.00"),
            "GBP",
            "",
            None,
            payer_account="NL91ABNA0417164300",
        )
    ]
    write_camt053(tmp_path / "two.xml", "STMT-2", ACCOUNT, "GBP", later)
    ingest(engine, tmp_path / "store", tmp_path / "two.xml")
    with engine.connect() as conn:
        status, customer = conn.execute(
            select(t.statement_lines.c.status, t.statement_lines.c.customer_id).where(
                t.statement_lines.c.external_id == "BR-9"
            )
        ).one()
    assert (status, customer) == ("matched", known["C2"])


@pytest.mark.parametrize(
    ("allocations", "status", "code"),
    [
        # (invoice number, the amount as JSON text), ...
        ([("INV-0000002", '"80.01"')], 409, "over_allocation"),
        ([("INV-0000001", '"10"')], 422, "invalid_input"),  # not Okafor's invoice
        ([("INV-0000002", '"half"')], 422, "invalid_input"),  # not a number
        ([("INV-0000002", "1.005")], 422, "invalid_input"),  # more places than the owner's
        ([("INV-0000002", '"-5"')], 422, "invalid_input"),
        (
            [("INV-0000002", '"80"'), ("INV-0000003", '"45.50"'), ("INV-0000003", '"0.01"')],
            422,
            "invalid_input",
        ),
        ([("INV-0000002", '"80"'), ("INV-0000003", '"45.51"')], 409, "over_allocation"),
    ],
)
def test_a_wrong_manual_match_writes_nothing(
    client: TestClient, engine: Engine, allocations: list[tuple[str, str]], status: int, code: str
) -> None:
    known = ids(engine)
    items = ", ".join(
        f'{{"invoiceId": {known[number]}, "amount": {amount}}}' for number, amount in allocations
    )
    text = f'{{"customerId": {known["C2"]}, "allocations": [{items}], "reason": "test"}}'
    response = client.post(
        f"/v1/statement-lines/{known['BR-2']}/allocations",
        content=text,
        headers={**bearer("write"), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert body(response)["code"] == code
    assert audit(engine) == []
    with engine.connect() as conn:
        payment = conn.execute(
            select(t.payments).where(t.payments.c.statement_line_id == known["BR-2"])
        ).first()
    assert payment is None


def test_matching_a_debit_or_a_missing_line_is_refused(client: TestClient, engine: Engine) -> None:
    known = ids(engine)
    wanted = {"customerId": known["C2"], "allocations": [], "reason": "x"}
    debit = client.post(
        f"/v1/statement-lines/{known['BR-3']}/allocations", json=wanted, headers=bearer("write")
    )
    assert (debit.status_code, body(debit)["code"]) == (409, "conflict")
    missing = client.post(
        "/v1/statement-lines/999999/allocations", json=wanted, headers=bearer("write")
    )
    assert missing.status_code == 404


def test_deleting_the_last_allocation_sends_the_line_back_to_review(
    client: TestClient, engine: Engine
) -> None:
    known = ids(engine)
    line = body(client.get(f"/v1/statement-lines/{known['BR-1']}", headers=bearer("read")))
    allocation_id = line["payment"]["allocations"][0]["id"]
    url = f"/v1/allocations/{allocation_id}?reason=wrong+customer"
    assert client.delete(url, headers=bearer("read")).status_code == 403
    deleted = client.delete(url, headers=bearer("write"))
    assert deleted.status_code == 200, deleted.text
    assert body(deleted)["lineReturnedToReview"] is True
    line = body(client.get(f"/v1/statement-lines/{known['BR-1']}", headers=bearer("read")))
    assert (line["status"], line["payment"], line["customerId"]) == ("unmatched", None, None)
    assert (
        line["reason"]
        == "manual: its allocations were removed by reviewer@example.com: wrong customer"
    )
    (entry,) = audit(engine)
    assert (entry.action, entry.entity, entry.entity_id, entry.reason) == (
        "allocation.deleted",
        "allocation",
        str(allocation_id),
        "wrong customer",
    )
    assert entry.details["invoiceNumber"] == "INV-0000001"
    assert entry.details["evidence"]["token"] == "INV-0000001"
    assert client.delete(url, headers=bearer("write")).status_code == 404
    # The invoice is open again, and the line can be matched by hand.
    wanted = {
        "customerId": known["C1"],
        "allocations": [{"invoiceId": known["INV-0000001"], "amount": "120.00"}],
        "reason": "it was Bowman after all",
    }
    again = client.post(
        f"/v1/statement-lines/{known['BR-1']}/allocations", json=wanted, headers=bearer("write")
    )
    assert again.status_code == 201, again.text


def test_deleting_one_of_several_allocations_keeps_the_payment(
    client: TestClient, engine: Engine
) -> None:
    known = ids(engine)
    wanted = {
        "customerId": known["C2"],
        "allocations": [
            {"invoiceId": known["INV-0000002"], "amount": "80"},
            {"invoiceId": known["INV-0000003"], "amount": "45.50"},
        ],
        "reason": "confirmed",
    }
    line = body(
        client.post(
            f"/v1/statement-lines/{known['BR-2']}/allocations", json=wanted, headers=bearer("write")
        )
    )
    first = line["payment"]["allocations"][0]["id"]
    deleted = body(client.delete(f"/v1/allocations/{first}", headers=bearer("write")))
    assert deleted["lineReturnedToReview"] is False
    line = body(client.get(f"/v1/statement-lines/{known['BR-2']}", headers=bearer("read")))
    assert (line["status"], line["payment"]["unusedAmount"]) == ("matched", D("80.00"))
