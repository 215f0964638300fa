"""Properties of the whole matcher: whatever the lines and their order within a day, no line
allocates more than its amount, no invoice more than its open amount (counting only payments
not undone), and the same input gives the same answer."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from payrecon.domain.matching import (
    CustomerDirectory,
    InvoiceBook,
    LineToMatch,
    MatchContext,
    MatchResult,
    OpenInvoice,
    match_lines,
)

D = Decimal
DAY = date(2026, 10, 1)
CUSTOMERS = 3
money = st.decimals(min_value=D("0.01"), max_value=D("300"), places=2)


@st.composite
def books(draw: st.DrawFn) -> list[OpenInvoice]:
    opens = draw(st.lists(money, min_size=1, max_size=9))
    return [
        OpenInvoice(
            n,
            f"INV-{n:07d}",
            n % CUSTOMERS,
            "GBP",
            DAY - timedelta(days=60),
            DAY - timedelta(days=draw(st.integers(0, 40))),
            amount,
        )
        for n, amount in enumerate(opens, start=1)
    ]


@st.composite
def batches(draw: st.DrawFn, invoices: int) -> list[LineToMatch]:
    count = draw(st.integers(1, 14))
    lines = []
    for n in range(1, count + 1):
        amount = draw(money)
        if draw(st.integers(0, 5)) == 0:
            amount = -amount  # a debit: it may undo a credit of the batch
        refs = draw(st.lists(st.integers(1, invoices + 2), max_size=3))  # some unknown
        text = " ".join(f"inv {r}" for r in refs) or None
        lines.append(
            LineToMatch(
                n,
                DAY,
                amount,
                "GBP",
                remittance=text,
                counterparty_account=f"ACCT{draw(st.integers(0, CUSTOMERS))}",
                end_to_end_id=f"E2E-{draw(st.integers(1, 4))}",
            )
        )
    return lines


def run(invoices: list[OpenInvoice], lines: list[LineToMatch]) -> MatchResult:
    directory = CustomerDirectory(
        bank_accounts={f"ACCT{c}": (c,) for c in range(CUSTOMERS)},
    )
    return match_lines(lines, InvoiceBook(invoices), MatchContext(directory=directory))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_allocations_never_exceed_lines_or_open_amounts_in_any_order(data: st.DataObject) -> None:
    invoices = data.draw(books())
    lines = data.draw(batches(len(invoices)))
    order = data.draw(st.permutations(lines))  # any order within the day
    result = run(invoices, list(order))
    undone = {r.original_line_id for r in result.reversals if r.reverse_payment}
    amount_of = {line.id: line.amount for line in lines}
    live: dict[int, Decimal] = {}
    for decision in result.decisions:
        used = sum((a.amount for a in decision.allocations), D(0))
        assert all(a.amount > 0 for a in decision.allocations)
        assert used <= amount_of[decision.line_id]
        assert used + decision.unused_amount == amount_of[decision.line_id]
        if decision.line_id not in undone:
            for allocation in decision.allocations:
                live[allocation.invoice_id] = (
                    live.get(allocation.invoice_id, D(0)) + allocation.amount
                )
    for invoice in invoices:
        assert live.get(invoice.id, D(0)) <= invoice.open_amount
    decided = [d.line_id for d in result.decisions] + [r.line_id for r in result.reversals]
    decided += [p.line_id for p in result.problems]
    assert sorted(decided) == sorted(amount_of)  # every line gets exactly one answer


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_the_same_input_gives_the_same_answer(data: st.DataObject) -> None:
    invoices = data.draw(books())
    lines = data.draw(batches(len(invoices)))
    assert repr(run(invoices, lines)) == repr(run(invoices, lines))
