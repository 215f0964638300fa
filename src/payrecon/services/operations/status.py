"""What `payrecon status` reports from the database: the contract owners and the bank accounts
that select their statements, what waits (pending lines, the review queue), and the last task
runs. Whether the broker and workers answer is the worker layer's to say."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func, select, text

from payrecon.services.operations.task_runs import list_task_runs
from payrecon.store import tables as t


@dataclass(frozen=True)
class OwnerStatus:
    id: int
    name: str
    iban: str | None
    sort_code: str | None
    account_number: str | None
    invoice_number_format: str | None


@dataclass(frozen=True)
class RunStatus:
    name: str
    status: str
    started_at: str
    duration_s: float | None
    error: str | None


@dataclass(frozen=True)
class DatabaseStatus:
    owners: list[OwnerStatus]
    customers: int
    invoices: int
    pending_lines: int
    review_queue: int
    last_runs: list[RunStatus]

    def as_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def database_answers(engine: Engine) -> None:
    """Raises what the database raises when it does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def database_status(engine: Engine, *, runs: int = 5) -> DatabaseStatus:
    co, sl = t.contract_owners.c, t.statement_lines.c
    with engine.connect() as conn:
        owners = [
            OwnerStatus(*row)
            for row in conn.execute(
                select(
                    co.id,
                    co.name,
                    co.bank_iban,
                    co.bank_sort_code,
                    co.bank_account_number,
                    co.invoice_number_format,
                ).order_by(co.id)
            )
        ]
        lines: dict[str, int] = dict(
            conn.execute(
                select(sl.status, func.count())
                .where(sl.status.in_(("pending", "unmatched")))
                .group_by(sl.status)
            ).all()
        )
        customers = conn.execute(select(func.count()).select_from(t.customers)).scalar_one()
        invoices = conn.execute(select(func.count()).select_from(t.invoices)).scalar_one()
    recent, _ = list_task_runs(engine, limit=runs)
    return DatabaseStatus(
        owners=owners,
        customers=int(customers),
        invoices=int(invoices),
        pending_lines=int(lines.get("pending", 0)),
        review_queue=int(lines.get("unmatched", 0)),
        last_runs=[
            RunStatus(r.name, r.status, r.started_at.isoformat(), r.duration_seconds, r.error)
            for r in recent
        ],
    )
