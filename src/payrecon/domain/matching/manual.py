"""A match made by hand: the person names the customer and the invoices; the ledger's rules
still hold (one currency, never more than an invoice's open amount or the line's unallocated
amount, the owner's decimal places). A request that breaks one is refused whole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from payrecon.domain.allocation import (
    MANUAL_CONFIDENCE,
    RULE_MANUAL,
    OpenInvoice,
    ProposedAllocation,
)
from payrecon.domain.errors import CurrencyMismatch, InvalidInput, OverAllocation
from payrecon.domain.money import round_amount


@dataclass(frozen=True, slots=True)
class ManualAllocation:
    invoice_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ManualMatch:
    """What the person asked for, and who and why (both go into the evidence)."""

    line_id: int
    customer_id: int
    currency: str
    unallocated: Decimal  # of the line: its amount less what its payment allocates already
    decimal_places: int  # the contract owner's
    actor: str
    reason: str
    confidence: Decimal = MANUAL_CONFIDENCE  # the owner's rule book's, for rule `manual`


def judge_manual_match(
    match: ManualMatch,
    wanted: Sequence[ManualAllocation],
    invoices: Mapping[int, OpenInvoice],
) -> list[ProposedAllocation]:
    """The allocations, each checked; raises `InvalidInput`, `CurrencyMismatch` or
    `OverAllocation` (naming the invoice) at the first that breaks a rule."""
    ids = [w.invoice_id for w in wanted]
    if len(set(ids)) != len(ids):
        raise InvalidInput("an invoice appears twice in allocations", details={"invoiceIds": ids})
    explanation = f"matched by hand by {match.actor}: {match.reason}"
    allocations: list[ProposedAllocation] = []
    for w in wanted:
        invoice = invoices.get(w.invoice_id)
        if invoice is None or invoice.customer_id != match.customer_id:
            raise InvalidInput(
                f"invoice {w.invoice_id} is not an invoice of customer {match.customer_id}",
                details={"invoiceId": w.invoice_id},
            )
        if invoice.currency != match.currency:
            raise CurrencyMismatch(
                f"invoice {invoice.number} is in {invoice.currency}, the line in {match.currency}"
            )
        if w.amount <= 0 or w.amount != round_amount(w.amount, match.decimal_places):
            raise InvalidInput(
                f"amount for invoice {invoice.number} must be positive, with at most "
                f"{match.decimal_places} decimal places; got {w.amount:f}",
                details={"invoiceId": w.invoice_id},
            )
        if w.amount > invoice.open_amount:
            raise OverAllocation(
                f"{w.amount:f} exceeds the open amount {invoice.open_amount:f} of invoice "
                f"{invoice.number}",
                details={"invoiceId": w.invoice_id, "openAmount": f"{invoice.open_amount:f}"},
            )
        evidence = {
            "rule": RULE_MANUAL,
            "invoice_number": invoice.number,
            "open_amount_before": f"{invoice.open_amount:f}",
            "amount": f"{w.amount:f}",
            "actor": match.actor,
            "reason": match.reason,
            "explanation": explanation,
        }
        allocations.append(
            ProposedAllocation(
                invoice.id, w.amount, RULE_MANUAL, match.confidence, evidence, match.line_id
            )
        )
    requested = sum((a.amount for a in allocations), Decimal(0))
    if requested > match.unallocated:
        raise OverAllocation(
            f"allocations total {requested:f}, but the line has {match.unallocated:f} unallocated",
            details={"unallocated": f"{match.unallocated:f}"},
        )
    return allocations
