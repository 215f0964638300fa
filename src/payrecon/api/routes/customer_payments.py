"""`/v1/customer-payments`: seed 001's customer payments, applied to invoices.

Bodies take the seed's fields in camelCase (`customerId`, `amountApplied`, ...) or as the seed
spells them (`customer_id`, `amount_applied`, ...). The list takes the Admin API conventions and
seed 001's filters side by side. DELETE answers 200 with the seed's `{code: 0, message}`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from payrecon.api.auth import require
from payrecon.api.fields import Amount, AmountFilter, RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.services.ledger import payment_reads, payments
from payrecon.services.ledger.payment_reads import PaymentView
from payrecon.services.ledger.payments import InvoicePaymentInput, PaymentInput

router = APIRouter(
    prefix="/v1",
    tags=["customer payments"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
PaymentId = Annotated[RowId, Path(description="Customer payment identifier")]


def _field(camel: str, snake: str, **options: Any) -> Any:
    return Field(validation_alias=AliasChoices(camel, snake), **options)


class InvoicePaymentBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    invoice_payment_id: RowId | None = _field(
        "invoicePaymentId", "invoice_payment_id", default=None
    )
    invoice_id: RowId = _field("invoiceId", "invoice_id")
    amount_applied: Amount = _field("amountApplied", "amount_applied")
    tax_amount_withheld: Amount = _field(
        "taxAmountWithheld", "tax_amount_withheld", default=Decimal(0)
    )


class PaymentBody(BaseModel):
    """Seed 001's create and update attributes. On update, a field left out keeps its value and
    `invoices` left out keeps the allocations; given, it is the complete new list."""

    model_config = ConfigDict(extra="ignore")

    customer_id: RowId | None = _field("customerId", "customer_id", default=None)
    amount: Amount
    date: dt.date | None = None
    payment_mode: str | None = _field("paymentMode", "payment_mode", default=None, max_length=50)
    currency_code: str | None = _field(
        "currencyCode", "currency_code", default=None, pattern=r"^[A-Za-z]{3}$"
    )
    exchange_rate: Amount | None = _field("exchangeRate", "exchange_rate", default=None)
    bank_charges: Amount | None = _field("bankCharges", "bank_charges", default=None)
    tax_amount_withheld: Amount | None = _field(
        "taxAmountWithheld", "tax_amount_withheld", default=None
    )
    description: str | None = Field(default=None, max_length=2000)
    reference_number: str | None = _field(
        "referenceNumber", "reference_number", default=None, max_length=50
    )
    invoices: list[InvoicePaymentBody] | None = None

    def as_input(self) -> PaymentInput:
        invoices = None
        if self.invoices is not None:
            invoices = [
                InvoicePaymentInput(
                    invoice_id=i.invoice_id,
                    amount_applied=i.amount_applied,
                    tax_amount_withheld=i.tax_amount_withheld,
                    invoice_payment_id=i.invoice_payment_id,
                )
                for i in self.invoices
            ]
        return PaymentInput(
            amount=self.amount,
            customer_id=self.customer_id,
            date=self.date,
            payment_mode=self.payment_mode,
            currency=self.currency_code.upper() if self.currency_code else None,
            exchange_rate=self.exchange_rate,
            bank_charges=self.bank_charges,
            tax_amount_withheld=self.tax_amount_withheld,
            description=self.description,
            reference_number=self.reference_number,
            invoices=invoices,
        )


def payment_json(view: PaymentView) -> dict[str, Any]:
    return {
        "id": view.id,
        "paymentId": view.id,
        "paymentNumber": view.payment_number,
        "customerId": view.customer_id,
        "customerName": view.customer_name,
        "paymentMode": view.payment_mode,
        "date": view.date,
        "currencyCode": view.currency,
        "exchangeRate": view.exchange_rate,
        "rateSource": view.rate_source,
        "rateDate": view.rate_date,
        "amount": view.amount,
        "bcyCurrency": view.bcy_currency,
        "bcyAmount": view.bcy_amount,
        "unusedAmount": view.unused_amount,
        "bcyUnusedAmount": view.bcy_unused_amount,
        "invoiceNumbers": view.invoice_numbers,
        "status": view.status,
        "bankCharges": view.bank_charges,
        "taxAmountWithheld": view.tax_amount_withheld,
        "description": view.description,
        "referenceNumber": view.reference_number,
        "invoices": [
            {
                "invoiceId": i.invoice_id,
                "invoiceNumber": i.invoice_number,
                "invoicePaymentId": i.invoice_payment_id,
                "amountApplied": i.amount_applied,
                "taxAmountWithheld": i.tax_amount_withheld,
                "total": i.total,
                "balance": i.balance,
                "date": i.date,
                "dueDate": i.due_date,
            }
            for i in view.invoices
        ],
    }


PAYMENT_FIELDS = [
    "id",
    "paymentId",
    "paymentNumber",
    "customerId",
    "customerName",
    "paymentMode",
    "date",
    "currencyCode",
    "exchangeRate",
    "rateSource",
    "rateDate",
    "amount",
    "bcyCurrency",
    "bcyAmount",
    "unusedAmount",
    "bcyUnusedAmount",
    "invoiceNumbers",
    "status",
    "bankCharges",
    "taxAmountWithheld",
    "description",
    "referenceNumber",
    "invoices",
]

_Text = Annotated[str | None, Query(max_length=100)]
_Modes = "All|Check|Cash|BankTransfer|Paypal|CreditCard|GoogleCheckout|Credit|Authorizenet|"
_Modes += "BankRemittance|Payflowpro|Stripe|TwoCheckout|Braintree|Others"


async def payment_search_parameters(
    customer_name: _Text = None,
    customer_name_startswith: _Text = None,
    customer_name_contains: _Text = None,
    reference_number: _Text = None,
    reference_number_startswith: _Text = None,
    reference_number_contains: _Text = None,
    notes: _Text = None,
    notes_startswith: _Text = None,
    notes_contains: _Text = None,
    payment_mode: _Text = None,
    payment_mode_startswith: _Text = None,
    payment_mode_contains: _Text = None,
    date: Annotated[dt.date | None, Query(description="Payment date (yyyy-mm-dd)")] = None,
    date_start: dt.date | None = None,
    date_end: dt.date | None = None,
    date_before: dt.date | None = None,
    date_after: dt.date | None = None,
    amount: Annotated[AmountFilter | None, Query(description="Payment amount")] = None,
    amount_less_than: AmountFilter | None = None,
    amount_less_equals: AmountFilter | None = None,
    amount_greater_than: AmountFilter | None = None,
    amount_greater_equals: AmountFilter | None = None,
    customer_id: RowId | None = None,
    invoice_id: RowId | None = None,
    filter_by: Annotated[str | None, Query(pattern=rf"^PaymentMode\.({_Modes})$")] = None,
    search_text: _Text = None,
    sort_column: Literal[
        "customer_name",
        "unused_amount",
        "amount",
        "bcy_amount",
        "date",
        "reference_number",
        "account_name",
        "payment_mode",
    ]
    | None = None,
    sort_order: Literal["A", "D"] | None = None,
) -> payment_reads.PaymentSearch:
    """Seed 001's list parameters (`date` and `amount` are also Admin-API equality filters).
    Async, as `list_query` is: no I/O, so no hop to the thread pool."""
    del date, amount  # handled with the Admin API filters of the same name
    given = dict(locals())
    conditions: list[tuple[str, str, object]] = []
    suffixes = {"": "eq", "_startswith": "startswith", "_contains": "contains"}
    for name in ("customer_name", "reference_number", "notes", "payment_mode"):
        for suffix, op in suffixes.items():
            if given[name + suffix] is not None:
                conditions.append((name, op, given[name + suffix]))
    comparisons = {
        "date_start": ("date", "ge"),
        "date_end": ("date", "le"),
        "date_before": ("date", "lt"),
        "date_after": ("date", "gt"),
        "amount_less_than": ("amount", "lt"),
        "amount_less_equals": ("amount", "le"),
        "amount_greater_than": ("amount", "gt"),
        "amount_greater_equals": ("amount", "ge"),
        "customer_id": ("customer_id", "eq"),
        "invoice_id": ("invoice_id", "eq"),
    }
    for parameter, (name, op) in comparisons.items():
        if given[parameter] is not None:
            conditions.append((name, op, given[parameter]))
    sort = None
    if sort_column is not None:
        sort = (sort_column, sort_order == "D")
    mode = filter_by.removeprefix("PaymentMode.").lower() if filter_by else None
    return payment_reads.PaymentSearch(
        conditions=tuple(conditions),
        payment_mode_filter=mode,
        search_text=search_text,
        sort=sort,
    )


@list_endpoint(
    router,
    "/customer-payments",
    dependencies=[Depends(require("read"))],
    summary="List customer payments",
)
def list_customer_payments(
    request: Request,
    q: Annotated[ListQuery, Depends(list_query)],
    search: Annotated[payment_reads.PaymentSearch, Depends(payment_search_parameters)],
    per_page: Annotated[
        int | None, Query(ge=1, le=1000, description="Seed 001's page size (pageSize)")
    ] = None,
) -> Any:
    if per_page is not None:
        q = replace(q, page_size=per_page)
    page = payment_reads.list_payments(request.app.state.container.engine, q, search)
    response = list_response(
        [payment_json(v) for v in page.items],
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=PAYMENT_FIELDS,
    )
    seed_style = {"per_page", "sort_column", "filter_by"} & set(request.query_params)
    if not seed_style or request.method == "HEAD":
        return response
    # A client speaking seed 001's parameters gets seed 001's envelope and page context.
    params = request.query_params
    return DecimalJSONResponse(
        {
            "code": 0,
            "message": "success",
            "customerpayments": json.loads(bytes(response.body), parse_float=Decimal),
            "page_context": {
                "page": q.page,
                "per_page": q.page_size,
                "has_more_page": q.offset + q.page_size < page.total,
                "report_name": "Payments Received",
                "applied_filter": params.get("filter_by", "PaymentMode.All"),
                "sort_column": params.get("sort_column", "date"),
                "sort_order": params.get("sort_order", "D"),
                "total": page.total,
            },
        },
        headers={"X-Total-Count": str(page.total)},
    )


@router.get(
    "/customer-payments/{payment_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a customer payment",
)
def get_customer_payment(request: Request, payment_id: PaymentId) -> Any:
    view = payments.get_payment(request.app.state.container.engine, payment_id)
    return DecimalJSONResponse(payment_json(view))


@router.post(
    "/customer-payments",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Create a customer payment, applied to invoices partially or fully",
)
def create_customer_payment(request: Request, body: PaymentBody) -> Any:
    view = payments.create_payment(request.app.state.container.engine, body.as_input())
    return DecimalJSONResponse(
        payment_json(view),
        status_code=201,
        headers={"Location": f"/v1/customer-payments/{view.id}"},
    )


@router.put(
    "/customer-payments/{payment_id}",
    dependencies=[Depends(require("write"))],
    summary="Update a customer payment and the amounts applied to its invoices",
)
def update_customer_payment(request: Request, payment_id: PaymentId, body: PaymentBody) -> Any:
    engine = request.app.state.container.engine
    view = payments.update_payment(engine, payment_id, body.as_input())
    return DecimalJSONResponse(payment_json(view))


@router.delete(
    "/customer-payments/{payment_id}",
    dependencies=[Depends(require("write"))],
    summary="Delete a customer payment; its invoices reopen",
)
def delete_customer_payment(request: Request, payment_id: PaymentId) -> Any:
    payments.delete_payment(request.app.state.container.engine, payment_id)
    return DecimalJSONResponse({"code": 0, "message": "The payment has been deleted."})
