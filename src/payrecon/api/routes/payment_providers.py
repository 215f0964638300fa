"""`/v1/payment-providers`: seed 000's PaymentProvider. `accessToken` and `webhookSecret` are
write-only: accepted on create and patch, stored encrypted, never in a response. `baseUrl` is
https on the provider's own hosts; a patch that changes where the token goes (the URL, or the
kind) clears the stored token (`accessTokenSet: false` in the answer) unless it sets a new one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from payrecon.api.auth import require
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.services.admin.entities import PAYMENT_PROVIDERS, PaymentProviderFields
from payrecon.services.admin.json_patch import PatchOperation
from payrecon.services.admin.resources import (
    create_resource,
    delete_resource,
    get_resource,
    list_resources,
    patch_resource,
)

router = APIRouter(
    prefix="/v1",
    tags=["payment providers"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
ResourceId = Annotated[RowId, Path(description="Payment provider identifier")]


@list_endpoint(
    router,
    "/payment-providers",
    dependencies=[Depends(require("read"))],
    summary="List payment providers",
)
def list_payment_providers(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = list_resources(request.app.state.container.engine, PAYMENT_PROVIDERS, q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=PAYMENT_PROVIDERS.shown,
    )


@router.get(
    "/payment-providers/{payment_provider_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific payment provider",
)
def get_payment_provider(request: Request, payment_provider_id: ResourceId) -> Any:
    provider = get_resource(
        request.app.state.container.engine, PAYMENT_PROVIDERS, payment_provider_id
    )
    return DecimalJSONResponse(provider)


@router.post(
    "/payment-providers",
    status_code=201,
    dependencies=[Depends(require("admin"))],
    summary="Create a payment provider",
)
def create_payment_provider(request: Request, body: PaymentProviderFields) -> Any:
    container = request.app.state.container
    provider = create_resource(
        container.engine, PAYMENT_PROVIDERS, body, policy=container.credentials.write_policy()
    )
    return DecimalJSONResponse(
        provider, status_code=201, headers={"Location": f"/v1/payment-providers/{provider['id']}"}
    )


@router.patch(
    "/payment-providers/{payment_provider_id}",
    dependencies=[Depends(require("admin"))],
    summary="Update a payment provider with a JSON Patch (RFC 6902)",
)
def patch_payment_provider(
    request: Request,
    payment_provider_id: ResourceId,
    patch: Annotated[list[PatchOperation], Body(description="JSON Patch operations, in order")],
) -> Any:
    container = request.app.state.container
    provider = patch_resource(
        container.engine,
        PAYMENT_PROVIDERS,
        payment_provider_id,
        [operation.as_rfc() for operation in patch],
        policy=container.credentials.write_policy(),
    )
    return DecimalJSONResponse(provider)


@router.delete(
    "/payment-providers/{payment_provider_id}",
    status_code=204,
    dependencies=[Depends(require("admin"))],
    summary="Delete a payment provider that nothing refers to",
)
def delete_payment_provider(request: Request, payment_provider_id: ResourceId) -> Response:
    delete_resource(request.app.state.container.engine, PAYMENT_PROVIDERS, payment_provider_id)
    return Response(status_code=204)
