"""Figures for `/metrics`, read from the database at scrape time, so every worker process's work
is counted exactly once, whichever process serves the scrape."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Engine, func, select

from payrecon.services.providers.ledger import COLLECTED
from payrecon.store import provider_tables
from payrecon.store import tables as t


@dataclass(frozen=True, slots=True)
class TaskTiming:
    name: str
    status: str
    runs: int
    seconds: Decimal
    last_seconds: Decimal | None


@dataclass(slots=True)
class PipelineFigures:
    lines_by_status: dict[str, int] = field(default_factory=dict)
    files_by_status: dict[str, int] = field(default_factory=dict)
    allocations: int = 0
    amount_allocated: Decimal = Decimal(0)
    task_timings: list[TaskTiming] = field(default_factory=list)
    ledger_breaches: int = 0  # found by the latest finished audit_ledger run
    provider_payments_awaiting_review: int = 0


def _seconds(started: object, finished: object) -> Decimal:
    delta = finished - started  # type: ignore[operator]
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def pipeline_figures(engine: Engine) -> PipelineFigures:
    figures = PipelineFigures()
    with engine.connect() as conn:
        figures.lines_by_status = {
            status: int(n)
            for status, n in conn.execute(
                select(t.statement_lines.c.status, func.count()).group_by(
                    t.statement_lines.c.status
                )
            )
        }
        figures.files_by_status = {
            status: int(n)
            for status, n in conn.execute(
                select(t.feed_files.c.status, func.count()).group_by(t.feed_files.c.status)
            )
        }
        count, amount = conn.execute(
            select(func.count(), func.sum(t.allocations.c.amount))
            .select_from(t.allocations)
            .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
            .where(t.payments.c.status == "active")
        ).one()
        figures.allocations, figures.amount_allocated = int(count), amount or Decimal(0)
        # Durations are summed in Python: interval arithmetic differs between the databases.
        timings: dict[tuple[str, str], list[Decimal]] = {}
        rows = conn.execute(
            select(
                t.task_runs.c.name,
                t.task_runs.c.status,
                t.task_runs.c.started_at,
                t.task_runs.c.finished_at,
            )
            .where(t.task_runs.c.finished_at.is_not(None))
            .order_by(t.task_runs.c.id)
        )
        for name, status, started, finished in rows:
            timings.setdefault((name, status), []).append(_seconds(started, finished))
    with engine.connect() as conn:
        counts = conn.execute(
            select(t.task_runs.c.counts)
            .where(t.task_runs.c.name == "audit_ledger", t.task_runs.c.finished_at.is_not(None))
            .order_by(t.task_runs.c.finished_at.desc(), t.task_runs.c.id.desc())
            .limit(1)
        ).scalar()
        breaches = (counts or {}).get("breaches", 0)
        figures.ledger_breaches = breaches if isinstance(breaches, int) else 0
        pp = provider_tables.provider_payments.c
        figures.provider_payments_awaiting_review = int(
            conn.execute(
                select(func.count())
                .select_from(provider_tables.provider_payments)
                .where(pp.payment_id.is_(None), pp.status.in_(COLLECTED))
            ).scalar_one()
        )
    figures.task_timings = [
        TaskTiming(name, status, len(values), sum(values, Decimal(0)), values[-1])
        for (name, status), values in sorted(timings.items())
    ]
    return figures
