"""The console dashboard's figures: lines received, matched by rule, waiting and reversed over a
period, and the match rate of each booking day (the share of its credit lines matched)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Engine, case, distinct, func, select

from payrecon.store import tables as t

_sl, _a, _p = t.statement_lines.c, t.allocations.c, t.payments.c


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """What happened since `since` (received at, not booked on)."""

    since: date
    received: int
    matched_by_rule: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    reversed: int = 0


@dataclass(frozen=True, slots=True)
class DayRate:
    day: date
    lines: int
    matched: int

    @property
    def rate(self) -> Decimal:
        return Decimal(self.matched) / Decimal(self.lines) if self.lines else Decimal(0)


def period_figures(engine: Engine, since: date) -> PeriodFigures:
    start = datetime.combine(since, time.min, tzinfo=UTC)
    with engine.connect() as conn:
        received = conn.execute(select(func.count()).where(_sl.created_at >= start)).scalar_one()
        by_rule = {
            str(rule): int(n)
            for rule, n in conn.execute(
                select(_a.rule, func.count(distinct(_p.statement_line_id)))
                .join(t.payments, _p.id == _a.payment_id)
                .where(_a.created_at >= start, _p.statement_line_id.is_not(None))
                .group_by(_a.rule)
                .order_by(_a.rule)
            )
        }
        waiting = conn.execute(
            select(func.count()).where(_sl.status == "unmatched", _sl.created_at >= start)
        ).scalar_one()
        undone = conn.execute(
            select(func.count()).where(_p.status == "reversed", _p.created_at >= start)
        ).scalar_one()
    return PeriodFigures(since, int(received), by_rule, int(waiting), int(undone))


def match_rate_by_day(engine: Engine, days: int = 14) -> list[DayRate]:
    """The last `days` booking days that have credit lines, oldest first."""
    matched = func.sum(case((_sl.status == "matched", 1), else_=0))
    with engine.connect() as conn:
        rows = conn.execute(
            select(_sl.booking_date, func.count(), matched)
            .where(_sl.amount > 0)
            .group_by(_sl.booking_date)
            .order_by(_sl.booking_date.desc())
            .limit(days)
        ).all()
    return [DayRate(day, int(n), int(m or 0)) for day, n, m in reversed(rows)]


def week_start(today: date) -> date:
    return today - timedelta(days=today.weekday())
