"""`/v1/statement-lines`: every line read from a bank file, with its status; `?status=unmatched`
is the review queue (each line with its reason and suggested customers). A line is matched by
hand with `POST /v1/statement-lines/{id}/allocations` (scope `write`, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from payrecon.api.auth import Principal, caller, require
from payrecon.api.exports import export_format, export_response
from payrecon.api.fields import RowId, StoredAmount
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
from payrecon.services.reconciliation import review, review_export

router = APIRouter(
    prefix="/v1",
    tags=["review queue"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
LineId = Annotated[RowId, Path(description="Statement line identifier")]


class AllocationBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    invoice_id: RowId = Field(alias="invoiceId")
    amount: StoredAmount


class ManualMatchBody(BaseModel):
    """Assign the line to `customerId` and apply it to these invoices; `reason` is audited."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    customer_id: RowId = Field(alias="customerId")
    allocations: list[AllocationBody] = Field(default_factory=list, max_length=1000)
    reason: str = Field(min_length=1, max_length=2000)


@list_endpoint(
    router,
    "/statement-lines",
    dependencies=[Depends(require("read"))],
    summary="List statement lines (status=unmatched: the review queue)",
)
def list_statement_lines(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    """`?format=csv|xlsx` exports every line the filters select, with reasons and suggestions."""
    wanted = export_format(request)
    if wanted is not None:
        rows = review_export.line_rows(request.app.state.container.engine, q)
        return export_response(rows, review_export.LINE_COLUMNS, wanted, name="statement-lines")
    page = review.list_statement_lines(request.app.state.container.engine, q, ignore=("format",))
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=review.LINE_KNOWN_FIELDS,
    )


@router.get(
    "/statement-lines/{line_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a statement line with its payment, allocations and suggestions",
)
def get_statement_line(request: Request, line_id: LineId) -> Any:
    return DecimalJSONResponse(
        review.get_statement_line(request.app.state.container.engine, line_id)
    )


@router.post(
    "/statement-lines/{line_id}/allocations",
    status_code=201,
    summary="Match a line by hand: its customer and the invoices it pays",
)
def match_statement_line(
    request: Request,
    line_id: LineId,
    body: ManualMatchBody,
    principal: Annotated[Principal, Depends(caller("write"))],
) -> Any:
    line = review.match_by_hand(
        request.app.state.container.engine,
        line_id,
        customer_id=body.customer_id,
        allocations=[ManualAllocation(a.invoice_id, a.amount) for a in body.allocations],
        reason=body.reason,
        actor=principal.subject,
    )
    return DecimalJSONResponse(line, status_code=201)
