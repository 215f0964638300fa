"""Issue #14's domain rules: funds counted through a recorded rate, the owner's rounding never
finer than the currency's minor unit, bare invoice numbers, ageing buckets, the formula escape
of spreadsheet exports, tolerances set through the API over the rule files, payout FX data."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from payrecon.domain.allocation import (
    Funds,
    OpenInvoice,
    ProblemKind,
    ProposedAllocation,
    allocation_problems,
)
from payrecon.domain.balances import ageing_bucket
from payrecon.domain.ledger import Rounding, number_of_bare, original_currency_amount
from payrecon.domain.matching.rules import RuleBook, RuleSet, Tolerances
from payrecon.domain.money import RecordedRate, RoundingMode, rate_on
from payrecon.feeds.gocardless import map_payout
from payrecon.feeds.http import Fields
from payrecon.services.reconciliation.tabular import escape_formula, to_csv, to_xlsx

D = Decimal
GBP_INVOICE = OpenInvoice(1, "INV-1", 7, "GBP", date(2024, 1, 1), date(2024, 2, 1), D("100"))
RATE = RecordedRate("EUR", "GBP", D("0.85"), date(2024, 1, 1), "rate_table")


def test_eur_funds_pay_a_gbp_invoice_only_through_a_recorded_rate() -> None:
    pay = [ProposedAllocation(1, D("8.50"))]
    without = allocation_problems(Funds("payment", 7, "EUR", D("10")), pay, {1: GBP_INVOICE})
    assert [p.kind for p in without] == [ProblemKind.CURRENCY_MISMATCH]
    converted = Funds("payment", 7, "EUR", D("10"), rate=RATE, converted=D("8.50"))
    assert (converted.ledger_currency, converted.available) == ("GBP", D("8.50"))
    assert allocation_problems(converted, pay, {1: GBP_INVOICE}) == []
    too_much = allocation_problems(converted, [ProposedAllocation(1, D("8.51"))], {1: GBP_INVOICE})
    assert [p.kind for p in too_much] == [ProblemKind.FUNDS_OVER_APPLIED]
    with pytest.raises(ValueError, match="together"):
        Funds("payment", 7, "EUR", D("10"), rate=RATE)  # a rate without its converted amount


def test_the_rate_that_holds_is_the_latest_dated_on_or_before() -> None:
    later = RecordedRate("EUR", "GBP", D("0.86"), date(2024, 3, 1), "rate_table")
    rates = [RATE, later]
    assert rate_on(rates, "EUR", "GBP", date(2024, 2, 1)) == RATE
    assert rate_on(rates, "EUR", "GBP", date(2024, 3, 1)) == later
    assert rate_on(rates, "EUR", "GBP", date(2023, 12, 31)) is None
    assert rate_on(rates, "GBP", "EUR", date(2024, 3, 1)) is None


def test_rounding_never_finer_than_the_currencys_minor_unit() -> None:
    three = Rounding(3, RoundingMode.HALF_UP)
    assert three.in_currency("GBP").apply(D("1.235")) == D("1.24")
    assert three.in_currency("KWD").apply(D("1.2355")) == D("1.236")
    assert three.in_currency("JPY").apply(D("1235.5")) == D("1236")
    assert Rounding(2, RoundingMode.DOWN).in_currency("GBP").apply(D("59.379")) == D("59.37")


def test_the_own_currency_part_of_a_converted_payment_is_proportional() -> None:
    cents = Rounding(2)
    assert original_currency_amount(D("8.50"), D("10.00"), D("8.50"), cents) == D("10.00")
    assert original_currency_amount(D("4.25"), D("10.00"), D("8.50"), cents) == D("5.00")
    assert original_currency_amount(D("0"), D("10.00"), D("8.50"), cents) == D("0.00")


def test_a_bare_invoice_number_names_the_one_invoice_ending_in_it() -> None:
    numbers = {"INV-00957": 1, "INV-00958": 2, "INV-01957": 3}
    assert number_of_bare("957", numbers) == 1
    assert number_of_bare("0957", numbers) == 1
    assert number_of_bare("958", {"INV-00958": 2, "CN-958": 4}) is None  # two end in 958
    assert number_of_bare("INV-00957", numbers) is None  # not bare
    assert number_of_bare("999", numbers) is None


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-5, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"),
     (61, "61-90"), (90, "61-90"), (91, "90+")],
)  # fmt: skip
def test_ageing_buckets(days: int, bucket: str) -> None:
    assert ageing_bucket(days) == bucket


def test_spreadsheet_text_never_runs_as_a_formula_and_numbers_stay_numbers() -> None:
    for text in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert escape_formula(text) == "'" + text
    assert escape_formula("INV-1") == "INV-1"
    rows = [{"name": '=HYPERLINK("x")', "amount": D("-12.50"), "n": 3}]
    assert (
        to_csv(rows, ["name", "amount", "n"]) == 'name,amount,n\n"\'=HYPERLINK(""x"")",-12.50,3\n'
    )
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, ["name", "amount", "n"], title="t"))).active
    assert sheet["A2"].value == '\'=HYPERLINK("x")'
    assert sheet["B2"].data_type == "n"
    assert D(str(sheet["B2"].value)) == D("-12.50")


def test_tolerances_set_through_the_api_win_over_the_rule_files() -> None:
    files = RuleBook(RuleSet(), {5: RuleSet(tolerances=Tolerances(write_off=D("1.00")))})
    merged = files.with_tolerances(
        {5: Tolerances(write_off=D("0.05")), 6: Tolerances(bank_charges=D("2"))}
    )
    assert merged.for_owner(5).tolerances.write_off == D("0.05")
    assert merged.for_owner(6).tolerances.bank_charges == D("2")
    assert merged.for_owner(7).tolerances == RuleSet().tolerances
    assert files.for_owner(5).tolerances.write_off == D("1.00")  # the files' book is unchanged


def test_a_gocardless_payout_carries_its_fx_data() -> None:
    raw = {
        "id": "PO1", "amount": 10000, "currency": "EUR", "status": "paid",
        "created_at": "2024-01-05T09:00:00.000Z", "deducted_fees": 120,
        "fx": {"fx_currency": "GBP", "fx_amount": 8550, "exchange_rate": "0.85500000",
               "estimated_exchange_rate": "0.85"},
    }  # fmt: skip
    payout = map_payout(Fields(raw, source="test", place="payouts[0]"))
    assert (payout.fx_currency, payout.fx_rate, payout.fx_amount) == ("GBP", D("0.855"), D("85.50"))
    same = {**raw, "fx": {"fx_currency": "EUR", "exchange_rate": None, "fx_amount": None}}
    assert map_payout(Fields(same, source="test", place="payouts[0]")).fx_rate is None
