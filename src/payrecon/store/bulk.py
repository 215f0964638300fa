"""Bulk writers: many rows per statement, conflicts on the dedupe keys ignored or upserted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


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
