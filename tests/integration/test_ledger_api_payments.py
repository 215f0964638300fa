"""Seed 001 through the API: customer payments applied to invoices, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

from payrecon.api.app import create_app
from payrecon.api.auth import issue_token
from payrecon.api.jsonenc import encode
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.services.admin.imports import import_customers, import_invoices
from payrecon.store import tables as t

D = Decimal
DATA = Path(__file__).resolve().parents[1] / "data"
SECRET = "test-secret-for-the-ledger-tests-only-0123456789"


def bearer(*scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, scopes, ttl=timedelta(hours=1))}"}


READ, WRITE = bearer("read"), bearer("write")


def ledger_client(engine: Engine, tmp_path: Path) -> TestClient:
    """The test customers and invoices, no payments yet, and an API client on them."""
    import_customers(engine, DATA / "customers.csv")
    import_invoices(engine, DATA / "invoices.csv")
    settings = Settings(
        api_token_secret=SECRET, feed_store_dir=tmp_path / "store", environment="test"
    )
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def exact(response: Response) -> Any:
    """The JSON body with every fraction as a Decimal, never a float."""
    return json.loads(response.text, parse_float=Decimal)


def ids_by_external(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        customers = conn.execute(select(t.customers.c.external_id, t.customers.c.id))
        invoices = conn.execute(select(t.invoices.c.invoice_number, t.invoices.c.id))
        return {row[0]: row[1] for row in [*customers, *invoices]}


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    return ledger_client(engine, tmp_path)


@pytest.fixture
def ids(engine: Engine, client: TestClient) -> dict[str, int]:
    return ids_by_external(engine)


def seed_payment(ids: dict[str, int], **changes: Any) -> dict[str, Any]:
    """Seed 001's create request, in the seed's own snake_case, on our test ledger."""
    body = {
        "customer_id": ids["C001"],
        "invoices": [
            {
                "invoice_id": ids["INV-00001"],
                "amount_applied": D("16.34"),
                "tax_amount_withheld": D("0.00"),
            }
        ],
        "payment_mode": "PayPal",
        "description": "",
        "date": "2013-11-18",
        "reference_number": "78872356478",
        "exchange_rate": D("1.00"),
        "amount": D("16.34"),
        "bank_charges": D("0.00"),
    }
    body.update(changes)
    return body


def call(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> Response:
    """Send `body` with its Decimals as exact JSON numbers (json.dumps would need floats)."""
    return client.request(
        method, path, content=encode(body), headers={**headers, "Content-Type": "application/json"}
    )


def test_seed_001_create_read_update_delete(client: TestClient, ids: dict[str, int]) -> None:
    created = call(client, "POST", "/v1/customer-payments", seed_payment(ids), WRITE)
    assert created.status_code == 201, created.text
    payment = exact(created)
    assert created.headers["Location"] == f"/v1/customer-payments/{payment['paymentId']}"
    assert payment == {
        "id": payment["paymentId"],
        "paymentId": payment["paymentId"],
        "paymentNumber": payment["paymentNumber"],
        "customerId": ids["C001"],
        "customerName": "Bowman & Co",
        "paymentMode": "PayPal",
        "date": "2013-11-18",
        "currencyCode": "GBP",
        "exchangeRate": D("1.00"),
        "rateSource": None,
        "rateDate": None,
        "amount": D("16.34"),
        "bcyCurrency": "GBP",
        "bcyAmount": D("16.34"),
        "unusedAmount": D("0.00"),
        "bcyUnusedAmount": D("0.00"),
        "invoiceNumbers": "INV-00001",
        "status": "active",
        "bankCharges": D("0.00"),
        "taxAmountWithheld": D("0.00"),
        "description": "",
        "referenceNumber": "78872356478",
        "invoices": [
            {
                "invoiceId": ids["INV-00001"],
                "invoiceNumber": "INV-00001",
                "invoicePaymentId": payment["invoices"][0]["invoicePaymentId"],
                "amountApplied": D("16.34"),
                "taxAmountWithheld": D("0.00"),
                "total": D("153.00"),
                "balance": D("136.66"),  # the seed prints 103.66, against its own figures
                "date": "2026-09-01",
                "dueDate": "2026-10-01",
            }
        ],
    }
    assert '"amount":16.34' in created.text  # a JSON number with its exact digits
    pid = payment["paymentId"]
    assert exact(client.get(f"/v1/customer-payments/{pid}", headers=READ)) == payment

    balance = exact(client.get(f"/v1/customer-balances?customer_id={ids['C001']}", headers=READ))
    assert balance["balance"] == D("16.34") - D("193.00")

    # Seed 001's update: the listed allocation kept (edited), one invoice added.
    edit = seed_payment(ids, amount="60.00")
    edit["invoices"] = [
        {
            "invoice_payment_id": payment["invoices"][0]["invoicePaymentId"],
            "invoice_id": ids["INV-00001"],
            "amount_applied": "10.00",
        },
        {"invoice_id": ids["INV-00002"], "amount_applied": "40.00", "tax_amount_withheld": "1.5"},
    ]
    updated = call(client, "PUT", f"/v1/customer-payments/{pid}", edit, WRITE)
    assert updated.status_code == 200, updated.text
    body = exact(updated)
    assert (body["amount"], body["unusedAmount"], body["taxAmountWithheld"]) == (
        D("60.00"),
        D("10.00"),
        D("1.50"),
    )
    assert [(i["invoiceNumber"], i["amountApplied"], i["balance"]) for i in body["invoices"]] == [
        ("INV-00001", D("10.00"), D("143.00")),
        ("INV-00002", D("40.00"), D("0.00")),
    ]
    # Missing from the list = dropped.
    edit["invoices"] = edit["invoices"][1:]
    dropped = exact(call(client, "PUT", f"/v1/customer-payments/{pid}", edit, WRITE))
    assert [i["invoiceNumber"] for i in dropped["invoices"]] == ["INV-00002"]
    assert dropped["unusedAmount"] == D("20.00")

    deleted = client.delete(f"/v1/customer-payments/{pid}", headers=WRITE)
    assert (deleted.status_code, deleted.json()) == (
        200,
        {"code": 0, "message": "The payment has been deleted."},
    )
    assert client.get(f"/v1/customer-payments/{pid}", headers=READ).status_code == 404
    balance = exact(client.get(f"/v1/customer-balances?customer_id={ids['C001']}", headers=READ))
    assert balance["balance"] == D("-193.00")


def test_bank_charges_exchange_rate_and_owner_rounding(
    client: TestClient, ids: dict[str, int]
) -> None:
    body = seed_payment(
        ids, amount="100.00", exchange_rate="1.23456", bank_charges="2.50", currency_code="EUR"
    )
    body["invoices"] = []
    payment = exact(call(client, "POST", "/v1/customer-payments", body, WRITE))
    # 100.00 EUR x 1.23456 = 123.456 GBP (the customer's), HALF_UP to the owner's 2 places.
    assert (payment["bcyAmount"], payment["exchangeRate"], payment["bankCharges"]) == (
        D("123.46"),
        D("1.23456"),
        D("2.50"),
    )
    assert (payment["currencyCode"], payment["bcyCurrency"], payment["rateSource"]) == (
        "EUR",
        "GBP",
        "given",
    )
    assert (payment["unusedAmount"], payment["bcyUnusedAmount"]) == (D("100.00"), D("123.46"))
    # A payment in the customer's own currency converts at 1 and no other rate.
    same = call(client, "POST", "/v1/customer-payments", {**body, "currency_code": "GBP"}, WRITE)
    assert (same.status_code, same.json()["code"]) == (422, "invalid_input")
    rounded = exact(
        call(
            client,
            "POST",
            "/v1/customer-payments",
            seed_payment(ids, amount="5.005", invoices=[]),
            WRITE,
        )
    )
    assert rounded["amount"] == D("5.01")  # HALF_UP at the edge


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"amount": "10.00"}, 409, "over_allocation"),  # 16.34 applied > 10.00 paid
        ({"amount": "0"}, 422, "invalid_input"),
        ({"exchange_rate": "0"}, 422, "invalid_input"),
        ({"customer_id": 999999}, 422, "invalid_input"),
        ({"invoices": [{"invoice_id": 999999, "amount_applied": "1"}]}, 422, "invalid_input"),
    ],
)
def test_invalid_payments_are_refused_and_write_nothing(
    client: TestClient, ids: dict[str, int], changes: dict[str, Any], status: int, code: str
) -> None:
    response = call(client, "POST", "/v1/customer-payments", seed_payment(ids, **changes), WRITE)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    listed = client.get("/v1/customer-payments", headers=READ)
    assert listed.json() == []
    assert listed.headers["X-Total-Count"] == "0"


def test_an_invoice_is_never_over_allocated(client: TestClient, ids: dict[str, int]) -> None:
    first = seed_payment(ids, amount="150.00")
    first["invoices"] = [{"invoice_id": ids["INV-00001"], "amount_applied": "150.00"}]
    assert call(client, "POST", "/v1/customer-payments", first, WRITE).status_code == 201
    second = seed_payment(ids, amount="5.00")
    second["invoices"] = [{"invoice_id": ids["INV-00001"], "amount_applied": "5.00"}]
    response = call(client, "POST", "/v1/customer-payments", second, WRITE)
    assert response.status_code == 409
    assert "open 3.00 of invoice INV-00001" in response.json()["message"]
    other = seed_payment(ids, customer_id=ids["C002"], amount="5.00")
    other["invoices"] = [{"invoice_id": ids["INV-00002"], "amount_applied": "5.00"}]
    response = call(client, "POST", "/v1/customer-payments", other, WRITE)
    assert response.status_code == 422
    assert response.json()["details"][0]["problem"] == "invoice_of_another_customer"


def test_floats_never_reach_money(client: TestClient, ids: dict[str, int]) -> None:
    response = client.post(
        "/v1/customer-payments",
        content=f'{{"customer_id": {ids["C001"]}, "date": "2013-11-18", "amount": 1e400}}',
        headers={**WRITE, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


@pytest.fixture
def three_payments(client: TestClient, ids: dict[str, int]) -> list[dict[str, Any]]:
    made = []
    for customer, mode, day, amount, ref, note, invoice in [
        ("C001", "PayPal", "2013-11-18", "16.34", "78872356478", "first", "INV-00001"),
        ("C001", "Cash", "2013-11-19", "10.57", "99782374", "Cash at desk", "INV-00001"),
        ("C002", "Bank Transfer", "2013-12-01", "99.99", "REF-3", "", "INV-00003"),
    ]:
        body = seed_payment(
            ids,
            customer_id=ids[customer],
            payment_mode=mode,
            date=day,
            amount=amount,
            reference_number=ref,
            description=note,
        )
        body["invoices"] = [{"invoice_id": ids[invoice], "amount_applied": "5.00"}]
        made.append(exact(call(client, "POST", "/v1/customer-payments", body, WRITE)))
    return made


LIST_CASES = [
    ("", ["REF-3", "99782374", "78872356478"]),  # seed default: date, descending
    ("customer_name=bowman%20%26%20co", ["99782374", "78872356478"]),
    ("customer_name_startswith=Oka", ["REF-3"]),
    ("customer_name_contains=WMAN", ["99782374", "78872356478"]),
    ("reference_number=99782374", ["99782374"]),
    ("reference_number_startswith=7887", ["78872356478"]),
    ("reference_number_contains=REF", ["REF-3"]),
    ("date=2013-11-18", ["78872356478"]),
    ("date_start=2013-11-19", ["REF-3", "99782374"]),
    ("date_end=2013-11-19", ["99782374", "78872356478"]),
    ("date_before=2013-11-19", ["78872356478"]),
    ("date_after=2013-11-19", ["REF-3"]),
    ("amount=16.34", ["78872356478"]),
    ("amount_less_than=16.34", ["99782374"]),
    ("amount_less_equals=16.34", ["99782374", "78872356478"]),
    ("amount_greater_than=16.34", ["REF-3"]),
    ("amount_greater_equals=16.34", ["REF-3", "78872356478"]),
    ("notes=first", ["78872356478"]),
    ("notes_startswith=cash", ["99782374"]),
    ("notes_contains=desk", ["99782374"]),
    ("payment_mode=cash", ["99782374"]),
    ("payment_mode_startswith=Pay", ["78872356478"]),
    ("payment_mode_contains=transfer", ["REF-3"]),
    ("filter_by=PaymentMode.All", ["REF-3", "99782374", "78872356478"]),
    ("filter_by=PaymentMode.Paypal", ["78872356478"]),
    ("filter_by=PaymentMode.BankTransfer", ["REF-3"]),
    ("filter_by=PaymentMode.Check", []),
    ("filter_by=PaymentMode.Others", []),
    ("search_text=okafor", ["REF-3"]),
    ("search_text=desk", ["99782374"]),
    ("search_text=7887", ["78872356478"]),
    ("sort_column=amount&sort_order=A", ["99782374", "78872356478", "REF-3"]),
    ("sort_column=customer_name&sort_order=D", ["REF-3", "78872356478", "99782374"]),
    ("sort_column=unused_amount", ["99782374", "78872356478", "REF-3"]),
    ("sort_column=bcy_amount&sort_order=D", ["REF-3", "78872356478", "99782374"]),
    ("sort_column=reference_number", ["78872356478", "99782374", "REF-3"]),
    ("sort_column=payment_mode", ["REF-3", "99782374", "78872356478"]),
    ("sort_column=account_name&sort_order=A", ["78872356478", "99782374", "REF-3"]),
    # the Admin API syntax beside it
    ("paymentMode=in:Cash,PayPal&sort=amount:desc", ["78872356478", "99782374"]),
    ("referenceNumber=like:9978", ["99782374"]),
    ("sort=date&page=2&pageSize=1", ["99782374"]),
    ("sort=date&page=1&per_page=2", ["78872356478", "99782374"]),
    ("unusedAmount=94.99", ["REF-3"]),
]


def test_list_filters_of_seed_001_and_the_admin_api(
    client: TestClient, three_payments: list[dict[str, Any]]
) -> None:
    for query, expected in LIST_CASES:
        response = client.get(f"/v1/customer-payments?{query}", headers=READ)
        assert response.status_code == 200, (query, response.text)
        items = response.json()
        if isinstance(items, dict):  # seed 001's parameters: seed 001's envelope
            items = items["customerpayments"]
        found = [p["referenceNumber"] for p in items]
        assert found == expected, query
        assert response.headers["X-Total-Count"] == str(len(expected)) or "page" in query


def test_list_by_customer_and_invoice_id_fields_and_head(
    client: TestClient, ids: dict[str, int], three_payments: list[dict[str, Any]]
) -> None:
    by_customer = client.get(f"/v1/customer-payments?customer_id={ids['C002']}", headers=READ)
    assert [p["referenceNumber"] for p in by_customer.json()] == ["REF-3"]
    by_invoice = client.get(f"/v1/customer-payments?invoice_id={ids['INV-00001']}", headers=READ)
    assert len(by_invoice.json()) == 2
    projected = client.get("/v1/customer-payments?fields=id,amount&sort=id", headers=READ)
    assert exact(projected)[0] == {"id": three_payments[0]["id"], "amount": D("16.34")}
    head = client.head("/v1/customer-payments?customer_name_contains=bowman", headers=READ)
    assert (head.status_code, head.headers["X-Total-Count"], head.content) == (200, "2", b"")


BAD_QUERIES = [
    "pageSize=0",
    "pageSize=1001",
    "page=0",
    "per_page=1001",
    "sort=nope",
    "fields=nope",
    "nope=1",
    "filter_by=PaymentMode.Bitcoin",
    "sort_column=nope",
    "sort_order=X&sort_column=date",
    "date_start=yesterday",
    "amount_less_than=abc",
    "bcyAmount=1",
]


def test_list_refuses_bad_parameters(client: TestClient) -> None:
    for query in BAD_QUERIES:
        response = client.get(f"/v1/customer-payments?{query}", headers=READ)
        assert response.status_code == 422, (query, response.text)
        assert response.json()["code"].startswith("invalid")


def test_tokens_guard_every_payment_route(client: TestClient, ids: dict[str, int]) -> None:
    assert client.get("/v1/customer-payments").status_code == 401
    assert call(client, "POST", "/v1/customer-payments", seed_payment(ids), {}).status_code == 401
    for method, path in [
        ("POST", "/v1/customer-payments"),
        ("PUT", "/v1/customer-payments/1"),
        ("DELETE", "/v1/customer-payments/1"),
    ]:
        response = call(client, method, path, seed_payment(ids), READ)
        assert response.status_code == 403, (method, path)
    assert client.get("/v1/customer-payments/999", headers=READ).status_code == 404
    assert (
        call(client, "PUT", "/v1/customer-payments/999", seed_payment(ids), WRITE).status_code
        == 404
    )
    assert client.delete("/v1/customer-payments/999", headers=WRITE).status_code == 404


def test_seed_001_list_fields_and_page_context(
    client: TestClient, three_payments: list[dict[str, Any]]
) -> None:
    """Seed 001's `invoice_numbers`, `bcy_unused_amount`, an own `payment_number` sequence and,
    for a client speaking the seed's parameters, its `page_context`."""
    plain = client.get("/v1/customer-payments?sort=id", headers=READ).json()
    assert isinstance(plain, list)
    numbers = [int(p["paymentNumber"]) for p in plain]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    assert next(p["invoiceNumbers"] for p in plain) == "INV-00001"
    assert all("bcyUnusedAmount" in p for p in plain)
    seed = client.get(
        "/v1/customer-payments?page=1&per_page=2&sort_column=date&filter_by=PaymentMode.All",
        headers=READ,
    ).json()
    assert seed["code"] == 0
    assert len(seed["customerpayments"]) == 2
    assert seed["page_context"] == {
        "page": 1,
        "per_page": 2,
        "has_more_page": True,
        "report_name": "Payments Received",
        "applied_filter": "PaymentMode.All",
        "sort_column": "date",
        "sort_order": "D",
        "total": 3,
    }
