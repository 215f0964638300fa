"""`/v1/site-payment-mandates`: seed 000's SitePaymentMandate, a provider's authority to take
direct debits from a customer's account: list, get, create, RFC 6902 JSON Patch."""

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
from payrecon.services.admin_entities import SITE_PAYMENT_MANDATES, SitePaymentMandateFields
from payrecon.services.json_patch import PatchOperation

router = APIRouter(
    prefix="/v1",
    tags=["site payment mandates"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
ResourceId = Annotated[int, Path(ge=1, description="Site payment mandate identifier")]


@list_endpoint(
    router,
    "/site-payment-mandates",
    dependencies=[Depends(require("read"))],
    summary="List site payment mandates",
)
def list_site_payment_mandates(
    request: Request, q: Annotated[ListQuery, Depends(list_query)]
) -> Any:
    page = list_resources(request.app.state.container.engine, SITE_PAYMENT_MANDATES, q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=SITE_PAYMENT_MANDATES.shown,
    )


@router.get(
    "/site-payment-mandates/{mandate_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific site payment mandate",
)
def get_site_payment_mandate(request: Request, mandate_id: ResourceId) -> Any:
    mandate = get_resource(request.app.state.container.engine, SITE_PAYMENT_MANDATES, mandate_id)
    return DecimalJSONResponse(mandate)


@router.post(
    "/site-payment-mandates",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Create a site payment mandate",
)
def create_site_payment_mandate(request: Request, body: SitePaymentMandateFields) -> Any:
    mandate = create_resource(request.app.state.container.engine, SITE_PAYMENT_MANDATES, body)
    return DecimalJSONResponse(
        mandate, status_code=201, headers={"Location": f"/v1/site-payment-mandates/{mandate['id']}"}
    )


@router.patch(
    "/site-payment-mandates/{mandate_id}",
    dependencies=[Depends(require("write"))],
    summary="Update a site payment mandate with a JSON Patch (RFC 6902)",
)
def patch_site_payment_mandate(
    request: Request,
    mandate_id: ResourceId,
    patch: Annotated[list[PatchOperation], Body(description="JSON Patch operations, in order")],
) -> Any:
    mandate = patch_resource(
        request.app.state.container.engine,
        SITE_PAYMENT_MANDATES,
        mandate_id,
        [operation.as_rfc() for operation in patch],
    )
    return DecimalJSONResponse(mandate)
