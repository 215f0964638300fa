"""Set-based reads and bulk writes of payout settlement (`domain.matching.payouts`): the payouts a
chunk of lines may settle, with their items, in a few set-based queries; and the settled payouts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, bindparam, cast, func, or_, select, update

from payrecon.domain.matching import LineToMatch, PayoutSettlement
from payrecon.domain.matching.payouts import PayoutItem, PayoutKeys, PayoutToSettle
from payrecon.store import admin_tables as at
from payrecon.store import provider_tables as pt
from payrecon.store.bulk import among


def payouts_for_lines(
    conn: Connection,
    keys: Iterable[str],
    lines: Sequence[LineToMatch],
    window_days: int,
    *,
    itemised: bool = True,
) -> list[PayoutToSettle]:
    """The payouts whose reference keys are among `keys` (those of `stored_payout_keys` the
    lines quote: `payout_reference_candidates`; reconciled ones too: a second line
    quoting one must not pass for a customer's payment), and the unreconciled payouts of the
    credits' currencies and net amounts arriving within `window_days` of their booking dates
    (the fallback, which fits a payout to a line of its exact amount: `PayoutBook.fitting`).
    The window's payouts are read without their items and kept only where a credit has their
    amount: a window at a million lines holds thousands of payouts, and reading every one's
    items for every chunk grew with the data (an `amount = ANY(...)` of a chunk's thousands
    of amounts in SQL cost the server more than the items did).

    Not `itemised` (routing, which asks only whether a line settles a payout): each payout's
    items summed per type, one per type, instead of every item; whether they add up to the
    payout is the same."""
    po = pt.payouts.c
    columns = (
        po.id, po.external_id, at.payment_providers.c.kind, po.amount, po.currency, po.status,
        po.arrival_date, po.reference, po.items_synced_at, po.statement_line_id,
    )  # fmt: skip
    payouts = select(*columns).join(
        at.payment_providers, at.payment_providers.c.id == po.provider_id
    )
    rows: dict[int, Any] = {}
    for condition in among(conn, po.reference_key, keys):
        rows.update((row.id, row) for row in conn.execute(payouts.where(condition)))
    credits = [line for line in lines if line.amount > 0]
    if credits and window_days >= 0:
        first = min(line.booking_date for line in credits) - timedelta(days=window_days)
        last = max(line.booking_date for line in credits) + timedelta(days=window_days)
        window = and_(
            po.statement_line_id.is_(None),
            po.currency.in_(sorted({line.currency for line in credits})),
            po.arrival_date.between(first, last),
        )
        fits = {(line.currency, line.amount) for line in credits}
        rows.update(
            (row.id, row)
            for row in conn.execute(payouts.where(window))
            if (row.currency, row.amount) in fits
        )
    synced = [r.id for r in rows.values() if r.items_synced_at is not None]
    items = _items(conn, synced) if itemised else _item_sums(conn, synced)
    return [
        PayoutToSettle(
            id=r.id,
            external_id=r.external_id,
            provider=r.kind,
            amount=r.amount,
            currency=r.currency,
            status=r.status,
            arrival_date=r.arrival_date,
            reference=r.reference,
            items=tuple(items.get(r.id, ())) if r.items_synced_at is not None else None,
            settled_line_id=r.statement_line_id,
        )
        for r in sorted(rows.values(), key=lambda r: r.id)
    ]


_stored: tuple[tuple[object, ...], PayoutKeys] | None = None


def stored_payout_keys(conn: Connection) -> PayoutKeys:
    """The reference keys of every stored payout, for finding those a batch's texts quote
    (`PayoutKeys.quoted`) instead of sending every run of their words to the index. Read once
    and kept while the payouts' keys are the same, which one aggregate over the table tells
    (on PostgreSQL: the count and a sum of hashes of the keys, with the highest id): reading
    every key for each chunk cost 20 ms a chunk at 17,000 payouts, and grew with the history.
    SQLite reads them each time."""
    global _stored
    po = pt.payouts.c
    version: tuple[object, ...] | None = None
    if conn.dialect.name == "postgresql":
        key_hash = func.coalesce(func.sum(cast(func.hashtext(po.reference_key), BigInteger)), 0)
        version = (
            str(conn.engine.url),
            *conn.execute(select(func.max(po.id), func.count(po.reference_key), key_hash)).one(),
        )
        if _stored is not None and _stored[0] == version:
            return _stored[1]
    rows = conn.execute(select(po.reference_key).where(po.reference_key.is_not(None)).distinct())
    keys = PayoutKeys(rows.scalars())
    if version is not None:
        _stored = (version, keys)
    return keys


def _items(conn: Connection, payout_ids: list[int]) -> dict[int, list[PayoutItem]]:
    i = pt.payout_items.c
    found: dict[int, list[PayoutItem]] = {}
    for condition in among(conn, i.payout_id, payout_ids):
        for row in conn.execute(
            select(i.payout_id, i.type, i.amount, i.fee)
            .where(condition)
            .order_by(i.payout_id, i.seq)
        ).all():
            found.setdefault(row.payout_id, []).append(PayoutItem(row.type, row.amount, row.fee))
    return found


def _item_sums(conn: Connection, payout_ids: list[int]) -> dict[int, list[PayoutItem]]:
    i = pt.payout_items.c
    found: dict[int, list[PayoutItem]] = {}
    for condition in among(conn, i.payout_id, payout_ids):
        for row in conn.execute(
            select(i.payout_id, i.type, func.sum(i.amount), func.sum(i.fee))
            .where(condition)
            .group_by(i.payout_id, i.type)
            .order_by(i.payout_id, i.type)
        ).all():
            found.setdefault(row[0], []).append(PayoutItem(row[1], row[2], row[3]))
    return found


def settle_payouts(conn: Connection, settled: Sequence[PayoutSettlement], now: datetime) -> None:
    """Tie each payout to its line, with the fees and the evidence; a payout already tied to
    another line is left alone (the matcher refuses that case before it gets here)."""
    if not settled:
        return
    po = pt.payouts.c
    conn.execute(
        update(pt.payouts)
        .where(
            po.id == bindparam("b_id"),
            or_(po.statement_line_id.is_(None), po.statement_line_id == bindparam("b_line")),
        )
        .values(
            statement_line_id=bindparam("b_line"),
            reconciled_at=now,
            settled_fees=bindparam("b_fees"),
            settlement_evidence=bindparam("b_evidence"),
        ),
        [
            {
                "b_id": s.payout_id,
                "b_line": s.line_id,
                "b_fees": s.fees,
                "b_evidence": dict(s.evidence),
            }
            for s in settled
        ],
    )
