"""The matcher: statement lines and candidate customers and invoices in; payments with their
allocations, reversals and problems out. Pure: no I/O, no clock unless one is passed in.

Lines are taken in booking-date order, then in the order given (file order). For each credit:
identify the customer (`customers`), then allocate by the owner's rules in order
(`amounts`). Each debit looks for the payment it undoes (`debits`). Problems
(unknown payer, ambiguous or conflicting evidence, no original payment) are returned as data,
never raised (STYLE rule 3), each with suggestions for the person who reviews it.
The rules come from a `RuleBook` (`payrecon.domain.matching.rules`): the default set, or an owner's.
"""

from payrecon.domain.matching.engine import (
    RULE_EXACT_REFERENCE,
    RULE_MANUAL,
    CustomerDirectory,
    DebitKind,
    InvoiceBook,
    LineDecision,
    LineToMatch,
    LinkTarget,
    MatchContext,
    MatchResult,
    OpenInvoice,
    OriginalPayment,
    PayerNameIndex,
    PaymentHistory,
    PayoutBook,
    PayoutSettlement,
    Problem,
    ProblemKind,
    ProposedAllocation,
    Reversal,
    Settlement,
    Suggestion,
    allocate_known,
    candidate_numbers,
    invoice_key,
    match_lines,
    normalise_account,
    payout_reference_candidates,
    reference_tokens,
    referenced_keys,
    suggest_payers,
)

__all__ = [
    "RULE_EXACT_REFERENCE",
    "RULE_MANUAL",
    "CustomerDirectory",
    "DebitKind",
    "InvoiceBook",
    "LineDecision",
    "LineToMatch",
    "LinkTarget",
    "MatchContext",
    "MatchResult",
    "OpenInvoice",
    "OriginalPayment",
    "PayerNameIndex",
    "PaymentHistory",
    "PayoutBook",
    "PayoutSettlement",
    "Problem",
    "ProblemKind",
    "ProposedAllocation",
    "Reversal",
    "Settlement",
    "Suggestion",
    "allocate_known",
    "candidate_numbers",
    "invoice_key",
    "match_lines",
    "normalise_account",
    "payout_reference_candidates",
    "reference_tokens",
    "referenced_keys",
    "suggest_payers",
]
