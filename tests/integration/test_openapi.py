"""`/openapi.json` is a well-formed OpenAPI 3 document (checked structurally: no validator library
is installed) and names every endpoint of DESIGN.md's HTTP table that the app serves so far."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from payrecon.api.routes import all_routers
from payrecon.store.db import make_engine
from tests.integration.test_admin_lists import admin_client, body_of

DESIGN = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# What this part of issue 3 adds; each must be served and documented.
ADMIN_PATHS = {
    "/v1/contract-owners",
    "/v1/billing-cycles",
    "/v1/payment-providers",
    "/v1/site-payment-mandates",
    "/v1/payment-provider-payment-links",
    "/v1/customers",
    "/v1/invoices",
    "/v1/invoice-payments",
    "/v1/adhoc-invoice-payments",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    tmp = tmp_path_factory.mktemp("openapi")
    return admin_client(make_engine(f"sqlite:///{tmp / 'unused.db'}"), tmp)


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = body_of(response)
    return body


def template(path: str) -> str:
    """A path with its parameters unnamed: `/v1/tasks/{name}` and `/v1/tasks/{id}` are one."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def design_paths() -> set[str]:
    """Every path in the first column of DESIGN.md's HTTP table."""
    assert DESIGN.is_file(), f"DESIGN.md is missing: {DESIGN}"
    text = DESIGN.read_text(encoding="utf-8")
    table = text[text.index("HTTP API") :]
    paths: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| ") and "/" in line.split("|")[1]:
            paths.update(re.findall(r"`(?:[A-Z]+ )?(/[^`?\s]*)", line.split("|")[1]))
    return paths


def walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected: {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref}: {part} is not inside an object"
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_document_is_openapi_3(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.\d+\.\d+", document["openapi"])
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["paths"]


def test_every_operation_is_complete(document: dict[str, Any]) -> None:
    operation_ids: list[str] = []
    for path, item in document["paths"].items():
        assert path.startswith("/"), path
        operations = {k: v for k, v in item.items() if k in METHODS}
        assert operations, f"{path} has no operations"
        declared_in_path = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["responses"], f"{where} has no responses"
            for status in operation["responses"]:
                assert status == "default" or re.fullmatch(r"[1-5](\d\d|XX)", status), where
            operation_ids.append(operation["operationId"])
            parameters = [resolve(document, p["$ref"]) if "$ref" in p else p
                          for p in operation.get("parameters", [])]  # fmt: skip
            for parameter in parameters:
                assert parameter["in"] in {"query", "header", "path", "cookie"}, where
                assert parameter["name"], where
            path_parameters = {p["name"] for p in parameters if p["in"] == "path"}
            assert path_parameters == declared_in_path, f"{where}: path parameters"
            assert all(p.get("required") for p in parameters if p["in"] == "path"), where
            if "requestBody" in operation:
                assert operation["requestBody"]["content"], where
    duplicates = {i for i in operation_ids if operation_ids.count(i) > 1}
    assert not duplicates, f"operationIds used twice: {duplicates}"


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = set(walk_refs(document))
    assert refs, "a FastAPI document always references its schemas"
    for ref in refs:
        resolve(document, ref)


def test_lists_are_documented_with_their_conventions(document: dict[str, Any]) -> None:
    for path in ADMIN_PATHS:
        item = document["paths"][path]
        assert {"get", "head"} <= set(item), f"{path} must answer GET and HEAD"
        names = {p["name"] for p in item["get"]["parameters"]}
        assert {"page", "pageSize", "sort", "fields"} <= names, path


def test_design_endpoints_that_exist_are_named(
    client: TestClient, document: dict[str, Any]
) -> None:
    design = {template(p) for p in design_paths()}
    assert {template(p) for p in ADMIN_PATHS} <= design, "DESIGN.md's table lists the admin paths"
    served = {
        template(route.path)
        for router in all_routers()  # what create_app includes
        for route in router.routes
        if isinstance(route, APIRoute)
    }
    documented = {template(p) for p in document["paths"]}
    assert {template(p) for p in ADMIN_PATHS} <= served
    missing = sorted((design & served) - documented)
    assert not missing, f"served but not in /openapi.json: {missing}"
