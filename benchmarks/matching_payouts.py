"""Payout lines for the matching benchmark: provider payouts (GoCardless in GBP on owner 1's
camt.053, Stripe in EUR on owner 2's MT940) with their items, the bank credits that carry them,
and the truth (which payout each line settles). The payouts are written to `payouts.json` and
stored by `store_payouts` with their items before the statements are reconciled (`load_payouts`).

Scenarios: the reference as the provider wrote it or in another spelling (case, spaces, words
around it); no reference, the net amount arriving a day or two earlier (the fallback); and a
line quoting a payout whose net amount differs (review, never a customer's payment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from benchmarks.matching_files import Line
from benchmarks.matching_world import OWNERS, World, _money
from sqlalchemy import Engine, insert, update

from payrecon.domain.providers import PayoutStatus, Provider, ProviderPayout
from payrecon.services.providers.payouts import store_payouts
from payrecon.store import admin_tables as at
from payrecon.store import provider_tables as pt

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_PROVIDER_ACCOUNT = {"gocardless": "GB07BARC20032647753721", "stripe": "IE29AIBK93115212345678"}
_PAYER_NAME = {"gocardless": "GOCARDLESS LTD", "stripe": "STRIPE PAYMENTS EUROPE LTD"}


@dataclass
class BenchPayout:
    external_id: str
    provider: str
    amount: Decimal
    currency: str
    arrival: date
    reference: str
    items: list[tuple[str, Decimal, Decimal | None]] = field(default_factory=list)


class PayoutScenarios(World):
    def __init__(self, seed: int, lines: int) -> None:
        super().__init__(seed, lines)
        self.payouts: list[BenchPayout] = []

    def _payout(self, day: date) -> tuple[BenchPayout, Line]:
        """A payout of 3..15 payments arriving a day or two before `day`, and its bank line."""
        rng = self.rng
        gocardless = rng.random() < 0.6
        owner = OWNERS[0] if gocardless else OWNERS[1]
        number = len(self.payouts) + 1
        items: list[tuple[str, Decimal, Decimal | None]] = []
        for _ in range(rng.randint(3, 15)):
            cents = rng.randint(500, 50000)
            if gocardless:  # 1% + 20p, to a tenth of a penny, as a separate item
                items.append(("payment_paid_out", _money(cents), None))
                fee = Decimal(cents * 10 // 100 + 200).scaleb(-3)
                items.append(("gocardless_fee", -fee, None))
            else:  # 1.4% + 25 cents, netted in the charge
                fee = _money(cents * 14 // 1000 + 25)
                items.append(("charge", _money(cents) - fee, fee))
        if rng.random() < 0.2:
            refund = -_money(rng.randint(100, 2000))
            items.append(("payment_refunded" if gocardless else "refund", refund, None))
        net = sum((amount for _, amount, _ in items), Decimal(0))
        net = net.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if not gocardless:  # Stripe lists the payout's own transaction with its items
            items.append(("payout", -net, Decimal(0)))
        code = "".join(rng.choices(_LETTERS, k=5))
        reference = (
            f"PAYRECON-{code}{number:03d}" if gocardless else f"STRIPE PAYOUT {number:04d}{code}"
        )
        payout = BenchPayout(
            external_id=f"{'PO' if gocardless else 'po_'}{self.seed:02d}{number:05d}{code}",
            provider="gocardless" if gocardless else "stripe",
            amount=net,
            currency=owner.currency,
            arrival=day - timedelta(days=rng.randint(0, 2)),
            reference=reference,
            items=items,
        )
        self.payouts.append(payout)
        line = self.line(day, None, net, "payout_reference", None, owner)
        line.name = _PAYER_NAME[payout.provider]
        line.payer_account = _PROVIDER_ACCOUNT[payout.provider]
        line.payout = payout.external_id
        line.expected_rule = "payout"
        return payout, line

    def payout_reference(self, day: date) -> Line:
        payout, line = self._payout(day)
        reference = payout.reference
        line.remittance = self.rng.choice(
            [
                reference,
                reference.lower(),
                reference.replace("-", " "),
                f"{payout.provider.upper()} PAYOUT {reference}",
                f"{reference.replace(' ', '')} settlement",
            ]
        )
        return line

    def payout_amount(self, day: date) -> Line:
        payout, line = self._payout(day)
        line.scenario = "payout_amount"
        line.remittance = f"{payout.provider.upper()} TRANSFER"
        return line

    def payout_mismatch(self, day: date) -> Line:
        payout, line = self._payout(day)
        line.scenario = "payout_mismatch"
        line.amount += Decimal("1.00")  # the bank line is not what the provider says it sent
        line.remittance = payout.reference
        line.payout, line.expected_rule = None, None
        return line


def write_payouts(path: Path, payouts: list[BenchPayout]) -> None:
    path.write_text(
        json.dumps(
            [
                {
                    "id": p.external_id,
                    "provider": p.provider,
                    "amount": f"{p.amount:f}",
                    "currency": p.currency,
                    "arrival_date": p.arrival.isoformat(),
                    "reference": p.reference,
                    "items": [
                        [kind, f"{amount:f}", None if fee is None else f"{fee:f}"]
                        for kind, amount, fee in p.items
                    ],
                }
                for p in payouts
            ],
            indent=1,
        )
        + "\n"
    )


def load_payouts(engine: Engine, path: Path) -> None:
    """Store the data set's payouts as the provider sync does, with their items."""
    if not path.is_file():
        return
    payouts: list[dict[str, Any]] = json.loads(path.read_text())
    now = datetime.now(UTC)
    for provider in sorted({p["provider"] for p in payouts}):
        mine = [p for p in payouts if p["provider"] == provider]
        with engine.begin() as conn:
            provider_id = conn.execute(
                insert(at.payment_providers)
                .values(name=f"bench {provider}", kind=provider, enabled=True,
                        created_at=now, updated_at=now)
                .returning(at.payment_providers.c.id)
            ).scalar_one()  # fmt: skip
            store_payouts(conn, provider_id, [_provider_payout(p) for p in mine], now)
            ids = dict(
                conn.execute(
                    pt.payouts.select()
                    .with_only_columns(pt.payouts.c.external_id, pt.payouts.c.id)
                    .where(pt.payouts.c.provider_id == provider_id)
                ).all()
            )
            conn.execute(
                insert(pt.payout_items),
                [
                    {
                        "payout_id": ids[p["id"]],
                        "seq": seq,
                        "type": kind,
                        "amount": Decimal(amount),
                        "fee": None if fee is None else Decimal(fee),
                        "currency": p["currency"],
                        "links": {},
                    }
                    for p in mine
                    for seq, (kind, amount, fee) in enumerate(p["items"], start=1)
                ],
            )
            conn.execute(
                update(pt.payouts)
                .where(pt.payouts.c.provider_id == provider_id)
                .values(items_synced_at=now)
            )


def _provider_payout(p: dict[str, Any]) -> ProviderPayout:
    arrival = date.fromisoformat(p["arrival_date"])
    return ProviderPayout(
        provider=Provider(p["provider"]),
        external_id=p["id"],
        amount=Decimal(p["amount"]),
        currency=p["currency"],
        status=PayoutStatus.PAID,
        created_at=datetime.combine(arrival - timedelta(days=1), time(9), UTC),
        arrival_date=arrival,
        reference=p["reference"],
    )
