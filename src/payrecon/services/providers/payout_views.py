"""Payouts as a person (and the console) reads them: `GET /v1/payouts` with the list
conventions, and one payout with its items, its fees, the provider payments it pays out (with
the ledger payment each made) and the bank line that settled it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, select

from payrecon.domain.errors import NotFound
from payrecon.services.admin.resources import Json, Page, row_json
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.admin_tables import payment_providers
from payrecon.store.listing import ListQueryLike, apply_list_query

_po = pt.payouts.c
FIELDS: dict[str, ColumnElement[Any]] = {
    "id": _po.id,
    "providerId": _po.provider_id,
    "providerKind": payment_providers.c.kind,
    "externalId": _po.external_id,
    "status": _po.status,
    "amount": _po.amount,
    "deductedFees": _po.deducted_fees,
    "currency": _po.currency,
    "arrivalDate": _po.arrival_date,
    "reference": _po.reference,
    "fxCurrency": _po.fx_currency,
    "fxRate": _po.fx_rate,
    "fxAmount": _po.fx_amount,
    "statementLineId": _po.statement_line_id,
    "reconciledAt": _po.reconciled_at,
    "settledFees": _po.settled_fees,
    "itemsSyncedAt": _po.items_synced_at,
    "createdDate": _po.provider_created_at,
}


def _select() -> Any:
    return select(*(c.label(n) for n, c in FIELDS.items())).join(
        payment_providers, payment_providers.c.id == _po.provider_id
    )


def list_payouts(engine: Engine, q: ListQueryLike) -> Page:
    page, count = apply_list_query(_select(), FIELDS, q)
    with engine.connect() as conn:
        items = [_reconciled(row_json(r)) for r in conn.execute(page)]
        return Page(items, int(conn.execute(count).scalar_one()))


def _reconciled(item: Json) -> Json:
    item["reconciled"] = item["statementLineId"] is not None
    return item


def get_payout(engine: Engine, payout_id: int) -> Json:
    with engine.connect() as conn:
        row = conn.execute(_select().where(_po.id == payout_id)).first()
        if row is None:
            raise NotFound(f"payout {payout_id} does not exist")
        item = _reconciled(row_json(row))
        item["items"] = _items(conn, payout_id)
        fees = [i["fee"] for i in item["items"] if i["fee"] is not None]
        item["fees"] = {
            "deducted": item["deductedFees"],
            "items": sum(fees, Decimal(0)) if fees else None,
            "settled": item["settledFees"],
        }
        item["payments"] = _payments(conn, int(row.providerId), str(row.externalId))
        item["statementLine"] = _line(conn, item["statementLineId"])
    return item


def _items(conn: Connection, payout_id: int) -> list[Json]:
    i = pt.payout_items.c
    return [
        {
            "seq": r.seq,
            "type": r.type,
            "amount": r.amount,
            "fee": r.fee,
            "currency": r.currency,
            "paymentExternalId": r.payment_external_id,
            "refundExternalId": r.refund_external_id,
            "externalId": r.external_id,
        }
        for r in conn.execute(
            select(pt.payout_items).where(i.payout_id == payout_id).order_by(i.seq)
        )
    ]


def _payments(conn: Connection, provider_id: int, payout_external_id: str) -> list[Json]:
    pp = pt.provider_payments.c
    rows = conn.execute(
        select(pp.id, pp.external_id, pp.amount, pp.currency, pp.status, pp.payment_id,
               pp.customer_id, pp.review_reason)
        .where(pp.provider_id == provider_id, pp.payout_external_id == payout_external_id)
        .order_by(pp.id)
    )  # fmt: skip
    return [
        {
            "providerPaymentId": r.id,
            "externalId": r.external_id,
            "amount": r.amount,
            "currency": r.currency,
            "status": r.status,
            "paymentId": r.payment_id,
            "customerId": r.customer_id,
            "reviewReason": r.review_reason,
        }
        for r in rows
    ]


def _line(conn: Connection, line_id: int | None) -> Json | None:
    if line_id is None:
        return None
    sl = t.statement_lines.c
    row = conn.execute(
        select(
            sl.id, sl.account, sl.external_id.label("externalId"),
            sl.booking_date.label("bookingDate"), sl.amount, sl.currency,
            sl.remittance, sl.status,
        ).where(sl.id == line_id)
    ).first()  # fmt: skip
    return dict(row._mapping) if row is not None else None
