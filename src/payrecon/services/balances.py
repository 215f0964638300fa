"""Customer balances, recomputed set-based from the rows (the stored table is a cache).

balance (seed sign) = payments - invoices here; credit notes, adjustments and refunds join the
same statement as the ledger grows. One INSERT ... SELECT ... ON CONFLICT DO UPDATE recomputes
every customer (or the ones given) in a single round trip.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, func, literal, select, true

from payrecon.domain.errors import NotFound
from payrecon.services.clock import utcnow
from payrecon.store import tables as t
from payrecon.store.bulk import dialect_insert
from payrecon.store.types import Amount


@dataclass(frozen=True, slots=True)
class CustomerBalance:
    customer_id: int
    currency: str
    balance: Decimal
    total_invoiced: Decimal
    total_payments: Decimal
    total_payments_since_last_invoice: Decimal
    computed_at: datetime
    has_mandate: bool


def _balance_select(now: datetime, customer_ids: Collection[int] | None) -> Any:
    invoiced = (
        select(
            t.invoices.c.customer_id,
            func.sum(t.invoices.c.total).label("total"),
            func.max(t.invoices.c.issue_date).label("last_issue"),
        )
        .group_by(t.invoices.c.customer_id)
        .subquery("invoiced")
    )
    paid = (
        select(t.payments.c.customer_id, func.sum(t.payments.c.amount).label("total"))
        .where(t.payments.c.status == "active")
        .group_by(t.payments.c.customer_id)
        .subquery("paid")
    )
    paid_since = (
        select(t.payments.c.customer_id, func.sum(t.payments.c.amount).label("total"))
        .select_from(t.payments)
        .outerjoin(invoiced, invoiced.c.customer_id == t.payments.c.customer_id)
        .where(
            t.payments.c.status == "active",
            (invoiced.c.last_issue.is_(None)) | (t.payments.c.date > invoiced.c.last_issue),
        )
        .group_by(t.payments.c.customer_id)
        .subquery("paid_since")
    )
    zero = literal(Decimal(0), Amount())
    total_invoiced = func.coalesce(invoiced.c.total, zero)
    total_paid = func.coalesce(paid.c.total, zero)
    stmt = (
        select(
            t.customers.c.id.label("customer_id"),
            t.customers.c.currency,
            (total_paid - total_invoiced).label("balance"),
            total_invoiced.label("total_invoiced"),
            total_paid.label("total_payments"),
            func.coalesce(paid_since.c.total, zero).label("total_payments_since_last_invoice"),
            literal(now, t.customer_balances.c.computed_at.type).label("computed_at"),
        )
        .select_from(t.customers)
        .outerjoin(invoiced, invoiced.c.customer_id == t.customers.c.id)
        .outerjoin(paid, paid.c.customer_id == t.customers.c.id)
        .outerjoin(paid_since, paid_since.c.customer_id == t.customers.c.id)
        .where(true())  # SQLite needs a WHERE to parse INSERT ... SELECT ... ON CONFLICT
    )
    if customer_ids is not None:
        stmt = stmt.where(t.customers.c.id.in_(sorted(customer_ids)))
    return stmt


def recompute_balances(
    engine: Engine, *, customer_ids: Collection[int] | None = None, now: datetime | None = None
) -> int:
    """Recompute the cached balances of `customer_ids` (all customers when None)."""
    now = now or utcnow()
    columns = [
        "customer_id",
        "currency",
        "balance",
        "total_invoiced",
        "total_payments",
        "total_payments_since_last_invoice",
        "computed_at",
    ]
    with engine.begin() as conn:
        insert = dialect_insert(conn, t.customer_balances)
        stmt = insert.from_select(columns, _balance_select(now, customer_ids))
        stmt = stmt.on_conflict_do_update(
            index_elements=["customer_id"], set_={c: stmt.excluded[c] for c in columns[1:]}
        )
        result = conn.execute(stmt)
    return int(result.rowcount or 0)


def get_balance(engine: Engine, customer_id: int) -> CustomerBalance:
    """The cached balance of one customer, computed now if the cache has none yet."""
    query = select(
        t.customer_balances,
        select(t.mandates.c.id)
        .where(and_(t.mandates.c.customer_id == customer_id, t.mandates.c.status == "active"))
        .exists()
        .label("has_mandate"),
    ).where(t.customer_balances.c.customer_id == customer_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
        if row is None:
            exists = conn.execute(
                select(t.customers.c.id).where(t.customers.c.id == customer_id)
            ).first()
            if exists is None:
                raise NotFound(f"customer {customer_id} does not exist")
    if row is None:
        recompute_balances(engine, customer_ids=[customer_id])
        return get_balance(engine, customer_id)
    return CustomerBalance(
        customer_id=row.customer_id,
        currency=row.currency,
        balance=row.balance,
        total_invoiced=row.total_invoiced,
        total_payments=row.total_payments,
        total_payments_since_last_invoice=row.total_payments_since_last_invoice,
        computed_at=row.computed_at,
        has_mandate=bool(row.has_mandate),
    )
