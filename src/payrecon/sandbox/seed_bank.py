"""Seeded open-banking accounts (GoCardless Bank Account Data shape): one account per currency,
holding the provider payouts as credits (their reference in the remittance), customers' direct bank
transfers quoting invoice numbers, monthly account fees as debits, and a few pending transactions.
A development tool only.

Every seventh booked transaction has no bank `transactionId`, only the aggregator's
`internalTransactionId`, as some banks do.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from payrecon.sandbox.records import BASE_TIME, NAMES, Ids, JsonObject, SandboxData, iban, major

_REFERENCE_STYLES = ("INV-{n:07d}", "inv {n}", "Invoice no. {n}", "INV{n:07d}")


def _uuid(ids: Ids) -> str:
    raw = ids.hex(32)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _booked(
    ids: Ids, seq: int, day: date, minor: int, currency: str, **fields: object
) -> JsonObject:
    transaction: JsonObject = {
        "internalTransactionId": ids.hex(32),
        "bookingDate": day.isoformat(),
        "valueDate": day.isoformat(),
        "transactionAmount": {"amount": major(minor, currency), "currency": currency},
        **fields,
    }
    if seq % 7 != 6:
        transaction["transactionId"] = f"TX{day:%Y%m%d}{seq:06d}"
    return transaction


def seed_bank(
    data: SandboxData, rng: random.Random, ids: Ids, customers: int, credits: list[JsonObject]
) -> None:
    currencies = sorted({"GBP", *(c["currency"] for c in credits)})
    seq = 0
    for currency in currencies:
        booked: list[JsonObject] = []
        for credit in sorted(credits, key=lambda c: (c["date"], c["id"])):
            if credit["currency"] != currency:
                continue
            seq += 1
            booked.append(
                _booked(
                    ids,
                    seq,
                    credit["date"],
                    credit["amount"],
                    currency,
                    debtorName=credit["payer"],
                    remittanceInformationUnstructured=credit["reference"],
                    endToEndId=credit["id"],
                    proprietaryBankTransactionCode="CREDIT",
                )
            )
        if currency == "GBP":
            for k in range(max(1, customers // 3)):
                seq += 1
                style = _REFERENCE_STYLES[k % len(_REFERENCE_STYLES)]
                booked.append(
                    _booked(
                        ids,
                        seq,
                        (BASE_TIME + timedelta(days=2 + 2 * k)).date(),
                        rng.randrange(1_000, 90_001),
                        currency,
                        debtorName=f"{NAMES[k % len(NAMES)]} Trading {k + 1} Ltd.",
                        debtorAccount={"iban": iban(rng)},
                        remittanceInformationUnstructured=style.format(n=8000 + k),
                        endToEndId=f"E2E-{8000 + k}",
                        proprietaryBankTransactionCode="TRANSFER",
                    )
                )
        for month in (1, 2):
            seq += 1
            booked.append(
                _booked(
                    ids,
                    seq,
                    date(BASE_TIME.year, month, 28),
                    -500,
                    currency,
                    creditorName="ACME BANK PLC",
                    remittanceInformationUnstructured="ACCOUNT FEE",
                    proprietaryBankTransactionCode="FEE",
                )
            )
        pending = [
            {
                "internalTransactionId": ids.hex(32),
                "valueDate": (BASE_TIME + timedelta(days=60 + k)).date().isoformat(),
                "transactionAmount": {"amount": major(1_000 + k, currency), "currency": currency},
                "remittanceInformationUnstructured": "PENDING CARD SETTLEMENT",
            }
            for k in range(2)
        ]
        booked.sort(key=lambda t: (t["bookingDate"], t["internalTransactionId"]), reverse=True)
        data.accounts[_uuid(ids)] = {"booked": booked, "pending": pending}
