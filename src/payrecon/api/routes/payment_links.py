"""`/v1/payment-provider-payment-links`: seed 000's PaymentProviderPaymentLink, a hyperlink for a
customer to pay an invoice or towards the balance: list, get, create, RFC 6902 JSON Patch."""

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
from payrecon.services.admin_entities import PAYMENT_LINKS, PaymentLinkFields
from payrecon.services.json_patch import PatchOperation

router = APIRouter(
    prefix="/v1",
    tags=["payment links"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
ResourceId = Annotated[int, Path(ge=1, description="Payment link identifier")]


@list_endpoint(
    router,
    "/payment-provider-payment-links",
    dependencies=[Depends(require("read"))],
    summary="List payment links",
)
def list_payment_links(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = list_resources(request.app.state.container.engine, PAYMENT_LINKS, q)
    return list_response(
        page.items, page.total, q, head=request.method == "HEAD", known_fields=PAYMENT_LINKS.shown
    )


@router.get(
    "/payment-provider-payment-links/{payment_link_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific payment link",
)
def get_payment_link(request: Request, payment_link_id: ResourceId) -> Any:
    link = get_resource(request.app.state.container.engine, PAYMENT_LINKS, payment_link_id)
    return DecimalJSONResponse(link)


@router.post(
    "/payment-provider-payment-links",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Create a payment link",
)
def create_payment_link(request: Request, body: PaymentLinkFields) -> Any:
    link = create_resource(request.app.state.container.engine, PAYMENT_LINKS, body)
    return DecimalJSONResponse(
        link,
        status_code=201,
        headers={"Location": f"/v1/payment-provider-payment-links/{link['id']}"},
    )


@router.patch(
    "/payment-provider-payment-links/{payment_link_id}",
    dependencies=[Depends(require("write"))],
    summary="Update a payment link with a JSON Patch (RFC 6902)",
)
def patch_payment_link(
    request: Request,
    payment_link_id: ResourceId,
    patch: Annotated[list[PatchOperation], Body(description="JSON Patch operations, in order")],
) -> Any:
    link = patch_resource(
        request.app.state.container.engine,
        PAYMENT_LINKS,
        payment_link_id,
        [operation.as_rfc() for operation in patch],
    )
    return DecimalJSONResponse(link)
