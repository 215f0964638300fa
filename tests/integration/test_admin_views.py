"""Customers, invoices and invoice payments as the API shows them, on SQLite and PostgreSQL:
`?externalId=` lookups, IBANs and mandate references, open amounts and statuses, and payments
split between standard and adhoc invoices."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.integration.test_admin_lists import admin_client, bearer, body_of, seed_admin_data

READ = bearer("read")
D = Decimal


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    seed_admin_data(engine)
    return admin_client(engine, tmp_path)


def test_customer_by_external_id_with_ibans_and_mandates(client: TestClient) -> None:
    response = client.get("/v1/customers?externalId=C002", headers=READ)
    assert response.headers["X-Total-Count"] == "1"
    assert body_of(response) == [
        {
            "id": 2,
            "externalId": "C002",
            "name": "Bravo Foods",
            "contractOwnerId": 1,
            "currency": "GBP",
            "creditThreshold": D("250.50"),
            "accountNumber": "ACC-2",
            "createdDate": "2024-05-01T09:00:00+00:00",
            "ibans": ["DE89370400440532013000", "GB94BARC10201530093459"],
            "mandateReferences": ["MD0002"],
        }
    ]
    assert '"creditThreshold":250.50' in response.text
    assert body_of(client.get("/v1/customers/2", headers=READ)) == body_of(response)[0]
    assert body_of(client.get("/v1/customers?externalId=C999", headers=READ)) == []
    assert client.get("/v1/customers/99", headers=READ).status_code == 404


def test_customers_by_what_they_have(client: TestClient) -> None:
    by_iban = client.get("/v1/customers?iban=DE89370400440532013000&fields=id", headers=READ)
    assert body_of(by_iban) == [{"id": 2}]
    by_mandate = client.get("/v1/customers?mandateReference=in:MD0001,MD0003", headers=READ)
    assert [c["id"] for c in body_of(by_mandate)] == [1, 3]
    projected = client.get("/v1/customers?fields=externalId,ibans", headers=READ)
    assert body_of(projected)[0] == {"externalId": "C001", "ibans": ["GB33BUKB20201555555555"]}


def test_invoices_with_open_amount_and_status(client: TestClient) -> None:
    response = client.get("/v1/invoices?fields=invoiceNumber,total,openAmount,status", headers=READ)
    assert body_of(response) == [
        {"invoiceNumber": "INV-0001", "total": D("153.00"), "openAmount": D("136.66"),
         "status": "partially_paid"},
        {"invoiceNumber": "INV-0002", "total": D("80.00"), "openAmount": D("0.00"),
         "status": "paid"},
        {"invoiceNumber": "INV-0003", "total": D("40.00"), "openAmount": D("0.00"),
         "status": "paid"},
        {"invoiceNumber": "INV-0004", "total": D("10.50"), "openAmount": D("5.25"),
         "status": "partially_paid"},
        # the reversed payment's 25.00 does not count
        {"invoiceNumber": "INV-0005", "total": D("25.00"), "openAmount": D("15.00"),
         "status": "partially_paid"},
    ]  # fmt: skip
    assert '"openAmount":136.66' in response.text
    by_external = body_of(client.get("/v1/invoices?externalId=X004", headers=READ))
    assert [(i["id"], i["kind"], i["dueDate"]) for i in by_external] == [
        (4, "standard", "2024-05-04")
    ]
    assert body_of(client.get("/v1/invoices/5", headers=READ))["openAmount"] == D("15.00")
    paid = client.get("/v1/invoices?status=paid&sort=total:desc&fields=id", headers=READ)
    assert body_of(paid) == [{"id": 2}, {"id": 3}]
    assert client.get("/v1/invoices/99", headers=READ).status_code == 404


def test_invoice_payments_split_by_invoice_kind(client: TestClient) -> None:
    standard = body_of(client.get("/v1/invoice-payments", headers=READ))
    adhoc = body_of(client.get("/v1/adhoc-invoice-payments", headers=READ))
    assert [(p["paymentId"], p["invoiceNumber"], p["amount"]) for p in standard] == [
        (1, "INV-0001", D("16.34")),
        (2, "INV-0002", D("80.00")),
        (6, "INV-0004", D("5.25")),
    ]
    assert [(p["paymentId"], p["invoiceNumber"], p["status"]) for p in adhoc] == [
        (3, "INV-0003", "active"),
        (4, "INV-0005", "reversed"),
        (5, "INV-0005", "active"),
    ]
    first = body_of(client.get("/v1/invoice-payments/1", headers=READ))
    assert first == {
        "id": 1,
        "paymentId": 1,
        "invoiceId": 1,
        "invoiceNumber": "INV-0001",
        "customerId": 1,
        "date": "2024-05-01",
        "paymentMode": "BankTransfer",
        "amount": D("16.34"),
        "currency": "GBP",
        "exchangeRate": None,  # a payment in the invoice's currency: no conversion
        "originalAmount": None,
        "originalCurrency": None,
        "status": "active",
        "rule": "exact_reference",
        "createdDate": "2024-05-01T09:01:00+00:00",
    }
    # an allocation to an adhoc invoice is not a standard invoice payment, and the reverse
    assert client.get("/v1/invoice-payments/3", headers=READ).status_code == 404
    assert client.get("/v1/adhoc-invoice-payments/1", headers=READ).status_code == 404
    assert body_of(client.get("/v1/adhoc-invoice-payments/3", headers=READ))["amount"] == D("40")
