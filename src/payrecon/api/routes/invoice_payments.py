"""Seed 000's InvoicePayment and AdhocInvoicePayment: read-only lists of the allocations of
payments to standard invoices (`/v1/invoice-payments`) and to adhoc invoices
(`/v1/adhoc-invoice-payments`). Each item is one allocation: its payment, invoice and amount."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from payrecon.api.auth import require
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import ListQuery, list_endpoint, list_query, list_response, operation_id
from payrecon.services.ledger import views as ledger_views

router = APIRouter(
    prefix="/v1",
    tags=["invoice payments"],
    generate_unique_id_function=operation_id,
)
AllocationId = Annotated[RowId, Path(description="Invoice payment (allocation) identifier")]


@list_endpoint(
    router,
    "/invoice-payments",
    dependencies=[Depends(require("read"))],
    summary="List payments applied to standard invoices",
)
def list_invoice_payments(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = ledger_views.list_invoice_payments(request.app.state.container.engine, "standard", q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=ledger_views.INVOICE_PAYMENT_FIELDS,
    )


@router.get(
    "/invoice-payments/{invoice_payment_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a payment applied to a standard invoice",
)
def get_invoice_payment(request: Request, invoice_payment_id: AllocationId) -> Any:
    engine = request.app.state.container.engine
    return DecimalJSONResponse(
        ledger_views.get_invoice_payment(engine, "standard", invoice_payment_id)
    )


@list_endpoint(
    router,
    "/adhoc-invoice-payments",
    dependencies=[Depends(require("read"))],
    summary="List payments applied to adhoc invoices",
)
def list_adhoc_invoice_payments(
    request: Request, q: Annotated[ListQuery, Depends(list_query)]
) -> Any:
    page = ledger_views.list_invoice_payments(request.app.state.container.engine, "adhoc", q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=ledger_views.INVOICE_PAYMENT_FIELDS,
    )


@router.get(
    "/adhoc-invoice-payments/{adhoc_invoice_payment_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a payment applied to an adhoc invoice",
)
def get_adhoc_invoice_payment(request: Request, adhoc_invoice_payment_id: AllocationId) -> Any:
    engine = request.app.state.container.engine
    return DecimalJSONResponse(
        ledger_views.get_invoice_payment(engine, "adhoc", adhoc_invoice_payment_id)
    )
