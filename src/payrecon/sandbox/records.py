"""The objects the sandbox serves (a development tool), the truth derived from them, and the
helpers the seeding modules share: provider-style ids, timestamps and amounts."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from payrecon.domain.providers import PaymentStatus, from_minor_units

JsonObject = dict[str, Any]

BASE_TIME = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
GC_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NAMES = ("Osborne", "Jean", "Okafor", "Lindqvist", "Moreau", "Kowalski", "Tanaka", "Haddad")


def iso_time(moment: datetime) -> str:
    """GoCardless's timestamp format: `2014-01-01T12:00:00.000Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def major(minor: int | Decimal, currency: str) -> str:
    return f"{from_minor_units(minor, currency):f}"


class Ids:
    """Unique ids in each provider's style, drawn from the seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _fresh(self, make: str) -> str:
        if make in self.used:
            raise RuntimeError("id collision")  # 32**12 ids: never in practice
        self.used.add(make)
        return make

    def gc(self, prefix: str) -> str:
        return self._fresh(prefix + "".join(self.rng.choices(GC_ALPHABET, k=12)))

    def stripe(self, prefix: str) -> str:
        return self._fresh(f"{prefix}_" + "".join(self.rng.choices(string.ascii_letters, k=24)))

    def hex(self, length: int) -> str:
        return self._fresh("".join(self.rng.choices("0123456789abcdef", k=length)))


def iban(rng: random.Random) -> str:
    """A GB IBAN with valid check digits (ISO 13616 mod 97) on a made-up account."""
    bban = "ACME" + "".join(rng.choices(string.digits, k=14))
    digits = "".join(str(int(c, 36)) for c in bban + "GB00")
    return f"GB{98 - int(digits) % 97:02d}{bban}"


@dataclass
class SandboxData:
    """Every object the sandbox serves, each list newest first, and the truth derived from them."""

    seed: int
    gocardless: dict[str, list[JsonObject]] = field(default_factory=dict)
    payout_items: dict[str, list[JsonObject]] = field(default_factory=dict)
    stripe: dict[str, list[JsonObject]] = field(default_factory=dict)
    payout_transactions: dict[str, list[str]] = field(default_factory=dict)
    accounts: dict[str, dict[str, list[JsonObject]]] = field(default_factory=dict)

    def truth(self) -> JsonObject:
        """The full expected set: what a complete, deduplicated pull must hold."""
        payments = [
            {
                "id": p["id"],
                "amount": major(p["amount"], p["currency"]),
                "currency": p["currency"],
                "status": p["status"],
                "mandate": p["links"]["mandate"],
                "reference": p["reference"],
                "payout": p["links"].get("payout"),
                "collected": PaymentStatus(p["status"]).is_collected,
            }
            for p in self.gocardless["payments"]
        ]
        charges = [
            {
                "id": c["id"],
                "amount": major(c["amount"], c["currency"].upper()),
                "currency": c["currency"].upper(),
                "status": c["status"],
                "customer": c["customer"],
            }
            for c in self.stripe["charges"]
        ]
        return {
            "seed": self.seed,
            "gocardless": {
                "payments": payments,
                "collected_payment_ids": [p["id"] for p in payments if p["collected"]],
                "mandates": [m["id"] for m in self.gocardless["mandates"]],
                "refunds": [_money_row(r, payment=r["links"]["payment"]) for r in self.refunds],
                "payouts": [
                    {
                        **_money_row(p, reference=p["reference"]),
                        "items": len(self.payout_items[p["id"]]),
                    }
                    for p in self.gocardless["payouts"]
                ],
                "events": len(self.gocardless["events"]),
            },
            "stripe": {
                "charges": charges,
                "refunds": [_money_row(r, payment=r["charge"]) for r in self.stripe["refunds"]],
                "disputes": [_money_row(d, payment=d["charge"]) for d in self.stripe["disputes"]],
                "payouts": [
                    _money_row(p, reference=p["statement_descriptor"])
                    for p in self.stripe["payouts"]
                ],
                "balance_transactions": len(self.stripe["balance_transactions"]),
            },
            "openbanking": {
                account: {
                    "booked": [
                        {
                            "id": t.get("transactionId") or t["internalTransactionId"],
                            "amount": t["transactionAmount"]["amount"],
                            "currency": t["transactionAmount"]["currency"],
                            "booking_date": t["bookingDate"],
                        }
                        for t in groups["booked"]
                    ],
                    "pending": len(groups["pending"]),
                }
                for account, groups in self.accounts.items()
            },
        }

    @property
    def refunds(self) -> list[JsonObject]:
        return self.gocardless["refunds"]


def _money_row(obj: JsonObject, **extra: Any) -> JsonObject:
    currency = str(obj["currency"]).upper()
    return {
        "id": obj["id"],
        "amount": major(obj["amount"], currency),
        "currency": currency,
        **extra,
    }


def newest_first(objects: list[JsonObject], key: str) -> list[JsonObject]:
    return sorted(objects, key=lambda o: (o[key], o["id"]), reverse=True)
