"""The staging of a pipeline run's files (`staging_tables`): a file's parsed lines are written here
by the task that parsed it, side by side with the run's other files; its parts are routed side
by side, each writing the routes of its lines; one step stores the files in `statement_lines`
in the run's file order.

    clear_staged(conn, feed_file_id)             forget what an earlier try staged of the file
    stage_lines(conn, rows)                      COPY (PostgreSQL) the parsed lines
    staged_block(conn, feed_file_id, seqs)       the parsed lines of a range of seqs, in order
    clear_routes(conn, feed_file_id, seqs)       forget the routes of a range (a part routed again)
    stage_routes(conn, routes, suggestions)      COPY the routes and the review's suggestions
    unrouted_seqs(conn, feed_file_id, lines)     the seqs staged without a route, in order
    store_staged(conn, feed_file_id)             INSERT ... SELECT ... ON CONFLICT DO NOTHING
                                                 into `statement_lines` in seq order, each line
                                                 with its route, and the suggestions of the
                                                 lines that were new; the staged rows go;
                                                 returns how many were new
All of it runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select

from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import dialect_insert
from payrecon.store.copy import insert_rows
from payrecon.store.staging_tables import (
    ROUTE_COLUMNS,
    staged_files,
    staged_lines,
    staged_routes,
    staged_suggestions,
)

# The columns of a parsed line, all of which `statement_lines` has.
LINE_COLUMNS = tuple(c.name for c in staged_lines.c)
# A line's route, by the file and the line's seq.
ROUTE_ROW_COLUMNS = ("feed_file_id", "seq", *ROUTE_COLUMNS)
SUGGESTION_COLUMNS = ("feed_file_id", "seq", "customer_id", "score", "basis", "created_at")


def clear_staged(conn: Connection, feed_file_id: int) -> None:
    for table in (staged_suggestions, staged_routes, staged_lines, staged_files):
        conn.execute(delete(table).where(table.c.feed_file_id == feed_file_id))


def stage_lines(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Parsed lines in `LINE_COLUMNS` order."""
    insert_rows(conn, staged_lines, LINE_COLUMNS, rows)


def staged_block(conn: Connection, feed_file_id: int, seqs: range) -> list[Any]:
    """The parsed lines of the file whose seq is in `seqs` (a step-1 range), in seq order."""
    st = staged_lines.c
    return list(
        conn.execute(
            select(staged_lines)
            .where(st.feed_file_id == feed_file_id, st.seq.between(seqs.start, seqs.stop - 1))
            .order_by(st.seq)
        )
    )


def clear_routes(conn: Connection, feed_file_id: int, seqs: range) -> None:
    """Forget the routes and suggestions of the lines whose seq is in `seqs`."""
    for table in (staged_suggestions, staged_routes):
        conn.execute(
            delete(table).where(
                table.c.feed_file_id == feed_file_id,
                table.c.seq.between(seqs.start, seqs.stop - 1),
            )
        )


def stage_routes(
    conn: Connection, routes: Sequence[Sequence[Any]], suggestions: Sequence[Sequence[Any]]
) -> None:
    """Routes in `ROUTE_ROW_COLUMNS` order, suggestions in `SUGGESTION_COLUMNS` order."""
    insert_rows(conn, staged_routes, ROUTE_ROW_COLUMNS, routes)
    insert_rows(conn, staged_suggestions, SUGGESTION_COLUMNS, suggestions)


def unrouted_seqs(conn: Connection, feed_file_id: int, line_count: int) -> list[int]:
    """The seqs of the file's staged lines that have no route, in order (nearly always none:
    every part of a run routes its lines before the run stores its files)."""
    sr = staged_routes.c
    routed = conn.execute(
        select(func.count()).select_from(staged_routes).where(sr.feed_file_id == feed_file_id)
    ).scalar_one()
    if routed == line_count:
        return []
    st = staged_lines.c
    route = select(sr.seq).where(sr.feed_file_id == st.feed_file_id, sr.seq == st.seq)
    return list(
        conn.execute(
            select(st.seq).where(st.feed_file_id == feed_file_id, ~route.exists()).order_by(st.seq)
        ).scalars()
    )


def store_staged(conn: Connection, feed_file_id: int) -> int:
    """Store the file's staged lines that are new (the same account and bank reference stored
    already, by an earlier file or earlier in this one, is left as it is), each with its route
    and suggestions; returns how many were new."""
    sl, st, sr, ss = t.statement_lines, staged_lines, staged_routes, staged_suggestions
    rows = (
        select(*(st.c[name] for name in LINE_COLUMNS), *(sr.c[name] for name in ROUTE_COLUMNS))
        .join(sr, (sr.c.feed_file_id == st.c.feed_file_id) & (sr.c.seq == st.c.seq))
        .where(st.c.feed_file_id == feed_file_id)
        .order_by(st.c.seq)
    )
    inserted = conn.execute(
        dialect_insert(conn, sl)
        .from_select([*LINE_COLUMNS, *ROUTE_COLUMNS], rows)
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
    "ROUTE_ROW_COLUMNS",
    "SUGGESTION_COLUMNS",
    "clear_routes",
    "clear_staged",
    "record_staged_file",
    "stage_lines",
    "stage_routes",
    "staged_block",
    "staged_file",
    "store_staged",
    "unrouted_seqs",
    "unstaged",
]
