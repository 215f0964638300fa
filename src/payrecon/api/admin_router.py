"""One router shape for the Admin API's simple resources (seeds 002/003): list (GET and HEAD with
the list conventions), get, create (201 with Location), RFC 6902 JSON Patch. Each resource module
declares its path, names and write scope; the routes are the same.

This module deliberately has no `from __future__ import annotations`: FastAPI reads the request
body's model from the annotation of a function defined here, per resource.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request

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
from payrecon.services.admin.json_patch import PatchOperation
from payrecon.services.admin.resources import (
    AdminResource,
    create_resource,
    get_resource,
    list_resources,
    patch_resource,
)


def admin_router(
    resource: AdminResource,
    *,
    path: str,
    singular: str,
    plural: str,
    write_scope: str = "write",
) -> APIRouter:
    """Routes for `resource` at `/v1/<path>`; operation ids `list_<plural>`, `get_<singular>`,
    `create_<singular>`, `patch_<singular>` (spaces as underscores)."""
    router = APIRouter(
        prefix="/v1",
        tags=[plural],
        route_class=ExactJSONRoute,
        generate_unique_id_function=operation_id,
    )
    one, many = singular.replace(" ", "_"), plural.replace(" ", "_")
    resource_id = Annotated[RowId, Path(description=f"{singular.capitalize()} identifier")]
    fields = resource.model

    def list_items(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
        page = list_resources(request.app.state.container.engine, resource, q)
        return list_response(
            page.items, page.total, q, head=request.method == "HEAD", known_fields=resource.shown
        )

    def get_item(request: Request, item_id: resource_id) -> Any:
        return DecimalJSONResponse(
            get_resource(request.app.state.container.engine, resource, item_id)
        )

    def create_item(request: Request, body: fields) -> Any:  # type: ignore[valid-type]
        created = create_resource(request.app.state.container.engine, resource, body)
        return DecimalJSONResponse(
            created, status_code=201, headers={"Location": f"/v1/{path}/{created['id']}"}
        )

    def patch_item(
        request: Request,
        item_id: resource_id,
        patch: Annotated[list[PatchOperation], Body(description="JSON Patch operations, in order")],
    ) -> Any:
        operations = [operation.as_rfc() for operation in patch]
        return DecimalJSONResponse(
            patch_resource(request.app.state.container.engine, resource, item_id, operations)
        )

    list_items.__name__ = f"list_{many}"
    list_endpoint(
        router, f"/{path}", dependencies=[Depends(require("read"))], summary=f"List {plural}"
    )(list_items)
    router.add_api_route(
        f"/{path}/{{item_id}}",
        get_item,
        methods=["GET"],
        name=f"get_{one}",
        dependencies=[Depends(require("read"))],
        summary=f"Get a specific {singular}",
    )
    router.add_api_route(
        f"/{path}",
        create_item,
        methods=["POST"],
        name=f"create_{one}",
        status_code=201,
        dependencies=[Depends(require(write_scope))],
        summary=f"Create a {singular}",
    )
    router.add_api_route(
        f"/{path}/{{item_id}}",
        patch_item,
        methods=["PATCH"],
        name=f"patch_{one}",
        dependencies=[Depends(require(write_scope))],
        summary=f"Update a {singular} with a JSON Patch (RFC 6902)",
    )
    return router
