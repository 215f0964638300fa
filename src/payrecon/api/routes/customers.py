"""`/v1/customers`: the imported customers, with their known IBANs and mandate references.

`?externalId=` finds a customer by the id it had in the imported file; `?iban=` and
`?mandateReference=` by what it has. A read token may see IBANs; the logs mask them.
"""

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
    tags=["customers"],
    generate_unique_id_function=operation_id,
)


@list_endpoint(
    router, "/customers", dependencies=[Depends(require("read"))], summary="List customers"
)
def list_customers(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = ledger_views.list_customers(request.app.state.container.engine, q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=ledger_views.CUSTOMER_KNOWN_FIELDS,
    )


@router.get(
    "/customers/{customer_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific customer",
)
def get_customer(
    request: Request, customer_id: Annotated[RowId, Path(description="Customer identifier")]
) -> Any:
    return DecimalJSONResponse(
        ledger_views.get_customer(request.app.state.container.engine, customer_id)
    )
