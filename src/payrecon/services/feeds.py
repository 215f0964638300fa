"""Feed files as people see them: status, counts and the quarantine reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from payrecon.store import tables as t


@dataclass(frozen=True, slots=True)
class FeedStatus:
    id: int
    filename: str
    format: str | None
    status: str
    line_count: int
    new_line_count: int
    error: str | None


def feed_statuses(engine: Engine, feed_ids: Sequence[int]) -> list[FeedStatus]:
    query = (
        select(t.feed_files)
        .where(t.feed_files.c.id.in_(list(feed_ids)))
        .order_by(t.feed_files.c.id)
    )
    with engine.connect() as conn:
        return [
            FeedStatus(
                r.id, r.filename, r.format, r.status, r.line_count, r.new_line_count, r.error
            )
            for r in conn.execute(query)
        ]
