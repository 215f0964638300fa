"""A match made by hand still keeps the ledger's rules; a request that breaks one is refused
whole, naming the invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from payrecon.domain.errors import CurrencyMismatch, InvalidInput, OverAllocation, PayreconError
from payrecon.domain.matching import OpenInvoice
from payrecon.domain.matching.manual import ManualAllocation, ManualMatch, judge_manual_match

D = Decimal
INVOICES = {
    1: OpenInvoice(1, "INV-1", 7, "GBP", date(2026, 8, 1), date(2026, 9, 1), D("80.00")),
    2: OpenInvoice(2, "INV-2", 7, "EUR", date(2026, 8, 1), date(2026, 9, 1), D("10.00")),
    3: OpenInvoice(3, "INV-3", 8, "GBP", date(2026, 8, 1), date(2026, 9, 1), D("10.00")),
    4: OpenInvoice(4, "INV-4", 7, "GBP", date(2026, 8, 1), date(2026, 9, 1), D("45.50")),
}
MATCH = ManualMatch(50, 7, "GBP", D("100.00"), 2, "ana@example.com", "phoned the customer")


def test_a_manual_match_is_a_rule_of_its_own_with_who_and_why() -> None:
    (allocation,) = judge_manual_match(MATCH, [ManualAllocation(1, D("80"))], INVOICES)
    assert (allocation.rule, allocation.confidence, allocation.amount) == (
        "manual",
        D("1.000"),
        D("80"),
    )
    assert allocation.evidence["explanation"] == (
        "matched by hand by ana@example.com: phoned the customer"
    )
    assert judge_manual_match(MATCH, [], INVOICES) == []  # money on account, nothing allocated


@pytest.mark.parametrize(
    ("wanted", "error", "words"),
    [
        ([(1, "80.01")], OverAllocation, "exceeds the open amount 80.00 of invoice INV-1"),
        ([(1, "80"), (4, "20.01")], OverAllocation, "the line has 100.00 unallocated"),
        ([(2, "5")], CurrencyMismatch, "INV-2 is in EUR"),
        ([(3, "5")], InvalidInput, "invoice 3 is not an invoice of customer 7"),
        ([(9, "5")], InvalidInput, "invoice 9 is not an invoice of customer 7"),
        ([(1, "0")], InvalidInput, "must be positive"),
        ([(1, "1.005")], InvalidInput, "at most 2 decimal places"),
        ([(1, "5"), (1, "5")], InvalidInput, "appears twice"),
    ],
)
def test_a_request_that_breaks_a_rule_is_refused(
    wanted: list[tuple[int, str]], error: type[PayreconError], words: str
) -> None:
    asked = [ManualAllocation(invoice, D(amount)) for invoice, amount in wanted]
    with pytest.raises(error, match=words):
        judge_manual_match(MATCH, asked, INVOICES)
