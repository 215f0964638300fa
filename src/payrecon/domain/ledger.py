"""Ledger rules beyond the allocation check (`payrecon.domain.allocation`): the owner's rounding,
the base-currency amount, edits of an allocation list, and what a credit note's status is.

Pure functions over `Decimal`. The services read the rows, ask these rules, and write; they never
re-derive them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from payrecon.domain.allocation import ProposedAllocation
from payrecon.domain.errors import InvalidInput
from payrecon.domain.money import ZERO, RoundingMode, minor_unit_exponent, round_amount

STORAGE_PLACES = 4  # the scale of every money column; an owner's 5th and 6th places cannot be kept


@dataclass(frozen=True, slots=True)
class Rounding:
    """The contract owner's `priceRoundingMode` and `priceDecimalPlaces` (seed 003)."""

    places: int = 2
    mode: RoundingMode = RoundingMode.HALF_UP

    def apply(self, amount: Decimal) -> Decimal:
        return round_amount(amount, min(self.places, STORAGE_PLACES), self.mode)

    def in_currency(self, currency: str) -> Rounding:
        """The owner's rule for amounts in `currency`: never finer than its minor unit (an
        owner's 3 places give 2 for GBP, 0 for JPY, 3 for KWD)."""
        return Rounding(min(self.places, minor_unit_exponent(currency)), self.mode)


def base_currency_amount(amount: Decimal, exchange_rate: Decimal, rounding: Rounding) -> Decimal:
    """`bcyAmount` (seed 001): the amount in the base currency (the customer's, in which its
    balance is kept), rounded with the owner's rule for that currency."""
    return rounding.apply(amount * exchange_rate)


def original_currency_amount(
    ledger_amount: Decimal, amount: Decimal, bcy_amount: Decimal, rounding: Rounding
) -> Decimal:
    """What part of a payment of `amount` (its own currency; `bcy_amount` in the customer's) a
    `ledger_amount` in the customer's currency is, in the payment's currency: in proportion, so
    that the whole converts back to exactly `amount` and nothing to zero."""
    if ledger_amount == bcy_amount:
        return amount
    return rounding.apply(amount * ledger_amount / bcy_amount)


@dataclass(frozen=True, slots=True)
class AllocationEdit:
    """One entry of an edited allocation list: with `allocation_id` it edits that allocation,
    without it adds one (seeds 001 and 004)."""

    allocation_id: int | None
    invoice_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    update: dict[int, ProposedAllocation]  # by allocation id
    add: list[ProposedAllocation]
    delete: list[int]  # allocation ids

    @property
    def final(self) -> list[ProposedAllocation]:
        return [*self.update.values(), *self.add]


def plan_allocation_edits(
    existing: Mapping[int, ProposedAllocation], edits: Sequence[AllocationEdit]
) -> AllocationPlan:
    """Edit with an id, add without one, delete what the list leaves out."""
    unknown = sorted(
        {e.allocation_id for e in edits if e.allocation_id is not None} - set(existing)
    )
    if unknown:
        raise InvalidInput(
            f"allocation {unknown[0]} does not belong to this record",
            details={"allocationIds": unknown},
        )
    repeated = [i for i, n in Counter(e.allocation_id for e in edits).items() if i and n > 1]
    if repeated:
        raise InvalidInput(f"allocation {repeated[0]} is listed more than once")
    update = {
        e.allocation_id: ProposedAllocation(e.invoice_id, e.amount)
        for e in edits
        if e.allocation_id is not None
    }
    add = [ProposedAllocation(e.invoice_id, e.amount) for e in edits if e.allocation_id is None]
    delete = sorted(set(existing) - set(update))
    return AllocationPlan(update=update, add=add, delete=delete)


class Collection(StrEnum):
    """Whether a credit note's money arrived (seed 004's card credits can be pending or fail)."""

    PENDING = "pending"
    COLLECTED = "collected"
    FAILED = "failed"


class CreditNoteStatus(StrEnum):
    """Seed 004's statuses, derived from the collection and the allocations, never stored."""

    PENDING = "Pending"
    ALLOCATED = "Allocated"
    PARTIAL = "Partial"
    UNALLOCATED = "Unallocated"
    FAILED = "Failed"


def credit_note_status(
    collection: Collection, amount: Decimal, allocated: Decimal, refunded: Decimal = ZERO
) -> CreditNoteStatus:
    """Failed or Pending while not collected; then Unallocated (nothing used), Allocated (nothing
    left: allocations and refunds take it all) or Partial (some used, some left)."""
    if collection is Collection.FAILED:
        return CreditNoteStatus.FAILED
    if collection is Collection.PENDING:
        return CreditNoteStatus.PENDING
    left = amount - refunded - allocated
    if left <= 0:
        return CreditNoteStatus.ALLOCATED
    if allocated == 0 and refunded == 0:
        return CreditNoteStatus.UNALLOCATED
    return CreditNoteStatus.PARTIAL


def number_of_bare(bare: str, numbers: Mapping[str, int]) -> int | None:
    """The invoice (id) a bare numeric invoice number names among one customer's `numbers`
    (number -> id): seed 004 sends `"invoiceNumber": 957` for `INV-00957`. The digits that end
    a number, leading zeros dropped, must equal the bare number's, for exactly one invoice."""
    wanted = bare.strip().lstrip("0")
    if not wanted.isdigit():
        return None
    found = [
        invoice_id
        for number, invoice_id in numbers.items()
        if _trailing_digits(number).lstrip("0") == wanted
    ]
    return found[0] if len(found) == 1 else None


def _trailing_digits(number: str) -> str:
    end = len(number)
    while end > 0 and number[end - 1].isdigit():
        end -= 1
    return number[end:]


def card_last_four(number: str) -> str:
    """The last four characters of a card number, the only part ever stored or shown."""
    digits = "".join(c for c in number if c.isalnum())
    if not digits:
        raise InvalidInput("creditNumber has no digits")
    return digits[-4:]


# ISO 4217 numeric codes: the `currencyId` of seed 000's balance adjustment.
_ISO_4217_NUMERIC = {
    "AUD": 36,
    "BGN": 975,
    "BRL": 986,
    "CAD": 124,
    "CHF": 756,
    "CNY": 156,
    "CZK": 203,
    "DKK": 208,
    "EUR": 978,
    "GBP": 826,
    "HKD": 344,
    "HUF": 348,
    "INR": 356,
    "JPY": 392,
    "MXN": 484,
    "NOK": 578,
    "NZD": 554,
    "PLN": 985,
    "RON": 946,
    "SEK": 752,
    "SGD": 702,
    "USD": 840,
    "ZAR": 710,
}


def currency_number(code: str) -> int | None:
    """The ISO 4217 numeric code of `code`, or None for a currency this table does not know."""
    return _ISO_4217_NUMERIC.get(code.upper())
