"""Bulk writers: many rows per statement, conflicts on the dedupe keys ignored or upserted; and
`analyze_after_load`, which every bulk path calls once its load committed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import NullType

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# SQLite's historical limit on bound parameters per statement.
SQLITE_BATCH = 900


def among(
    connection: Connection, column: ColumnElement[Any], values: Iterable[Any]
) -> Iterator[ColumnElement[bool]]:
    """Conditions that together select the rows whose `column` is one of `values`, as few as the
    database allows. On PostgreSQL one `column = ANY(%s)` with the values as one array
    parameter: no placeholder per value for SQLAlchemy to render and psycopg to split (a
    thousand-key `IN` list cost more on the client than the indexed read on the server). On
    SQLite, `IN` lists of at most 900 bound values. Nothing when `values` is empty."""
    ordered = sorted(set(values))
    if not ordered:
        return
    if connection.dialect.name == "postgresql":
        kind = column.type if not isinstance(column.type, NullType) else String()  # upper(x)
        yield column == any_(pg_array(ordered, kind))
        return
    for batch in batched(ordered, SQLITE_BATCH):
        yield column.in_(batch)


# Never in a key, a reference or an account: the separator of a text array sent as one string.
_UNIT_SEPARATOR = "\x1f"


def integer_array(values: Sequence[Any]) -> str | None:
    """Integers as one PostgreSQL array literal (`'{1,2,3}'`), for the server to parse; None when
    `values` is empty or holds anything else."""
    if values and all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    return None


def pg_array(values: Sequence[Any], kind: Any) -> ColumnElement[Any]:
    """`values` as one PostgreSQL array parameter. Integers and texts go as one string the
    server splits (`'{1,2,3}'::bigint[]`, `string_to_array(...)`): psycopg dumps a list
    parameter element by element in Python, 83 ms for 30,000 texts against 36 ms joined (the
    directory of a reconcile chunk looks up every token of its lines' texts). Anything else,
    or a text with the separator in it, as a list."""
    if listed := integer_array(values):
        # Untyped, so the server reads the string as the array itself: a constant to the planner,
        # which hashes it when it filters rows by it. `CAST(text AS bigint[])` is an input
        # function the planner does not fold, and a scan then compared every row with the whole
        # array (25 s instead of 0.06 s for the items of 5,000 payouts: `_items`).
        return cast(bindparam(None, listed, type_=NullType(), unique=True), postgresql.ARRAY(kind))
    if values and all(type(v) is str for v in values):
        joined = _UNIT_SEPARATOR.join(values)
        if joined.count(_UNIT_SEPARATOR) == len(values) - 1:
            # text[], not cast to the column's type: a cast to varchar(n) would cut a longer
            # value to n characters, and varchar compares with text through the column's index.
            return func.string_to_array(
                bindparam(None, joined, type_=Text(), unique=True),
                literal(_UNIT_SEPARATOR, Text()),
                type_=postgresql.ARRAY(Text()),
            )
    return bindparam(None, list(values), type_=postgresql.ARRAY(kind), unique=True)


def dialect_insert(connection: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite both do)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database: {connection.dialect.name}")


def insert_ignoring_conflicts(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> list[Any]:
    """Insert `rows`, skipping those whose `keys` exist already; returns the new rows' ids."""
    if not rows:
        return []
    stmt: Insert = (
        dialect_insert(connection, table)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c.id)
    )
    return list(connection.execute(stmt, list(rows)).scalars())


def advance_id_sequence(connection: Connection, table: Table) -> None:
    """After rows were inserted with explicit ids, move PostgreSQL's id sequence past them, so the
    next generated id does not collide (SQLite's rowid needs nothing)."""
    if connection.dialect.name != "postgresql":
        return
    # The table name is one of ours (a Table object), never input.
    sql = (
        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"  # noqa: S608
        f" GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table.name}), 1))"
    )
    connection.execute(text(sql))


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert `rows`; where `keys` exist, overwrite the `update` columns."""
    if not rows:
        return
    stmt = dialect_insert(connection, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
    )
    connection.execute(stmt, list(rows))


# A load this large (rows) always refreshes the planner's statistics, whatever the table's size;
# a smaller one does when it is more than this share of the rows the statistics last counted.
ANALYZE_ROWS = 10_000
ANALYZE_SHARE = 0.10


def analyze_after_load(engine: Engine, loaded: Mapping[Table, int]) -> list[str]:
    """After a bulk load has COMMITTED, refresh PostgreSQL's statistics of the tables it filled
    (`loaded`: table -> rows written), so the next query is not planned for an empty table.

    Only where the load counts: more than `ANALYZE_ROWS` rows, more than `ANALYZE_SHARE` of the
    table as last counted (`pg_class.reltuples`), or a table never analysed. Run outside the
    load's transaction: an ANALYZE inside it would have the load's own rows counted again as
    modified at commit, and would hold its lock until then. `SKIP_LOCKED` leaves a table that
    another session (autovacuum, a concurrent worker's load) is analysing right now to that one.
    Returns the names of the tables analysed; SQLite (which plans without statistics) none."""
    if engine.dialect.name != "postgresql":
        return []
    wanted = {table.name: rows for table, rows in loaded.items() if rows > 0}
    if not wanted:
        return []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if (conn.dialect.server_version_info or (0,)) >= (15,):
            # This session's counts of the load (the pool hands back the loading connection)
            # reach the shared statistics now, so the ANALYZE below resets them too.
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
        counted: dict[str, float] = dict(
            conn.execute(
                text(
                    "SELECT relname, reltuples FROM pg_class"
                    " WHERE oid = ANY(CAST(CAST(:names AS text[]) AS regclass[]))"
                ),
                {"names": sorted(wanted)},
            ).all()
        )
        due = [
            name
            for name, rows in sorted(wanted.items())
            if rows > ANALYZE_ROWS
            or counted.get(name, -1) < 0
            or rows > ANALYZE_SHARE * counted[name]
        ]
        if due:
            # Table names are ours (Table objects), never input.
            conn.execute(text("ANALYZE (SKIP_LOCKED) " + ", ".join(f'"{n}"' for n in due)))
    return due
