"""The one vocabulary of allocation, shared by every path money takes into the ledger: bank lines,
provider payments, API payments, credit notes (by hand or `autoApply`) and manual matches.

    OpenInvoice          an invoice as an allocation sees it: what is still open on it
    ProposedAllocation   money of one payment or credit note applied to one invoice, with the
                         rule that decided it, a confidence and the evidence
    Problem, ProblemKind why a line was not allocated, or why an allocation cannot stand
    Funds                a payment or credit note that allocations and refunds draw on
    RULE_*               the names of the rules, as stored on every allocation

`allocation_problems` is the ledger's invariant check (DESIGN.md, "Data and invariants"), run on
every write by the store's ledger write path:

    for every payment or credit note   live allocations + refunds <= amount  (unused >= 0)
    for every invoice                  live allocations <= total            (open >= 0)
    no allocation across currencies    without a recorded rate: funds in another currency
                                       than the invoice's allocate only through a rate to
                                       the invoice's currency, in which they are then counted

Problems are data (STYLE rule 3); `raise_for_problems` turns them into the one exception a unit
of work aborts with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from payrecon.domain.errors import CurrencyMismatch, InvalidInput, OverAllocation
from payrecon.domain.money import ZERO, RecordedRate, money_text

# The rules, by the name each allocation stores (`allocations.rule`). The matcher's steps
# (`rules.AllocationRule`) make the first seven; a person makes `manual`.
RULE_EXACT_REFERENCE = "invoice_reference_exact"
RULE_REFERENCE = "invoice_reference"
RULE_CREDITOR_REFERENCE = "creditor_reference"
RULE_PAYMENT_LINK = "payment_link"
RULE_EXACT_AMOUNT = "exact_amount"
RULE_COMBINATION = "invoice_combination"
RULE_OLDEST_DUE_FIRST = "oldest_due_first"
RULE_MANUAL = "manual"
RULES = frozenset(
    {
        RULE_EXACT_REFERENCE,
        RULE_REFERENCE,
        RULE_CREDITOR_REFERENCE,
        RULE_PAYMENT_LINK,
        RULE_EXACT_AMOUNT,
        RULE_COMBINATION,
        RULE_OLDEST_DUE_FIRST,
        RULE_MANUAL,
    }
)
MANUAL_CONFIDENCE = Decimal("1.000")
# A shortfall an owner's tolerance accepts is settled by a credit note whose allocation carries
# the tolerance's name: the owner declared it, so it is certain.
RULE_WRITE_OFF = "write_off"
RULE_BANK_CHARGES = "bank_charges"
TOLERANCE_CONFIDENCE = Decimal("1.000")


class ProblemKind(StrEnum):
    # Why a line waits for a person (the matcher's answers).
    NO_REFERENCE = "no_reference"  # nothing identifies the payer
    AMBIGUOUS_CUSTOMER = "ambiguous_customer"  # the evidence names several customers
    CONFLICTING_IDENTIFICATION = "conflicting_identification"  # two kinds of evidence disagree
    CURRENCY_MISMATCH = "currency_mismatch"
    NO_RULE_APPLIED = "no_rule_applied"  # customer known, the owner's rules allocate nothing
    DEBIT = "debit"  # a debit that is no refund, return, chargeback or reversal
    ORIGINAL_NOT_FOUND = "original_not_found"  # a reversal whose payment cannot be found
    AMOUNT_DIFFERS = "amount_differs"  # the original payment has another amount
    IGNORED = "ignored"  # nothing to do (a zero amount, or a debit the owner ignores)
    # A credit that carries a provider payout but cannot settle it (`matching.payouts`).
    PAYOUT_AMOUNT_MISMATCH = "payout_amount_mismatch"  # net amount or currency differs
    PAYOUT_ITEMS_MISMATCH = "payout_items_mismatch"  # items do not sum to it, or are not stored
    AMBIGUOUS_PAYOUT = "ambiguous_payout"  # several payouts fit, or one fits several lines
    PAYOUT_UNAVAILABLE = "payout_unavailable"  # settled by another line already, or failed
    # Why an allocation cannot stand (the ledger's invariants).
    NOT_POSITIVE = "amount_not_positive"
    UNKNOWN_INVOICE = "unknown_invoice"
    OTHER_CUSTOMER = "invoice_of_another_customer"
    DUPLICATE_INVOICE = "invoice_listed_twice"
    NOT_COLLECTED = "funds_not_collected"
    INVOICE_OVER_ALLOCATED = "invoice_over_allocated"
    FUNDS_OVER_APPLIED = "funds_over_applied"


_CONFLICTS = frozenset({ProblemKind.INVOICE_OVER_ALLOCATED, ProblemKind.FUNDS_OVER_APPLIED})


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A customer a person may want to pick; `score` is 0..100."""

    customer_id: int
    score: int
    basis: str


@dataclass(slots=True)
class Problem:
    """A line the matcher could not allocate (`line_id`), or an allocation the ledger refuses
    (`invoice_id` names the invoice when there is one)."""

    line_id: int | None
    kind: ProblemKind
    reason: str
    suggestions: tuple[Suggestion, ...] = ()
    customer_id: int | None = None  # known though nothing was allocated (NO_RULE_APPLIED)
    invoice_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"problem": self.kind.value, "invoiceId": self.invoice_id, "message": self.reason}


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An invoice as an allocation sees it. For an edit of a payment's or credit note's own
    allocations, `open_amount` counts what that record holds of the invoice as open to it."""

    id: int
    number: str
    customer_id: int
    currency: str
    issue_date: date
    due_date: date
    open_amount: Decimal


@dataclass(slots=True)
class ProposedAllocation:
    """Money applied to one invoice. Built several times per line on the matcher's hot path,
    where a frozen dataclass costs four times as much (object.__setattr__ per field), so it is
    a plain slots dataclass; nothing changes it once built."""

    invoice_id: int
    amount: Decimal
    rule: str = RULE_MANUAL
    confidence: Decimal = MANUAL_CONFIDENCE
    evidence: Mapping[str, str] = field(default_factory=dict)
    line_id: int | None = None  # the statement line paying, when there is one


@dataclass(frozen=True, slots=True)
class Funds:
    """A payment or a credit note: money of a customer that allocations and refunds draw on.
    Funds that were not collected (a reversed payment, a pending or failed credit note) carry
    nothing.

    Funds in another currency than the customer's carry the `rate` recorded for them and their
    `converted` amount (in `rate.quote`, rounded by the owner's rule): they are then counted in
    that currency, the ledger's (`ledger_currency`, `ledger_amount`), and so are `refunded` and
    every allocation's amount. Without a rate they are counted in their own currency, and can
    pay no invoice in another one."""

    kind: str  # "payment" or "credit note", for messages
    customer_id: int
    currency: str
    amount: Decimal
    refunded: Decimal = ZERO  # in the ledger currency
    collected: bool = True
    rate: RecordedRate | None = None
    converted: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.rate is None) != (self.converted is None):
            raise ValueError("funds carry a rate and their converted amount together, or neither")
        if self.rate is not None and self.rate.base != self.currency:
            raise ValueError(f"a rate from {self.rate.base} cannot convert {self.currency} funds")

    @property
    def ledger_currency(self) -> str:
        return self.rate.quote if self.rate is not None else self.currency

    @property
    def ledger_amount(self) -> Decimal:
        return self.converted if self.converted is not None else self.amount

    @property
    def available(self) -> Decimal:
        return self.ledger_amount - self.refunded if self.collected else ZERO


def unused_amount(funds: Funds, allocated: Decimal) -> Decimal:
    """What is left on a payment or credit note for later allocation or refund: nothing on funds
    not collected, whose allocations no longer count either."""
    return funds.available - allocated if funds.collected else ZERO


def allocation_problems(
    funds: Funds,
    allocations: Sequence[ProposedAllocation],
    invoices: Mapping[int, OpenInvoice],
    *,
    open_amounts: bool = True,
) -> list[Problem]:
    """Every reason the complete allocation list of `funds` cannot stand. Without
    `open_amounts`, what each invoice has open is left to `over_allocated`, which judges a whole
    batch of writes at once (a batch may give back to an invoice what a later write takes)."""
    problems: list[Problem] = []
    counts = Counter(a.invoice_id for a in allocations)
    for invoice_id in sorted(i for i, n in counts.items() if n > 1):
        problems.append(
            _problem(
                ProblemKind.DUPLICATE_INVOICE,
                f"invoice {invoice_id} is listed more than once",
                invoice_id,
            )
        )
    if allocations and not funds.collected:
        problems.append(
            _problem(ProblemKind.NOT_COLLECTED, f"a {funds.kind} not collected cannot be allocated")
        )
    for item in allocations:
        problem = _problem_of_one(funds, item, invoices.get(item.invoice_id), open_amounts)
        if problem is not None:
            problems.append(problem)
    applied = sum((a.amount for a in allocations), ZERO)
    if applied > funds.available:
        problems.append(
            _problem(
                ProblemKind.FUNDS_OVER_APPLIED,
                f"{money_text(applied)} applied exceeds the {money_text(funds.available)} "
                f"available on the {funds.kind} (amount {money_text(funds.ledger_amount)} "
                f"{funds.ledger_currency}, refunded {money_text(funds.refunded)})",
            )
        )
    return problems


def _problem(kind: ProblemKind, reason: str, invoice_id: int | None = None) -> Problem:
    return Problem(None, kind, reason, invoice_id=invoice_id)


def _problem_of_one(
    funds: Funds, item: ProposedAllocation, invoice: OpenInvoice | None, open_amounts: bool
) -> Problem | None:
    if item.amount <= 0:
        return _problem(
            ProblemKind.NOT_POSITIVE,
            f"amount applied must be positive, got {money_text(item.amount)}",
            item.invoice_id,
        )
    if invoice is None:
        return _problem(
            ProblemKind.UNKNOWN_INVOICE,
            f"invoice {item.invoice_id} does not exist",
            item.invoice_id,
        )
    if invoice.customer_id != funds.customer_id:
        return _problem(
            ProblemKind.OTHER_CUSTOMER,
            f"invoice {invoice.number} belongs to another customer",
            invoice.id,
        )
    if invoice.currency != funds.ledger_currency:
        rate = funds.rate
        recorded = (
            f"its recorded rate converts to {rate.quote}"
            if rate is not None
            else "no exchange rate is recorded between them"
        )
        return _problem(
            ProblemKind.CURRENCY_MISMATCH,
            f"invoice {invoice.number} is in {invoice.currency}, the {funds.kind} in "
            f"{funds.currency}; {recorded}",
            invoice.id,
        )
    if open_amounts and item.amount > invoice.open_amount:
        return _problem(
            ProblemKind.INVOICE_OVER_ALLOCATED,
            f"{money_text(item.amount)} exceeds the open {money_text(invoice.open_amount)} "
            f"of invoice {invoice.number}",
            invoice.id,
        )
    return None


def over_allocated(
    invoices: Mapping[int, OpenInvoice], taken: Mapping[int, Decimal]
) -> list[Problem]:
    """Invoices that a batch of writes leaves below zero: `taken` is the batch's net take from
    each invoice (what it allocated, less what it gave back), `invoices` as before the batch."""
    problems = []
    for invoice_id, amount in sorted(taken.items()):
        invoice = invoices[invoice_id]
        if amount > invoice.open_amount:
            problems.append(
                _problem(
                    ProblemKind.INVOICE_OVER_ALLOCATED,
                    f"{money_text(amount)} taken in all exceeds the open "
                    f"{money_text(invoice.open_amount)} of invoice {invoice.number}",
                    invoice_id,
                )
            )
    return problems


def raise_for_problems(problems: Sequence[Problem]) -> None:
    """Abort with one exception: a bad request (422) before a conflict with the ledger (409)."""
    if not problems:
        return
    details = [p.as_dict() for p in problems]
    invalid = [p for p in problems if p.kind not in _CONFLICTS]
    if not invalid:
        raise OverAllocation(problems[0].reason, details=details)
    if all(p.kind is ProblemKind.CURRENCY_MISMATCH for p in invalid):
        raise CurrencyMismatch(invalid[0].reason, details=details)
    raise InvalidInput(invalid[0].reason, details=details)


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
