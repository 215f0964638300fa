"""The normalised statement line: what every bank file and provider feed is turned into."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import NamedTuple

# What a line's fields may hold: the store keeps money as NUMERIC(19,4) (at most 15 integer digits
# and 4 decimals) and these texts in columns of these widths. The feeds refuse or cut what exceeds
# them (docs/ingestion.md, "Bounded input"); a test holds these figures to the store's tables.
AMOUNT_INTEGER_DIGITS = 15
AMOUNT_DECIMALS = 4
TEXT_WIDTHS = {
    "external_id": 128,
    "account": 64,
    "currency": 3,
    "counterparty_name": 255,
    "counterparty_account": 64,
    "structured_reference": 64,
    "end_to_end_id": 128,
    "mandate_id": 64,
    "bank_transaction_code": 64,
    "return_reason": 16,
}


class StatementLine(NamedTuple):
    """One booked transaction, credit positive, as DESIGN.md's `parse` contract names its fields.

    `external_id` is the dedupe key within `account`: the bank reference where the format has one,
    else a documented fallback (see docs/ingestion.md). An immutable tuple rather than a frozen
    dataclass: parsers make a million of these a minute, and a tuple is made in a tenth of the time.
    """

    external_id: str
    account: str
    booking_date: date
    value_date: date | None
    amount: Decimal
    currency: str
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    remittance: str | None = None
    structured_reference: str | None = None
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    bank_transaction_code: str | None = None
    return_reason: str | None = None

    def as_json_dict(self) -> dict[str, str | None]:
        """The `parse` output object: dates ISO, amount a signed decimal string."""
        out: dict[str, str | None] = {}
        for key, value in self._asdict().items():
            if value is None or isinstance(value, str):
                out[key] = value
            elif isinstance(value, Decimal):
                out[key] = f"{value:f}"
            else:
                out[key] = value.isoformat()
        return out


def content_key(*parts: object) -> str:
    """A stable fallback reference for formats with no bank reference: a hash of the content."""
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode())
    return "H" + digest.hexdigest()[:31]
