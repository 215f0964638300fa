"""`/v1/billing-cycles`: a contract cycle's billing processes and their start days (seeds
002/003): list, get, create, RFC 6902 JSON Patch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request

from payrecon.api.auth import require
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.services.admin import create_resource, get_resource, list_resources, patch_resource
from payrecon.services.admin_entities import BILLING_CYCLES, BillingCycleFields
from payrecon.services.json_patch import PatchOperation

router = APIRouter(
    prefix="/v1",
    tags=["billing cycles"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
ResourceId = Annotated[int, Path(ge=1, description="Billing cycle identifier")]


@list_endpoint(
    router,
    "/billing-cycles",
    dependencies=[Depends(require("read"))],
    summary="List billing cycles",
)
def list_billing_cycles(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = list_resources(request.app.state.container.engine, BILLING_CYCLES, q)
    return list_response(
        page.items, page.total, q, head=request.method == "HEAD", known_fields=BILLING_CYCLES.shown
    )


@router.get(
    "/billing-cycles/{billing_cycle_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific billing cycle",
)
def get_billing_cycle(request: Request, billing_cycle_id: ResourceId) -> Any:
    cycle = get_resource(request.app.state.container.engine, BILLING_CYCLES, billing_cycle_id)
    return DecimalJSONResponse(cycle)


@router.post(
    "/billing-cycles",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Create a billing cycle",
)
def create_billing_cycle(request: Request, body: BillingCycleFields) -> Any:
    cycle = create_resource(request.app.state.container.engine, BILLING_CYCLES, body)
    return DecimalJSONResponse(
        cycle, status_code=201, headers={"Location": f"/v1/billing-cycles/{cycle['id']}"}
    )


@router.patch(
    "/billing-cycles/{billing_cycle_id}",
    dependencies=[Depends(require("write"))],
    summary="Update a billing cycle with a JSON Patch (RFC 6902)",
)
def patch_billing_cycle(
    request: Request,
    billing_cycle_id: ResourceId,
    patch: Annotated[list[PatchOperation], Body(description="JSON Patch operations, in order")],
) -> Any:
    cycle = patch_resource(
        request.app.state.container.engine,
        BILLING_CYCLES,
        billing_cycle_id,
        [operation.as_rfc() for operation in patch],
    )
    return DecimalJSONResponse(cycle)
