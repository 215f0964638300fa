"""`/v1/allocations/{id}`: one allocation of a payment to an invoice with the rule that made
it, its confidence, the evidence, and the explanation in words. DELETE removes it (scope `write`,
audited); when it was its bank payment's last, the line returns to the review queue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from payrecon.api.auth import Principal, caller, require
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import operation_id
from payrecon.services.reconciliation import review

router = APIRouter(prefix="/v1", tags=["allocations"], generate_unique_id_function=operation_id)
AllocationId = Annotated[RowId, Path(description="Allocation identifier")]


@router.get(
    "/allocations/{allocation_id}",
    dependencies=[Depends(require("read"))],
    summary="Get an allocation, explained",
)
def get_allocation(request: Request, allocation_id: AllocationId) -> Any:
    return DecimalJSONResponse(
        review.get_allocation(request.app.state.container.engine, allocation_id)
    )


@router.delete("/allocations/{allocation_id}", summary="Delete an allocation (audited)")
def delete_allocation(
    request: Request,
    allocation_id: AllocationId,
    principal: Annotated[Principal, Depends(caller("write"))],
    reason: Annotated[
        str | None, Query(max_length=2000, description="Why, for the audit log")
    ] = None,
) -> Any:
    deleted = review.delete_allocation(
        request.app.state.container.engine, allocation_id, actor=principal.subject, reason=reason
    )
    return DecimalJSONResponse(deleted)
