"""The Admin API list conventions on every admin list endpoint, on SQLite and PostgreSQL: page,
pageSize (1..1000), sort asc/desc, fields, `x` / `in:` / `like:` filters, HEAD with X-Total-Count.

The helpers here (`admin_client`, `seed_admin_data`, `bearer`, `body_of`) serve the other
test_admin_* modules too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, insert

from payrecon.api.app import create_app
from payrecon.api.auth import issue_token
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.store import admin_tables as a
from payrecon.store import tables as t
from tests.ledger_rows import keep_amounts_from_rows

SECRET = "admin-api-tests-secret-of-enough-length-0123456789"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
D = Decimal
# Provider secrets seeded below: no response body may ever contain them.
SEEDED_SECRETS = ("tok-live-gocardless-7f3a", "whsec-gocardless-91bd", "sk-live-stripe-55e0")


def admin_client(engine: Engine, tmp_path: Path) -> TestClient:
    settings = Settings(
        api_token_secret=SECRET, feed_store_dir=tmp_path / "store", environment="test"
    )
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def bearer(*scopes: str) -> dict[str, str]:
    # Modules keep these at import time: a token must outlive a slow session, not five minutes.
    return {"Authorization": f"Bearer {issue_token(SECRET, scopes, ttl=timedelta(hours=2))}"}


def body_of(response: Response) -> Any:
    """The JSON body with exact decimals (never float)."""
    return json.loads(response.text, parse_float=Decimal)


def _rows(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows with the same keys (an executemany needs them): the missing ones are NULL."""
    keys = {key for row in rows for key in row}
    return [{key: row.get(key) for key in keys} for row in rows]


def seed_admin_data(engine: Engine) -> None:
    """Three or more rows for every admin list, ids from 1, values chosen to sort alike on both
    databases (same-case ASCII text)."""
    stamp = {"created_at": T0, "updated_at": T0}
    with engine.begin() as conn:
        conn.execute(
            insert(t.contract_owners),
            _rows(*[
                {"id": 1, "name": "Alpha Billing", "price_rounding_mode": "HALF_UP",
                 "price_decimal_places": 2, "bank_iban": "GB29NWBK60161331926819", **stamp},
                {"id": 2, "name": "Bravo Billing", "price_rounding_mode": "HALF_EVEN",
                 "price_decimal_places": 3, **stamp},
                {"id": 3, "name": "Charlie Billing", "price_rounding_mode": "UP",
                 "price_decimal_places": 2, **stamp},
            ]),
        )  # fmt: skip
        conn.execute(
            insert(a.billing_cycles),
            [
                {"id": 1, "contract_owner_id": 1, "name": "Monthly first", "start_day": 1, **stamp},
                {"id": 2, "contract_owner_id": 1, "name": "Monthly mid", "start_day": 15, **stamp},
                {"id": 3, "contract_owner_id": 2, "name": "Quarterly", "start_day": 28, **stamp},
            ],
        )
        conn.execute(
            insert(a.payment_providers),
            _rows(*[
                {"id": 1, "name": "GoCardless Live", "kind": "gocardless", "enabled": True,
                 "base_url": "https://api.gocardless.com", "access_token": SEEDED_SECRETS[0],
                 "webhook_secret": SEEDED_SECRETS[1], **stamp},
                {"id": 2, "name": "Stripe Live", "kind": "stripe", "enabled": True,
                 "base_url": "https://api.stripe.com", "access_token": SEEDED_SECRETS[2], **stamp},
                {"id": 3, "name": "Manual Bank", "kind": "bank", "enabled": False, **stamp},
            ]),
        )  # fmt: skip
        conn.execute(
            insert(t.customers),
            _rows(*[
                {"id": 1, "external_id": "C001", "name": "Alpha Stores", "contract_owner_id": 1,
                 "currency": "GBP", "credit_threshold": D("500.00"), "account_number": "ACC-1",
                 "created_at": T0},
                {"id": 2, "external_id": "C002", "name": "Bravo Foods", "contract_owner_id": 1,
                 "currency": "GBP", "credit_threshold": D("250.50"), "account_number": "ACC-2",
                 "created_at": T0},
                {"id": 3, "external_id": "C003", "name": "Charlie Cafe", "contract_owner_id": 2,
                 "currency": "EUR", "credit_threshold": D("0.00"), "created_at": T0},
            ]),
        )  # fmt: skip
        conn.execute(
            insert(t.customer_bank_accounts),
            [
                {"customer_id": 1, "iban": "GB33BUKB20201555555555", "created_at": T0},
                {"customer_id": 2, "iban": "GB94BARC10201530093459", "created_at": T0},
                {"customer_id": 2, "iban": "DE89370400440532013000", "created_at": T0},
            ],
        )
        conn.execute(
            insert(t.mandates),
            _rows(*[
                {"id": 1, "customer_id": 1, "reference": "MD0001", "status": "active",
                 "provider_id": 1, "scheme": "bacs", **stamp},
                {"id": 2, "customer_id": 2, "reference": "MD0002", "status": "cancelled",
                 "provider_id": 1, "scheme": "bacs", **stamp},
                {"id": 3, "customer_id": 3, "reference": "MD0003", "status": "active",
                 "created_at": T0},
            ]),
        )  # fmt: skip
        invoices = [
            (1, "INV-0001", 1, "standard", "153.00", "GBP"),
            (2, "INV-0002", 1, "standard", "80.00", "GBP"),
            (3, "INV-0003", 2, "adhoc", "40.00", "GBP"),
            (4, "INV-0004", 3, "standard", "10.50", "EUR"),
            (5, "INV-0005", 2, "adhoc", "25.00", "GBP"),
        ]
        conn.execute(
            insert(t.invoices),
            [
                {"id": i, "external_id": f"X{i:03d}", "invoice_number": number,
                 "customer_id": customer, "kind": kind, "issue_date": date(2024, 4, i),
                 "due_date": date(2024, 5, i), "currency": currency, "total": D(total),
                 "open_amount": D(total), "created_at": T0}
                for i, number, customer, kind, total, currency in invoices
            ],
        )  # fmt: skip
        # payment id, customer, amount, currency, status, invoice, mode
        payments = [
            (1, 1, "16.34", "GBP", "active", 1, "BankTransfer"),
            (2, 1, "80.00", "GBP", "active", 2, "DirectDebit"),
            (3, 2, "40.00", "GBP", "active", 3, "BankTransfer"),
            (4, 2, "25.00", "GBP", "reversed", 5, "DirectDebit"),
            (5, 2, "10.00", "GBP", "active", 5, "BankTransfer"),
            (6, 3, "5.25", "EUR", "active", 4, "Card"),
        ]
        conn.execute(
            insert(t.payments),
            [
                {"id": p, "customer_id": c, "source": "bank", "payment_mode": mode,
                 "date": date(2024, 5, p), "amount": D(amount), "currency": currency,
                 "exchange_rate": D(1), "bank_charges": D(0), "tax_amount_withheld": D(0),
                 "status": status, "unused_amount": D(0), "created_at": T0}
                for p, c, amount, currency, status, _, mode in payments
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.allocations),
            [
                {"id": p, "payment_id": p, "invoice_id": invoice, "amount": D(amount),
                 "currency": currency, "rule": "exact_reference", "confidence": D("1.000"),
                 "evidence": {}, "created_at": T0 + timedelta(minutes=p)}
                for p, _, amount, currency, _, invoice, _ in payments
            ],
        )  # fmt: skip
        keep_amounts_from_rows(conn)
        conn.execute(
            insert(a.payment_links),
            _rows(*[
                {"id": 1, "provider_id": 1, "customer_id": 1, "invoice_id": 1,
                 "url": "https://pay.example.com/l/AAA1", "amount": D("136.66"),
                 "currency": "GBP", "status": "open", "external_id": "PL1", **stamp},
                {"id": 2, "provider_id": 2, "customer_id": 2, "invoice_id": None,
                 "url": "https://pay.example.com/l/BBB2", "amount": D("50.00"),
                 "currency": "GBP", "status": "paid", "external_id": "PL2", **stamp},
                {"id": 3, "provider_id": 2, "customer_id": 3, "invoice_id": 4,
                 "url": "https://checkout.example.org/CCC3", "amount": D("10.50"),
                 "currency": "EUR", "status": "open", "external_id": "PL3", **stamp},
            ]),
        )  # fmt: skip
    if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        with engine.begin() as conn:
            for table in (
                "contract_owners",
                "billing_cycles",
                "payment_providers",
                "customers",
                "mandates",
                "invoices",
                "payments",
                "allocations",
                "payment_links",
            ):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )  # fmt: skip


@dataclass(frozen=True)
class ListSpec:
    path: str
    sort: str  # a field whose order is the same on both databases
    equal: tuple[str, str]  # field, value that selects some rows but not all
    like: tuple[str, str]  # text field, a needle in another case
    count: int


LISTS = [
    ListSpec("/v1/contract-owners", "priceDecimalPlaces", ("priceRoundingMode", "HALF_EVEN"),
             ("name", "RAV"), 3),
    ListSpec("/v1/billing-cycles", "startDay", ("contractOwnerId", "1"), ("name", "MONTHLY"), 3),
    ListSpec("/v1/payment-providers", "name", ("enabled", "false"), ("name", "live"), 3),
    ListSpec("/v1/site-payment-mandates", "reference", ("status", "active"),
             ("reference", "md0002"), 3),
    ListSpec("/v1/payment-provider-payment-links", "amount", ("status", "open"),
             ("url", "PAY.EXAMPLE"), 3),
    ListSpec("/v1/customers", "creditThreshold", ("externalId", "C002"), ("name", "cafe"), 3),
    ListSpec("/v1/invoices", "openAmount", ("status", "partially_paid"), ("invoiceNumber", "inv-000"),
             5),
    ListSpec("/v1/invoice-payments", "amount", ("currency", "EUR"), ("invoiceNumber", "inv-0001"), 3),
    ListSpec("/v1/adhoc-invoice-payments", "amount", ("status", "active"), ("paymentMode", "DEBIT"),
             3),
]  # fmt: skip


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    seed_admin_data(engine)
    return admin_client(engine, tmp_path)


def ids(response: Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in body_of(response)]


@pytest.mark.parametrize("spec", LISTS, ids=[s.path for s in LISTS])
def test_list_conventions(client: TestClient, spec: ListSpec) -> None:
    read = bearer("read")
    get = lambda query="": client.get(f"{spec.path}?{query}", headers=read)  # noqa: E731

    everything = get()
    items = body_of(everything)
    assert [i["id"] for i in items] == sorted(i["id"] for i in items), "default order is by id"
    assert len(items) == spec.count
    assert everything.headers["X-Total-Count"] == str(spec.count)
    all_ids = [i["id"] for i in items]

    # page and pageSize; the count is of every row, not the page
    second = get("pageSize=2&page=2")
    assert ids(second) == all_ids[2:4]
    assert second.headers["X-Total-Count"] == str(spec.count)
    assert ids(get("pageSize=2&page=99")) == []
    for bad in ("pageSize=0", "pageSize=1001", "page=0", "page=x"):
        response = get(bad)
        assert response.status_code == 422, bad
        assert body_of(response)["code"] == "invalid_input"
    assert ids(get("pageSize=1000")) == all_ids

    # sort ascending and descending, ties broken by id
    ascending = [i["id"] for i in sorted(items, key=lambda i: i[spec.sort])]
    descending = [i["id"] for i in sorted(items, key=lambda i: i[spec.sort], reverse=True)]
    assert ids(get(f"sort={spec.sort}")) == ascending
    assert ids(get(f"sort={spec.sort}:desc")) == descending
    assert ids(get(f"sort={spec.sort}:desc,id:desc")) == [
        i["id"] for i in sorted(items, key=lambda i: (i[spec.sort], i["id"]), reverse=True)
    ]
    assert get("sort=noSuchField").status_code == 422

    # fields projection
    projected = body_of(get(f"fields=id,{spec.sort}"))
    assert projected == [{"id": i["id"], spec.sort: i[spec.sort]} for i in items]
    unknown = get("fields=id,noSuchField")
    assert unknown.status_code == 422
    assert "noSuchField" in body_of(unknown)["message"]

    # equality, in: and like: filters
    field, value = spec.equal
    expected = [i["id"] for i in items if str(i[field]).lower() == value.lower()]
    assert 0 < len(expected) < spec.count
    assert ids(get(f"{field}={value}")) == expected
    assert ids(get(f"id=in:{all_ids[0]},{all_ids[-1]},999999")) == [all_ids[0], all_ids[-1]]
    text_field, needle = spec.like
    expected = [i["id"] for i in items if needle.lower() in i[text_field].lower()]
    assert expected
    assert ids(get(f"{text_field}=like:{needle}")) == expected
    assert ids(get(f"{text_field}=like:%")) == []  # a wildcard character is matched literally

    # HEAD: the count of the same filters, no body
    head = client.head(f"{spec.path}?{field}={value}", headers=read)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["X-Total-Count"] == str(len(ids(get(f"{field}={value}"))))

    # a filter on a field the resource does not have
    unknown = get("noSuchField=1")
    assert unknown.status_code == 422
    assert body_of(unknown)["details"]["field"] == "noSuchField"
    assert get("id=abc").status_code == 422


def test_amount_filters_are_exact(client: TestClient) -> None:
    read = bearer("read")
    assert ids(client.get("/v1/invoices?openAmount=136.66", headers=read)) == [1]
    assert ids(client.get("/v1/invoices?total=in:10.5,40", headers=read)) == [3, 4]
    assert ids(client.get("/v1/payment-provider-payment-links?amount=50", headers=read)) == [2]
    bad = client.get("/v1/invoices?total=1.23456", headers=read)
    assert bad.status_code == 422
    assert "total" in body_of(bad)["message"]
