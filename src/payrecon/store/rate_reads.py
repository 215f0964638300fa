"""Finding the exchange rate that holds for money (see `services.ledger.exchange_rates`): the
provider's payout FX data first, else the rate table's latest rate dated on or before the money."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select

from payrecon.domain.money import RATE_FROM_PAYOUT, RATE_FROM_TABLE, RecordedRate
from payrecon.store import provider_tables as pt
from payrecon.store.finance_tables import exchange_rates

_r = exchange_rates.c


def table_rate(conn: Connection, base: str, quote: str, on: date) -> RecordedRate | None:
    """The table's rate from `base` to `quote` holding on `on` (the latest valid from then)."""
    row = conn.execute(
        select(_r.rate, _r.valid_from)
        .where(_r.base_currency == base, _r.quote_currency == quote, _r.valid_from <= on)
        .order_by(_r.valid_from.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return RecordedRate(base, quote, row.rate, row.valid_from, RATE_FROM_TABLE)


def payout_rate(
    conn: Connection, provider_id: int, payout_external_id: str | None, base: str, quote: str
) -> RecordedRate | None:
    """The rate the provider converted the payout holding the payment at, if it did so into
    `quote`."""
    if not payout_external_id:
        return None
    po = pt.payouts.c
    row = conn.execute(
        select(po.fx_rate, po.arrival_date, po.provider_created_at).where(
            po.provider_id == provider_id,
            po.external_id == payout_external_id,
            po.currency == base,
            po.fx_currency == quote,
            po.fx_rate.is_not(None),
        )
    ).first()
    if row is None or row.fx_rate <= 0:
        return None
    as_of = row.arrival_date or row.provider_created_at.date()
    return RecordedRate(base, quote, row.fx_rate, as_of, RATE_FROM_PAYOUT)


def rate_for_payment(
    conn: Connection,
    *,
    provider_id: int | None,
    payout_external_id: str | None,
    base: str,
    quote: str,
    on: date,
) -> RecordedRate | None:
    """The provider's payout rate, else the table's rate holding on `on`."""
    if provider_id is not None:
        found = payout_rate(conn, provider_id, payout_external_id, base, quote)
        if found is not None:
            return found
    return table_rate(conn, base, quote, on)
