"""What the matcher reads and what it answers, as plain values (re-exported by
`payrecon.domain.matching`). The allocation vocabulary itself (open invoices, proposed
allocations, problems, rule names) is `payrecon.domain.allocation`, shared with the ledger.

The inputs are frozen. The answers are built several times per line on the engine's hot path,
where a frozen dataclass costs four times as much to construct (object.__setattr__ per field), so
they are plain slots dataclasses; nothing changes them once built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from payrecon.domain.allocation import (
    RULE_COMBINATION,
    RULE_CREDITOR_REFERENCE,
    RULE_EXACT_AMOUNT,
    RULE_EXACT_REFERENCE,
    RULE_MANUAL,
    RULE_OLDEST_DUE_FIRST,
    RULE_PAYMENT_LINK,
    RULE_REFERENCE,
    OpenInvoice,
    Problem,
    ProblemKind,
    ProposedAllocation,
    Suggestion,
)
from payrecon.domain.matching.references import FIELD_REMITTANCE, FIELD_STRUCTURED
from payrecon.domain.matching.rules import Source

if TYPE_CHECKING:
    from payrecon.domain.matching.payouts import PayoutSettlement


class DebitKind(StrEnum):
    REFUND = "refund"
    RETURN = "return"  # a direct debit or transfer returned by the bank (camt return reason)
    CHARGEBACK = "chargeback"
    REVERSAL = "reversal"


@dataclass(frozen=True, slots=True)
class LineToMatch:
    """What the matcher needs of a stored statement line (or of a provider payment)."""

    id: int
    booking_date: date
    amount: Decimal
    currency: str
    remittance: str | None = None
    structured_reference: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    bank_transaction_code: str | None = None
    return_reason: str | None = None
    bank_reference: str | None = None
    account: str | None = None  # our account the money arrived on
    contract_owner_id: int | None = None
    payment_link_id: str | None = None
    provider_customer_id: str | None = None
    source: Source = Source.BANK_LINE  # whose allocation order applies (`RuleSet.allocation_order`)

    @property
    def texts(self) -> tuple[tuple[str, str], ...]:
        """(field name, text) pairs searched for references, in order of trust."""
        if self.structured_reference:
            if self.remittance:
                return (
                    (FIELD_STRUCTURED, self.structured_reference),
                    (FIELD_REMITTANCE, self.remittance),
                )
            return ((FIELD_STRUCTURED, self.structured_reference),)
        return ((FIELD_REMITTANCE, self.remittance),) if self.remittance else ()


@dataclass(slots=True)
class Settlement:
    """A shortfall the owner's tolerance settles: kind `write_off` or `bank_charges`."""

    invoice_id: int
    amount: Decimal
    kind: str


@dataclass(slots=True)
class LineDecision:
    """A line identified to a customer: it becomes a payment with these allocations."""

    line_id: int
    customer_id: int
    allocations: tuple[ProposedAllocation, ...]
    unused_amount: Decimal
    identified_by: str = ""
    settlements: tuple[Settlement, ...] = ()
    note: str | None = None  # why nothing was allocated, when nothing was

    @property
    def bank_charges(self) -> Decimal:
        return sum((s.amount for s in self.settlements if s.kind == "bank_charges"), Decimal(0))


@dataclass(slots=True)
class OriginalPayment:
    """An earlier credit, with its live payment, that a debit may undo."""

    line_id: int
    customer_id: int
    amount: Decimal
    currency: str
    booking_date: date
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    bank_reference: str | None = None
    counterparty_account: str | None = None
    refunded: Decimal = Decimal(0)  # already recorded as refunds in the ledger
    # What its allocations and settlements took from which invoices (each invoice as it stands
    # now), so that undoing it reopens them for the rest of the batch.
    takes: tuple[tuple[OpenInvoice, Decimal], ...] = ()


@dataclass(slots=True)
class Reversal:
    """A debit line that undoes the payment of `original_line_id`. When the ledger already
    records the refund, `reverse_payment` is False and the line is only settled against it."""

    line_id: int
    original_line_id: int
    customer_id: int
    kind: DebitKind
    reason_code: str | None
    evidence: Mapping[str, str]
    reverse_payment: bool = True


@dataclass(slots=True)
class MatchResult:
    decisions: list[LineDecision] = field(default_factory=list)
    reversals: list[Reversal] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Lines that settle a provider payout (`payouts.PayoutSettlement`): no payment.
    payouts: list[PayoutSettlement] = field(default_factory=list)

    @property
    def allocations(self) -> list[ProposedAllocation]:
        return [a for d in self.decisions for a in d.allocations]


__all__ = [
    "RULE_COMBINATION",
    "RULE_CREDITOR_REFERENCE",
    "RULE_EXACT_AMOUNT",
    "RULE_EXACT_REFERENCE",
    "RULE_MANUAL",
    "RULE_OLDEST_DUE_FIRST",
    "RULE_PAYMENT_LINK",
    "RULE_REFERENCE",
    "DebitKind",
    "LineDecision",
    "LineToMatch",
    "MatchResult",
    "OpenInvoice",
    "OriginalPayment",
    "Problem",
    "ProblemKind",
    "ProposedAllocation",
    "Reversal",
    "Settlement",
    "Suggestion",
]
