"""Money going out: each kind of debit finds the payment it undoes, and its invoices reopen;
what cannot be found, or differs, goes to review."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from payrecon.domain.matching import (
    CustomerDirectory,
    DebitKind,
    InvoiceBook,
    LineToMatch,
    MatchContext,
    MatchResult,
    OpenInvoice,
    OriginalPayment,
    PaymentHistory,
    ProblemKind,
    match_lines,
)
from payrecon.domain.matching.rules import DebitSettings, RuleBook, RuleSet

D = Decimal
DAY = date(2026, 10, 10)
INVOICE = OpenInvoice(1, "INV-0000001", 7, "GBP", date(2026, 8, 1), date(2026, 9, 1), D("0.00"))


def original(**fields: Any) -> OriginalPayment:
    base: dict[str, Any] = {
        "line_id": 100,
        "customer_id": 7,
        "amount": D("49.00"),
        "currency": "GBP",
        "booking_date": DAY - timedelta(days=5),
        "end_to_end_id": "E2E-100",
        "mandate_id": "MD-7",
        "bank_reference": "BR-0100",
        "counterparty_account": "GB29NWBK60161331926819",
        "takes": ((INVOICE, D("49.00")),),
    }
    return OriginalPayment(**{**base, **fields})


def debit(amount: str = "-49.00", **fields: Any) -> LineToMatch:
    return LineToMatch(200, DAY, D(amount), "GBP", **fields)


def undo(
    *lines: LineToMatch,
    originals: tuple[OriginalPayment, ...] = (),
    rules: RuleSet | None = None,
) -> tuple[MatchResult, InvoiceBook]:
    book = InvoiceBook([INVOICE])
    context = MatchContext(
        rules=RuleBook(rules or RuleSet()),
        directory=CustomerDirectory(bank_accounts={"GB29NWBK60161331926819": (7,)}),
        history=PaymentHistory(originals or (original(),)),
    )
    return match_lines(list(lines), book, context), book


@pytest.mark.parametrize(
    ("code", "words"),
    [("AC04", "account closed"), ("AM04", "insufficient funds"), ("MD06", "refund requested")],
)
def test_a_returned_direct_debit_is_found_by_end_to_end_id(code: str, words: str) -> None:
    result, book = undo(debit(end_to_end_id="E2E-100", return_reason=code))
    (reversal,) = result.reversals
    assert (reversal.original_line_id, reversal.kind, reversal.reason_code) == (100, "return", code)
    assert reversal.reverse_payment
    assert words in reversal.evidence["explanation"]
    assert "found by end-to-end id E2E-100" in reversal.evidence["explanation"]
    assert book.open_amount(1) == D("49.00")  # the invoice reopens for the rest of the batch


def test_a_return_without_end_to_end_id_is_found_by_mandate_and_amount() -> None:
    older = original(line_id=99, booking_date=DAY - timedelta(days=40), end_to_end_id="E2E-99")
    result, _ = undo(
        debit(mandate_id="MD-7", bank_transaction_code="PMNT/RDDT/UPDD"),
        originals=(older, original(end_to_end_id=None)),
    )
    (reversal,) = result.reversals
    assert (reversal.original_line_id, reversal.kind) == (100, DebitKind.RETURN)  # the latest


def test_a_reversal_is_found_by_the_original_bank_reference() -> None:
    result, _ = undo(debit(remittance="Storno of BR-0100"))
    (reversal,) = result.reversals
    assert (reversal.kind, reversal.evidence["found_by"]) == (
        "reversal",
        "original bank reference BR-0100",
    )


def test_a_chargeback_is_found_by_its_code() -> None:
    result, _ = undo(debit(end_to_end_id="E2E-100", bank_transaction_code="PMNT/CCRD/CHBK"))
    assert result.reversals[0].kind is DebitKind.CHARGEBACK


def test_a_refund_to_the_payers_account_is_found_by_account_and_amount() -> None:
    result, _ = undo(debit(remittance="Refund", counterparty_account="GB29 NWBK 6016 1331 9268 19"))
    (reversal,) = result.reversals
    assert (reversal.kind, reversal.customer_id) == (DebitKind.REFUND, 7)


def test_a_refund_the_ledger_records_settles_without_reversing() -> None:
    recorded = original(refunded=D("49.00"))
    result, book = undo(debit(remittance="Refund BR-0100"), originals=(recorded,))
    (reversal,) = result.reversals
    assert not reversal.reverse_payment
    assert "the ledger already records this refund" in reversal.evidence["explanation"]
    assert book.open_amount(1) == 0


def test_a_partial_refund_goes_to_review() -> None:
    (problem,) = undo(debit("-20.00", remittance="Refund of BR-0100"))[0].problems
    assert problem.kind is ProblemKind.AMOUNT_DIFFERS
    assert "a payment of 49.00" in problem.reason


def test_no_original_found_goes_to_review() -> None:
    (problem,) = undo(debit(end_to_end_id="E2E-404", return_reason="AC01"))[0].problems
    assert problem.kind is ProblemKind.ORIGINAL_NOT_FOUND
    assert problem.reason.startswith("return (reason AC01: incorrect account number) of 49.00")


def test_two_equally_recent_payments_of_the_amount_are_not_guessed() -> None:
    twins = (original(end_to_end_id=None), original(line_id=101, end_to_end_id=None))
    (problem,) = undo(debit(mandate_id="MD-7", return_reason="MS02"), originals=twins)[0].problems
    assert problem.kind is ProblemKind.ORIGINAL_NOT_FOUND
    assert "2 payments of that amount fit mandate MD-7" in problem.reason


def test_a_payment_is_undone_once() -> None:
    first = debit(end_to_end_id="E2E-100", return_reason="AC04")
    second = LineToMatch(
        201, DAY, D("-49.00"), "GBP", end_to_end_id="E2E-100", return_reason="AC04"
    )
    result, _ = undo(first, second)
    assert [r.line_id for r in result.reversals] == [200]
    assert [p.kind for p in result.problems] == [ProblemKind.ORIGINAL_NOT_FOUND]


def test_a_return_the_same_day_finds_the_credit_of_the_same_batch() -> None:
    payer = "GB29NWBK60161331926819"
    credit = LineToMatch(
        150, DAY, D("49.00"), "GBP", end_to_end_id="E2E-150", counterparty_account=payer
    )
    fresh = OpenInvoice(2, "INV-0000002", 7, "GBP", date(2026, 8, 1), date(2026, 9, 1), D("49.00"))
    context = MatchContext(directory=CustomerDirectory(bank_accounts={payer: (7,)}))
    book = InvoiceBook([fresh])
    returned = debit(end_to_end_id="E2E-150", return_reason="AM04")
    result = match_lines([credit, returned], book, context)
    assert [a.invoice_id for a in result.allocations] == [2]
    (reversal,) = result.reversals
    assert reversal.original_line_id == 150
    assert book.open_amount(2) == D("49.00")


def test_other_debits_go_to_review_or_are_ignored_as_the_owner_says() -> None:
    (problem,) = undo(debit(remittance="Office supplies"))[0].problems
    assert problem.kind is ProblemKind.DEBIT
    ignoring = RuleSet(debits=DebitSettings(unclassified="ignore"))
    (problem,) = undo(debit(remittance="Office supplies"), rules=ignoring)[0].problems
    assert problem.kind is ProblemKind.IGNORED


def test_an_original_from_too_long_ago_does_not_count() -> None:
    ancient = original(booking_date=DAY - timedelta(days=401))
    (problem,) = undo(debit(end_to_end_id="E2E-100", return_reason="AC04"), originals=(ancient,))[
        0
    ].problems
    assert problem.kind is ProblemKind.ORIGINAL_NOT_FOUND
