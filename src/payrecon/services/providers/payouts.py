"""Payouts: the money a provider sends to the merchant's bank, net of its fees, with the items
(payments paid out, fees, refunds, chargebacks) that make it up.

A payout is stored as last read, unique by (provider, external id). Its items are read once the
payout is `paid` (they no longer change then) and written with `items_synced_at` in one
transaction, each keyed by its place in the provider's list, so a crash or a second run adds
nothing. A later matching rule ties the bank credit carrying `reference` to the payout by setting
`statement_line_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from payrecon.domain.allocation import ProblemKind
from payrecon.domain.matching.payouts import payout_reference_key
from payrecon.domain.providers import PayoutStatus, ProviderPayout, ProviderPayoutItem
from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.feeds.stripe import StripeClient
from payrecon.logging import get_logger
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.bulk import dialect_insert

log = get_logger(__name__)
_MUTABLE = (
    "amount",
    "deducted_fees",
    "status",
    "arrival_date",
    "reference",
    "reference_key",
    "fetched_at",
    "fx_currency",
    "fx_rate",
    "fx_amount",
)


def store_payouts(
    conn: Connection, provider_id: int, payouts: Sequence[ProviderPayout], now: datetime
) -> None:
    """Upsert the payouts as read at `now`; an older read never overwrites a newer one."""
    rows = list(
        {
            p.external_id: {
                "provider_id": provider_id,
                "external_id": p.external_id,
                "amount": p.amount,
                "deducted_fees": p.deducted_fees,
                "currency": p.currency,
                "status": p.status.value,
                "arrival_date": p.arrival_date,
                "reference": p.reference,
                "reference_key": payout_reference_key(p.reference) if p.reference else None,
                "provider_created_at": p.created_at,
                "fetched_at": now,
                "fx_currency": p.fx_currency,
                "fx_rate": p.fx_rate,
                "fx_amount": p.fx_amount,
            }
            for p in payouts
        }.values()
    )
    if not rows:
        return
    stmt = dialect_insert(conn, pt.payouts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["provider_id", "external_id"],
        set_={c: stmt.excluded[c] for c in _MUTABLE},
        where=pt.payouts.c.fetched_at <= stmt.excluded.fetched_at,
    )
    conn.execute(stmt, rows)


def mark_payout_status(conn: Connection, provider_id: int, payout_id: str, status: str) -> None:
    """A payout event's word on a stored payout's status (Stripe sends the object with it)."""
    conn.execute(
        update(pt.payouts)
        .where(pt.payouts.c.provider_id == provider_id, pt.payouts.c.external_id == payout_id)
        .values(status=PayoutStatus(status).value)
    )


def sync_payout_items(
    engine: Engine, provider_id: int, client: GoCardlessClient | StripeClient, now: datetime
) -> tuple[int, int]:
    """Read and store the items of every paid payout whose items are not stored yet; returns
    the items written and the bank lines sent back to matching (`retry_lines_waiting_for_items`)."""
    p = pt.payouts.c
    with engine.connect() as conn:
        waiting = conn.execute(
            select(p.id, p.external_id, p.currency).where(
                p.provider_id == provider_id,
                p.status == PayoutStatus.PAID.value,
                p.items_synced_at.is_(None),
            )
        ).all()
    written = retried_in_all = 0
    for payout in waiting:
        items = _items(client, payout.external_id, payout.currency)
        with engine.begin() as conn:
            claimed = conn.execute(
                update(pt.payouts)
                .where(p.id == payout.id, p.items_synced_at.is_(None))
                .values(items_synced_at=now)
            ).rowcount
            if not claimed:
                continue  # another run stored them meanwhile
            rows = [_item_row(payout.id, seq, item) for seq, item in enumerate(items, start=1)]
            if rows:
                insert = dialect_insert(conn, pt.payout_items).on_conflict_do_nothing(
                    index_elements=["payout_id", "seq"]
                )
                conn.execute(insert, rows)
            retried = retry_lines_waiting_for_items(conn, payout.external_id)
            written += len(rows)
            retried_in_all += retried
        log.info(
            "providers.payout.items",
            provider_id=provider_id,
            payout=payout.external_id,
            items=len(rows),
            lines_retried=retried,
        )
    return written, retried_in_all


def retry_lines_waiting_for_items(conn: Connection, payout_external_id: str) -> int:
    """Statement lines that went to review because this payout's items were not stored yet go
    back to `pending`, so the next `reconcile_pending` settles them (in the transaction that
    stores the items)."""
    sl = t.statement_lines.c
    waiting = f"{ProblemKind.PAYOUT_ITEMS_MISMATCH.value}: payout {payout_external_id} (%"
    return int(
        conn.execute(
            update(t.statement_lines)
            .where(sl.status == "unmatched", sl.reason.like(waiting))
            .values(status="pending", reason=None)
        ).rowcount
        or 0
    )


def _items(
    client: GoCardlessClient | StripeClient, payout_id: str, currency: str
) -> list[ProviderPayoutItem]:
    if isinstance(client, GoCardlessClient):
        pages = client.payout_item_pages(payout_id, currency=currency)
    else:
        pages = client.balance_transaction_pages(payout=payout_id)
    return [item for page in pages for item in page.records]


def _item_row(payout_id: int, seq: int, item: ProviderPayoutItem) -> dict[str, Any]:
    return {
        "payout_id": payout_id,
        "seq": seq,
        "type": item.type,
        "amount": item.amount,
        "fee": item.fee,
        "currency": item.currency,
        "payment_external_id": item.links.get("payment"),
        "refund_external_id": item.links.get("refund"),
        "external_id": item.external_id,
        "links": dict(item.links),
    }
