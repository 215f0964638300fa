"""Credit status (seed 000's CustomerCreditStatus): the cached balance against the customer's
credit threshold, and the history of its changes.

`services.ledger.balances.recompute_customers` keeps both tables current: every ledger write
recomputes the customers it touches, and the `update_credit_status` task recomputes them all.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Engine, select

from payrecon.domain.credit_status import CreditStatus
from payrecon.domain.errors import NotFound
from payrecon.services.ledger.balances import recompute_balances
from payrecon.store import ledger_tables as lt
from payrecon.store.listing import ListQueryLike, apply_list_query


@dataclass(frozen=True, slots=True)
class CreditStatusView:
    customer_id: int
    balance: Decimal
    credit_threshold: Decimal
    status: CreditStatus
    changed_at: datetime
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class CreditStatusChange:
    id: int
    customer_id: int
    from_status: CreditStatus | None
    status: CreditStatus
    balance: Decimal
    credit_threshold: Decimal
    changed_at: datetime
    cause: str | None


@dataclass(frozen=True, slots=True)
class CreditStatusHistoryPage:
    items: list[CreditStatusChange]
    total: int


def update_credit_status(
    engine: Engine,
    *,
    customer_ids: Collection[int] | None = None,
    now: datetime | None = None,
    cause: str = "credit status update",
) -> int:
    """Recompute balances and credit status (all customers when None); the number recomputed."""
    return recompute_balances(engine, customer_ids=customer_ids, now=now, cause=cause)


def get_credit_status(engine: Engine, customer_id: int) -> CreditStatusView:
    status = lt.credit_status
    with engine.connect() as conn:
        row = conn.execute(select(status).where(status.c.customer_id == customer_id)).first()
        if row is None and lt.customer_terms(conn, customer_id) is None:
            raise NotFound(f"customer {customer_id} does not exist")
    if row is None:
        recompute_balances(engine, customer_ids=[customer_id])
        return get_credit_status(engine, customer_id)
    return CreditStatusView(
        customer_id=row.customer_id,
        balance=row.balance,
        credit_threshold=row.credit_threshold,
        status=CreditStatus(row.status),
        changed_at=row.changed_at,
        checked_at=row.checked_at,
    )


def list_credit_status_history(
    engine: Engine, q: ListQueryLike, *, customer_id: int | None = None
) -> CreditStatusHistoryPage:
    """The changes, oldest first unless sorted otherwise."""
    history = lt.credit_status_history
    columns: dict[str, ColumnElement[Any]] = {
        "id": history.c.id,
        "customerId": history.c.customer_id,
        "fromStatus": history.c.from_status,
        "status": history.c.to_status,
        "balance": history.c.balance,
        "creditThreshold": history.c.credit_threshold,
        "changedAt": history.c.changed_at,
    }
    stmt = select(history)
    if customer_id is not None:
        stmt = stmt.where(history.c.customer_id == customer_id)
    page, count = apply_list_query(stmt, columns, q)
    with engine.connect() as conn:
        if customer_id is not None and lt.customer_terms(conn, customer_id) is None:
            raise NotFound(f"customer {customer_id} does not exist")
        total = int(conn.execute(count).scalar_one())
        items = [
            CreditStatusChange(
                id=r.id,
                customer_id=r.customer_id,
                from_status=CreditStatus(r.from_status) if r.from_status else None,
                status=CreditStatus(r.to_status),
                balance=r.balance,
                credit_threshold=r.credit_threshold,
                changed_at=r.changed_at,
                cause=r.cause,
            )
            for r in conn.execute(page)
        ]
    return CreditStatusHistoryPage(items, total)
