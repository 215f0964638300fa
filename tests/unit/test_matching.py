from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from payrecon.domain.matching import (
    InvoiceBook,
    LineToMatch,
    OpenInvoice,
    ProblemKind,
    candidate_numbers,
    match_lines,
    reference_tokens,
)

D = Decimal


def invoice(id_: int, number: str, customer: int, open_amount: str, due: date) -> OpenInvoice:
    return OpenInvoice(id_, number, customer, "GBP", date(2026, 8, 1), due, D(open_amount))


def line(id_: int, amount: str, text: str | None, day: int = 1) -> LineToMatch:
    return LineToMatch(id_, date(2026, 10, day), D(amount), "GBP", remittance=text)


def test_partial_payment_leaves_the_invoice_open() -> None:
    book = InvoiceBook([invoice(1, "INV-00001", 7, "153.00", date(2026, 10, 1))])
    result = match_lines([line(10, "16.34", "Payment INV-00001.")], book)
    (decision,) = result.decisions
    assert decision.customer_id == 7
    assert [a.amount for a in decision.allocations] == [D("16.34")]
    assert decision.unused_amount == 0
    assert book.open_amount(1) == D("136.66")
    assert decision.allocations[0].evidence["token"] == "INV-00001"
    assert "INV-00001 in the remittance text" in decision.allocations[0].evidence["explanation"]


def test_several_references_are_paid_oldest_due_first_and_surplus_is_unused() -> None:
    book = InvoiceBook(
        [
            invoice(1, "INV-1", 7, "100.00", date(2026, 10, 1)),
            invoice(2, "INV-2", 7, "40.00", date(2026, 9, 1)),
        ]
    )
    (decision,) = match_lines([line(1, "150.00", "INV-1, INV-2")], book).decisions
    assert [(a.invoice_id, a.amount) for a in decision.allocations] == [
        (2, D("40.00")),
        (1, D("100.00")),
    ]
    assert decision.unused_amount == D("10.00")


def test_lines_of_one_batch_never_over_allocate_an_invoice() -> None:
    book = InvoiceBook([invoice(1, "INV-1", 7, "50.00", date(2026, 10, 1))])
    result = match_lines([line(1, "30.00", "INV-1"), line(2, "30.00", "INV-1")], book)
    assert [a.amount for a in result.allocations] == [D("30.00"), D("20.00")]
    assert result.decisions[1].unused_amount == D("10.00")
    assert book.open_amount(1) == 0


def test_problems_are_returned_as_data() -> None:
    book = InvoiceBook(
        [
            invoice(1, "INV-1", 7, "50", date(2026, 10, 1)),
            invoice(2, "INV-2", 8, "5", date(2026, 10, 1)),
        ]
    )
    result = match_lines(
        [
            line(1, "10", "no reference here 12345"),
            line(2, "10", "INV-1 INV-2"),
            line(3, "-5", "INV-1"),
        ],
        book,
    )
    assert [p.kind for p in result.problems] == [
        ProblemKind.NO_REFERENCE,
        ProblemKind.AMBIGUOUS_CUSTOMER,
        ProblemKind.DEBIT,
    ]
    assert result.decisions == []


def test_booking_date_order_then_given_order() -> None:
    book = InvoiceBook([invoice(1, "INV-1", 7, "10.00", date(2026, 10, 1))])
    result = match_lines([line(1, "10.00", "INV-1", day=5), line(2, "10.00", "INV-1", day=2)], book)
    assert result.decisions[0].line_id == 2
    assert result.decisions[0].allocations[0].amount == D("10.00")
    assert result.decisions[1].allocations == ()


def test_tokens() -> None:
    assert reference_tokens("Payment: INV-0001234, (inv-7).") == ["INV-0001234", "inv-7"]
    assert "INV-7" in candidate_numbers([line(1, "1", "inv-7")])


amounts = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)


@given(
    st.lists(st.tuples(amounts, st.integers(0, 4)), max_size=30),
    st.lists(amounts, min_size=5, max_size=5),
)
def test_allocations_never_exceed_line_or_invoice(
    lines: list[tuple[Decimal, int]], opens: list[Decimal]
) -> None:
    invoices = [
        invoice(i, f"INV-{i}", 1, f"{o}", date(2026, 9, i + 1)) for i, o in enumerate(opens)
    ]
    book = InvoiceBook(invoices)
    batch = [
        line(n, f"{amt}", f"INV-{ref} INV-{(ref + 1) % 5}") for n, (amt, ref) in enumerate(lines)
    ]
    result = match_lines(batch, book)
    by_line: dict[int, Decimal] = {}
    by_invoice: dict[int, Decimal] = {}
    for a in result.allocations:
        by_line[a.line_id] = by_line.get(a.line_id, D(0)) + a.amount
        by_invoice[a.invoice_id] = by_invoice.get(a.invoice_id, D(0)) + a.amount
    for n, (amt, _) in enumerate(lines):
        assert by_line.get(n, D(0)) <= amt
    for inv in invoices:
        assert by_invoice.get(inv.id, D(0)) <= inv.open_amount
        assert book.open_amount(inv.id) == inv.open_amount - by_invoice.get(inv.id, D(0))
