"""A partition's next chunk: its pending lines in booking-date, file and sequence order, up to
the chunk's size, and none of a file that is not complete."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, insert

from payrecon.domain.lines import StatementLine
from payrecon.services.reconciliation.ingest import statement_line_row
from payrecon.store import tables as t
from payrecon.store.queries import pending_lines

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _file(conn: Connection, feed_id: int, status: str) -> None:
    conn.execute(
        insert(t.feed_files).values(
            id=feed_id, sha256=f"{feed_id:064d}", filename=f"f{feed_id}.xml", status=status,
            received_at=NOW,
        )
    )  # fmt: skip


def _line(feed_id: int, seq: int, day: int, partition: int) -> dict[str, object]:
    line = StatementLine(
        external_id=f"REF-{feed_id}-{seq}",
        account="GB00TEST",
        booking_date=date(2026, 11, day),
        value_date=None,
        amount=Decimal("10.00"),
        currency="GBP",
    )
    return {**statement_line_row(feed_id, None, seq, line, NOW), "partition": partition}


def test_the_next_chunk_is_in_booking_file_and_sequence_order(engine: Engine) -> None:
    with engine.begin() as conn:
        for feed_id, status in (
            (1, "processed"), (2, "processed"), (3, "received"), (4, "quarantined"),
        ):  # fmt: skip
            _file(conn, feed_id, status)
        rows = [
            _line(2, 1, 3, 5),
            _line(1, 2, 3, 5),
            _line(1, 1, 3, 5),
            _line(2, 2, 1, 5),
            _line(1, 3, 2, 4),  # another partition
            _line(3, 1, 1, 5),  # a file not complete: waits
        ]
        conn.execute(insert(t.statement_lines), rows)
        matched = {**_line(1, 4, 1, 5), "status": "matched"}
        conn.execute(insert(t.statement_lines), [matched])
    with engine.connect() as conn:
        chunk = pending_lines(conn, 3, partition=5)
        everything = pending_lines(conn, 100, partition=5)
    assert [line.bank_reference for line in chunk] == ["REF-2-2", "REF-1-1", "REF-1-2"]
    assert [line.bank_reference for line in everything] == [
        "REF-2-2", "REF-1-1", "REF-1-2", "REF-2-1",
    ]  # fmt: skip
