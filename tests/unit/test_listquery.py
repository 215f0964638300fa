"""The list-query language: parsing (api.listquery) and its SQL (store.listing), on a small table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)
from starlette.requests import Request

from payrecon.api.listquery import ListQuery, list_response, read_list_query
from payrecon.domain.errors import InvalidInput
from payrecon.store.listing import apply_list_query
from payrecon.store.types import Amount

_meta = MetaData()
things = Table(
    "things",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("due", Date, nullable=False),
    Column("total", Amount(), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("extra", JSON),
)
COLUMNS = {
    "id": things.c.id,
    "name": things.c.name,
    "dueDate": things.c.due,
    "total": things.c.total,
    "enabled": things.c.enabled,
    "extra": things.c.extra,
}
ROWS = [
    {"id": 1, "name": "Alpha", "due": date(2024, 1, 5), "total": Decimal("10.50"), "enabled": True},
    {
        "id": 2,
        "name": "beta_1",
        "due": date(2024, 2, 1),
        "total": Decimal("153.00"),
        "enabled": False,
    },
    {
        "id": 3,
        "name": "Gamma%",
        "due": date(2024, 1, 5),
        "total": Decimal("16.34"),
        "enabled": True,
    },
    {
        "id": 4,
        "name": "betaX1",
        "due": date(2024, 3, 9),
        "total": Decimal("10.50"),
        "enabled": True,
    },
]


def request_for(**params: str | list[str]) -> Request:
    query = urlencode(params, doseq=True).encode()
    return Request(
        {"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []}
    )


def parse(**params: str | list[str]) -> ListQuery:
    return read_list_query(request_for(**params))


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    _meta.create_all(engine)
    with engine.begin() as connection:
        connection.execute(things.insert(), ROWS)
        yield connection
    engine.dispose()


def run(conn: Connection, **params: str) -> tuple[list[int], int]:
    page, count = apply_list_query(select(things.c.id), COLUMNS, parse(**params))
    return list(conn.execute(page).scalars()), conn.execute(count).scalar_one()


# Parsing -------------------------------------------------------------------------------------


def test_defaults() -> None:
    assert parse() == ListQuery(page=1, page_size=100, sort=[], fields=None, filters={})


def test_everything_parsed() -> None:
    q = parse(
        page="3",
        pageSize="20",
        sort="id, name:desc,total:asc",
        fields="id,name",
        name="x",
        total="in:1,2",
    )
    assert q == ListQuery(
        page=3,
        page_size=20,
        sort=[("id", False), ("name", True), ("total", False)],
        fields=["id", "name"],
        filters={"name": "x", "total": "in:1,2"},
    )
    assert q.offset == 40


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "-1"},
        {"page": "x"},
        {"pageSize": "0"},
        {"pageSize": "1001"},
        {"pageSize": "1.5"},
        {"sort": "name:up"},
        {"sort": "id,,name"},
        {"fields": ""},
        {"name": ["a", "b"]},
    ],
)
def test_bad_parameters_are_invalid_input(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        parse(**params)


def test_page_size_bounds_are_inclusive() -> None:
    assert parse(pageSize="1").page_size == 1
    assert parse(pageSize="1000").page_size == 1000


# The response ----------------------------------------------------------------------------------


def test_response_projects_fields_and_counts() -> None:
    items = [
        {"id": 1, "name": "a", "total": Decimal("16.34")},
        {"id": 2, "name": "b", "total": Decimal("0.10")},
    ]
    response = list_response(items, 7, parse(fields="total,id"))
    assert response.headers["X-Total-Count"] == "7"
    assert json.loads(response.body, parse_float=Decimal) == [
        {"total": Decimal("16.34"), "id": 1},
        {"total": Decimal("0.10"), "id": 2},
    ]
    assert b'"total":16.34' in response.body


def test_response_refuses_unknown_fields_even_on_an_empty_page() -> None:
    with pytest.raises(InvalidInput, match="nope"):
        list_response([{"id": 1}], 1, parse(fields="id,nope"))
    with pytest.raises(InvalidInput, match="nope"):
        list_response([], 0, parse(fields="nope"), known_fields={"id"})
    assert list_response([], 0, parse(fields="id"), known_fields={"id"}).body == b"[]"


def test_head_response_has_the_count_and_no_body() -> None:
    response = list_response([{"id": 1}], 1, parse(), head=True)
    assert response.body == b""
    assert response.headers["X-Total-Count"] == "1"
    assert response.headers["content-length"] == "0"


# The SQL ---------------------------------------------------------------------------------------


def test_default_order_is_by_id_and_pages_slice(conn: Connection) -> None:
    assert run(conn) == ([1, 2, 3, 4], 4)
    assert run(conn, pageSize="3", page="2") == ([4], 4)
    assert run(conn, pageSize="3", page="5") == ([], 4)


def test_sort_ascending_descending_with_stable_ties(conn: Connection) -> None:
    assert run(conn, sort="total")[0] == [1, 4, 3, 2]
    assert run(conn, sort="total:desc")[0] == [2, 3, 1, 4]  # ties (10.50) stay in id order
    assert run(conn, sort="dueDate:desc,id:desc")[0] == [4, 2, 3, 1]


def test_equality_filters_convert_to_the_column_type(conn: Connection) -> None:
    assert run(conn, total="10.5") == ([1, 4], 2)
    assert run(conn, total="153") == ([2], 1)
    assert run(conn, enabled="false") == ([2], 1)
    assert run(conn, dueDate="2024-01-05") == ([1, 3], 2)
    assert run(conn, id="3") == ([3], 1)
    assert run(conn, name="alpha") == ([], 0)  # equality is exact; like: is the loose one


def test_in_filter(conn: Connection) -> None:
    assert run(conn, id="in:1,3,99") == ([1, 3], 2)
    assert run(conn, name="in:Alpha,betaX1") == ([1, 4], 2)
    assert run(conn, total="in:16.34, 153.00") == ([2, 3], 2)


def test_like_is_case_insensitive_contains_with_wildcards_escaped(conn: Connection) -> None:
    assert run(conn, name="like:BETA") == ([2, 4], 2)
    assert run(conn, name="like:a_") == ([2], 1)  # `_` is a character, not a wildcard
    assert run(conn, name="like:%") == ([3], 1)
    assert run(conn, name="like:ph", pageSize="1") == ([1], 1)


def test_filters_combine_with_sort_and_page(conn: Connection) -> None:
    assert run(conn, enabled="true", sort="total:desc", pageSize="2") == ([3, 1], 3)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"colour": "red"}, "colour"),
        ({"sort": "colour"}, "colour"),
        ({"id": "abc"}, "id"),
        ({"id": "99999999999999999999"}, "id"),
        ({"total": "ten"}, "total"),
        ({"total": "1.00001"}, "total"),
        ({"enabled": "maybe"}, "enabled"),
        ({"dueDate": "05/01/2024"}, "dueDate"),
        ({"total": "like:1"}, "like"),
        ({"id": "in:"}, "id"),
        ({"extra": "x"}, "extra"),
    ],
)
def test_bad_filters_and_sorts_name_the_field(
    conn: Connection, params: dict[str, str], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        run(conn, **params)


def test_ignored_parameters_are_left_to_the_caller(conn: Connection) -> None:
    q = parse(customer_name_contains="x", name="Alpha")
    page, _ = apply_list_query(select(things.c.id), COLUMNS, q, ignore={"customer_name_contains"})
    assert list(conn.execute(page).scalars()) == [1]
