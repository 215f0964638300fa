"""The ledger's pure rules: allocation validity, unused amounts, refunds, AutoApply, statuses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payrecon.domain.allocation import (
    Funds,
    OpenInvoice,
    ProblemKind,
    ProposedAllocation,
    allocation_problems,
    check_refund,
    raise_for_problems,
    unused_amount,
)
from payrecon.domain.credit_status import CreditStatus, credit_status
from payrecon.domain.errors import CurrencyMismatch, InvalidInput, OverAllocation
from payrecon.domain.ledger import (
    AllocationEdit,
    Collection,
    CreditNoteStatus,
    Rounding,
    base_currency_amount,
    card_last_four,
    credit_note_status,
    currency_number,
    plan_allocation_edits,
)
from payrecon.domain.matching import InvoiceBook, LineDecision, LineToMatch, allocate_known
from payrecon.domain.matching.rules import Source
from payrecon.domain.money import RoundingMode

D = Decimal


def invoice(
    id: int, total: str, *, elsewhere: str = "0", due: int = 1, customer: int = 7, cur: str = "GBP"
) -> OpenInvoice:
    return OpenInvoice(
        id=id,
        number=f"INV-{id:05d}",
        customer_id=customer,
        currency=cur,
        issue_date=date(2026, 1, due),
        due_date=date(2026, 2, due),
        open_amount=D(total) - D(elsewhere),
    )


def allocate_oldest_first(
    amount: Decimal, invoices: Iterable[OpenInvoice]
) -> list[ProposedAllocation]:
    """AutoApply as credit notes get it: the rule book's order for credit notes."""
    funds = LineToMatch(1, date(2026, 3, 1), amount, "GBP", source=Source.CREDIT_NOTE)
    decided = allocate_known(funds, 7, "credit note 1", InvoiceBook(invoices))
    assert isinstance(decided, LineDecision)
    return [ProposedAllocation(a.invoice_id, a.amount) for a in decided.allocations]


PAYMENT = Funds("payment", 7, "GBP", D("16.34"))
BOOK = {1: invoice(1, "153.00"), 2: invoice(2, "40.00", elsewhere="30.00")}


def kinds(funds: Funds, *wanted: tuple[int, str]) -> list[ProblemKind]:
    allocations = [ProposedAllocation(i, D(a)) for i, a in wanted]
    return [p.kind for p in allocation_problems(funds, allocations, BOOK)]


def test_the_seed_001_example_is_valid_and_leaves_nothing_unused() -> None:
    assert kinds(PAYMENT, (1, "16.34")) == []
    assert unused_amount(PAYMENT, D("16.34")) == 0
    assert BOOK[1].open_amount - D("16.34") == D("136.66")  # the balance (seed says 103.66)


@pytest.mark.parametrize(
    ("funds", "wanted", "expected"),
    [
        (PAYMENT, [(1, "16.35")], [ProblemKind.FUNDS_OVER_APPLIED]),
        (Funds("payment", 7, "GBP", D("50")), [(2, "10.01")], [ProblemKind.INVOICE_OVER_ALLOCATED]),
        (PAYMENT, [(1, "0")], [ProblemKind.NOT_POSITIVE]),
        (PAYMENT, [(9, "1")], [ProblemKind.UNKNOWN_INVOICE]),
        (Funds("payment", 8, "GBP", D("5")), [(1, "1")], [ProblemKind.OTHER_CUSTOMER]),
        (Funds("payment", 7, "EUR", D("5")), [(1, "1")], [ProblemKind.CURRENCY_MISMATCH]),
        (PAYMENT, [(1, "1"), (1, "2")], [ProblemKind.DUPLICATE_INVOICE]),
        (
            Funds("credit note", 7, "GBP", D("5"), collected=False),
            [(1, "1")],
            [ProblemKind.NOT_COLLECTED, ProblemKind.FUNDS_OVER_APPLIED],
        ),
        (
            Funds("payment", 7, "GBP", D("20"), refunded=D("10")),
            [(1, "11")],
            [ProblemKind.FUNDS_OVER_APPLIED],
        ),
    ],
)
def test_allocation_problems(
    funds: Funds, wanted: list[tuple[int, str]], expected: list[ProblemKind]
) -> None:
    assert kinds(funds, *wanted) == expected


def test_problems_become_one_exception_bad_input_first() -> None:
    raise_for_problems([])
    over = allocation_problems(PAYMENT, [ProposedAllocation(1, D("20"))], BOOK)
    with pytest.raises(OverAllocation) as conflict:
        raise_for_problems(over)
    assert conflict.value.details == [
        {"problem": "funds_over_applied", "invoiceId": None, "message": over[0].reason}
    ]
    currency = allocation_problems(
        Funds("payment", 7, "EUR", D("5")), [ProposedAllocation(1, D("1"))], BOOK
    )
    with pytest.raises(CurrencyMismatch):
        raise_for_problems(currency)
    mixed = allocation_problems(PAYMENT, [ProposedAllocation(9, D("20"))], BOOK)
    with pytest.raises(InvalidInput) as invalid:
        raise_for_problems(mixed)
    assert not isinstance(invalid.value, OverAllocation)


def test_refunds_never_exceed_what_is_unallocated_or_collected() -> None:
    funds = Funds("payment", 7, "GBP", D("100"), refunded=D("20"))
    check_refund(funds, D("30"), D("50"))
    with pytest.raises(OverAllocation):
        check_refund(funds, D("30"), D("50.01"))
    with pytest.raises(InvalidInput):
        check_refund(funds, D("0"), D("0"))
    with pytest.raises(OverAllocation):
        check_refund(Funds("credit note", 7, "GBP", D("5"), collected=False), D("0"), D("1"))


def test_auto_apply_pays_the_earliest_due_first_and_keeps_the_surplus() -> None:
    book = [
        invoice(1, "100", due=9),
        invoice(2, "40", due=3),
        invoice(3, "10", elsewhere="10", due=1),
    ]
    assert allocate_oldest_first(D("150"), book) == [
        ProposedAllocation(2, D("40")),
        ProposedAllocation(1, D("100")),
    ]
    assert allocate_oldest_first(D("50"), book) == [
        ProposedAllocation(2, D("40")),
        ProposedAllocation(1, D("10")),
    ]
    assert allocate_oldest_first(D("0"), book) == []


def test_edits_add_without_id_edit_with_id_and_delete_the_rest() -> None:
    existing = {10: ProposedAllocation(1, D("5")), 11: ProposedAllocation(2, D("6"))}
    plan = plan_allocation_edits(
        existing, [AllocationEdit(11, 2, D("7")), AllocationEdit(None, 3, D("1"))]
    )
    assert plan.update == {11: ProposedAllocation(2, D("7"))}
    assert plan.add == [ProposedAllocation(3, D("1"))]
    assert plan.delete == [10]
    assert plan.final == [ProposedAllocation(2, D("7")), ProposedAllocation(3, D("1"))]
    with pytest.raises(InvalidInput, match="allocation 99 does not belong"):
        plan_allocation_edits(existing, [AllocationEdit(99, 1, D("1"))])
    with pytest.raises(InvalidInput, match="listed more than once"):
        plan_allocation_edits(
            existing, [AllocationEdit(10, 1, D("1")), AllocationEdit(10, 1, D("2"))]
        )


@pytest.mark.parametrize(
    ("collection", "amount", "allocated", "refunded", "status"),
    [
        (Collection.FAILED, "100", "0", "0", CreditNoteStatus.FAILED),
        (Collection.PENDING, "100", "0", "0", CreditNoteStatus.PENDING),
        (Collection.COLLECTED, "100", "0", "0", CreditNoteStatus.UNALLOCATED),
        (Collection.COLLECTED, "100", "40", "0", CreditNoteStatus.PARTIAL),
        (Collection.COLLECTED, "100", "0", "40", CreditNoteStatus.PARTIAL),
        (Collection.COLLECTED, "100", "100", "0", CreditNoteStatus.ALLOCATED),
        (Collection.COLLECTED, "100", "60", "40", CreditNoteStatus.ALLOCATED),
    ],
)
def test_credit_note_status_is_derived(
    collection: Collection, amount: str, allocated: str, refunded: str, status: CreditNoteStatus
) -> None:
    assert credit_note_status(collection, D(amount), D(allocated), D(refunded)) is status


def test_rounding_at_the_edges_with_the_owners_rule() -> None:
    assert base_currency_amount(D("100.00"), D("1.23456"), Rounding()) == D("123.46")
    assert base_currency_amount(D("100.00"), D("1.23456"), Rounding(0, RoundingMode.DOWN)) == D(
        "123"
    )
    assert Rounding(6, RoundingMode.UP).apply(D("1.000001")) == D("1.0001")  # 4 places stored
    assert Rounding(2, RoundingMode.HALF_EVEN).apply(D("2.345")) == D("2.34")


def test_card_numbers_keep_their_last_four_only() -> None:
    assert card_last_four("4242 4242 4242 4242") == "4242"
    assert card_last_four("424242424242424") == "2424"
    assert card_last_four("12") == "12"
    with pytest.raises(InvalidInput):
        card_last_four(" - ")


def test_currency_ids_are_iso_4217_numeric_codes() -> None:
    assert (currency_number("GBP"), currency_number("eur"), currency_number("XXX")) == (
        826,
        978,
        None,
    )


@pytest.mark.parametrize(
    ("balance", "threshold", "status"),
    [
        ("0", "0", CreditStatus.WITHIN_THRESHOLD),
        ("-0.01", "0", CreditStatus.OVER_THRESHOLD),
        ("-1000", "1000", CreditStatus.WITHIN_THRESHOLD),
        ("-1000.01", "1000", CreditStatus.OVER_THRESHOLD),
        ("50", "0", CreditStatus.WITHIN_THRESHOLD),
    ],
)
def test_credit_status_over_when_owing_more_than_the_threshold(
    balance: str, threshold: str, status: CreditStatus
) -> None:
    assert credit_status(D(balance), D(threshold)) is status


amounts = st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2)


@given(amount=amounts, opens=st.lists(amounts, max_size=6))
def test_auto_apply_never_over_allocates(amount: Decimal, opens: list[Decimal]) -> None:
    book = {i: invoice(i, f"{o}", due=1 + i % 28) for i, o in enumerate(opens, start=1)}
    plan = allocate_oldest_first(amount, book.values())
    funds = Funds("credit note", 7, "GBP", amount)
    assert allocation_problems(funds, plan, book) == []
    assert unused_amount(funds, sum((w.amount for w in plan), D(0))) == max(
        D(0), amount - sum(opens, D(0))
    )
