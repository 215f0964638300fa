"""Read-only views of the imported and reconciled ledger: customers (with their known IBANs and
mandate references), invoices (with open amount and status) and the invoice payments of seed 000
(allocations of payments to standard invoices, or to adhoc invoices), with the list conventions.

Open amount = total - live allocations of payments and collected credit notes
(kept on the invoice by the ledger write path, `store.ledger_writes`); status is `paid` at zero,
`partially_paid` below the total, else `open`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Select, case, exists, select
from sqlalchemy.sql.elements import ColumnElement

from payrecon.domain.errors import NotFound
from payrecon.services.admin.resources import Json, Page, row_json
from payrecon.store import tables as t
from payrecon.store.listing import ListQueryLike, apply_list_query, filter_condition

InvoiceKind = Literal["standard", "adhoc"]

_c = t.customers.c
CUSTOMER_FIELDS: dict[str, ColumnElement[Any]] = {
    "id": _c.id,
    "externalId": _c.external_id,
    "name": _c.name,
    "contractOwnerId": _c.contract_owner_id,
    "currency": _c.currency,
    "creditThreshold": _c.credit_threshold,
    "accountNumber": _c.account_number,
    "createdDate": _c.created_at,
}
# Filters on what a customer has rather than what it is: `iban=`, `mandateReference=`.
_CUSTOMER_HAS = {
    "iban": (t.customer_bank_accounts, t.customer_bank_accounts.c.iban),
    "mandateReference": (t.mandates, t.mandates.c.reference),
}
CUSTOMER_KNOWN_FIELDS = [*CUSTOMER_FIELDS, "ibans", "mandateReferences"]

_i = t.invoices.c
_open_amount = _i.open_amount
INVOICE_FIELDS: dict[str, ColumnElement[Any]] = {
    "id": _i.id,
    "externalId": _i.external_id,
    "invoiceNumber": _i.invoice_number,
    "customerId": _i.customer_id,
    "kind": _i.kind,
    "issueDate": _i.issue_date,
    "dueDate": _i.due_date,
    "currency": _i.currency,
    "total": _i.total,
    "openAmount": _open_amount,
    "status": case(
        (_open_amount <= 0, "paid"), (_open_amount < _i.total, "partially_paid"), else_="open"
    ),
    "createdDate": _i.created_at,
}

_a, _p = t.allocations.c, t.payments.c
INVOICE_PAYMENT_FIELDS: dict[str, ColumnElement[Any]] = {
    "id": _a.id,
    "paymentId": _a.payment_id,
    "invoiceId": _a.invoice_id,
    "invoiceNumber": _i.invoice_number,
    "customerId": _p.customer_id,
    "date": _p.date,
    "paymentMode": _p.payment_mode,
    "amount": _a.amount,
    "currency": _a.currency,
    # A payment in another currency: the rate it was converted at, its own amount and currency.
    "exchangeRate": _a.exchange_rate,
    "originalAmount": _a.original_amount,
    "originalCurrency": _a.original_currency,
    "status": _p.status,
    "rule": _a.rule,
    "createdDate": _a.created_at,
}


def list_customers(engine: Engine, q: ListQueryLike) -> Page:
    stmt = _labelled(CUSTOMER_FIELDS)
    for name, (table, column) in _CUSTOMER_HAS.items():
        if name in q.filters:
            condition = filter_condition(name, column, q.filters[name])
            stmt = stmt.where(exists().where(table.c.customer_id == _c.id, condition))
    page, count = apply_list_query(stmt, CUSTOMER_FIELDS, q, ignore=_CUSTOMER_HAS)
    with engine.connect() as conn:
        items = [row_json(row) for row in conn.execute(page)]
        _add_bank_details(conn, items)
        return Page(items, conn.execute(count).scalar_one())


def get_customer(engine: Engine, customer_id: int) -> Json:
    with engine.connect() as conn:
        row = conn.execute(_labelled(CUSTOMER_FIELDS).where(_c.id == customer_id)).first()
        if row is None:
            raise NotFound(f"customer {customer_id} does not exist")
        items = [row_json(row)]
        _add_bank_details(conn, items)
        return items[0]


def list_invoices(engine: Engine, q: ListQueryLike) -> Page:
    return _page(engine, _invoices(), INVOICE_FIELDS, q)


def get_invoice(engine: Engine, invoice_id: int) -> Json:
    return _one(engine, _invoices().where(_i.id == invoice_id), f"invoice {invoice_id}")


def list_invoice_payments(engine: Engine, kind: InvoiceKind, q: ListQueryLike) -> Page:
    return _page(engine, _invoice_payments(kind), INVOICE_PAYMENT_FIELDS, q)


def get_invoice_payment(engine: Engine, kind: InvoiceKind, allocation_id: int) -> Json:
    noun = "invoice payment" if kind == "standard" else "adhoc invoice payment"
    stmt = _invoice_payments(kind).where(_a.id == allocation_id)
    return _one(engine, stmt, f"{noun} {allocation_id}")


def _labelled(fields: Mapping[str, ColumnElement[Any]]) -> Select[Any]:
    return select(*[column.label(name) for name, column in fields.items()])


def _invoices() -> Select[Any]:
    return _labelled(INVOICE_FIELDS).select_from(t.invoices)


def _invoice_payments(kind: InvoiceKind) -> Select[Any]:
    joined = t.allocations.join(t.payments, _p.id == _a.payment_id).join(
        t.invoices, _i.id == _a.invoice_id
    )
    return _labelled(INVOICE_PAYMENT_FIELDS).select_from(joined).where(_i.kind == kind)


def _page(
    engine: Engine, stmt: Select[Any], fields: Mapping[str, ColumnElement[Any]], q: ListQueryLike
) -> Page:
    page, count = apply_list_query(stmt, fields, q)
    with engine.connect() as conn:
        items = [row_json(row) for row in conn.execute(page)]
        return Page(items, conn.execute(count).scalar_one())


def _one(engine: Engine, stmt: Select[Any], what: str) -> Json:
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"{what} does not exist")
    return row_json(row)


def _add_bank_details(conn: Connection, items: list[Json]) -> None:
    """Each customer's IBANs and mandate references, in two queries for the whole page."""
    ids = [item["id"] for item in items]
    ibans: dict[int, list[str]] = defaultdict(list)
    references: dict[int, list[str]] = defaultdict(list)
    if ids:
        ba, md = t.customer_bank_accounts.c, t.mandates.c
        for customer_id, iban in conn.execute(
            select(ba.customer_id, ba.iban).where(ba.customer_id.in_(ids)).order_by(ba.iban)
        ):
            ibans[customer_id].append(iban)
        for customer_id, reference in conn.execute(
            select(md.customer_id, md.reference)
            .where(md.customer_id.in_(ids))
            .order_by(md.reference)
        ):
            references[customer_id].append(reference)
    for item in items:
        item["ibans"] = ibans[item["id"]]
        item["mandateReferences"] = references[item["id"]]
