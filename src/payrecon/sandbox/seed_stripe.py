"""Seeded Stripe objects: customers' charges (GBP, EUR and zero-decimal JPY), refunds, disputes,
balance transactions and the payouts that settle them. A development tool only.

Each succeeded charge, refund and dispute moves the balance by one balance transaction; payouts are
one per currency and ISO week, for exactly the net of that week's transactions, and each payout's
own (negative) `payout` transaction is listed with the ones it settles.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

from payrecon.sandbox.records import (
    BASE_TIME,
    NAMES,
    Ids,
    JsonObject,
    SandboxData,
    epoch,
    newest_first,
)

_CURRENCIES, _CURRENCY_WEIGHTS = ("gbp", "eur", "jpy"), (60, 25, 15)
_STATUSES, _STATUS_WEIGHTS = ("succeeded", "failed", "pending"), (86, 9, 5)


def _fee(amount: int, currency: str) -> int:
    return amount * 36 // 1000 if currency == "jpy" else amount * 14 // 1000 + 20


def _transaction(
    ids: Ids, at: datetime, kind: str, amount: int, fee: int, currency: str, source: str
) -> JsonObject:
    return {
        "id": ids.stripe("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": currency,
        "type": kind,
        "reporting_category": kind,
        "source": source,
        "status": "available",
        "created": epoch(at),
        "available_on": epoch(at + timedelta(days=2)),
    }


def seed_stripe(
    data: SandboxData,
    rng: random.Random,
    ids: Ids,
    customers: int,
    per_customer: int,
    credits: list[JsonObject],
) -> None:
    customer_ids = [ids.stripe("cus") for _ in range(customers)]
    charges, refunds, disputes, transactions = [], [], [], []
    for seq in range(customers * per_customer):
        at = BASE_TIME + timedelta(hours=2 + 9 * seq, seconds=rng.randrange(3600))
        currency = rng.choices(_CURRENCIES, _CURRENCY_WEIGHTS)[0]
        status = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        amount = rng.randrange(500, 50_001 if currency == "jpy" else 200_001)
        charge_id, invoice = ids.stripe("ch"), f"INV-{5000 + seq:07d}"
        method: JsonObject = (
            {
                "type": "sepa_debit",
                "sepa_debit": {"mandate": ids.stripe("mandate"), "last4": "3000"},
            }
            if currency == "eur"
            else {"type": "card", "card": {"brand": "visa", "last4": "4242"}}
        )
        charge: JsonObject = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if status == "succeeded" else 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "captured": status == "succeeded",
            "created": epoch(at),
            "currency": currency,
            "customer": customer_ids[seq % customers],
            "description": f"{invoice} {NAMES[seq % len(NAMES)]}",
            "disputed": False,
            "paid": status == "succeeded",
            "payment_intent": ids.stripe("pi"),
            "payment_method_details": method,
            "refunded": False,
            "statement_descriptor": None,
            "calculated_statement_descriptor": "ACME LTD",
            "status": status,
            "metadata": {"invoice_number": invoice},
        }
        charges.append(charge)
        if status != "succeeded":
            continue
        txn = _transaction(ids, at, "charge", amount, _fee(amount, currency), currency, charge_id)
        charge["balance_transaction"] = txn["id"]
        transactions.append(txn)
        roll = rng.random()
        if roll < 0.1:
            refund_at = at + timedelta(days=2)
            value = amount // rng.choice((1, 2))
            refund: JsonObject = {
                "id": ids.stripe("re"),
                "object": "refund",
                "amount": value,
                "charge": charge_id,
                "currency": currency,
                "created": epoch(refund_at),
                "status": "succeeded",
                "reason": "requested_by_customer",
            }
            refunds.append(refund)
            charge["amount_refunded"], charge["refunded"] = value, value == amount
            transactions.append(
                _transaction(ids, refund_at, "refund", -value, 0, currency, refund["id"])
            )
        elif roll < 0.16:
            dispute_at = at + timedelta(days=5)
            dispute_status = rng.choice(("lost", "won", "needs_response"))
            dispute: JsonObject = {
                "id": ids.stripe("dp"),
                "object": "dispute",
                "amount": amount,
                "charge": charge_id,
                "currency": currency,
                "created": epoch(dispute_at),
                "status": dispute_status,
                "reason": "fraudulent",
            }
            disputes.append(dispute)
            charge["disputed"] = True
            transactions.append(
                _transaction(ids, dispute_at, "adjustment", -amount, 0, currency, dispute["id"])
            )
            if dispute_status == "won":
                reinstated = dispute_at + timedelta(days=20)
                transactions.append(
                    _transaction(ids, reinstated, "adjustment", amount, 0, currency, dispute["id"])
                )
    payouts = _payouts(data, ids, transactions, credits)
    data.stripe = {
        "charges": newest_first(charges, "created"),
        "refunds": newest_first(refunds, "created"),
        "disputes": newest_first(disputes, "created"),
        "payouts": newest_first(payouts, "created"),
        "balance_transactions": newest_first(transactions, "created"),
    }


def _payouts(
    data: SandboxData, ids: Ids, transactions: list[JsonObject], credits: list[JsonObject]
) -> list[JsonObject]:
    weeks: dict[tuple[str, int], list[JsonObject]] = defaultdict(list)
    for txn in transactions:
        week = datetime.fromtimestamp(txn["available_on"], BASE_TIME.tzinfo).isocalendar()
        weeks[(txn["currency"], week.year * 100 + week.week)].append(txn)
    payouts = []
    for number, ((currency, _week), group) in enumerate(sorted(weeks.items()), start=1):
        amount = sum(t["net"] for t in group)
        if amount <= 0:
            continue  # Stripe would carry the negative balance; the sandbox leaves them unpaid
        created = datetime.fromtimestamp(max(t["available_on"] for t in group), BASE_TIME.tzinfo)
        payout_id = ids.stripe("po")
        own = _transaction(ids, created, "payout", -amount, 0, currency, payout_id)
        payout = {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "arrival_date": epoch(created + timedelta(days=1)),
            "created": epoch(created),
            "currency": currency,
            "status": "paid",
            "automatic": True,
            "method": "standard",
            "type": "bank_account",
            "balance_transaction": own["id"],
            "statement_descriptor": f"STRIPE PAYOUT {number:04d}",
        }
        payouts.append(payout)
        transactions.append(own)
        data.payout_transactions[payout_id] = [t["id"] for t in group] + [own["id"]]
        credits.append(
            {
                "id": payout_id,
                "amount": amount,
                "currency": currency.upper(),
                "reference": payout["statement_descriptor"],
                "date": (created + timedelta(days=1)).date(),
                "payer": "STRIPE PAYMENTS UK LTD",
            }
        )
    return payouts
