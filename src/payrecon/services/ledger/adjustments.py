"""Balance adjustments (seed 000): a manual credit (positive) or debit (negative) to a customer's
balance, in the customer's currency, rounded with the contract owner's rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, select

from payrecon.domain.errors import InvalidInput, NotFound
from payrecon.domain.ledger import currency_number
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.store import ledger_tables as lt
from payrecon.store.listing import ListQueryLike, apply_list_query

adjustments = lt.balance_adjustments


@dataclass(frozen=True, slots=True)
class AdjustmentView:
    id: int
    customer_id: int
    amount: Decimal
    currency: str
    currency_id: int | None  # ISO 4217 numeric code
    description: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AdjustmentPage:
    items: list[AdjustmentView]
    total: int


def create_adjustment(
    engine: Engine,
    customer_id: int,
    amount: Decimal,
    description: str | None,
    *,
    now: datetime | None = None,
) -> AdjustmentView:
    now = now or utcnow()
    with engine.begin() as conn:
        terms = lt.customer_terms(conn, customer_id)
        if terms is None:
            raise InvalidInput(f"customer {customer_id} does not exist")
        rounded = terms.rounding.apply(amount)
        if rounded == 0:
            raise InvalidInput("amountInMajorCurrency must not be zero")
        adjustment_id = conn.execute(
            adjustments.insert()
            .values(
                customer_id=terms.id,
                amount=rounded,
                currency=terms.currency,
                description=description,
                created_at=now,
            )
            .returning(adjustments.c.id)
        ).scalar_one()
        recompute_customers(conn, {terms.id}, now, cause=f"balance adjustment {adjustment_id}")
        return _views(conn, adjustments.c.id == adjustment_id)[0]


def get_adjustment(engine: Engine, adjustment_id: int) -> AdjustmentView:
    with engine.connect() as conn:
        found = _views(conn, adjustments.c.id == adjustment_id)
    if not found:
        raise NotFound(f"balance adjustment {adjustment_id} does not exist")
    return found[0]


def list_adjustments(engine: Engine, q: ListQueryLike) -> AdjustmentPage:
    columns: dict[str, ColumnElement[Any]] = {
        "id": adjustments.c.id,
        "customerId": adjustments.c.customer_id,
        "amountInMajorCurrency": adjustments.c.amount,
        "currencyCode": adjustments.c.currency,
        "description": adjustments.c.description,
        "createdAt": adjustments.c.created_at,
    }
    page, count = apply_list_query(select(adjustments.c.id), columns, q)
    with engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        ids = list(conn.execute(page).scalars())
        by_id = {v.id: v for v in _views(conn, adjustments.c.id.in_(ids))}
    return AdjustmentPage([by_id[i] for i in ids], total)


def _views(conn: Connection, where: ColumnElement[bool]) -> list[AdjustmentView]:
    return [
        AdjustmentView(
            id=r.id,
            customer_id=r.customer_id,
            amount=r.amount,
            currency=r.currency,
            currency_id=currency_number(r.currency),
            description=r.description,
            created_at=r.created_at,
        )
        for r in conn.execute(select(adjustments).where(where).order_by(adjustments.c.id))
    ]
