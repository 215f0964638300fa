"""Refunds: money returned to a customer from a payment or a credit note (seed 000's Refund).

A refund never exceeds what is unallocated on its source, nor what was collected: a reversed
payment or a credit note that is pending or failed has nothing to refund. Creating or deleting a
refund is one transaction through the ledger write path (which locks its source and keeps its
unused amount) that also recomputes the customer's cached balance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, select

from payrecon.domain.errors import InvalidInput, NotFound
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.store import ledger_tables as lt
from payrecon.store.ledger_writes import NewRefund, ledger_writes
from payrecon.store.listing import ListQueryLike, apply_list_query

refunds = lt.refunds


@dataclass(frozen=True, slots=True)
class RefundInput:
    amount: Decimal
    date: dt.date
    payment_id: int | None = None
    credit_note_id: int | None = None
    reference_number: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RefundView:
    id: int
    customer_id: int
    payment_id: int | None
    credit_note_id: int | None
    date: dt.date
    amount: Decimal
    currency: str
    reference_number: str | None
    description: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RefundPage:
    items: list[RefundView]
    total: int


def create_refund(engine: Engine, data: RefundInput, *, now: datetime | None = None) -> RefundView:
    if (data.payment_id is None) == (data.credit_note_id is None):
        raise InvalidInput("a refund names exactly one of paymentId and creditNoteId")
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            try:
                held = (
                    ledger.payment(data.payment_id)
                    if data.payment_id is not None
                    else ledger.credit_note(data.credit_note_id or 0)
                )
            except NotFound as exc:
                raise InvalidInput(str(exc).replace("customer payment", "payment")) from None
            terms = lt.customer_terms(conn, held.funds.customer_id)
            assert terms is not None  # the source's customer exists (foreign key)
            refund_id = ledger.add_refund(
                held,
                NewRefund(
                    date=data.date,
                    amount=terms.rounding.apply(data.amount),
                    reference_number=data.reference_number,
                    description=data.description,
                ),
            )
        recompute_customers(conn, ledger.customers, now, cause=f"refund {refund_id} created")
        return _views(conn, refunds.c.id == refund_id)[0]


def delete_refund(engine: Engine, refund_id: int, *, now: datetime | None = None) -> None:
    """Void a refund recorded in error: its money is back on its source."""
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            ledger.delete_refund(refund_id)
        recompute_customers(conn, ledger.customers, now, cause=f"refund {refund_id} deleted")


def get_refund(engine: Engine, refund_id: int) -> RefundView:
    with engine.connect() as conn:
        found = _views(conn, refunds.c.id == refund_id)
    if not found:
        raise NotFound(f"refund {refund_id} does not exist")
    return found[0]


def list_refunds(engine: Engine, q: ListQueryLike) -> RefundPage:
    columns: dict[str, ColumnElement[Any]] = {
        "id": refunds.c.id,
        "customerId": refunds.c.customer_id,
        "paymentId": refunds.c.payment_id,
        "creditNoteId": refunds.c.credit_note_id,
        "date": refunds.c.date,
        "amount": refunds.c.amount,
        "currencyCode": refunds.c.currency,
        "referenceNumber": refunds.c.reference_number,
        "description": refunds.c.description,
        "createdAt": refunds.c.created_at,
    }
    page, count = apply_list_query(select(refunds.c.id), columns, q)
    with engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        ids = list(conn.execute(page).scalars())
        by_id = {v.id: v for v in _views(conn, refunds.c.id.in_(ids))}
    return RefundPage([by_id[i] for i in ids], total)


def _views(conn: Connection, where: ColumnElement[bool]) -> list[RefundView]:
    return [
        RefundView(
            id=r.id,
            customer_id=r.customer_id,
            payment_id=r.payment_id,
            credit_note_id=r.credit_note_id,
            date=r.date,
            amount=r.amount,
            currency=r.currency,
            reference_number=r.reference_number,
            description=r.description,
            created_at=r.created_at,
        )
        for r in conn.execute(select(refunds).where(where).order_by(refunds.c.id))
    ]
