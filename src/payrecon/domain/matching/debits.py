"""Money going out: refunds, returned direct debits and transfers, chargebacks and reversals
find the payment they undo, so that its allocations are reversed and the invoices reopen.

The original is looked for by what a bank quotes of it, most precise first: the end-to-end id,
the original bank reference in the text, the mandate with the same amount, the payer's account
with the same amount. A precise key with another amount, or two equally recent candidates, is a
problem for a person, never a guess.
"""

from __future__ import annotations

from datetime import timedelta

from payrecon.domain.matching.book import CustomerDirectory, PaymentHistory
from payrecon.domain.matching.model import (
    DebitKind,
    LineToMatch,
    OriginalPayment,
    Problem,
    ProblemKind,
    Reversal,
)
from payrecon.domain.matching.references import normalise_account, reference_tokens
from payrecon.domain.matching.rules import DebitSettings, RuleSet

# ISO 20022 ExternalReturnReason1Code: the codes banks send most, in words for the review queue.
RETURN_REASONS = {
    "AC01": "incorrect account number",
    "AC04": "account closed",
    "AC06": "account blocked",
    "AC13": "invalid debtor account type",
    "AG01": "transaction forbidden on this account",
    "AG02": "invalid bank operation code",
    "AM04": "insufficient funds",
    "AM05": "duplicate collection",
    "BE05": "creditor not recognised",
    "CUST": "requested by the customer",
    "DUPL": "duplicate payment",
    "FOCR": "returned after a cancellation request",
    "FRAD": "fraudulent origin",
    "MD01": "no mandate",
    "MD02": "mandate data missing or wrong",
    "MD06": "refund requested by the end customer",
    "MD07": "end customer deceased",
    "MS02": "reason not specified by the customer",
    "MS03": "reason not specified by the bank",
    "RC01": "bank identifier incorrect",
    "RR01": "debtor account or identification missing",
    "RR04": "regulatory reason",
    "SL01": "specific service offered by the debtor's bank",
    "TECH": "technical problem",
}


def classify_debit(line: LineToMatch, settings: DebitSettings) -> DebitKind | None:
    if line.return_reason:
        return DebitKind.RETURN
    code = (line.bank_transaction_code or "").upper()
    subfamily = code.rsplit("/", 1)[-1]
    if subfamily and subfamily in settings.chargeback_subfamilies:
        return DebitKind.CHARGEBACK
    if subfamily and subfamily in settings.return_subfamilies:
        return DebitKind.RETURN
    text = " ".join(text for _, text in line.texts).lower()
    for kind, words in (
        (DebitKind.CHARGEBACK, settings.chargeback_words),
        (DebitKind.REVERSAL, settings.reversal_words),
        (DebitKind.REFUND, settings.refund_words),
    ):
        if any(word in text for word in words):
            return kind
    return None


def decide_debit(
    line: LineToMatch, rules: RuleSet, history: PaymentHistory, directory: CustomerDirectory
) -> Reversal | Problem:
    settings = rules.debits
    kind = classify_debit(line, settings)
    if kind is None:
        if settings.unclassified == "ignore":
            return Problem(line.id, ProblemKind.IGNORED, "debit: not a customer payment undone")
        return Problem(
            line.id,
            ProblemKind.DEBIT,
            "debit line: not a refund, return, chargeback or reversal of a customer payment",
        )
    amount = -line.amount
    earliest = line.booking_date - timedelta(days=settings.original_within_days)

    def fits(original: OriginalPayment) -> bool:
        return (
            original.currency == line.currency
            and earliest <= original.booking_date <= line.booking_date
            and directory.belongs(original.customer_id, line.contract_owner_id)
        )

    what = _describe(kind, line)
    for how, candidates, precise in _lookups(line, history):
        live = [o for o in candidates if fits(o)]
        if not live:
            continue
        same = [o for o in live if o.amount == amount]
        if precise and not same:
            original = live[0]
            return Problem(
                line.id,
                ProblemKind.AMOUNT_DIFFERS,
                f"{what} of {amount:f} quotes {how}, a payment of {original.amount:f}; "
                "record a partial refund in the ledger",
            )
        if not same:
            continue
        latest = max(o.booking_date for o in same)
        newest = [o for o in same if o.booking_date == latest]
        if len(newest) > 1:
            return Problem(
                line.id,
                ProblemKind.ORIGINAL_NOT_FOUND,
                f"{what} of {amount:f}: {len(newest)} payments of that amount fit {how}",
            )
        return _reversal(line, kind, newest[0], how, what, history)
    return Problem(
        line.id,
        ProblemKind.ORIGINAL_NOT_FOUND,
        f"{what} of {amount:f}: no earlier payment found by end-to-end id, bank reference, "
        "mandate or payer account",
    )


def _describe(kind: DebitKind, line: LineToMatch) -> str:
    if kind is DebitKind.RETURN and line.return_reason:
        code = line.return_reason.upper()
        words = RETURN_REASONS.get(code)
        return f"return (reason {code}{f': {words}' if words else ''})"
    return str(kind)


Lookup = tuple[str, list[OriginalPayment], bool]


def _lookups(line: LineToMatch, history: PaymentHistory) -> list[Lookup]:
    """(how it was found, candidates, whether the key names one payment), most precise first."""
    found: list[Lookup] = []
    if line.end_to_end_id:
        e2e = line.end_to_end_id
        found.append((f"end-to-end id {e2e}", history.by_end_to_end(e2e), True))
    for _, text in line.texts:
        for token in reference_tokens(text):
            found.append((f"original bank reference {token}", history.by_reference(token), True))
    if line.mandate_id:
        mandate = line.mandate_id
        found.append((f"mandate {mandate}", history.by_mandate(mandate), False))
    if line.counterparty_account:
        account = normalise_account(line.counterparty_account)
        found.append((f"payer account {account}", history.by_account(account), False))
    return [lookup for lookup in found if lookup[1]]


def _reversal(
    line: LineToMatch,
    kind: DebitKind,
    original: OriginalPayment,
    how: str,
    what: str,
    history: PaymentHistory,
) -> Reversal:
    recorded = kind is DebitKind.REFUND and original.refunded >= -line.amount
    found = (
        f"{what}; original payment of {original.amount:f} on {original.booking_date}, "
        f"found by {how}"
    )
    if recorded:
        explanation = f"{found}; the ledger already records this refund"
    else:
        explanation = f"{found}; its allocations are reversed and its invoices reopen"
        history.mark_undone(original.line_id)
    return Reversal(
        line_id=line.id,
        original_line_id=original.line_id,
        customer_id=original.customer_id,
        kind=kind,
        reason_code=line.return_reason,
        evidence={"kind": str(kind), "found_by": how, "explanation": explanation},
        reverse_payment=not recorded,
    )
