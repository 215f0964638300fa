"""The staging of a pipeline run's files (`staging_tables`): a file's parsed and routed lines are
written here by the task that parsed it, side by side with the run's other files, and stored in
`statement_lines` by one step in the run's file order.

    clear_staged(conn, feed_file_id)             forget what an earlier try staged of the file
    stage_lines(conn, rows, suggestions)          COPY (PostgreSQL) the staged rows
    store_staged(conn, feed_file_id)              INSERT ... SELECT ... ON CONFLICT DO NOTHING
                                                  into `statement_lines` in seq order, with the
                                                  suggestions of the lines that were new; the
                                                  staged rows go; returns how many were new
All of it runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import dialect_insert
from payrecon.store.copy import insert_rows
from payrecon.store.staging_tables import staged_files, staged_lines, staged_suggestions

# The columns of a staged line, all of which `statement_lines` has.
LINE_COLUMNS = tuple(c.name for c in staged_lines.c)
SUGGESTION_COLUMNS = ("feed_file_id", "seq", "customer_id", "score", "basis", "created_at")


def clear_staged(conn: Connection, feed_file_id: int) -> None:
    for table in (staged_suggestions, staged_lines, staged_files):
        conn.execute(delete(table).where(table.c.feed_file_id == feed_file_id))


def stage_lines(
    conn: Connection, rows: Sequence[Sequence[Any]], suggestions: Sequence[Sequence[Any]]
) -> None:
    """Lines in `LINE_COLUMNS` order, suggestions in `SUGGESTION_COLUMNS` order."""
    insert_rows(conn, staged_lines, LINE_COLUMNS, rows)
    insert_rows(conn, staged_suggestions, SUGGESTION_COLUMNS, suggestions)


def store_staged(conn: Connection, feed_file_id: int) -> int:
    """Store the file's staged lines that are new (the same account and bank reference stored
    already, by an earlier file or earlier in this one, is left as it is), with their
    suggestions; returns how many were new."""
    sl, st, ss = t.statement_lines, staged_lines, staged_suggestions
    rows = (
        select(*(st.c[name] for name in LINE_COLUMNS))
        .where(st.c.feed_file_id == feed_file_id)
        .order_by(st.c.seq)
    )
    inserted = conn.execute(
        dialect_insert(conn, sl)
        .from_select(list(LINE_COLUMNS), rows)
        .on_conflict_do_nothing(index_elements=["account", "external_id"])
        .returning(sl.c.seq, sl.c.id)
    )
    ids: dict[int, int] = dict(inserted.all())
    suggested = conn.execute(
        select(ss.c.seq, ss.c.customer_id, ss.c.score, ss.c.basis, ss.c.created_at)
        .where(ss.c.feed_file_id == feed_file_id)
        .order_by(ss.c.seq, ss.c.customer_id)
    ).all()
    insert_rows(
        conn,
        mt.line_suggestions,
        ("statement_line_id", "customer_id", "score", "basis", "created_at"),
        [(ids[s.seq], *s[1:]) for s in suggested if s.seq in ids],
    )
    clear_staged(conn, feed_file_id)
    return len(ids)


def staged_file(conn: Connection, feed_file_id: int) -> Any:
    """The staged file's row (format, line count, contract owner), or None."""
    return conn.execute(
        select(staged_files).where(staged_files.c.feed_file_id == feed_file_id)
    ).first()


def unstaged(conn: Connection, feed_file_ids: Sequence[int]) -> list[int]:
    """Those of the files that are received and have nothing staged, in id order."""
    f = t.feed_files.c
    staged = select(staged_files.c.feed_file_id).where(staged_files.c.feed_file_id == f.id)
    rows = conn.execute(
        select(f.id)
        .where(f.id.in_(feed_file_ids), f.status == "received", ~staged.exists())
        .order_by(f.id)
    )
    return list(rows.scalars())


def record_staged_file(
    conn: Connection, feed_file_id: int, fmt: str, lines: int, owner_id: int | None, now: Any
) -> None:
    conn.execute(
        staged_files.insert().values(
            feed_file_id=feed_file_id,
            format=fmt,
            line_count=lines,
            contract_owner_id=owner_id,
            staged_at=now,
        )
    )


__all__ = [
    "LINE_COLUMNS",
    "clear_staged",
    "record_staged_file",
    "stage_lines",
    "staged_file",
    "store_staged",
    "unstaged",
]
