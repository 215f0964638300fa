"""Seed 004 through the API: credit notes, their allocations and derived statuses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from payrecon.store import ledger_tables as lt
from tests.integration.test_ledger_api_payments import (
    READ,
    WRITE,
    call,
    exact,
    ids_by_external,
    ledger_client,
)

D = Decimal
CARD = "424242424242424"


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    return ledger_client(engine, tmp_path)


@pytest.fixture
def ids(engine: Engine, client: TestClient) -> dict[str, int]:
    return ids_by_external(engine)


def seed_credit(ids: dict[str, int], **changes: Any) -> dict[str, Any]:
    """Seed 004's add request, in the seed's own spelling, on our test ledger."""
    body: dict[str, Any] = {
        "customerID": ids["C001"],
        "Date": "05 Apr 2016",
        "CurrencyCode": "GBP",
        "Amount": D("150"),
        "CreditNumber": CARD,
        "Memo": "",
        "AutoApply": False,
        "Allocations": [
            {"invoiceID": ids["INV-00002"], "amountApplied": D("40")},
            {"amountApplied": D("60"), "invoiceNumber": "INV-00001"},
        ],
    }
    body.update(changes)
    return body


def balance(client: TestClient, customer_id: int) -> Decimal:
    response = client.get(f"/v1/customer-balances?customer_id={customer_id}", headers=READ)
    return Decimal(exact(response)["balance"])


def test_seed_004_create_read_edit_delete(
    client: TestClient, ids: dict[str, int], engine: Engine
) -> None:
    created = call(client, "POST", "/v1/credit-notes", seed_credit(ids), WRITE)
    assert created.status_code == 201, created.text
    note = exact(created)
    allocations = note["allocations"]
    assert note == {
        "id": note["id"],
        "customerId": ids["C001"],
        "status": "Partial",  # 100 of 150 allocated
        "date": "2016-04-05",
        "currencyCode": "GBP",
        "amount": D("150.00"),
        "creditNumber": "2424",  # the last four of 424242424242424
        "memo": "",
        "allocations": [
            {
                "allocationId": allocations[0]["allocationId"],
                "invoiceId": ids["INV-00002"],
                "invoiceNumber": "INV-00002",
                "amountApplied": D("40.00"),
            },
            {
                "allocationId": allocations[1]["allocationId"],
                "invoiceId": ids["INV-00001"],
                "invoiceNumber": "INV-00001",
                "amountApplied": D("60.00"),
            },
        ],
    }
    assert CARD not in created.text
    with engine.connect() as conn:
        stored = conn.execute(select(lt.credit_notes)).one()
    assert stored.card_last_four == "2424"
    assert CARD not in repr(tuple(stored))
    assert exact(client.get(f"/v1/credit-notes/{note['id']}", headers=READ)) == note
    assert balance(client, ids["C001"]) == D("150") - D("193")

    # Seed 004's edit: keep one allocation (edited), add one, leave one out (deleted).
    edit = seed_credit(ids, Amount=D("200"), Memo="payment to invoices")
    edit["Allocations"] = [
        {
            "allocationID": allocations[1]["allocationId"],
            "invoiceID": ids["INV-00001"],
            "amountApplied": D("150"),
        },
    ]
    edited = call(client, "PUT", f"/v1/credit-notes/{note['id']}", edit, WRITE)
    assert edited.status_code == 200, edited.text
    body = exact(edited)
    assert (body["status"], body["amount"], body["memo"]) == (
        "Partial",
        D("200.00"),
        "payment to invoices",
    )
    assert [(a["allocationId"], a["amountApplied"]) for a in body["allocations"]] == [
        (allocations[1]["allocationId"], D("150.00"))
    ]
    edit["Allocations"].append({"invoiceNumber": "INV-00002", "amountApplied": D("40")})
    edit["Amount"] = D("190")
    full = exact(call(client, "PUT", f"/v1/credit-notes/{note['id']}", edit, WRITE))
    assert full["status"] == "Allocated"

    deleted = client.delete(f"/v1/credit-notes/{note['id']}", headers=WRITE)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"/v1/credit-notes/{note['id']}", headers=READ).status_code == 404
    assert balance(client, ids["C001"]) == D("-193.00")


def test_auto_apply_pays_the_oldest_invoices_first(client: TestClient, ids: dict[str, int]) -> None:
    body = seed_credit(ids, AutoApply=True)
    del body["Allocations"]
    note = exact(call(client, "POST", "/v1/credit-notes", body, WRITE))
    assert note["status"] == "Allocated"
    # INV-00002 is due 2026-09-01, INV-00001 2026-10-01.
    assert [(a["invoiceNumber"], a["amountApplied"]) for a in note["allocations"]] == [
        ("INV-00002", D("40.00")),
        ("INV-00001", D("110.00")),
    ]
    more = exact(
        call(
            client,
            "POST",
            "/v1/credit-notes",
            seed_credit(ids, AutoApply=True, Amount=D("50")),
            WRITE,
        )
    )
    assert more["status"] == "Partial"  # only 43.00 open is left
    assert [(a["invoiceNumber"], a["amountApplied"]) for a in more["allocations"]] == [
        ("INV-00001", D("43.00"))
    ]


def test_statuses_and_invoice_id_wins(client: TestClient, ids: dict[str, int]) -> None:
    by_id = seed_credit(ids, Amount=D("10"))
    by_id["Allocations"] = [
        {"invoiceID": ids["INV-00002"], "invoiceNumber": "INV-00001", "amountApplied": D("10")}
    ]
    note = exact(call(client, "POST", "/v1/credit-notes", by_id, WRITE))
    assert (note["status"], note["allocations"][0]["invoiceNumber"]) == ("Allocated", "INV-00002")
    unallocated = exact(
        call(client, "POST", "/v1/credit-notes", seed_credit(ids, Allocations=[]), WRITE)
    )
    assert unallocated["status"] == "Unallocated"
    for collection, status in (("pending", "Pending"), ("failed", "Failed")):
        made = call(
            client,
            "POST",
            "/v1/credit-notes",
            seed_credit(ids, Allocations=[], collectionStatus=collection),
            WRITE,
        )
        assert exact(made)["status"] == status
    refused = call(
        client, "POST", "/v1/credit-notes", seed_credit(ids, collectionStatus="pending"), WRITE
    )
    assert (refused.status_code, refused.json()["details"][0]["problem"]) == (
        422,
        "funds_not_collected",
    )
    # Pending and failed credit notes are no credit on the balance.
    assert balance(client, ids["C001"]) == D("10") + D("150") - D("193")


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"AutoApply": False, "Allocations": None}, 422),  # allocations required
        ({"CurrencyCode": "EUR"}, 422),  # not the customer's currency
        ({"Amount": D("50")}, 409),  # 100 allocated > 50
        ({"Allocations": [{"invoiceNumber": "INV-404", "amountApplied": D("1")}]}, 422),
        ({"Allocations": [{"amountApplied": D("1")}]}, 422),
        ({"Allocations": [{"invoiceID": 1, "amountApplied": "1,5"}]}, 422),
        ({"Date": "yesterday"}, 422),
        ({"customerID": 999999}, 422),
    ],
)
def test_invalid_credit_notes_write_nothing(
    client: TestClient, ids: dict[str, int], changes: dict[str, Any], status: int
) -> None:
    body = seed_credit(ids, **changes)
    if body["Allocations"] is None:
        del body["Allocations"]
    response = call(client, "POST", "/v1/credit-notes", body, WRITE)
    assert response.status_code == status, response.text
    assert CARD not in response.text
    assert client.get("/v1/credit-notes", headers=READ).headers["X-Total-Count"] == "0"


def test_lists_paginate_filter_sort_and_count(client: TestClient, ids: dict[str, int]) -> None:
    for amount in ("100", "150", "120"):
        call(
            client,
            "POST",
            "/v1/credit-notes",
            seed_credit(ids, Amount=D(amount), Allocations=[]),
            WRITE,
        )
    other = seed_credit(ids, customerID=ids["C002"], Allocations=[], Amount=D("5"))
    call(client, "POST", "/v1/credit-notes", other, WRITE)

    everything = client.get("/v1/credit-notes", headers=READ)
    assert everything.headers["X-Total-Count"] == "4"
    seed_page = client.get("/v1/credit-notes?page=2&page_size=1", headers=READ)
    assert [n["amount"] for n in exact(seed_page)] == [D("150.00")]
    admin_page = client.get("/v1/credit-notes?page=1&pageSize=2&sort=amount:desc", headers=READ)
    assert [n["amount"] for n in exact(admin_page)] == [D("150.00"), D("120.00")]
    mine = client.get(f"/v1/customers/{ids['C001']}/credit-notes?sort=amount", headers=READ)
    assert [n["amount"] for n in exact(mine)] == [D("100.00"), D("120.00"), D("150.00")]
    assert mine.headers["X-Total-Count"] == "3"
    filtered = client.get("/v1/credit-notes?status=Unallocated&amount=in:5,100", headers=READ)
    assert sorted(n["amount"] for n in exact(filtered)) == [D("5.00"), D("100.00")]
    assert exact(client.get("/v1/credit-notes?status=Allocated", headers=READ)) == []
    projected = exact(client.get("/v1/credit-notes?fields=id,status&pageSize=1", headers=READ))
    assert list(projected[0]) == ["id", "status"]
    head = client.head(f"/v1/customers/{ids['C002']}/credit-notes", headers=READ)
    assert (head.headers["X-Total-Count"], head.content) == ("1", b"")
    for query in (
        "pageSize=0",
        "pageSize=1001",
        "page_size=0",
        "page_size=1001",
        "sort=x",
        "fields=x",
        "x=1",
    ):
        assert client.get(f"/v1/credit-notes?{query}", headers=READ).status_code == 422, query
    assert client.get("/v1/customers/999999/credit-notes", headers=READ).status_code == 404


def test_tokens_guard_every_credit_note_route(client: TestClient, ids: dict[str, int]) -> None:
    assert client.get("/v1/credit-notes").status_code == 401
    assert client.get(f"/v1/customers/{ids['C001']}/credit-notes").status_code == 401
    for method, path in [
        ("POST", "/v1/credit-notes"),
        ("PUT", "/v1/credit-notes/1"),
        ("DELETE", "/v1/credit-notes/1"),
    ]:
        assert call(client, method, path, seed_credit(ids), READ).status_code == 403
        assert call(client, method, path, seed_credit(ids), {}).status_code == 401
    assert call(client, "PUT", "/v1/credit-notes/999", seed_credit(ids), WRITE).status_code == 404
    assert client.delete("/v1/credit-notes/999", headers=WRITE).status_code == 404
