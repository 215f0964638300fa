"""The exchange rates payrecon may convert money at, and finding the one that holds.

A payment in another currency than its customer's is counted in the ledger only through a
recorded rate (DESIGN.md: no allocation across currencies without one). A rate comes from
- the provider's payout FX data (GoCardless `fx` on a payout: what the provider converted the
  payout's payments at), which wins because it is what happened to the money; else
- the rate table admins keep through `/v1/exchange-rates`: 1 base = rate quote, for money dated
  from `validFrom` until the pair's next rate.
(`store.rate_reads` finds them.) Without either, a provider payment waits in the review queue
(its reason says which rate is missing); recording a rate settles the provider payments that
waited for it, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from payrecon.domain.errors import Conflict, InvalidInput, NotFound
from payrecon.domain.money import RATE_PLACES
from payrecon.services.admin.resources import Json, Page, row_json
from payrecon.services.clock import utcnow
from payrecon.services.providers.ledger import settle_awaiting_rate
from payrecon.store.finance_tables import exchange_rates
from payrecon.store.listing import ListQueryLike, apply_list_query

_r = exchange_rates.c
FIELDS: dict[str, ColumnElement[Any]] = {
    "id": _r.id,
    "baseCurrency": _r.base_currency,
    "quoteCurrency": _r.quote_currency,
    "rate": _r.rate,
    "validFrom": _r.valid_from,
    "note": _r.note,
    "createdBy": _r.created_by,
    "createdAt": _r.created_at,
}


@dataclass(frozen=True, slots=True)
class RateInput:
    base_currency: str
    quote_currency: str
    rate: Decimal
    valid_from: date
    note: str | None = None


def _currency(code: str, field: str) -> str:
    text = code.strip().upper()
    if len(text) != 3 or not text.isalpha():
        raise InvalidInput(
            f"{field} must be an ISO 4217 code, got {code!r}", details={"field": field}
        )
    return text


def record_rate(
    engine: Engine, data: RateInput, *, actor: str, now: datetime | None = None
) -> Json:
    """Record a dated rate (409 if the pair has one for that date), then settle the provider
    payments that waited for it. The answer carries `settled`: how many were recorded."""
    base = _currency(data.base_currency, "baseCurrency")
    quote = _currency(data.quote_currency, "quoteCurrency")
    if base == quote:
        raise InvalidInput(
            "a rate converts between two currencies", details={"field": "quoteCurrency"}
        )
    if data.rate <= 0:
        raise InvalidInput(f"rate must be positive, got {data.rate}", details={"field": "rate"})
    exponent = data.rate.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -RATE_PLACES:
        raise InvalidInput(
            f"rate has more than {RATE_PLACES} decimal places", details={"field": "rate"}
        )
    now = now or utcnow()
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                rate_id = conn.execute(
                    exchange_rates.insert()
                    .values(
                        base_currency=base,
                        quote_currency=quote,
                        rate=data.rate,
                        valid_from=data.valid_from,
                        note=data.note,
                        created_by=actor,
                        created_at=now,
                    )
                    .returning(_r.id)
                ).scalar_one()
        except IntegrityError:
            raise Conflict(
                f"a {base} to {quote} rate valid from {data.valid_from} is recorded already",
                details={"baseCurrency": base, "quoteCurrency": quote},
            ) from None
        settled = settle_awaiting_rate(conn, base, quote, now)
        item = _read(conn, int(rate_id))
    return {**item, "settled": settled}


def get_rate(engine: Engine, rate_id: int) -> Json:
    with engine.connect() as conn:
        return _read(conn, rate_id)


def delete_rate(engine: Engine, rate_id: int) -> None:
    """Remove a rate recorded in error; what was converted at it keeps its recorded rate."""
    with engine.begin() as conn:
        gone = conn.execute(exchange_rates.delete().where(_r.id == rate_id)).rowcount
    if not gone:
        raise NotFound(f"exchange rate {rate_id} does not exist")


def list_rates(engine: Engine, q: ListQueryLike) -> Page:
    stmt = select(*(column.label(name) for name, column in FIELDS.items()))
    page, count = apply_list_query(stmt, FIELDS, q)
    with engine.connect() as conn:
        return Page([row_json(r) for r in conn.execute(page)], conn.execute(count).scalar_one())


def _read(conn: Connection, rate_id: int) -> Json:
    row = conn.execute(
        select(*(column.label(name) for name, column in FIELDS.items())).where(_r.id == rate_id)
    ).first()
    if row is None:
        raise NotFound(f"exchange rate {rate_id} does not exist")
    return row_json(row)
