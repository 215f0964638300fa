"""`/v1/customer-credit-status`: seed 000's CustomerCreditStatus, the balance against the credit
threshold (`OVER_THRESHOLD` when the customer owes more than it), and the history of its changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from payrecon.api.auth import require
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import ListQuery, list_endpoint, list_query, list_response, operation_id
from payrecon.services.ledger import credit_status

router = APIRouter(prefix="/v1", tags=["balances"], generate_unique_id_function=operation_id)
HISTORY_FIELDS = (
    "id",
    "customerId",
    "fromStatus",
    "status",
    "balance",
    "creditThreshold",
    "changedAt",
    "cause",
)


@router.get(
    "/customer-credit-status",
    dependencies=[Depends(require("read"))],
    summary="Get a customer's balance versus their credit threshold",
)
def get_customer_credit_status(
    request: Request, customer_id: Annotated[RowId, Query(description="Customer identifier")]
) -> Any:
    view = credit_status.get_credit_status(request.app.state.container.engine, customer_id)
    return DecimalJSONResponse(
        {
            "customerId": view.customer_id,
            "balance": view.balance,
            "creditThreshold": view.credit_threshold,
            "status": view.status.value,
            "changedAt": view.changed_at,
        }
    )


@list_endpoint(
    router,
    "/customer-credit-status/history",
    dependencies=[Depends(require("read"))],
    summary="List the changes of customers' credit status",
)
def list_credit_status_history(
    request: Request,
    q: Annotated[ListQuery, Depends(list_query)],
    customer_id: Annotated[RowId | None, Query(description="Customer identifier")] = None,
) -> Any:
    q = replace(q, filters={k: v for k, v in q.filters.items() if k != "customer_id"})
    page = credit_status.list_credit_status_history(
        request.app.state.container.engine, q, customer_id=customer_id
    )
    items = [
        {
            "id": change.id,
            "customerId": change.customer_id,
            "fromStatus": change.from_status.value if change.from_status else None,
            "status": change.status.value,
            "balance": change.balance,
            "creditThreshold": change.credit_threshold,
            "changedAt": change.changed_at,
            "cause": change.cause,
        }
        for change in page.items
    ]
    return list_response(
        items, page.total, q, head=request.method == "HEAD", known_fields=HISTORY_FIELDS
    )
