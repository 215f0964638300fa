"""Bulk writes for the hot path: PostgreSQL's COPY through psycopg (no SQLAlchemy compilation, no
placeholders, no per-row statement); SQLite keeps a plain executemany behind the same functions.

    insert_rows(conn, table, columns, rows)       rows as tuples, in `columns` order
    reserve_ids(conn, table, n)                   n ids from the table's sequence, in one query
    update_from_rows(conn, table, key, columns, rows, set_)
                                                  a set-based UPDATE ... FROM a temporary table
                                                  that COPY filled (SQLite: executemany UPDATE)

Values go through each column's SQLAlchemy type (`Amount` scales money to integers on SQLite;
JSON columns are serialised), so what COPY writes is what an INSERT would have written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from itertools import count
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import JSON

from payrecon.store.bulk import batched, dialect_insert, integer_array

_temp_names = count(1)


def _dbapi(conn: Connection) -> Any:
    """The psycopg connection under `conn` (in its transaction)."""
    return conn.connection.dbapi_connection


def _encoder(column: Column[Any], dialect: Any) -> Callable[[Any], Any] | None:
    """How a value of `column` is written: JSON serialised, or the type's bind processing (money
    on SQLite); None where the value goes as it is."""
    if isinstance(column.type, JSON):
        return lambda value: None if value is None else json.dumps(value, default=str)
    if dialect.name == "postgresql":
        return None  # psycopg dumps Decimal, date, datetime, str, int natively
    return column.type.bind_processor(dialect)


def _encoded(
    table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], dialect: Any
) -> Iterable[tuple[Any, ...]]:
    encoders = [_encoder(table.c[name], dialect) for name in columns]
    if not any(encoders):
        return (tuple(row) for row in rows)
    return (
        tuple(v if e is None else e(v) for v, e in zip(row, encoders, strict=True)) for row in rows
    )


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Insert `rows` (tuples in `columns` order); COPY on PostgreSQL. Returns how many."""
    if not rows:
        return 0
    dialect = conn.dialect
    values = _encoded(table, columns, rows, dialect)
    names = ", ".join(f'"{c}"' for c in columns)
    if dialect.name == "postgresql":
        # Table and column names are ours (Table objects), never input.
        statement = f'COPY "{table.name}" ({names}) FROM STDIN'
        with _dbapi(conn).cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
        return len(rows)
    marks = ", ".join("?" for _ in columns)
    cursor = _dbapi(conn).cursor()
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', list(values))  # noqa: S608
    finally:
        cursor.close()
    return len(rows)


def reserve_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """`n` new ids for `table`, so rows can be written with their ids and without RETURNING.
    PostgreSQL: from the id sequence in one query. SQLite (one writer at a time): after the
    highest id in use."""
    if n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n},
        )
        return [int(r[0]) for r in rows]
    highest = conn.execute(text(f'SELECT COALESCE(MAX(id), 0) FROM "{table.name}"')).scalar_one()  # noqa: S608
    return list(range(int(highest) + 1, int(highest) + 1 + n))


def update_from_rows(
    conn: Connection,
    table: Table,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    add: Sequence[str] = (),
) -> int:
    """Set `columns` of the rows whose `key` is each row's first value (rows are `(key, *values)`),
    or add the value to the column for the names in `add` (`open_amount = open_amount + delta`).
    PostgreSQL: COPY into a temporary table, then one UPDATE ... FROM."""
    if not rows:
        return 0
    names = [key, *columns]
    if conn.dialect.name != "postgresql":
        params = [  # the statement's typed parameters encode the values
            {f"b_{name}": value for name, value in zip(names, row, strict=True)} for row in rows
        ]
        values = {
            c: (table.c[c] + bindparam(f"b_{c}", type_=table.c[c].type))
            if c in add
            else bindparam(f"b_{c}", type_=table.c[c].type)
            for c in columns
        }
        stmt = update(table).where(table.c[key] == bindparam(f"b_{key}")).values(values)
        for batch in batched(params, 5000):
            conn.execute(stmt, batch)
        return len(rows)
    temp = f"_upd_{table.name}_{next(_temp_names)}"
    declared = ", ".join(f'"{n}" {_pg_type(table.c[n])}' for n in names)
    conn.execute(text(f'CREATE TEMPORARY TABLE "{temp}" ({declared}) ON COMMIT DROP'))
    quoted = ", ".join(f'"{n}"' for n in names)
    statement = f'COPY "{temp}" ({quoted}) FROM STDIN'
    with _dbapi(conn).cursor() as cursor, cursor.copy(statement) as copy:
        for row in _encoded(table, names, rows, conn.dialect):
            copy.write_row(row)
    assignments = ", ".join(
        f'"{c}" = "{table.name}"."{c}" + s."{c}"' if c in add else f'"{c}" = s."{c}"'
        for c in columns
    )
    keys = [row[0] for row in rows]
    # The keys again as one array on the table's side: the planner then reads the rows to
    # update through the key's index. Joined to the temporary table alone (no statistics, an
    # estimate from its size on disk), it scanned the whole table for every chunk (a hash join
    # over all 100,000 statement lines, a merge join over every invoice): a cost that grew with
    # the history, 54 ms against 12 ms for 5,000 rows at 100,000 lines.
    result = conn.execute(
        text(
            f'UPDATE "{table.name}" SET {assignments} FROM "{temp}" s '  # noqa: S608
            f'WHERE "{table.name}"."{key}" = s."{key}" '
            f'AND "{table.name}"."{key}" = ANY(CAST(:keys AS {_pg_type(table.c[key])}[]))'
        ),
        {"keys": integer_array(keys) or keys},
    )
    return int(result.rowcount or 0)


def _pg_type(column: Column[Any]) -> str:
    if isinstance(column.type, JSON):
        return "json"
    return str(column.type.compile(dialect=_pg_dialect()))


def _pg_dialect() -> Any:
    return postgresql.dialect()  # type: ignore[no-untyped-call]


def insert_new_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    unique: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Insert the rows whose `unique` key is not taken yet and return `returning` of each row
    inserted. PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT
    DO NOTHING (COPY itself cannot skip a duplicate)."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        stmt = (
            dialect_insert(conn, table)
            .on_conflict_do_nothing(index_elements=list(unique))
            .returning(*(table.c[c] for c in returning))
        )
        found: list[tuple[Any, ...]] = []
        for batch in batched(rows, 5000):
            params = [dict(zip(columns, row, strict=True)) for row in batch]
            found += [tuple(r) for r in conn.execute(stmt, params)]
        return found
    temp = f"_new_{table.name}_{next(_temp_names)}"
    declared = ", ".join(f'"{n}" {_pg_type(table.c[n])}' for n in columns)
    conn.execute(text(f'CREATE TEMPORARY TABLE "{temp}" ({declared}) ON COMMIT DROP'))
    quoted = ", ".join(f'"{n}"' for n in columns)
    statement = f'COPY "{temp}" ({quoted}) FROM STDIN'
    with _dbapi(conn).cursor() as cursor, cursor.copy(statement) as copy:
        for row in _encoded(table, columns, rows, conn.dialect):
            copy.write_row(row)
    keys = ", ".join(f'"{k}"' for k in unique)
    back = ", ".join(f'"{c}"' for c in returning)
    result = conn.execute(
        text(
            f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{temp}" '  # noqa: S608
            f"ON CONFLICT ({keys}) DO NOTHING RETURNING {back}"
        )
    )
    return [tuple(r) for r in result]


__all__ = ["insert_new_rows", "insert_rows", "reserve_ids", "update_from_rows"]
