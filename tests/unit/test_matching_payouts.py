"""The payout rule: a credit carrying a provider payout settles it (no payment), or goes to review
with a typed problem; it never becomes a customer's payment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payrecon.domain.matching import (
    CustomerDirectory,
    InvoiceBook,
    LineToMatch,
    MatchContext,
    OpenInvoice,
    PayoutBook,
    PayoutKeys,
    ProblemKind,
    match_lines,
    normalise_account,
    payout_reference_candidates,
)
from payrecon.domain.matching.payouts import (
    PayoutItem,
    PayoutToSettle,
    item_kind,
    payout_reference_key,
    reference_keys,
)
from payrecon.domain.matching.rules import RuleBook, RuleSet

D = Decimal
ARRIVAL = date(2026, 10, 6)
PAYER = "GB29NWBK60161331926819"
GC = "GOCARDLESS LTD"  # the payer's name on a GoCardless payout


def gocardless_items() -> tuple[PayoutItem, ...]:
    """Two payments with GoCardless's fees to a tenth of a penny, one refund: net 160.00."""
    return (
        PayoutItem("payment_paid_out", D("100.000")),
        PayoutItem("gocardless_fee", D("-1.200")),
        PayoutItem("payment_paid_out", D("63.000")),
        PayoutItem("gocardless_fee", D("-0.835")),
        PayoutItem("payment_refunded", D("-0.970")),
    )


def payout(
    id_: int = 1,
    *,
    reference: str | None = "ACME-AB12C",
    amount: str = "160.00",
    items: tuple[PayoutItem, ...] | None = None,
    settled_line: int | None = None,
    arrival: date = ARRIVAL,
    status: str = "paid",
) -> PayoutToSettle:
    return PayoutToSettle(
        id=id_,
        external_id=f"PO{id_:04d}",
        provider="gocardless",
        amount=D(amount),
        currency="GBP",
        status=status,
        arrival_date=arrival,
        reference=reference,
        items=gocardless_items() if items is None else items,
        settled_line_id=settled_line,
    )


def credit(id_: int, amount: str, text: str | None = None, **fields: str) -> LineToMatch:
    return LineToMatch(id_, ARRIVAL, D(amount), "GBP", remittance=text, **fields)  # type: ignore[arg-type]


def customer_book() -> InvoiceBook:
    return InvoiceBook(
        [OpenInvoice(9, "INV-0000009", 7, "GBP", date(2026, 9, 1), date(2026, 10, 1), D("160.00"))]
    )


def context(*payouts: PayoutToSettle, rules: RuleSet | None = None) -> MatchContext:
    """A payer account on file for customer 7, who owes exactly 160.00: the trap a payout line
    must not fall into."""
    return MatchContext(
        rules=RuleBook(rules or RuleSet()),
        directory=CustomerDirectory(bank_accounts={normalise_account(PAYER): (7,)}),
        payouts=PayoutBook(payouts),
    )


def test_a_line_quoting_the_reference_settles_the_payout_with_its_fees() -> None:
    result = match_lines(
        [credit(10, "160.00", "GoCardless ACME-AB12C", counterparty_account=PAYER)],
        customer_book(),
        context(payout()),
    )
    (settled,) = result.payouts
    assert (settled.line_id, settled.payout_id, settled.payments, settled.items) == (10, 1, 2, 5)
    assert settled.fees == D("2.035")
    assert settled.summary == "payout PO0001: 2 payments, fees 2.035"
    explanation = settled.evidence["explanation"]
    assert "1 refund" in explanation
    assert "reference ACME-AB12C in the remittance text" in explanation
    assert "its 5 items sum to it" in explanation
    assert result.decisions == []
    assert result.problems == []


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("remittance", "payout acme ab12c thank you"),
        ("remittance", "ACMEAB12C"),
        ("structured_reference", "Acme-ab12c"),
        ("end_to_end_id", "ACME - AB12C"),
    ],
)
def test_the_reference_is_found_whatever_its_case_spaces_and_field(field: str, text: str) -> None:
    line = LineToMatch(10, ARRIVAL, D("160.00"), "GBP", **{field: text})  # type: ignore[arg-type]
    (settled,) = match_lines([line], customer_book(), context(payout())).payouts
    assert settled.payout_id == 1


def test_a_reference_inside_a_longer_word_is_no_reference() -> None:
    line = credit(10, "160.00", "ACME-AB12CD")
    result = match_lines([line], customer_book(), context(payout(amount="999.00")))
    assert result.payouts == []
    assert [p.kind for p in result.problems] == [ProblemKind.NO_REFERENCE]


def test_a_net_amount_other_than_the_line_is_a_problem_not_a_customer_payment() -> None:
    line = credit(10, "160.00", "ACME-AB12C", counterparty_account=PAYER)
    result = match_lines([line], customer_book(), context(payout(amount="161.00")))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.PAYOUT_AMOUNT_MISMATCH
    assert "PO0001" in problem.reason
    assert "161.00 GBP net" in problem.reason
    assert result.decisions == []
    assert result.payouts == []


def test_items_that_do_not_sum_to_the_payout_are_a_problem() -> None:
    short = gocardless_items()[:-1]  # the refund is missing: 160.97
    result = match_lines(
        [credit(10, "160.00", "ACME-AB12C")], customer_book(), context(payout(items=short))
    )
    (problem,) = result.problems
    assert problem.kind is ProblemKind.PAYOUT_ITEMS_MISMATCH
    assert "sum to 160.965 GBP, not its net amount 160.00" in problem.reason


def test_items_not_stored_yet_are_a_problem() -> None:
    waiting = PayoutToSettle(1, "PO0001", "gocardless", D("160.00"), "GBP", "paid", ARRIVAL,
                             "ACME-AB12C", None)  # fmt: skip
    result = match_lines([credit(10, "160.00", "ACME-AB12C")], customer_book(), context(waiting))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.PAYOUT_ITEMS_MISMATCH
    assert "not stored yet" in problem.reason


def test_stripe_items_count_net_of_their_fees_and_skip_the_payouts_own_transaction() -> None:
    items = (
        PayoutItem("charge", D("48.25"), D("1.75")),
        PayoutItem("charge", D("96.80"), D("3.20")),
        PayoutItem("refund", D("-20.00"), D("0")),
        PayoutItem("payout", D("-125.05"), D("0")),
    )
    stripe = payout(reference="STRIPE PAYOUT 0007", amount="125.05", items=items)
    (settled,) = match_lines(
        [credit(10, "125.05", "stripe payout 0007")], customer_book(), context(stripe)
    ).payouts
    assert (settled.payments, settled.items, settled.fees) == (2, 3, D("4.95"))


def test_a_payout_settled_by_another_line_is_unavailable() -> None:
    lines = [credit(10, "160.00", "ACME-AB12C"), credit(11, "160.00", "ACME AB12C again")]
    result = match_lines(lines, customer_book(), context(payout()))
    assert [s.line_id for s in result.payouts] == [10]
    (problem,) = result.problems
    assert (problem.line_id, problem.kind) == (11, ProblemKind.PAYOUT_UNAVAILABLE)
    assert "already settled by statement line 10" in problem.reason
    earlier = match_lines(
        [credit(12, "160.00", "ACME-AB12C")], customer_book(), context(payout(settled_line=3))
    )
    assert [p.kind for p in earlier.problems] == [ProblemKind.PAYOUT_UNAVAILABLE]


def test_by_amount_and_arrival_date_a_unique_payout_settles() -> None:
    line = LineToMatch(
        10, date(2026, 10, 8), D("160.00"), "GBP", remittance="GC TRANSFER", counterparty_name=GC
    )
    (settled,) = match_lines([line], customer_book(), context(payout(reference="X1"))).payouts
    assert settled.evidence["matched_by"] == "amount_and_date"
    assert "the only unreconciled payout of 160.00 GBP" in settled.evidence["explanation"]


def test_by_amount_two_fitting_payouts_are_ambiguous() -> None:
    payouts = (payout(1, reference=None), payout(2, reference=None, arrival=date(2026, 10, 7)))
    line = credit(10, "160.00", "TRANSFER", counterparty_name=GC)
    result = match_lines([line], customer_book(), context(*payouts))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.AMBIGUOUS_PAYOUT
    assert "PO0001, PO0002" in problem.reason


def test_by_amount_a_payout_fitting_two_lines_goes_to_the_first_in_booking_order() -> None:
    later = LineToMatch(
        11, ARRIVAL, D("160.00"), "GBP", remittance="TRANSFER", counterparty_name=GC
    )
    first = LineToMatch(
        10, date(2026, 10, 5), D("160.00"), "GBP", remittance="TRANSFER", counterparty_name=GC
    )
    result = match_lines([later, first], customer_book(), context(payout(reference=None)))
    assert [s.line_id for s in result.payouts] == [10]
    assert [(p.line_id, p.kind) for p in result.problems] == [(11, ProblemKind.NO_REFERENCE)]


def test_the_fallback_leaves_lines_with_customer_evidence_or_far_dates_alone() -> None:
    quoted = credit(10, "160.00", "INV-0000009")
    known = credit(11, "160.00", "TRANSFER", counterparty_account=PAYER, counterparty_name=GC)
    late = LineToMatch(
        12, date(2026, 10, 10), D("160.00"), "GBP", remittance="TRANSFER", counterparty_name=GC
    )
    result = match_lines([quoted, known, late], customer_book(), context(payout(reference=None)))
    assert result.payouts == []
    assert [d.line_id for d in result.decisions] == [10, 11]  # 11: customer 7, on account
    assert [(p.line_id, p.kind) for p in result.problems] == [(12, ProblemKind.NO_REFERENCE)]


@pytest.mark.parametrize("name", ["GOCARDLESS LTD", "GoCardless", "Go-Cardless Ltd payouts"])
def test_by_amount_the_payers_name_is_the_providers_case_and_spaces_aside(name: str) -> None:
    line = credit(10, "160.00", "TRANSFER", counterparty_name=name)
    result = match_lines([line], customer_book(), context(payout(reference=None)))
    assert [s.line_id for s in result.payouts] == [10]


def test_by_amount_the_providers_word_may_stand_in_the_remittance_instead() -> None:
    line = credit(10, "160.00", "GoCardless payout", counterparty_name="BACS CREDIT")
    result = match_lines([line], customer_book(), context(payout(reference=None)))
    assert [s.line_id for s in result.payouts] == [10]


@pytest.mark.parametrize("name", [None, "Jane Smith", "STRIPE PAYMENTS EUROPE LTD"])
def test_by_amount_a_transfer_from_anyone_else_is_no_payout(name: str | None) -> None:
    """A customer's transfer of the payout's net amount, without a reference: the amount alone
    does not make it the payout."""
    line = credit(10, "160.00", "Rent", counterparty_name=name)  # type: ignore[arg-type]
    result = match_lines([line], customer_book(), context(payout(reference=None)))
    assert result.payouts == []
    assert [(p.line_id, p.kind) for p in result.problems] == [(10, ProblemKind.NO_REFERENCE)]


def test_by_amount_an_owner_may_need_no_name_for_a_provider() -> None:
    rules = RuleSet.model_validate({"payouts": {"payer_names": {"gocardless": []}}})
    line = credit(10, "160.00", "TRANSFER")
    result = match_lines([line], customer_book(), context(payout(reference=None), rules=rules))
    assert [s.line_id for s in result.payouts] == [10]
    assert RuleSet.model_validate({}).payouts.payer_names["stripe"] == ("stripe",)


def test_an_owner_may_turn_the_payout_step_off() -> None:
    rules = RuleSet.model_validate({"settle_lines_by": []})
    line = credit(10, "160.00", "ACME-AB12C", counterparty_account=PAYER)
    result = match_lines([line], customer_book(), context(payout(), rules=rules))
    assert result.payouts == []
    assert [d.customer_id for d in result.decisions] == [7]


def test_reference_keys_and_candidates() -> None:
    assert payout_reference_key(" acme-AB12c ") == "ACMEAB12C"
    assert "ACMEAB12C" in reference_keys("paid: ACME - AB12C, thanks")
    assert "ACME" not in reference_keys("ACME AB12C")  # shorter than six: too likely by chance
    candidates = payout_reference_candidates(
        [credit(1, "1.00", "STRIPE PAYOUT 0007"), credit(2, "-1.00", "ACME-ZZ999")]
    )
    assert "STRIPEPAYOUT0007" in candidates
    assert "ACMEZZ999" not in candidates
    assert str(item_kind("payment_paid_out")) == "payment"
    assert str(item_kind("something_new")) == "other"


_WORDS = st.sampled_from(
    ["ACME", "AB12C", "ab", "STRIPE", "payout", "0007", "A", "B", "PO", "000123"]
)
_TEXTS = st.lists(st.tuples(_WORDS, st.sampled_from([" ", "-", ", ", "", "/"])), max_size=12).map(
    lambda parts: "".join(w + sep for w, sep in parts)
)


@given(texts=st.lists(_TEXTS, min_size=1, max_size=30), picks=st.lists(st.integers(0, 99)))
def test_stored_keys_find_what_every_run_of_words_would(texts: list[str], picks: list[int]) -> None:
    """`PayoutKeys.quoted` gives the keys of `reference_keys` that are in the set, in order, and
    a line's candidates with the stored keys are those of the full listing that are stored."""
    every = sorted({k for text in texts for k in reference_keys(text)})
    stored = PayoutKeys([every[p % len(every)] for p in picks] if every else [])
    for text in texts:
        assert stored.quoted(text) == tuple(k for k in reference_keys(text) if k in stored.keys)
    lines = [credit(n, "1.00", text) for n, text in enumerate(texts, start=1)]
    assert payout_reference_candidates(lines, stored) == {
        k for k in payout_reference_candidates(lines) if k in stored.keys
    }


def test_a_book_given_the_stored_keys_finds_the_same_quotes() -> None:
    """The book reads quotes through the stored keys when they hold its own, else its own."""
    line = credit(1, "160.00", "GoCardless payout ACME-AB12C", counterparty_account=PAYER)
    stored = PayoutKeys(["ACMEAB12C", "OTHERKEY1"])
    for book in (PayoutBook([payout()], stored), PayoutBook([payout()], PayoutKeys([]))):
        assert [q.key for q in book.quoted(line)] == ["ACMEAB12C"]
    assert PayoutBook([], stored).quoted(line) == []
