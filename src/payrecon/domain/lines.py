"""The normalised statement line: what every bank file and provider feed is turned into."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked transaction, credit positive, as DESIGN.md's `parse` contract names its fields.

    `external_id` is the dedupe key within `account`: the bank reference where the format has one,
    else a documented fallback (see docs/ingestion.md).
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

    @property
    def is_credit(self) -> bool:
        return self.amount > 0

    def as_json_dict(self) -> dict[str, str | None]:
        """The `parse` output object: dates ISO, amount a signed decimal string."""
        out: dict[str, str | None] = {}
        for key, value in asdict(self).items():
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
