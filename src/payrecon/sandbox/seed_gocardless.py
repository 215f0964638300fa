"""Seeded GoCardless objects modelled on the shared fixtures: customers, mandates, payments (with
their event histories), refunds, payouts and payout items. A development tool only.

Payouts are simplified: one per currency and ISO week of paying out, holding that week's paid-out
payments with their fees, refunds and chargebacks, so that each payout is exactly the rounded sum of
its items (which are in tenths of a minor unit, as GoCardless writes them).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from payrecon.sandbox.records import (
    BASE_TIME,
    GC_ALPHABET,
    NAMES,
    Ids,
    JsonObject,
    SandboxData,
    iso_time,
    newest_first,
)

_PAYMENT_ACTIONS = {
    "pending_submission": ("created",),
    "submitted": ("created", "submitted"),
    "confirmed": ("created", "submitted", "confirmed"),
    "paid_out": ("created", "submitted", "confirmed", "paid_out"),
    "failed": ("created", "submitted", "failed"),
    "charged_back": ("created", "submitted", "confirmed", "paid_out", "charged_back"),
    "cancelled": ("created", "cancelled"),
}
_PAYMENT_WEIGHTS = {
    "paid_out": 52,
    "confirmed": 14,
    "submitted": 8,
    "pending_submission": 5,
    "failed": 9,
    "charged_back": 6,
    "cancelled": 6,
}


def _event(ids: Ids, at: datetime, resource: str, action: str, links: JsonObject) -> JsonObject:
    return {
        "id": ids.gc("EV"),
        "created_at": iso_time(at),
        "resource_type": resource,
        "action": action,
        "links": links,
        "details": {"origin": "gocardless", "cause": f"{resource[:-1]}_{action}"},
        "metadata": {},
    }


def seed_gocardless(
    data: SandboxData,
    rng: random.Random,
    ids: Ids,
    customers: int,
    per_customer: int,
    credits: list[JsonObject],
) -> None:
    creditor = ids.gc("CR")
    custs, mandates, payments, refunds, events = [], [], [], [], []
    paid: dict[tuple[str, int], list[tuple[JsonObject, JsonObject | None]]] = defaultdict(list)
    paid_out_events: dict[str, list[JsonObject]] = defaultdict(list)
    statuses, weights = list(_PAYMENT_WEIGHTS), list(_PAYMENT_WEIGHTS.values())
    for c in range(customers):
        created = BASE_TIME + timedelta(minutes=7 * c)
        customer, account, mandate_id = ids.gc("CU"), ids.gc("BA"), ids.gc("MD")
        name = NAMES[c % len(NAMES)]
        custs.append(
            {
                "id": customer,
                "created_at": iso_time(created),
                "family_name": name,
                "given_name": f"Customer {c + 1}",
                "company_name": f"{name} Trading {c + 1} Ltd.",
                "email": f"customer{c + 1}@example.com",
                "country_code": "GB",
                "language": "en",
                "metadata": {"customer_number": f"C{c + 1:05d}"},
            }
        )
        status = "cancelled" if c % 9 == 8 else "active"
        links = {"creditor": creditor, "customer": customer, "customer_bank_account": account}
        mandates.append(
            {
                "id": mandate_id,
                "created_at": iso_time(created),
                "reference": f"MANDATE-{c + 1:05d}",
                "scheme": "bacs",
                "status": status,
                "links": links,
                "metadata": {},
            }
        )
        events.append(_event(ids, created, "mandates", "created", {"mandate": mandate_id}))
        events.append(
            _event(ids, created + timedelta(days=3), "mandates", status, {"mandate": mandate_id})
        )
    for seq in range(customers * per_customer):
        mandate = mandates[seq % customers]
        created = BASE_TIME + timedelta(hours=1 + 5 * seq, seconds=rng.randrange(3600))
        currency = "EUR" if rng.random() < 0.2 else "GBP"
        status = rng.choices(statuses, weights)[0]
        payment_id, invoice = ids.gc("PM"), f"INV-{1000 + seq:07d}"
        payment: JsonObject = {
            "id": payment_id,
            "amount": rng.randrange(500, 250_001),
            "amount_refunded": 0,
            "charge_date": (created + timedelta(days=4)).date().isoformat(),
            "created_at": iso_time(created),
            "currency": currency,
            "description": f"Invoice {invoice}",
            "reference": invoice,
            "scheme": "bacs" if currency == "GBP" else "sepa_core",
            "status": status,
            "retry_if_possible": False,
            "metadata": {"invoice_number": invoice},
            "links": {"creditor": creditor, "mandate": mandate["id"]},
        }
        payments.append(payment)
        for day, action in enumerate(_PAYMENT_ACTIONS[status]):
            event = _event(
                ids, created + timedelta(days=day), "payments", action, {"payment": payment_id}
            )
            events.append(event)
            if action == "paid_out":
                paid_out_events[payment_id].append(event)
        refund: JsonObject | None = None
        if status == "paid_out" and rng.random() < 0.15:
            amount = payment["amount"] // rng.choice((1, 2, 4))
            at = created + timedelta(days=4)
            refund = {
                "id": ids.gc("RF"),
                "amount": amount,
                "created_at": iso_time(at),
                "currency": currency,
                "reference": f"REFUND {invoice}",
                "status": "paid",
                "links": {"payment": payment_id, "mandate": mandate["id"]},
                "metadata": {},
            }
            payment["amount_refunded"] = amount
            refunds.append(refund)
            for action in ("created", "paid"):
                events.append(_event(ids, at, "refunds", action, {"refund": refund["id"]}))
        if status in ("paid_out", "charged_back"):
            week = (created + timedelta(days=3)).isocalendar()
            paid[(currency, week.year * 100 + week.week)].append((payment, refund))
    payouts = []
    for (currency, _week), group in sorted(paid.items()):
        payout = _gocardless_payout(data, ids, rng, currency, group, creditor, paid_out_events)
        if payout is not None:
            payouts.append(payout)
            at = datetime.fromisoformat(payout["created_at"])
            events.append(_event(ids, at, "payouts", "paid", {"payout": payout["id"]}))
            credits.append(
                {
                    "id": payout["id"],
                    "amount": payout["amount"],
                    "currency": currency,
                    "reference": payout["reference"],
                    "date": date.fromisoformat(payout["arrival_date"]),
                    "payer": "GOCARDLESS LTD",
                }
            )
    data.gocardless = {
        "customers": newest_first(custs, "created_at"),
        "mandates": newest_first(mandates, "created_at"),
        "payments": newest_first(payments, "created_at"),
        "refunds": newest_first(refunds, "created_at"),
        "payouts": newest_first(payouts, "created_at"),
        "events": newest_first(events, "created_at"),
    }


def _gocardless_payout(
    data: SandboxData,
    ids: Ids,
    rng: random.Random,
    currency: str,
    group: list[tuple[JsonObject, JsonObject | None]],
    creditor: str,
    paid_out_events: dict[str, list[JsonObject]],
) -> JsonObject | None:
    """One payout of `group`; items in tenths of a minor unit, as GoCardless writes them."""
    items: list[JsonObject] = []
    fees = Decimal(0)
    for payment, refund in group:
        links = {"payment": payment["id"], "mandate": payment["links"]["mandate"]}
        fee = Decimal(payment["amount"] * 10 // 100 + 200) / 10  # 1% + 20p, to a tenth of a penny
        fees += fee
        items.append(
            {"type": "payment_paid_out", "amount": f"{payment['amount']}.0", "links": links}
        )
        items.append({"type": "gocardless_fee", "amount": f"{-fee:f}", "links": links, "taxes": []})
        if refund is not None:
            refund_links = {**links, "refund": refund["id"]}
            items.append(
                {
                    "type": "payment_refunded",
                    "amount": f"-{refund['amount']}.0",
                    "links": refund_links,
                }
            )
        if payment["status"] == "charged_back":
            items.append(
                {
                    "type": "payment_charged_back",
                    "amount": f"-{payment['amount']}.0",
                    "links": links,
                }
            )
    total = sum((Decimal(i["amount"]) for i in items), Decimal(0))
    amount = int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if amount <= 0:
        return None  # nothing to pay out; those payments stay without a payout
    last = max(datetime.fromisoformat(p["created_at"]) for p, _ in group)
    created = last + timedelta(days=5)
    payout_id = ids.gc("PO")
    for payment, _refund in group:
        payment["links"]["payout"] = payout_id
        for event in paid_out_events[payment["id"]]:
            event["links"]["payout"] = payout_id
    data.payout_items[payout_id] = [{**i, "links": dict(i["links"])} for i in items]
    return {
        "id": payout_id,
        "amount": amount,
        "arrival_date": (created + timedelta(days=1)).date().isoformat(),
        "created_at": iso_time(created),
        "currency": currency,
        "deducted_fees": int(fees.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
        "payout_type": "merchant",
        "reference": "ACME-" + "".join(rng.choices(GC_ALPHABET, k=5)),
        "status": "paid",
        "metadata": {},
        "links": {"creditor": creditor, "creditor_bank_account": "BA" + creditor[2:]},
    }
