"""Allocation once the customer is known: references, one invoice of the amount, a unique
combination, oldest due first; partial and over payments; tolerances; the evidence."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from payrecon.domain.matching import (
    CustomerDirectory,
    InvoiceBook,
    LineDecision,
    LineToMatch,
    MatchContext,
    OpenInvoice,
    ProblemKind,
    match_lines,
)
from payrecon.domain.matching.amounts import find_combinations
from payrecon.domain.matching.rules import CombinationSettings, RuleBook, RuleSet, Tolerances

D = Decimal
PAYER = "GB29NWBK60161331926819"
DIRECTORY = CustomerDirectory(bank_accounts={PAYER: (7,)})


def invoice(id_: int, amount: str, due_day: int = 1, currency: str = "GBP") -> OpenInvoice:
    due = date(2026, 9, 1) + timedelta(days=due_day)
    return OpenInvoice(id_, f"INV-{id_:07d}", 7, currency, date(2026, 8, 1), due, D(amount))


def pay(
    amount: str,
    invoices: list[OpenInvoice],
    text: str | None = None,
    rules: RuleSet | None = None,
    clock: object = None,
) -> tuple[LineDecision, InvoiceBook]:
    book = InvoiceBook(invoices)
    paid = LineToMatch(
        1, date(2026, 10, 1), D(amount), "GBP", remittance=text, counterparty_account=PAYER
    )
    context = MatchContext(rules=RuleBook(rules or RuleSet()), directory=DIRECTORY, clock=clock)  # type: ignore[arg-type]
    result = match_lines([paid], book, context)
    assert result.problems == [], result.problems
    return result.decisions[0], book


def applied(decision: LineDecision) -> list[tuple[int, Decimal, str]]:
    return [(a.invoice_id, a.amount, a.rule) for a in decision.allocations]


def test_a_reference_that_settles_its_invoice_says_so_in_words() -> None:
    decision, _ = pay("120.50", [invoice(1234, "120.50")], "INV-0001234 thanks")
    (allocation,) = decision.allocations
    assert (allocation.rule, allocation.confidence) == ("invoice_reference_exact", D("1.000"))
    assert allocation.evidence["explanation"] == (
        "INV-0001234 in the remittance text; amount equals its open amount"
    )
    assert allocation.evidence["token"] == "INV-0001234"
    # The payer's account comes before the reference in the default order; both agree.
    assert allocation.evidence["identified_by"] == "bank_account"


def test_a_normalised_reference_is_its_own_rule() -> None:
    decision, _ = pay("120.50", [invoice(1234, "120.50")], "inv 1234")
    assert applied(decision) == [(1234, D("120.50"), "invoice_reference")]
    assert decision.allocations[0].confidence == D("0.990")


def test_partial_and_over_payments_by_reference() -> None:
    decision, book = pay("50.00", [invoice(1, "80.00")], "INV-0000001")
    assert (applied(decision), decision.unused_amount, book.open_amount(1)) == (
        [(1, D("50.00"), "invoice_reference_exact")],
        0,
        D("30.00"),
    )
    assert "50.00 applied of its open 80.00" in decision.allocations[0].evidence["explanation"]
    decision, book = pay("95.00", [invoice(1, "80.00")], "INV-0000001")
    assert (decision.unused_amount, book.open_amount(1)) == (D("15.00"), 0)


def test_a_reference_to_a_settled_invoice_leaves_the_money_unused() -> None:
    decision, _ = pay("80.00", [invoice(1, "0.00"), invoice(2, "80.00")], "INV-0000001")
    assert decision.allocations == ()
    assert decision.unused_amount == D("80.00")
    assert decision.note == (
        "INV-0000001 settled already: the amount stays unused on the customer's account"
    )


def test_a_referenced_invoice_in_another_currency_goes_to_review() -> None:
    book = InvoiceBook([invoice(1, "80.00", currency="EUR")])
    paid = LineToMatch(1, date(2026, 10, 1), D("80.00"), "GBP", remittance="INV-1")
    (problem,) = match_lines([paid], book).problems
    assert problem.kind is ProblemKind.CURRENCY_MISMATCH
    assert problem.customer_id == 7


def test_exactly_one_open_invoice_of_the_amount() -> None:
    decision, _ = pay("40.00", [invoice(1, "100.00"), invoice(2, "40.00", due_day=9)])
    assert applied(decision) == [(2, D("40.00"), "exact_amount")]
    allocation = decision.allocations[0]
    assert allocation.confidence == D("0.960")  # 0.970 for the rule x 0.990 for the account
    assert allocation.evidence["explanation"] == (
        f"payer account {PAYER} is on file for the customer; amount equals the open amount of "
        "INV-0000002, the customer's only open invoice of that amount"
    )


def test_two_invoices_of_the_amount_fall_through_to_oldest_due_first() -> None:
    decision, _ = pay("40.00", [invoice(1, "40.00", due_day=5), invoice(2, "40.00", due_day=2)])
    assert applied(decision) == [(2, D("40.00"), "oldest_due_first")]


def test_a_unique_combination_of_open_invoices() -> None:
    invoices = [invoice(1, "10.00"), invoice(2, "25.50"), invoice(3, "40.25"), invoice(4, "99.99")]
    decision, _ = pay("50.25", invoices)
    assert applied(decision) == [
        (1, D("10.00"), "invoice_combination"),
        (3, D("40.25"), "invoice_combination"),
    ]
    assert decision.allocations[0].evidence["invoices"] == "INV-0000001, INV-0000003"
    assert "the only combination of 2 to 4" in decision.allocations[0].evidence["explanation"]


def test_two_fitting_combinations_mean_neither_is_chosen() -> None:
    invoices = [invoice(1, "30.00", 1), invoice(2, "50.00", 2), invoice(3, "70.00", 3)]
    invoices.append(invoice(4, "90.00", 4))
    decision, _ = pay("120.00", invoices)  # 30 + 90 and 50 + 70
    assert applied(decision) == [
        (1, D("30.00"), "oldest_due_first"),
        (2, D("50.00"), "oldest_due_first"),
        (3, D("40.00"), "oldest_due_first"),
    ]


def test_the_combination_search_is_bounded_and_then_falls_through() -> None:
    # 40 invoices of 10.00 and 35.00 to find: no set fits, and no bound cuts the search short.
    invoices = [invoice(i, "10.00", i) for i in range(1, 41)]
    tight = RuleSet(invoice_combination=CombinationSettings(search_steps=100))
    decision, _ = pay("35.00", invoices, rules=tight)
    assert {a.rule for a in decision.allocations} == {"oldest_due_first"}
    assert "ran out of budget" in decision.allocations[0].evidence["explanation"]
    ticks = itertools.count(0.0, 1.0)  # a clock that leaps a second at every look
    slow = RuleSet(invoice_combination=CombinationSettings(search_steps=10**6, time_budget_ms=1))
    decision, _ = pay("35.00", invoices, rules=slow, clock=lambda: next(ticks))
    assert "ran out of budget" in decision.allocations[0].evidence["explanation"]
    roomy = RuleSet(invoice_combination=CombinationSettings(search_steps=10**6))
    decision, _ = pay("35.00", invoices, rules=roomy)  # searched to the end: nothing fits
    assert "ran out of budget" not in decision.allocations[0].evidence["explanation"]


def test_find_combinations_counts_up_to_two() -> None:
    settings = CombinationSettings()
    amounts = [D("70"), D("50"), D("30"), D("20")]
    assert find_combinations(amounts, D("90"), settings) == ([(0, 3)], False)  # 70+20
    found, exhausted = find_combinations(amounts, D("100"), settings)  # 70+30, 50+30+20
    assert (len(found), exhausted) == (2, False)
    assert find_combinations(amounts, D("1"), settings) == ([], False)
    assert find_combinations(amounts, D("170"), settings) == ([(0, 1, 2, 3)], False)


def test_oldest_due_first_with_a_shortfall_and_a_surplus() -> None:
    invoices = [invoice(1, "100.00", due_day=9), invoice(2, "40.00", due_day=1)]
    decision, book = pay("123.45", invoices, "on account")
    assert applied(decision) == [
        (2, D("40.00"), "oldest_due_first"),
        (1, D("83.45"), "oldest_due_first"),
    ]
    assert book.open_amount(1) == D("16.55")
    decision, _ = pay("150.00", invoices, "on account")
    assert decision.unused_amount == D("10.00")


def test_a_customer_with_nothing_open_keeps_the_money_unused() -> None:
    decision, _ = pay("25.00", [])
    assert (decision.allocations, decision.unused_amount) == ((), D("25.00"))


def test_an_owner_without_oldest_due_first_sends_the_rest_to_review() -> None:
    rules = RuleSet(allocate_by=("invoice_reference", "exact_amount"))  # type: ignore[arg-type]
    book = InvoiceBook([invoice(1, "100.00")])
    paid = LineToMatch(1, date(2026, 10, 1), D("30.00"), "GBP", counterparty_account=PAYER)
    context = MatchContext(rules=RuleBook(rules), directory=DIRECTORY)
    (problem,) = match_lines([paid], book, context).problems
    assert (problem.kind, problem.customer_id) == (ProblemKind.NO_RULE_APPLIED, 7)


def test_tolerances_are_off_by_default() -> None:
    decision, book = pay("99.97", [invoice(1, "100.00")], "INV-1")
    assert (decision.settlements, book.open_amount(1)) == ((), D("0.03"))


def test_a_write_off_tolerance_settles_a_small_shortfall() -> None:
    rules = RuleSet(tolerances=Tolerances(write_off=D("0.05")))
    decision, book = pay("99.97", [invoice(1, "100.00")], "INV-1", rules=rules)
    assert [(s.invoice_id, s.amount, s.kind) for s in decision.settlements] == [
        (1, D("0.03"), "write_off")
    ]
    assert (applied(decision), book.open_amount(1)) == ([(1, D("99.97"), "invoice_reference")], 0)
    decision, book = pay("99.90", [invoice(1, "100.00")], "INV-1", rules=rules)
    assert (decision.settlements, book.open_amount(1)) == ((), D("0.10"))


def test_bank_charges_tolerance_lets_the_exact_amount_rule_see_through_the_fee() -> None:
    rules = RuleSet(tolerances=Tolerances(bank_charges=D("2.50")))
    decision, book = pay("97.50", [invoice(1, "100.00"), invoice(2, "300.00")], rules=rules)
    assert applied(decision) == [(1, D("97.50"), "exact_amount")]
    assert (decision.bank_charges, book.open_amount(1)) == (D("2.50"), 0)
    assert (
        "is within tolerance of the open amount" in decision.allocations[0].evidence["explanation"]
    )


def test_only_invoices_in_the_lines_currency_are_paid() -> None:
    decision, _ = pay("40.00", [invoice(1, "40.00", currency="EUR"), invoice(2, "10.00")])
    assert applied(decision) == [(2, D("10.00"), "oldest_due_first")]
    assert decision.unused_amount == D("30.00")
