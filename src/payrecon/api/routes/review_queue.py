"""`/v1/review-queue`: everything that waits for a person, in one list with the list
conventions: unmatched statement lines (`source: bank`) and collected provider payments the
ledger could not record (`source: gocardless|stripe`: no customer, or no exchange rate), each
with its reason and suggestions; `?format=csv|xlsx` exports it. One call matches an item by
hand: `POST /v1/review-queue/{id}/allocations` (scope `write`, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from payrecon.api.auth import Principal, caller, require
from payrecon.api.exports import export_format, export_response
from payrecon.api.fields import ExactDecimal, StoredAmount
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.domain.matching.manual import ManualAllocation
from payrecon.services.reconciliation import review_export, review_queue

router = APIRouter(
    prefix="/v1",
    tags=["review queue"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)


class QueueAllocation(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    invoice_id: int = Field(alias="invoiceId", ge=1)
    amount: StoredAmount


class QueueMatchBody(BaseModel):
    """The customer the money is from, the invoices it pays, why; `exchangeRate` converts money
    in another currency than the customer's (else the rate on record is used)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    customer_id: int = Field(alias="customerId", ge=1)
    allocations: list[QueueAllocation] = Field(default_factory=list, max_length=1000)
    reason: str = Field(min_length=1, max_length=2000)
    exchange_rate: Annotated[ExactDecimal, Field(gt=0, max_digits=24, decimal_places=8)] | None = (
        Field(default=None, alias="exchangeRate")
    )


@list_endpoint(
    router,
    "/review-queue",
    dependencies=[Depends(require("read"))],
    summary="The review queue: unmatched lines and provider payments awaiting review",
)
def list_review_queue(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    engine = request.app.state.container.engine
    wanted = export_format(request)
    if wanted is not None:
        rows = review_export.review_rows(engine, q)
        return export_response(rows, review_export.COLUMNS, wanted, name="review-queue")
    page = review_queue.list_review_queue(engine, q, ignore=("format",))
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=review_queue.KNOWN_FIELDS,
    )


@router.post(
    "/review-queue/{item_id}/allocations",
    status_code=201,
    summary="Match a review-queue item by hand: its customer and the invoices it pays",
)
def match_review_item(
    request: Request,
    item_id: Annotated[str, Path(pattern=r"^(line|provider)-[0-9]{1,19}$")],
    body: QueueMatchBody,
    principal: Annotated[Principal, Depends(caller("write"))],
) -> Any:
    matched = review_queue.match_item(
        request.app.state.container.engine,
        item_id,
        customer_id=body.customer_id,
        allocations=[ManualAllocation(a.invoice_id, a.amount) for a in body.allocations],
        reason=body.reason,
        actor=principal.subject,
        exchange_rate=body.exchange_rate,
    )
    return DecimalJSONResponse(matched, status_code=201)
