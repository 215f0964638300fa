"""`/v1/contract-owners`: seed 003's contract owners (read, create, RFC 6902 JSON Patch)."""

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
from payrecon.services.admin_entities import CONTRACT_OWNERS, ContractOwnerFields
from payrecon.services.json_patch import PatchOperation

router = APIRouter(
    prefix="/v1",
    tags=["contract owners"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
OwnerId = Annotated[int, Path(ge=1, description="Contract owner identifier")]


@list_endpoint(
    router,
    "/contract-owners",
    dependencies=[Depends(require("read"))],
    summary="List contract owners",
)
def list_contract_owners(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = list_resources(request.app.state.container.engine, CONTRACT_OWNERS, q)
    return list_response(
        page.items, page.total, q, head=request.method == "HEAD", known_fields=CONTRACT_OWNERS.shown
    )


@router.get(
    "/contract-owners/{contract_owner_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific contract owner",
)
def get_contract_owner(request: Request, contract_owner_id: OwnerId) -> Any:
    owner = get_resource(request.app.state.container.engine, CONTRACT_OWNERS, contract_owner_id)
    return DecimalJSONResponse(owner)


@router.post(
    "/contract-owners",
    status_code=201,
    dependencies=[Depends(require("admin"))],
    summary="Create a contract owner",
)
def create_contract_owner(request: Request, body: ContractOwnerFields) -> Any:
    owner = create_resource(request.app.state.container.engine, CONTRACT_OWNERS, body)
    return DecimalJSONResponse(
        owner, status_code=201, headers={"Location": f"/v1/contract-owners/{owner['id']}"}
    )


@router.patch(
    "/contract-owners/{contract_owner_id}",
    dependencies=[Depends(require("admin"))],
    summary="Update a contract owner with a JSON Patch (RFC 6902)",
)
def patch_contract_owner(
    request: Request,
    contract_owner_id: OwnerId,
    patch: Annotated[list[PatchOperation], Body(description="JSON Patch operations, in order")],
) -> Any:
    owner = patch_resource(
        request.app.state.container.engine,
        CONTRACT_OWNERS,
        contract_owner_id,
        [operation.as_rfc() for operation in patch],
    )
    return DecimalJSONResponse(owner)
