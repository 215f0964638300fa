"""Ageing of the review queue: how many unmatched lines wait, by age, and how old the oldest is.
Counted set-based; the scheduled task logs and records it, /metrics exports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, case, func, select

from payrecon.domain.review_age import AGE_BUCKETS, bucket_cutoffs
from payrecon.logging import get_logger
from payrecon.store import tables as t

log = get_logger(__name__)


@dataclass(slots=True)
class QueueAge:
    as_of: date
    by_bucket: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    oldest_booking_date: date | None = None

    def as_counts(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "by_age": self.by_bucket,
            "overdue": self.overdue,
            "oldest_booking_date": self.oldest_booking_date.isoformat()
            if self.oldest_booking_date
            else None,
        }


def review_queue_age(
    engine: Engine, as_of: date, *, overdue_days: int = 7, report: bool = True
) -> QueueAge:
    """The queue's age as of `as_of`; with `report`, logged (the scheduled task), else silent
    (a metrics scrape)."""
    sl = t.statement_lines
    cutoffs = bucket_cutoffs(as_of)
    # The oldest bucket a line's booking date reaches: test the oldest cutoff first.
    label = case(
        *[(sl.c.booking_date <= cutoff, name) for name, cutoff in reversed(cutoffs)],
        else_=AGE_BUCKETS[0][0],
    )
    overdue_cutoff = as_of.toordinal() - overdue_days
    with engine.connect() as conn:
        rows = conn.execute(
            select(label.label("bucket"), func.count(), func.min(sl.c.booking_date))
            .where(sl.c.status == "unmatched")
            .group_by(label)
        ).all()
        overdue = conn.execute(
            select(func.count()).where(
                sl.c.status == "unmatched",
                sl.c.booking_date <= date.fromordinal(overdue_cutoff),
            )
        ).scalar_one()
    age = QueueAge(
        as_of=as_of, by_bucket={name: 0 for name, _ in AGE_BUCKETS}, overdue=int(overdue)
    )
    for bucket, count, oldest in rows:
        age.by_bucket[bucket] = int(count)
        if oldest is not None and (
            age.oldest_booking_date is None or oldest < age.oldest_booking_date
        ):
            age.oldest_booking_date = oldest
    if not report:
        return age
    if age.overdue:
        log.warning("review.queue.overdue", overdue=age.overdue, days=overdue_days, **age.by_bucket)
    log.info("review.queue.aged", **age.as_counts())
    return age
