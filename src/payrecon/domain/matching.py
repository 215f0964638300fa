"""The matcher: statement lines and open invoices in, proposed allocations and problems out.

This is the foundation's rule set: an invoice number found verbatim in the line's texts identifies
the customer, and the referenced invoices are paid oldest due first; a shortfall leaves the last one
partly open and a surplus stays on the customer's account as unused amount. Lines with no usable
reference wait for review. Problems are returned as data, never raised (STYLE rule 3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from payrecon.domain.money import ZERO

RULE_EXACT_REFERENCE = "invoice_reference_exact"
_TOKEN_SPLIT = re.compile(r"[\s,;:()\[\]{}<>\"'+*|]+")


class ProblemKind(StrEnum):
    NO_REFERENCE = "no_reference"
    AMBIGUOUS_CUSTOMER = "ambiguous_customer"
    CURRENCY_MISMATCH = "currency_mismatch"
    DEBIT = "debit"


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    id: int
    number: str
    customer_id: int
    currency: str
    issue_date: date
    due_date: date
    open_amount: Decimal


@dataclass(frozen=True, slots=True)
class LineToMatch:
    """What the matcher needs of a stored statement line."""

    id: int
    booking_date: date
    amount: Decimal
    currency: str
    remittance: str | None = None
    structured_reference: str | None = None

    @property
    def texts(self) -> tuple[tuple[str, str], ...]:
        """(field name, text) pairs searched for references, in order of trust."""
        pairs = (
            ("structured_reference", self.structured_reference),
            ("remittance", self.remittance),
        )
        return tuple((name, text) for name, text in pairs if text)


@dataclass(frozen=True, slots=True)
class ProposedAllocation:
    line_id: int
    invoice_id: int
    amount: Decimal
    rule: str
    confidence: Decimal
    evidence: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Problem:
    line_id: int
    kind: ProblemKind
    reason: str


@dataclass(frozen=True, slots=True)
class LineDecision:
    """A line identified to a customer: it becomes a payment with these allocations."""

    line_id: int
    customer_id: int
    allocations: tuple[ProposedAllocation, ...]
    unused_amount: Decimal


@dataclass(slots=True)
class MatchResult:
    decisions: list[LineDecision] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def allocations(self) -> list[ProposedAllocation]:
        return [a for d in self.decisions for a in d.allocations]


class InvoiceBook:
    """Open invoices for one batch, with open amounts that shrink as the batch allocates them,
    so two lines of one batch that name the same invoice never over-allocate it."""

    def __init__(self, invoices: Iterable[OpenInvoice]) -> None:
        self._by_number: dict[str, OpenInvoice] = {}
        self._open: dict[int, Decimal] = {}
        for invoice in invoices:
            self._by_number[invoice.number] = invoice
            self._open[invoice.id] = invoice.open_amount

    def by_number(self, number: str) -> OpenInvoice | None:
        return self._by_number.get(number)

    def open_amount(self, invoice_id: int) -> Decimal:
        return self._open[invoice_id]

    def take(self, invoice_id: int, amount: Decimal) -> None:
        remaining = self._open[invoice_id] - amount
        if remaining < 0:
            raise ValueError(f"invoice {invoice_id} would be over-allocated")  # programming error
        self._open[invoice_id] = remaining


def reference_tokens(text: str) -> list[str]:
    """Candidate reference tokens of a free text: split on spaces and punctuation, trailing dots
    dropped; only tokens with a digit can be invoice numbers."""
    tokens = (t.strip(".") for t in _TOKEN_SPLIT.split(text))
    return [t for t in tokens if len(t) >= 3 and any(c.isdigit() for c in t)]


def candidate_numbers(lines: Iterable[LineToMatch]) -> set[str]:
    """Every token of the batch that could be an invoice number, for one set-based look-up."""
    found: set[str] = set()
    for line in lines:
        for _, text in line.texts:
            for token in reference_tokens(text):
                found.add(token)
                found.add(token.upper())
    return found


def match_lines(lines: Sequence[LineToMatch], book: InvoiceBook) -> MatchResult:
    """Decide each line, in booking-date order and then the order given (file order)."""
    result = MatchResult()
    for line in sorted(lines, key=lambda ln: ln.booking_date):
        if line.amount <= 0:
            result.problems.append(
                Problem(line.id, ProblemKind.DEBIT, "debit line: no reversal rule applies yet")
            )
            continue
        outcome = _match_by_reference(line, book)
        if isinstance(outcome, Problem):
            result.problems.append(outcome)
        else:
            result.decisions.append(outcome)
    return result


def _referenced_invoices(
    line: LineToMatch, book: InvoiceBook
) -> list[tuple[OpenInvoice, str, str]]:
    seen: set[int] = set()
    found: list[tuple[OpenInvoice, str, str]] = []
    for field_name, text in line.texts:
        for token in reference_tokens(text):
            invoice = book.by_number(token) or book.by_number(token.upper())
            if invoice is not None and invoice.id not in seen:
                seen.add(invoice.id)
                found.append((invoice, token, field_name))
    return found


def _match_by_reference(line: LineToMatch, book: InvoiceBook) -> LineDecision | Problem:
    referenced = _referenced_invoices(line, book)
    if not referenced:
        return Problem(line.id, ProblemKind.NO_REFERENCE, "no invoice reference in the line")
    customers = {invoice.customer_id for invoice, _, _ in referenced}
    if len(customers) > 1:
        numbers = ", ".join(invoice.number for invoice, _, _ in referenced)
        return Problem(
            line.id,
            ProblemKind.AMBIGUOUS_CUSTOMER,
            f"references invoices of {len(customers)} customers: {numbers}",
        )
    if any(invoice.currency != line.currency for invoice, _, _ in referenced):
        return Problem(
            line.id,
            ProblemKind.CURRENCY_MISMATCH,
            f"line in {line.currency}, referenced invoice in another currency",
        )
    referenced.sort(key=lambda r: (r[0].due_date, r[0].number))
    remaining = line.amount
    allocations: list[ProposedAllocation] = []
    for invoice, token, field_name in referenced:
        open_amount = book.open_amount(invoice.id)
        applied = min(remaining, open_amount)
        if applied <= 0:
            continue
        book.take(invoice.id, applied)
        remaining -= applied
        allocations.append(
            ProposedAllocation(
                line_id=line.id,
                invoice_id=invoice.id,
                amount=applied,
                rule=RULE_EXACT_REFERENCE,
                confidence=Decimal("1.000"),
                evidence={
                    "token": token,
                    "field": field_name,
                    "invoice_number": invoice.number,
                    "open_amount_before": f"{open_amount:f}",
                    "explanation": _explain(invoice.number, field_name, applied, open_amount),
                },
            )
        )
    return LineDecision(
        line_id=line.id,
        customer_id=next(iter(customers)),
        allocations=tuple(allocations),
        unused_amount=max(remaining, ZERO),
    )


def _explain(number: str, field_name: str, applied: Decimal, open_amount: Decimal) -> str:
    where = "remittance text" if field_name == "remittance" else "structured reference"
    if applied == open_amount:
        how = "amount settles its open amount"
    else:
        how = f"{applied:f} applied of its open {open_amount:f}"
    return f"{number} in the {where}; {how}"
