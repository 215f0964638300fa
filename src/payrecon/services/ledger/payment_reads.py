"""Reads of customer payments (seed 001): each payment with the invoices it pays, and the list
with the Admin API conventions (`page`, `pageSize`, `sort`, `fields`, `field=x|in:|like:`) beside
the seed's own filters and their variants (`PaymentSearch`), counted and paged in the database.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select

from payrecon.domain.errors import InvalidInput
from payrecon.domain.ledger import Rounding, base_currency_amount, original_currency_amount
from payrecon.domain.money import RoundingMode
from payrecon.store import tables as t
from payrecon.store.db import reading
from payrecon.store.ledger_reads import payment_ledger_amount
from payrecon.store.listing import ListQueryLike, apply_list_query


def tax_withheld(evidence: dict[str, Any]) -> Decimal:
    """The tax withheld on one invoice, kept in the allocation's evidence (no column for it)."""
    return Decimal(evidence.get("tax_amount_withheld", "0"))


@dataclass(frozen=True, slots=True)
class InvoicePaymentView:
    invoice_payment_id: int
    invoice_id: int
    invoice_number: str
    amount_applied: Decimal
    tax_amount_withheld: Decimal
    total: Decimal
    balance: Decimal  # the invoice's open amount after every live allocation
    date: dt.date
    due_date: dt.date


@dataclass(frozen=True, slots=True)
class PaymentView:
    """A payment as seed 001 shows it. `amount`, `unused_amount` are in the payment's own
    `currency`; `bcy_amount`, `bcy_unused_amount` in its customer's (`bcy_currency`), in which
    the balance is kept and its invoices are paid (`exchange_rate` converts)."""

    id: int
    payment_number: str
    customer_id: int
    customer_name: str
    payment_mode: str
    date: dt.date
    currency: str
    exchange_rate: Decimal
    amount: Decimal
    bcy_amount: Decimal
    unused_amount: Decimal
    bank_charges: Decimal
    tax_amount_withheld: Decimal
    description: str | None
    reference_number: str | None
    invoices: tuple[InvoicePaymentView, ...]
    bcy_currency: str = ""
    bcy_unused_amount: Decimal = Decimal(0)
    rate_source: str | None = None
    rate_date: dt.date | None = None
    status: str = "active"

    @property
    def invoice_numbers(self) -> str:
        """Seed 001's `invoice_numbers` (list only): the invoices it pays, comma-separated."""
        return ",".join(i.invoice_number for i in self.invoices)


def payment_views(conn: Connection, payment_ids: Sequence[int]) -> list[PaymentView]:
    """The payments named, in the order named (unknown ids are left out)."""
    if not payment_ids:
        return []
    p = t.payments
    rows = conn.execute(
        select(
            p,
            t.customers.c.name.label("customer_name"),
            t.customers.c.currency.label("customer_currency"),
            t.contract_owners.c.price_rounding_mode,
            t.contract_owners.c.price_decimal_places,
        )
        .join(t.customers, t.customers.c.id == p.c.customer_id)
        .join(t.contract_owners, t.contract_owners.c.id == t.customers.c.contract_owner_id)
        .where(p.c.id.in_(payment_ids))
    ).all()
    applied: dict[int, list[InvoicePaymentView]] = {pid: [] for pid in payment_ids}
    for a in conn.execute(
        select(
            t.allocations,
            t.invoices.c.invoice_number,
            t.invoices.c.total,
            t.invoices.c.issue_date,
            t.invoices.c.due_date,
            t.invoices.c.open_amount,
        )
        .join(t.invoices, t.invoices.c.id == t.allocations.c.invoice_id)
        .where(t.allocations.c.payment_id.in_(payment_ids))
        .order_by(t.allocations.c.id)
    ):
        applied[a.payment_id].append(
            InvoicePaymentView(
                invoice_payment_id=a.id,
                invoice_id=a.invoice_id,
                invoice_number=a.invoice_number,
                amount_applied=a.amount,
                tax_amount_withheld=tax_withheld(a.evidence),
                total=a.total,
                balance=a.open_amount,
                date=a.issue_date,
                due_date=a.due_date,
            )
        )
    by_id = {r.id: _view(r, tuple(applied[r.id])) for r in rows}
    return [by_id[i] for i in payment_ids if i in by_id]


def _view(r: Any, invoices: tuple[InvoicePaymentView, ...]) -> PaymentView:
    owner = Rounding(r.price_decimal_places, RoundingMode(r.price_rounding_mode))
    if r.bcy_amount is not None:  # converted at a recorded rate: the ledger counts bcy_amount
        bcy = r.bcy_amount
        unused = original_currency_amount(
            r.unused_amount, r.amount, bcy, owner.in_currency(r.currency)
        )
    else:  # in the customer's currency (rows before 0015 may carry another base rate)
        bcy = base_currency_amount(r.amount, r.exchange_rate, owner.in_currency(r.currency))
        unused = r.unused_amount
    return PaymentView(
        id=r.id,
        payment_number=str(r.payment_number or r.id),
        customer_id=r.customer_id,
        customer_name=r.customer_name,
        payment_mode=r.payment_mode,
        date=r.date,
        currency=r.currency,
        exchange_rate=r.exchange_rate.normalize(),
        amount=r.amount,
        bcy_amount=bcy,
        unused_amount=unused,
        bcy_currency=r.customer_currency,
        bcy_unused_amount=r.unused_amount,
        rate_source=r.rate_source,
        rate_date=r.rate_date,
        status=r.status,
        bank_charges=r.bank_charges,
        tax_amount_withheld=r.tax_amount_withheld,
        description=r.description,
        reference_number=r.reference_number,
        invoices=invoices,
    )


KNOWN_MODES = {
    "check": ("check", "cheque"),
    "cash": ("cash",),
    "banktransfer": ("banktransfer",),
    "paypal": ("paypal",),
    "creditcard": ("creditcard",),
    "googlecheckout": ("googlecheckout",),
    "credit": ("credit",),
    "authorizenet": ("authorizenet",),
    "bankremittance": ("bankremittance",),
    "payflowpro": ("payflowpro",),
    "stripe": ("stripe",),
    "twocheckout": ("twocheckout", "2checkout"),
    "braintree": ("braintree",),
}
SORT_COLUMNS = {
    "customer_name": "customerName",
    "unused_amount": "unusedAmount",
    "amount": "amount",
    "bcy_amount": "bcyAmount",
    "date": "date",
    "reference_number": "referenceNumber",
    "account_name": "accountName",
    "payment_mode": "paymentMode",
}


@dataclass(frozen=True, slots=True)
class PaymentSearch:
    """Seed 001's list parameters. `conditions` holds (field, operator, value) with field one of
    customer_name, reference_number, notes, payment_mode (operators eq, startswith, contains),
    date, amount (eq, lt, le, gt, ge), customer_id, invoice_id (eq)."""

    conditions: tuple[tuple[str, str, object], ...] = ()
    payment_mode_filter: str | None = None  # the X of filter_by=PaymentMode.X, lower case
    search_text: str | None = None
    sort: tuple[str, bool] | None = None  # (sort_column, descending)


@dataclass(frozen=True, slots=True)
class PaymentPage:
    items: list[PaymentView]
    total: int


def list_payments(engine: Engine, q: ListQueryLike, search: PaymentSearch) -> PaymentPage:
    p = t.payments
    columns: dict[str, ColumnElement[Any]] = {
        "id": p.c.id,
        "paymentId": p.c.id,
        "paymentNumber": p.c.payment_number,
        "customerId": p.c.customer_id,
        "customerName": t.customers.c.name,
        "paymentMode": p.c.payment_mode,
        "date": p.c.date,
        "currencyCode": p.c.currency,
        "exchangeRate": p.c.exchange_rate,
        "amount": p.c.amount,
        "bcyAmount": payment_ledger_amount(),  # sorts; not a filter (below)
        "bcyCurrency": t.customers.c.currency,
        "unusedAmount": p.c.unused_amount,
        "bcyUnusedAmount": p.c.unused_amount,
        "bankCharges": p.c.bank_charges,
        "taxAmountWithheld": p.c.tax_amount_withheld,
        "description": p.c.description,
        "referenceNumber": p.c.reference_number,
        "accountName": t.statement_lines.c.account,
    }
    if "bcyAmount" in q.filters:
        raise InvalidInput("bcyAmount can be sorted by, not filtered on; filter on amount")
    sort = list(q.sort)
    if search.sort is not None:
        sort.insert(0, (SORT_COLUMNS[search.sort[0]], search.sort[1]))
    if not sort:
        sort = [("date", True)]  # seed 001's default: sort_column=date, sort_order=D
    used = _fields_used(q, sort, search)
    stmt = select(p.c.id).select_from(p)
    # Joined only when a filter or the order names their fields: every payment has exactly one
    # customer (NOT NULL, a foreign key) and at most one line, so the join changes no count, and
    # without it a page of one day's payments does not look up each payment's customer.
    if used & _CUSTOMER_FIELDS:
        stmt = stmt.join(t.customers, t.customers.c.id == p.c.customer_id)
    if "accountName" in used:
        stmt = stmt.outerjoin(t.statement_lines, t.statement_lines.c.id == p.c.statement_line_id)
    stmt = stmt.where(*_search_conditions(search, columns))
    page, count = apply_list_query(stmt, columns, _Sorted(q, sort), ignore=SEED_PARAMETERS)
    # The page and the count in one statement (a window count over the filtered rows); a page
    # past the end has no row to carry it, and is counted on its own.
    page = page.add_columns(func.count().over().label("total"))
    with reading(engine) as conn:
        rows = conn.execute(page).all()
        if rows:
            total = int(rows[0].total)
        elif q.offset == 0:
            total = 0
        else:
            total = int(conn.execute(count).scalar_one())
        return PaymentPage(payment_views(conn, [r.id for r in rows]), total)


_CUSTOMER_FIELDS = frozenset({"customerName", "bcyCurrency"})


def _fields_used(q: ListQueryLike, sort: list[tuple[str, bool]], search: PaymentSearch) -> set[str]:
    """The camelCase fields the filters, the search and the order of one list request name."""
    used = {field for field in q.filters if field not in SEED_PARAMETERS}
    used.update(field for field, _ in sort)
    if search.search_text or any(c[0] == "customer_name" for c in search.conditions):
        used.add("customerName")
    return used


@dataclass(frozen=True, slots=True)
class _Sorted:
    """A list query with the seed's sort merged in."""

    q: ListQueryLike
    sort: list[tuple[str, bool]]

    @property
    def page_size(self) -> int:
        return self.q.page_size

    @property
    def offset(self) -> int:
        return self.q.offset

    @property
    def filters(self) -> dict[str, str]:
        return self.q.filters


SEED_PARAMETERS = frozenset(
    {
        f"{name}{suffix}"
        for name in ("customer_name", "reference_number", "notes", "payment_mode")
        for suffix in ("", "_startswith", "_contains")
    }
    | {"date_start", "date_end", "date_before", "date_after"}
    | {f"amount_{op}" for op in ("less_than", "less_equals", "greater_than", "greater_equals")}
    | {"customer_id", "invoice_id", "filter_by", "search_text", "sort_column", "sort_order"}
    | {"per_page"}
)


def _search_conditions(
    search: PaymentSearch, columns: dict[str, ColumnElement[Any]]
) -> list[ColumnElement[bool]]:
    fields: dict[str, ColumnElement[Any]] = {
        "customer_name": columns["customerName"],
        "reference_number": columns["referenceNumber"],
        "notes": columns["description"],
        "payment_mode": columns["paymentMode"],
        "date": columns["date"],
        "amount": columns["amount"],
        "customer_id": columns["customerId"],
    }
    found: list[ColumnElement[bool]] = []
    for name, op, value in search.conditions:
        if name == "invoice_id":
            found.append(
                select(t.allocations.c.id)
                .where(
                    t.allocations.c.payment_id == t.payments.c.id,
                    t.allocations.c.invoice_id == value,
                )
                .exists()
            )
            continue
        column = fields[name]
        if op == "startswith":
            found.append(column.istartswith(str(value), autoescape=True))
        elif op == "contains":
            found.append(column.icontains(str(value), autoescape=True))
        elif op == "eq" and isinstance(value, str):
            found.append(func.lower(column) == value.lower())
        else:
            found.append(getattr(operator, op)(column, value))
    if search.payment_mode_filter not in (None, "all"):
        found.append(_mode_condition(columns["paymentMode"], search.payment_mode_filter or ""))
    if search.search_text:
        text = search.search_text
        found.append(
            or_(
                columns["referenceNumber"].icontains(text, autoescape=True),
                columns["customerName"].icontains(text, autoescape=True),
                columns["description"].icontains(text, autoescape=True),
            )
        )
    return found


def _mode_condition(column: ColumnElement[Any], mode: str) -> ColumnElement[bool]:
    squashed = func.lower(
        func.replace(func.replace(func.replace(column, " ", ""), "_", ""), "-", "")
    )
    if mode == "others":
        return squashed.not_in([m for spellings in KNOWN_MODES.values() for m in spellings])
    if mode not in KNOWN_MODES:
        raise InvalidInput(f"filter_by: unknown payment mode PaymentMode.{mode}")
    return squashed.in_(KNOWN_MODES[mode])
