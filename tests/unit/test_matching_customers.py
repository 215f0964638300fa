"""Who paid: each kind of evidence, conflicts and ambiguity, the traps, and payer-name
suggestions that never allocate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from payrecon.domain.matching import (
    CustomerDirectory,
    InvoiceBook,
    LineDecision,
    LineToMatch,
    LinkTarget,
    MatchContext,
    MatchResult,
    OpenInvoice,
    PayerNameIndex,
    ProblemKind,
    match_lines,
    suggest_payers,
)
from payrecon.domain.matching.rules import RuleBook, RuleSet

D = Decimal
DUE = date(2026, 9, 1)


def invoice(id_: int, customer: int, amount: str, number: str | None = None) -> OpenInvoice:
    return OpenInvoice(
        id_, number or f"INV-{id_:07d}", customer, "GBP", date(2026, 8, 1), DUE, D(amount)
    )


def line(amount: str = "100.00", **fields: Any) -> LineToMatch:
    return LineToMatch(1, date(2026, 10, 1), D(amount), "GBP", **fields)


DIRECTORY = CustomerDirectory(
    mandates={"MD-7": 7},
    bank_accounts={"GB29NWBK60161331926819": (7,), "GB00SHARED0000000001": (7, 8)},
    account_numbers={"AC000007": (7,), "0004512": (8,)},
    payment_links={"PL-7": LinkTarget(7, 2)},
    provider_customers={"cus_7": 7},
)
BOOK_INVOICES = [
    invoice(1, 7, "100.00"),
    invoice(2, 7, "40.00"),
    invoice(3, 8, "100.00"),
    invoice(4512, 9, "77.00"),
]


def decide(
    *lines: LineToMatch,
    directory: CustomerDirectory = DIRECTORY,
    rules: RuleSet | None = None,
) -> MatchResult:
    context = MatchContext(rules=RuleBook(rules or RuleSet()), directory=directory)
    return match_lines(list(lines), InvoiceBook(BOOK_INVOICES), context)


def only_decision(result: MatchResult) -> LineDecision:
    assert result.problems == []
    (decision,) = result.decisions
    return decision


def test_a_mandate_identifies_the_customer() -> None:
    decision = only_decision(decide(line("40.00", mandate_id="MD-7")))
    assert (decision.customer_id, decision.identified_by) == (7, "mandate")
    assert decision.allocations[0].evidence["identification"] == "mandate MD-7"


def test_the_payers_account_on_file_identifies_the_customer() -> None:
    decision = only_decision(
        decide(line("40.00", counterparty_account="gb29 nwbk 6016 1331 9268 19"))
    )
    assert (decision.customer_id, decision.identified_by) == (7, "bank_account")


def test_a_payment_link_identifies_the_customer_and_its_invoice() -> None:
    decision = only_decision(decide(line("40.00", end_to_end_id="PL-7")))
    assert decision.identified_by == "payment_link"
    assert [(a.invoice_id, a.rule) for a in decision.allocations] == [(2, "payment_link")]


def test_a_provider_customer_identifies_the_customer() -> None:
    decision = only_decision(decide(line("40.00", provider_customer_id="cus_7")))
    assert (decision.customer_id, decision.identified_by) == (7, "provider_customer")


def test_an_invoice_reference_identifies_the_customer() -> None:
    decision = only_decision(decide(line("100.00", remittance="INV-0000003")))
    assert (decision.customer_id, decision.identified_by) == (8, "invoice_reference")


def test_the_account_number_in_the_text_identifies_the_customer() -> None:
    decision = only_decision(decide(line("40.00", remittance="Customer AC000007, thanks")))
    assert (decision.customer_id, decision.identified_by) == (7, "account_number_in_text")


def test_trap_an_account_number_of_digits_needs_its_label_and_is_no_invoice_reference() -> None:
    # 0004512 is customer 8's account number and also the digits of customer 9's INV-0004512.
    decision = only_decision(decide(line("100.00", remittance="Acct 0004512")))
    assert decision.customer_id == 8
    assert [a.invoice_id for a in decision.allocations] == [3]
    # Without a label the bare number says nothing: not customer 8, not invoice 4512.
    (problem,) = decide(line("77.00", remittance="Order 0004512")).problems
    assert problem.kind is ProblemKind.NO_REFERENCE


def test_an_account_shared_by_two_customers_decides_nothing_alone() -> None:
    (problem,) = decide(line(counterparty_account="GB00SHARED0000000001")).problems
    assert problem.kind is ProblemKind.AMBIGUOUS_CUSTOMER
    assert [s.customer_id for s in problem.suggestions] == [7, 8]
    # ... but a reference to one of them settles it.
    decision = only_decision(
        decide(line("100.00", counterparty_account="GB00SHARED0000000001", remittance="INV-3"))
    )
    assert decision.customer_id == 8


def test_evidence_naming_two_customers_goes_to_review() -> None:
    result = decide(
        line("100.00", counterparty_account="GB29NWBK60161331926819", remittance="INV-0000003")
    )
    (problem,) = result.problems
    assert problem.kind is ProblemKind.CONFLICTING_IDENTIFICATION
    assert "INV-0000003 in the remittance text names another customer" in problem.reason
    assert {s.customer_id for s in problem.suggestions} == {7, 8}
    assert result.decisions == []


def test_an_owner_may_let_the_first_evidence_win() -> None:
    rules = RuleSet(on_conflicting_identification="first")
    decision = only_decision(
        decide(
            line("40.00", counterparty_account="GB29NWBK60161331926819", remittance="INV-0000003"),
            rules=rules,
        )
    )
    assert decision.customer_id == 7  # the account comes first in the default order
    assert [a.invoice_id for a in decision.allocations] == [2]  # B's invoice is not paid


def test_the_owners_order_decides_which_evidence_counts_first() -> None:
    rules = RuleSet(
        identify_customer_by=("invoice_reference", "bank_account"),  # type: ignore[arg-type]
        on_conflicting_identification="first",
    )
    decision = only_decision(
        decide(
            line("100.00", counterparty_account="GB29NWBK60161331926819", remittance="INV-3"),
            rules=rules,
        )
    )
    assert decision.customer_id == 8


def test_another_owners_customers_and_invoices_do_not_count() -> None:
    directory = CustomerDirectory(
        bank_accounts={"GB29NWBK60161331926819": (7,)}, owners={7: 1, 8: 2, 9: 1}
    )
    payer = {"counterparty_account": "GB29NWBK60161331926819", "contract_owner_id": 2}
    (problem,) = decide(line(**payer), directory=directory).problems
    assert problem.kind is ProblemKind.NO_REFERENCE
    decision = only_decision(
        decide(line("100.00", remittance="INV-3", contract_owner_id=2), directory=directory)
    )
    assert decision.customer_id == 8
    (problem,) = decide(
        line("100.00", remittance="INV-1", contract_owner_id=2), directory=directory
    ).problems
    assert problem.kind is ProblemKind.NO_REFERENCE  # INV-1 is owner 1's: no reference here


def test_an_unknown_payer_is_never_allocated_a_name_only_suggests() -> None:
    names = PayerNameIndex([(7, "Bowman & Co", 1), (8, "Okafor Ltd", 1), (9, "Lindqvist", 1)])
    payer = line("40.00", counterparty_name="BOWMAN AND CO", counterparty_account="NL00X1")
    result = decide(payer)
    suggest_payers(result, [payer], names, RuleBook(RuleSet()))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.NO_REFERENCE
    assert [s.customer_id for s in problem.suggestions] == [7]
    assert "resembles" in problem.suggestions[0].basis
    assert result.decisions == []


def test_trap_a_payer_name_shared_by_customers_suggests_no_one() -> None:
    names = PayerNameIndex([(7, "J. Smith", 1), (8, "J. Smith", 1), (9, "Anna Berg", 1)])
    payer = line("40.00", counterparty_name="J Smith")
    result = decide(payer)
    suggest_payers(result, [payer], names, RuleBook(RuleSet()))
    (problem,) = result.problems
    assert problem.suggestions == ()
    assert "fits 2 customers equally" in problem.reason


def test_a_reference_to_an_unknown_invoice_falls_through_to_the_customer() -> None:
    decision = only_decision(
        decide(
            line("40.00", remittance="INV-9999999", counterparty_account="GB29NWBK60161331926819")
        )
    )
    assert (decision.customer_id, [a.invoice_id for a in decision.allocations]) == (7, [2])
    assert decision.allocations[0].rule == "exact_amount"
    (problem,) = decide(line("40.00", remittance="INV-9999999")).problems
    assert problem.reason == "INV-9999999: no such invoice, and nothing else identifies the payer"


def _suggest_one_by_one(
    customers: list[tuple[int, str, int | None]], payer: str, owner: int | None, least: int
) -> list[tuple[int, int]]:
    """What the index must find, the slow way: every customer sharing a telling word with the
    payer (an owner's own and those of no owner), scored one by one."""
    from rapidfuzz import fuzz

    from payrecon.domain.matching.customers import _name_words

    words = set(_name_words(payer))
    scored = []
    for customer_id, name, owner_id in customers:
        if owner is not None and owner_id not in (None, owner):
            continue
        if words & set(_name_words(name)):
            score = round(
                fuzz.token_sort_ratio(" ".join(_name_words(payer)), " ".join(_name_words(name)))
            )
            if score >= least:
                scored.append((score, customer_id))
    return sorted(scored, key=lambda s: (-s[0], s[1]))


def test_name_suggestions_score_every_customer_sharing_a_word_as_one_by_one_would() -> None:
    import random

    from payrecon.domain.matching.rules import PayerNameSettings

    rng = random.Random(7)
    first = ["Anna", "Bert", "Carla", "Dirk", "Eva", "Femke", "Gert", "Hanna"]
    last = ["Berg", "Bowman", "Okafor", "Lindqvist", "Jansen", "de Vries", "Smit", "Bakker"]
    forms = ["", " Ltd", " & Co", " GmbH", " BV"]
    customers = [
        (i, f"{rng.choice(first)} {rng.choice(last)}{rng.choice(forms)}", rng.choice([1, 2, None]))
        for i in range(1, 400)
    ]
    names = PayerNameIndex(customers)
    settings = PayerNameSettings(suggest_from_score=60, max_suggestions=10)
    compared = 0
    for _ in range(200):
        payer = f"{rng.choice(first).upper()} {rng.choice(last)}{rng.choice(['', ' LTD', 'x'])}"
        owner = rng.choice([1, 2, None])
        expected = _suggest_one_by_one(customers, payer, owner, 60)
        suggestions, note = names.suggest(payer, owner, settings)
        if len(expected) > 1 and expected[0][0] == expected[1][0]:
            assert suggestions == ()
            assert "equally" in note
        else:
            assert [(s.score, s.customer_id) for s in suggestions] == expected[:10]
            compared += bool(expected)
    assert compared >= 15  # enough payers had someone to suggest (the rest tie)
