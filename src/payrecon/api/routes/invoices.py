"""`/v1/invoices`: the imported invoices with their open amount (total minus live allocations) and
status (`open`, `partially_paid`, `paid`); `?externalId=` finds one by its id in the imported
file."""

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
    tags=["invoices"],
    generate_unique_id_function=operation_id,
)


@list_endpoint(
    router, "/invoices", dependencies=[Depends(require("read"))], summary="List invoices"
)
def list_invoices(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = ledger_views.list_invoices(request.app.state.container.engine, q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=ledger_views.INVOICE_FIELDS,
    )


@router.get(
    "/invoices/{invoice_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific invoice",
)
def get_invoice(
    request: Request, invoice_id: Annotated[RowId, Path(description="Invoice identifier")]
) -> Any:
    return DecimalJSONResponse(
        ledger_views.get_invoice(request.app.state.container.engine, invoice_id)
    )
