"""The list conventions of the Admin API seeds (002/003), for every list endpoint.

    page=1&pageSize=100          page 1..MAX_PAGE, pageSize 1..1000 (else 422 `invalid_input`)
    sort=id,name | name:desc     ascending unless `:desc`; a stable order by id breaks ties
    fields=id,name               project each item onto these fields
    name=xyz | in:x,y | like:xy  every other query parameter filters by a camelCase field

A list endpoint answers a JSON array with `X-Total-Count`, and HEAD answers the header alone.
Usage in a route module:

    @list_endpoint(router, "/things", dependencies=[Depends(require("read"))])
    def list_things(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
        page = things_service.list_things(engine, q)        # uses store.listing.apply_list_query
        return list_response(page.items, page.total, q, head=request.method == "HEAD")

`list_endpoint` registers GET and HEAD as two routes so that each gets its own OpenAPI
operationId (`@router.api_route(path, methods=["GET", "HEAD"])` gives both methods one id, which
FastAPI warns about and which makes the OpenAPI document invalid).

`ExactJSONRoute` (use `APIRouter(route_class=ExactJSONRoute)`) decodes JSON request bodies with
every number that has a fraction as a `Decimal`, so an amount in a body never passes through float.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.text_input import check_storable
from payrecon.domain.errors import InvalidInput
from payrecon.store.types import MAX_ID

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# The largest page whose offset, (page - 1) * pageSize, is still a BIGINT for every page size.
MAX_PAGE = MAX_ID // MAX_PAGE_SIZE
_RESERVED = frozenset({"page", "pageSize", "sort", "fields"})
# What the document promises of `sort` and `fields` (the field names are the resource's own).
_NAME = r"\s*[A-Za-z][A-Za-z0-9_]*\s*"
_ORDER = r"(:([aA][sS][cC]|[dD][eE][sS][cC]))?"
SORT_PATTERN = rf"^{_NAME}{_ORDER}(,{_NAME}{_ORDER})*$"
FIELDS_PATTERN = rf"^{_NAME}(,{_NAME})*$"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class ListQuery:
    """One list request: which page, in which order, which fields, which filters."""

    page: int
    page_size: int
    sort: list[tuple[str, bool]]  # (camelCase field, descending)
    fields: list[str] | None
    filters: dict[str, str]  # raw filter values by camelCase field name

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def list_query(
    request: Request,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page of results to show")] = 1,
    page_size: Annotated[
        int,
        Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE, description="Results to return per page"),
    ] = DEFAULT_PAGE_SIZE,
    sort: Annotated[
        str | None,
        Query(
            description="Fields to sort by, comma-separated; suffix `:desc` to descend",
            pattern=SORT_PATTERN,
        ),
    ] = None,
    fields: Annotated[
        str | None,
        Query(
            description="Fields to return, comma-separated (default: all)",
            pattern=FIELDS_PATTERN,
        ),
    ] = None,
) -> ListQuery:
    """FastAPI dependency. The keyword parameters only document the conventions in OpenAPI; the
    values are read from `request` by `read_list_query`, which means the same called directly.
    Async because it does no I/O: FastAPI runs a plain `def` dependency in its thread pool, a hop
    to a thread and back on every list request."""
    del page, page_size, sort, fields
    return read_list_query(request)


def read_list_query(request: Request) -> ListQuery:
    """The list query of `request` (what the `list_query` dependency gives a route)."""
    params = request.query_params
    filters: dict[str, str] = {}
    for name in params:
        if name in _RESERVED or name in filters:
            continue
        values = params.getlist(name)
        if len(values) > 1:
            raise InvalidInput(
                f"filter {name!r} is given {len(values)} times; use {name}=in:a,b",
                details={"field": name},
            )
        filters[name] = values[0]
    return ListQuery(
        page=_bounded_int(params.get("page"), "page", 1, 1, MAX_PAGE),
        page_size=_bounded_int(
            params.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE
        ),
        sort=_parse_sort(params.get("sort")),
        fields=_parse_fields(params.get("fields")),
        filters=filters,
    )


def list_response(
    items: list[dict[str, Any]],
    total: int,
    q: ListQuery,
    *,
    head: bool = False,
    known_fields: Collection[str] | None = None,
) -> DecimalJSONResponse:
    """The JSON array of `items` (projected onto `q.fields`) with `X-Total-Count`; for HEAD the
    header alone. A field in `q.fields` that the items lack (or, when given, that is not among
    `known_fields`, which also catches it on an empty page) is a 422."""
    headers = {"X-Total-Count": str(total)}
    if q.fields is not None:
        known = set(known_fields) if known_fields is not None else _keys_of(items)
        unknown = [f for f in q.fields if known is not None and f not in known]
        if unknown:
            raise InvalidInput(
                f"unknown field(s) in fields: {', '.join(unknown)}",
                details={"fields": unknown, "known": sorted(known or ())},
            )
        items = [{f: item[f] for f in q.fields if f in item} for item in items]
    if head:
        response = DecimalJSONResponse(None, headers=headers)
        response.body = b""
        response.headers["content-length"] = "0"
        return response
    return DecimalJSONResponse(items, headers=headers)


def list_endpoint(
    router: APIRouter, path: str, **route_options: Any
) -> Callable[[Endpoint], Endpoint]:
    """Register the decorated function for GET and HEAD on `path`, with distinct operationIds
    (`<function name>` and `<function name>_head`); `route_options` go to both routes."""
    summary = route_options.pop("summary", None)
    description = route_options.pop("description", None)
    operation_id = route_options.pop("operation_id", None)
    route_options.setdefault("response_class", DecimalJSONResponse)

    def register(endpoint: Endpoint) -> Endpoint:
        name = operation_id or endpoint.__name__
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            operation_id=name,
            summary=summary,
            description=description,
            **route_options,
        )
        router.add_api_route(
            path,
            endpoint,
            methods=["HEAD"],
            operation_id=f"{name}_head",
            summary=f"Count: {summary}" if summary else None,
            description="The `X-Total-Count` header of the list, without a body.",
            **route_options,
        )
        return endpoint

    return register


def _keys_of(items: list[dict[str, Any]]) -> set[str] | None:
    if not items:
        return None
    keys: set[str] = set()
    for item in items:
        keys.update(item)
    return keys


def _bounded_int(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an integer, got {raw!r}", details={"field": name}
        ) from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidInput(f"{name} must be {bounds}, got {value}", details={"field": name})
    return value


def _split(raw: str, name: str) -> list[str]:
    parts = [p.strip() for p in raw.split(",")]
    if not all(parts):
        raise InvalidInput(f"{name} has an empty entry: {raw!r}", details={"field": name})
    return parts


def _parse_sort(raw: str | None) -> list[tuple[str, bool]]:
    if raw is None:
        return []
    order: list[tuple[str, bool]] = []
    for part in _split(raw, "sort"):
        field, _, direction = part.partition(":")
        if direction.lower() not in ("", "asc", "desc"):
            raise InvalidInput(
                f"sort direction must be asc or desc, got {direction!r}", details={"field": "sort"}
            )
        order.append((field, direction.lower() == "desc"))
    return order


def _parse_fields(raw: str | None) -> list[str] | None:
    return None if raw is None else _split(raw, "fields")


class ExactJSONRequest(Request):
    """A request whose JSON body keeps decimals exact (`json.loads(..., parse_float=Decimal)`)
    and holds only text the database can store (`text_input.check_storable`, else 422)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            decoded = json.loads(await self.body(), parse_float=Decimal)
            check_storable(decoded)
            self._json = decoded
        return self._json


class ExactJSONRoute(APIRoute):
    """A route whose endpoint sees JSON bodies through `ExactJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_json_handler


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operationId of a route: its function's name (`list_contract_owners`), for
    routers given `generate_unique_id_function=operation_id`."""
    return route.name
