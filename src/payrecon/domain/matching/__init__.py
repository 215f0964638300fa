"""The matcher: statement lines and candidate customers and invoices in; payments with their
allocations, reversals and problems out. Pure: no I/O, no clock unless one is passed in.

Lines are taken in booking-date order, then in the order given (file order). For each credit:
identify the customer (`customers`), then allocate by the owner's rules in order
(`amounts`). Each debit looks for the payment it undoes (`debits`). Problems
(unknown payer, ambiguous or conflicting evidence, no original payment) are returned as data,
never raised (STYLE rule 3), each with suggestions for the person who reviews it.
The rules come from a `RuleBook` (`payrecon.domain.matching.rules`): the default set, or an owner's.
"""

from payrecon.domain.allocation import (
    RULE_EXACT_REFERENCE,
    RULE_MANUAL,
    OpenInvoice,
    Problem,
    ProblemKind,
    ProposedAllocation,
    Suggestion,
)
from payrecon.domain.matching.book import CustomerDirectory, InvoiceBook, LinkTarget, PaymentHistory
from payrecon.domain.matching.customers import PayerNameIndex
from payrecon.domain.matching.engine import (
    LineRoute,
    MatchContext,
    allocate_known,
    candidate_numbers,
    match_lines,
    payout_reference_candidates,
    referenced_keys,
    route_lines,
    suggest_payers,
)
from payrecon.domain.matching.model import (
    DebitKind,
    LineDecision,
    LineToMatch,
    MatchResult,
    OriginalPayment,
    Reversal,
    Settlement,
)
from payrecon.domain.matching.payouts import PayoutBook, PayoutKeys, PayoutSettlement
from payrecon.domain.matching.references import invoice_key, normalise_account, reference_tokens

__all__ = [
    "RULE_EXACT_REFERENCE",
    "RULE_MANUAL",
    "CustomerDirectory",
    "DebitKind",
    "InvoiceBook",
    "LineDecision",
    "LineRoute",
    "LineToMatch",
    "LinkTarget",
    "MatchContext",
    "MatchResult",
    "OpenInvoice",
    "OriginalPayment",
    "PayerNameIndex",
    "PaymentHistory",
    "PayoutBook",
    "PayoutKeys",
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
    "route_lines",
    "suggest_payers",
]
