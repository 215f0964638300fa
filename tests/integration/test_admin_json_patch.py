"""RFC 6902 JSON Patch: the operations on plain documents (the RFC's own examples), then through
`PATCH /v1/contract-owners/{id}` (seed 003's example), where a patch applies whole or not at all."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from payrecon.domain.errors import InvalidInput
from payrecon.services.admin.json_patch import PatchTestFailed, apply_patch
from tests.integration.test_admin_lists import admin_client, bearer, body_of, seed_admin_data

ADMIN = bearer("admin")


@pytest.mark.parametrize(
    ("document", "patch", "expected"),
    [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
         {"foo": "bar", "baz": "qux"}),
        ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
         {"foo": ["bar", "qux", "baz"]}),
        ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
         {"foo": ["bar", ["abc", "def"]]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
         {"foo": ["bar", "baz"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
         {"baz": "boo", "foo": "bar"}),
        ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
         [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
         {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ({"foo": ["all", "grass", "cows", "eat"]},
         [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
         {"foo": ["all", "cows", "eat", "grass"]}),
        ({"foo": {"bar": 1}}, [{"op": "copy", "from": "/foo", "path": "/copy"}],
         {"foo": {"bar": 1}, "copy": {"bar": 1}}),
        ({"/": 9, "~1": 10}, [{"op": "replace", "path": "/~01", "value": 11},
                              {"op": "test", "path": "/~1", "value": 9}],
         {"/": 9, "~1": 11}),
        ({"baz": "qux", "foo": ["a", 2, "c"]},
         [{"op": "test", "path": "/baz", "value": "qux"},
          {"op": "test", "path": "/foo/1", "value": Decimal("2.0")}],
         {"baz": "qux", "foo": ["a", 2, "c"]}),
        ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
         {"foo": "bar", "child": {"grandchild": {}}}),
    ],
)  # fmt: skip
def test_rfc_6902_examples(document: Any, patch: list[dict[str, Any]], expected: Any) -> None:
    original = repr(document)
    assert apply_patch(document, patch) == expected
    assert repr(document) == original  # the input is never changed


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],  # the parent does not exist
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/nope", "value": 1}],
        [{"op": "move", "from": "/nope", "path": "/x"}],
        [{"op": "move", "from": "/list", "path": "/list/0"}],  # into itself
        [{"op": "copy", "path": "/x"}],  # no from
        [{"op": "add", "path": "/x"}],  # no value
        [{"op": "add", "path": "x", "value": 1}],  # not a pointer
        [{"op": "add", "path": "/list/5", "value": 1}],
        [{"op": "add", "path": "/list/01", "value": 1}],
        [{"op": "remove", "path": "/list/-"}],
        [{"op": "frobnicate", "path": "/x"}],
        [{"path": "/x", "value": 1}],
    ],
)
def test_malformed_operations_are_invalid_input(patch: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidInput):
        apply_patch({"foo": "bar", "list": [1, 2]}, patch)


@pytest.mark.parametrize(
    ("path", "value"),
    [("/flag", 1), ("/count", True), ("/count", "1"), ("/foo", None), ("/list", [1])],
)
def test_test_compares_as_json_does(path: str, value: Any) -> None:
    with pytest.raises(PatchTestFailed):
        apply_patch(
            {"flag": True, "count": 1, "foo": "bar", "list": [1, 2]},
            [{"op": "test", "path": path, "value": value}],
        )


# Through the API ------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    seed_admin_data(engine)
    return admin_client(engine, tmp_path)


def patch_owner(client: TestClient, patch: Any, owner: int = 1) -> Any:
    return client.patch(
        f"/v1/contract-owners/{owner}",
        json=patch,
        headers={**ADMIN, "Content-Type": "application/json-patch+json"},
    )


def owner(client: TestClient, owner_id: int = 1) -> dict[str, Any]:
    response = client.get(f"/v1/contract-owners/{owner_id}", headers=ADMIN)
    body: dict[str, Any] = body_of(response)
    return body


def test_seed_example_replaces_the_iban(client: TestClient) -> None:
    before = owner(client)
    response = patch_owner(
        client, [{"op": "replace", "path": "/bankIban", "value": "AL47212110090000000235698741"}]
    )
    assert response.status_code == 200, response.text
    after = body_of(response)
    assert after["bankIban"] == "AL47212110090000000235698741"
    assert after["updatedDate"] > before["updatedDate"]
    assert after["createdDate"] == before["createdDate"]
    assert owner(client) == after


def test_every_operation_on_a_contract_owner(client: TestClient) -> None:
    response = patch_owner(
        client,
        [
            {"op": "test", "path": "/priceDecimalPlaces", "value": 2},
            # members an operation does not define are ignored (RFC 6902 section 4)
            {"op": "replace", "path": "/priceRoundingMode", "value": "HALF_EVEN", "why": "x"},
            {"op": "add", "path": "/bankSortCode", "value": "601613"},
            {"op": "copy", "from": "/name", "path": "/bankAccountName"},
            {"op": "move", "from": "/bankIban", "path": "/invoiceNumberFormat"},
            {"op": "remove", "path": "/enableBalanceCarryForward"},  # back to the default
            {"op": "test", "path": "/bankAccountName", "value": "Alpha Billing"},
        ],
    )
    assert response.status_code == 200, response.text
    after = body_of(response)
    assert after["priceRoundingMode"] == "HALF_EVEN"
    assert after["bankSortCode"] == "601613"
    assert after["bankAccountName"] == "Alpha Billing"
    assert after["bankIban"] is None
    assert after["invoiceNumberFormat"] == "GB29NWBK60161331926819"
    assert after["enableBalanceCarryForward"] is True


@pytest.mark.parametrize(
    ("patch", "status", "code"),
    [
        ([{"op": "test", "path": "/name", "value": "Someone Else"}], 409, "patch_test_failed"),
        ([{"op": "replace", "path": "/id", "value": 7}], 422, "invalid_input"),
        ([{"op": "replace", "path": "/createdDate", "value": "2020-01-01"}], 422, "invalid_input"),
        ([{"op": "remove", "path": "/name"}], 422, "invalid_input"),
        ([{"op": "add", "path": "/colour", "value": "blue"}], 422, "invalid_input"),
        ([{"op": "replace", "path": "/priceDecimalPlaces", "value": 9}], 422, "invalid_input"),
        ([{"op": "replace", "path": "/priceRoundingMode", "value": "NEAREST"}], 422,
         "invalid_input"),
        ([{"op": "replace", "path": "/bankIban", "value": "GB00NWBK60161331926819"}], 422,
         "invalid_input"),
        ([{"op": "replace", "path": "/nothing", "value": 1}], 422, "invalid_input"),
        ([{"op": "replace", "path": "", "value": [1]}], 422, "invalid_input"),
        ([{"op": "jump", "path": "/name"}], 422, "invalid_input"),
        ({"op": "replace", "path": "/name", "value": "x"}, 422, "invalid_input"),
    ],
)  # fmt: skip
def test_a_failed_patch_changes_nothing(
    client: TestClient, patch: Any, status: int, code: str
) -> None:
    before = owner(client)
    rename_first = (
        [{"op": "replace", "path": "/name", "value": "Renamed"}, *patch]
        if isinstance(patch, list)
        else patch
    )
    response = patch_owner(client, rename_first)
    assert response.status_code == status, response.text
    assert body_of(response)["code"] == code
    assert owner(client) == before
