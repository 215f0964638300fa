"""Ledger rules: what an allocation may take, what is left over, and what a credit note's status is.

Pure functions over `Decimal`. The services read the rows, ask these rules, and write; they never
re-derive them. Invariants (DESIGN.md):

    for every payment or credit note   live allocations + refunds <= amount  (unused >= 0)
    for every invoice                  live allocations <= total            (open >= 0)
    no allocation across currencies    (the API records no cross-currency rate)

Problems are returned as data (`allocation_problems`); `raise_for_problems` turns them into the one
exception a unit of work aborts with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from payrecon.domain.errors import CurrencyMismatch, InvalidInput, OverAllocation
from payrecon.domain.money import ZERO, RoundingMode, money_text, round_amount

STORAGE_PLACES = 4  # the scale of every money column; an owner's 5th and 6th places cannot be kept


@dataclass(frozen=True, slots=True)
class Rounding:
    """The contract owner's `priceRoundingMode` and `priceDecimalPlaces` (seed 003)."""

    places: int = 2
    mode: RoundingMode = RoundingMode.HALF_UP

    def apply(self, amount: Decimal) -> Decimal:
        return round_amount(amount, min(self.places, STORAGE_PLACES), self.mode)


def base_currency_amount(amount: Decimal, exchange_rate: Decimal, rounding: Rounding) -> Decimal:
    """`bcyAmount` (seed 001): the amount in the base currency, rounded with the owner's rule."""
    return rounding.apply(amount * exchange_rate)


@dataclass(frozen=True, slots=True)
class InvoiceOpen:
    """An invoice as an allocation sees it. `allocated_elsewhere` counts every live allocation
    except those of the payment or credit note being written."""

    id: int
    number: str
    customer_id: int
    currency: str
    total: Decimal
    allocated_elsewhere: Decimal
    issue_date: date
    due_date: date

    @property
    def open_amount(self) -> Decimal:
        return self.total - self.allocated_elsewhere


@dataclass(frozen=True, slots=True)
class Funds:
    """A payment or a credit note: money of a customer that allocations and refunds draw on.
    Funds that were not collected (a pending or failed credit note) carry nothing."""

    kind: str  # "payment" or "credit note", for messages
    customer_id: int
    currency: str
    amount: Decimal
    refunded: Decimal = ZERO
    collected: bool = True

    @property
    def available(self) -> Decimal:
        return self.amount - self.refunded if self.collected else ZERO


@dataclass(frozen=True, slots=True)
class WantedAllocation:
    invoice_id: int
    amount: Decimal


class ProblemKind(StrEnum):
    NOT_POSITIVE = "amount_not_positive"
    UNKNOWN_INVOICE = "unknown_invoice"
    OTHER_CUSTOMER = "invoice_of_another_customer"
    DUPLICATE_INVOICE = "invoice_listed_twice"
    CURRENCY_MISMATCH = "currency_mismatch"
    NOT_COLLECTED = "funds_not_collected"
    INVOICE_OVER_ALLOCATED = "invoice_over_allocated"
    FUNDS_OVER_APPLIED = "funds_over_applied"


_CONFLICTS = frozenset({ProblemKind.INVOICE_OVER_ALLOCATED, ProblemKind.FUNDS_OVER_APPLIED})


@dataclass(frozen=True, slots=True)
class AllocationProblem:
    kind: ProblemKind
    message: str
    invoice_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"problem": self.kind.value, "invoiceId": self.invoice_id, "message": self.message}


def allocation_problems(
    funds: Funds, wanted: Sequence[WantedAllocation], invoices: Mapping[int, InvoiceOpen]
) -> list[AllocationProblem]:
    """Every reason the complete allocation list `wanted` of `funds` cannot stand."""
    problems: list[AllocationProblem] = []
    counts = Counter(w.invoice_id for w in wanted)
    for invoice_id in sorted(i for i, n in counts.items() if n > 1):
        problems.append(
            AllocationProblem(
                ProblemKind.DUPLICATE_INVOICE,
                f"invoice {invoice_id} is listed more than once",
                invoice_id,
            )
        )
    if wanted and not funds.collected:
        problems.append(
            AllocationProblem(
                ProblemKind.NOT_COLLECTED, f"a {funds.kind} not collected cannot be allocated"
            )
        )
    for item in wanted:
        problems.extend(_problems_of_one(funds, item, invoices.get(item.invoice_id)))
    applied = sum((w.amount for w in wanted), ZERO)
    if applied > funds.available:
        problems.append(
            AllocationProblem(
                ProblemKind.FUNDS_OVER_APPLIED,
                f"{money_text(applied)} applied exceeds the {money_text(funds.available)} "
                f"available on the {funds.kind} (amount {money_text(funds.amount)}, "
                f"refunded {money_text(funds.refunded)})",
            )
        )
    return problems


def _problems_of_one(
    funds: Funds, item: WantedAllocation, invoice: InvoiceOpen | None
) -> list[AllocationProblem]:
    if item.amount <= 0:
        return [
            AllocationProblem(
                ProblemKind.NOT_POSITIVE,
                f"amount applied must be positive, got {money_text(item.amount)}",
                item.invoice_id,
            )
        ]
    if invoice is None:
        return [
            AllocationProblem(
                ProblemKind.UNKNOWN_INVOICE,
                f"invoice {item.invoice_id} does not exist",
                item.invoice_id,
            )
        ]
    if invoice.customer_id != funds.customer_id:
        return [
            AllocationProblem(
                ProblemKind.OTHER_CUSTOMER,
                f"invoice {invoice.number} belongs to another customer",
                invoice.id,
            )
        ]
    if invoice.currency != funds.currency:
        return [
            AllocationProblem(
                ProblemKind.CURRENCY_MISMATCH,
                f"invoice {invoice.number} is in {invoice.currency}, the {funds.kind} in "
                f"{funds.currency}; no exchange rate is recorded between them",
                invoice.id,
            )
        ]
    if item.amount > invoice.open_amount:
        return [
            AllocationProblem(
                ProblemKind.INVOICE_OVER_ALLOCATED,
                f"{money_text(item.amount)} exceeds the open {money_text(invoice.open_amount)} "
                f"of invoice {invoice.number}",
                invoice.id,
            )
        ]
    return []


def raise_for_problems(problems: Sequence[AllocationProblem]) -> None:
    """Abort with one exception: a bad request (422) before a conflict with the ledger (409)."""
    if not problems:
        return
    details = [p.as_dict() for p in problems]
    invalid = [p for p in problems if p.kind not in _CONFLICTS]
    if not invalid:
        raise OverAllocation(problems[0].message, details=details)
    if all(p.kind is ProblemKind.CURRENCY_MISMATCH for p in invalid):
        raise CurrencyMismatch(invalid[0].message, details=details)
    raise InvalidInput(invalid[0].message, details=details)


def unused_amount(funds: Funds, allocated: Decimal) -> Decimal:
    """What is left on a payment or credit note for later allocation or refund."""
    return funds.available - allocated


def check_refund(funds: Funds, allocated: Decimal, amount: Decimal) -> None:
    """A refund returns collected money that no invoice uses, never more."""
    if amount <= 0:
        raise InvalidInput(f"a refund must be positive, got {money_text(amount)}")
    refundable = unused_amount(funds, allocated)
    if amount > refundable:
        raise OverAllocation(
            f"refund of {money_text(amount)} exceeds the {money_text(refundable)} "
            f"unallocated on the {funds.kind}",
            details={"refundable": refundable, "requested": amount},
        )


def allocate_oldest_first(
    amount: Decimal, invoices: Iterable[InvoiceOpen]
) -> list[WantedAllocation]:
    """`AutoApply` (seed 004): the earliest due invoice first, until the amount is used up."""
    remaining = amount
    plan: list[WantedAllocation] = []
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.issue_date, i.id)):
        if remaining <= 0:
            break
        applied = min(remaining, invoice.open_amount)
        if applied > 0:
            plan.append(WantedAllocation(invoice.id, applied))
            remaining -= applied
    return plan


@dataclass(frozen=True, slots=True)
class AllocationEdit:
    """One entry of an edited allocation list: with `allocation_id` it edits that allocation,
    without it adds one (seeds 001 and 004)."""

    allocation_id: int | None
    invoice_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    update: dict[int, WantedAllocation]  # by allocation id
    add: list[WantedAllocation]
    delete: list[int]  # allocation ids

    @property
    def final(self) -> list[WantedAllocation]:
        return [*self.update.values(), *self.add]


def plan_allocation_edits(
    existing: Mapping[int, WantedAllocation], edits: Sequence[AllocationEdit]
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
        e.allocation_id: WantedAllocation(e.invoice_id, e.amount)
        for e in edits
        if e.allocation_id is not None
    }
    add = [WantedAllocation(e.invoice_id, e.amount) for e in edits if e.allocation_id is None]
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
