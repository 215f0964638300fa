"""Seed 000 through the API: refunds, balance adjustments, balances and credit status."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.integration.test_ledger_api_credit_notes import seed_credit
from tests.integration.test_ledger_api_payments import (
    READ,
    WRITE,
    call,
    exact,
    ids_by_external,
    ledger_client,
    seed_payment,
)

D = Decimal


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    return ledger_client(engine, tmp_path)


@pytest.fixture
def ids(engine: Engine, client: TestClient) -> dict[str, int]:
    return ids_by_external(engine)


def balance_of(client: TestClient, customer_id: int) -> dict[str, Any]:
    response = client.get(f"/v1/customer-balances?customer_id={customer_id}", headers=READ)
    assert response.status_code == 200, response.text
    return dict(exact(response))


def test_seed_000_balance_adjustment_exactly(client: TestClient, ids: dict[str, int]) -> None:
    body = {"customerId": ids["C001"], "amountInMajorCurrency": D("10.5"), "description": "string"}
    response = call(client, "POST", "/v1/customer-balance-adjustments", body, WRITE)
    assert response.status_code == 201, response.text
    made = exact(response)
    assert made == {
        "id": made["id"],
        "customerId": ids["C001"],
        "amountInMajorCurrency": D("10.5"),
        "currencyId": 826,  # ISO 4217 numeric code of GBP
        "description": "string",
    }
    assert balance_of(client, ids["C001"])["balance"] == D("10.5") - D("193.00")
    read = exact(client.get(f"/v1/customer-balance-adjustments/{made['id']}", headers=READ))
    # Reads add the currency code and the creation time (filters and sort keys of the list).
    assert read == {**made, "currencyCode": "GBP", "createdAt": read["createdAt"]}
    assert read["createdAt"].endswith("+00:00")
    listed = client.get(f"/v1/customer-balance-adjustments?customerId={ids['C001']}", headers=READ)
    assert (exact(listed), listed.headers["X-Total-Count"]) == ([read], "1")
    for bad in (
        {**body, "amountInMajorCurrency": D("0")},
        {**body, "customerId": 999999},
        {**body, "amountInMajorCurrency": "ten"},
        {**body, "extra": 1},
    ):
        answer = call(client, "POST", "/v1/customer-balance-adjustments", bad, WRITE)
        assert answer.status_code == 422, bad
    assert call(client, "POST", "/v1/customer-balance-adjustments", body, READ).status_code == 403


def test_balance_counts_payments_credit_notes_adjustments_and_refunds(
    client: TestClient, ids: dict[str, int]
) -> None:
    customer = ids["C001"]
    payment = exact(
        call(client, "POST", "/v1/customer-payments", seed_payment(ids, amount="50.00"), WRITE)
    )
    assert payment["unusedAmount"] == D("33.66")
    note = exact(call(client, "POST", "/v1/credit-notes", seed_credit(ids, Allocations=[]), WRITE))
    adjustment = {"customerId": customer, "amountInMajorCurrency": "-5", "description": "fee"}
    call(client, "POST", "/v1/customer-balance-adjustments", adjustment, WRITE)

    refund = {"paymentId": payment["id"], "amount": "33.66", "date": "2026-11-01"}
    made = call(client, "POST", "/v1/refunds", refund, WRITE)
    assert made.status_code == 201, made.text
    assert exact(made)["customerId"] == customer
    too_much = call(client, "POST", "/v1/refunds", {**refund, "amount": "0.01"}, WRITE)
    assert (too_much.status_code, too_much.json()["code"]) == (409, "over_allocation")
    from_note = {"creditNoteId": note["id"], "amount": "20", "date": "2026-11-02"}
    assert call(client, "POST", "/v1/refunds", from_note, WRITE).status_code == 201
    after = exact(client.get(f"/v1/credit-notes/{note['id']}", headers=READ))
    assert after["status"] == "Partial"

    # payments 50 + credit notes 150 + adjustments -5 - refunds 53.66 - invoices 193
    figures = balance_of(client, customer)
    assert figures["balance"] == D("-51.66")
    assert figures["totalPayments"] == D("50.00")
    assert figures["totalPaymentsSinceLastInvoice"] == D("0.00")  # paid 2013, invoiced 2026
    assert figures["paymentMethodSummary"] == {
        "paymentMethod": "DIRECT_DEBIT",
        "summaryType": "NONE",
    }

    # A payment with refunds cannot go; the refund can, and then the payment can.
    assert client.delete(f"/v1/customer-payments/{payment['id']}", headers=WRITE).status_code == 409
    refunds = exact(client.get(f"/v1/refunds?paymentId={payment['id']}", headers=READ))
    assert [r["amount"] for r in refunds] == [D("33.66")]
    assert client.delete(f"/v1/refunds/{refunds[0]['id']}", headers=WRITE).status_code == 204
    assert client.delete(f"/v1/customer-payments/{payment['id']}", headers=WRITE).status_code == 200
    assert balance_of(client, customer)["balance"] == D("-68.00")  # 150 - 5 - 20 - 193


def test_refunds_are_refused_beyond_what_was_collected(
    client: TestClient, ids: dict[str, int]
) -> None:
    pending = exact(
        call(
            client,
            "POST",
            "/v1/credit-notes",
            seed_credit(ids, Allocations=[], collectionStatus="pending"),
            WRITE,
        )
    )
    refund = {"creditNoteId": pending["id"], "amount": "1", "date": "2026-11-02"}
    assert call(client, "POST", "/v1/refunds", refund, WRITE).status_code == 409
    both = {**refund, "paymentId": 1}
    assert call(client, "POST", "/v1/refunds", both, WRITE).status_code == 422
    neither = {"amount": "1", "date": "2026-11-02"}
    assert call(client, "POST", "/v1/refunds", neither, WRITE).status_code == 422
    unknown = {"paymentId": 999999, "amount": "1", "date": "2026-11-02"}
    assert call(client, "POST", "/v1/refunds", unknown, WRITE).status_code == 422
    assert client.get("/v1/refunds", headers=READ).headers["X-Total-Count"] == "0"
    assert client.get("/v1/refunds/999", headers=READ).status_code == 404
    assert client.get("/v1/refunds").status_code == 401
    assert call(client, "POST", "/v1/refunds", refund, READ).status_code == 403


def test_credit_status_and_its_history(client: TestClient, ids: dict[str, int]) -> None:
    customer = ids["C003"]  # threshold 0, owes 250.00
    status = exact(client.get(f"/v1/customer-credit-status?customer_id={customer}", headers=READ))
    assert {k: status[k] for k in ("customerId", "balance", "creditThreshold", "status")} == {
        "customerId": customer,
        "balance": D("-250.00"),
        "creditThreshold": D("0.00"),
        "status": "OVER_THRESHOLD",
    }
    adjustment = {"customerId": customer, "amountInMajorCurrency": "250", "description": "waived"}
    call(client, "POST", "/v1/customer-balance-adjustments", adjustment, WRITE)
    status = exact(client.get(f"/v1/customer-credit-status?customer_id={customer}", headers=READ))
    assert (status["status"], status["balance"]) == ("WITHIN_THRESHOLD", D("0.00"))
    # An unchanged status records nothing new.
    call(
        client,
        "POST",
        "/v1/customer-balance-adjustments",
        {**adjustment, "amountInMajorCurrency": "1"},
        WRITE,
    )
    history = client.get(f"/v1/customer-credit-status/history?customer_id={customer}", headers=READ)
    # Known from the customers' import (owing nothing), over once its invoices were imported.
    assert history.headers["X-Total-Count"] == "3"
    assert [(h["fromStatus"], h["status"]) for h in history.json()] == [
        (None, "WITHIN_THRESHOLD"),
        ("WITHIN_THRESHOLD", "OVER_THRESHOLD"),
        ("OVER_THRESHOLD", "WITHIN_THRESHOLD"),
    ]
    newest = client.get(
        f"/v1/customer-credit-status/history?customerId={customer}&sort=id:desc&pageSize=1&fields=status",
        headers=READ,
    )
    assert newest.json() == [{"status": "WITHIN_THRESHOLD"}]
    head = client.head("/v1/customer-credit-status/history?status=OVER_THRESHOLD", headers=READ)
    assert head.headers["X-Total-Count"] == "1"
    for query in ("pageSize=0", "pageSize=1001", "sort=x", "x=1"):
        response = client.get(f"/v1/customer-credit-status/history?{query}", headers=READ)
        assert response.status_code == 422, query
    assert (
        client.get("/v1/customer-credit-status?customer_id=999999", headers=READ).status_code == 404
    )
    assert client.get(f"/v1/customer-credit-status?customer_id={customer}").status_code == 401


def test_lists_of_refunds_and_adjustments_honour_the_conventions(
    client: TestClient, ids: dict[str, int]
) -> None:
    for amount in ("3", "-1", "2"):
        body = {"customerId": ids["C002"], "amountInMajorCurrency": amount, "description": amount}
        call(client, "POST", "/v1/customer-balance-adjustments", body, WRITE)
    path = "/v1/customer-balance-adjustments"
    ordered = client.get(f"{path}?sort=amountInMajorCurrency:desc&pageSize=2&page=1", headers=READ)
    assert [a["description"] for a in ordered.json()] == ["3", "2"]
    assert ordered.headers["X-Total-Count"] == "3"
    assert client.get(f"{path}?description=like:-", headers=READ).json()[0]["description"] == "-1"
    assert list(client.get(f"{path}?fields=id", headers=READ).json()[0]) == ["id"]
    assert client.head(path, headers=READ).headers["X-Total-Count"] == "3"
    for list_path in (path, "/v1/refunds"):
        for query in ("pageSize=0", "pageSize=1001", "sort=x", "fields=x", "x=1"):
            response = client.get(f"{list_path}?{query}", headers=READ)
            assert response.status_code == 422, (list_path, query)
        assert client.get(list_path).status_code == 401


LEDGER_OPERATIONS = {
    ("/v1/customer-payments", "get"): "list_customer_payments",
    ("/v1/customer-payments", "head"): "list_customer_payments_head",
    ("/v1/customer-payments", "post"): "create_customer_payment",
    ("/v1/customer-payments/{payment_id}", "get"): "get_customer_payment",
    ("/v1/customer-payments/{payment_id}", "put"): "update_customer_payment",
    ("/v1/customer-payments/{payment_id}", "delete"): "delete_customer_payment",
    ("/v1/credit-notes", "get"): "list_credit_notes",
    ("/v1/credit-notes", "post"): "create_credit_note",
    ("/v1/credit-notes/{credit_note_id}", "put"): "update_credit_note",
    ("/v1/credit-notes/{credit_note_id}", "delete"): "delete_credit_note",
    ("/v1/customers/{customer_id}/credit-notes", "get"): "list_customer_credit_notes",
    ("/v1/refunds", "post"): "create_refund",
    ("/v1/refunds/{refund_id}", "delete"): "delete_refund",
    ("/v1/customer-balance-adjustments", "post"): "create_balance_adjustment",
    ("/v1/customer-balance-adjustments", "head"): "list_balance_adjustments_head",
    ("/v1/customer-credit-status", "get"): "get_customer_credit_status",
    ("/v1/customer-credit-status/history", "get"): "list_credit_status_history",
}


def test_openapi_names_every_ledger_operation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for (path, method), operation_id in LEDGER_OPERATIONS.items():
        assert paths[path][method]["operationId"] == operation_id, (path, method)
    seed_filters = {p["name"] for p in paths["/v1/customer-payments"]["get"]["parameters"]}
    assert {
        "customer_name_contains",
        "date_start",
        "filter_by",
        "sort_column",
        "pageSize",
    } <= seed_filters
