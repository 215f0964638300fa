from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payrecon.domain.errors import CurrencyMismatch, InvalidAmount
from payrecon.domain.money import Money, RoundingMode, money_text, parse_amount, round_amount

D = Decimal

# Seed 003's own examples: value -> expected, per mode, rounded to 0 places.
SEED_EXAMPLES = {
    RoundingMode.UP: {"5.5": "6", "2.6": "3", "1.1": "2", "-1.1": "-2"},
    RoundingMode.DOWN: {"5.5": "5", "2.6": "2", "1.1": "1", "-1.1": "-1"},
    RoundingMode.CEILING: {"5.5": "6", "2.6": "3", "1.1": "2", "-1.1": "-1"},
    RoundingMode.FLOOR: {"5.5": "5", "2.6": "2", "1.1": "1", "-1.1": "-2"},
    RoundingMode.HALF_UP: {"5.5": "6", "2.6": "3", "1.1": "1", "-1.1": "-1"},
    RoundingMode.HALF_DOWN: {"5.5": "5", "2.6": "3", "1.1": "1", "-1.1": "-1"},
    # The seed prints 2.6 -> 2 for HALF_EVEN, contradicting its own definition ("nearest
    # neighbour"; Java's RoundingMode.HALF_EVEN gives 3). We follow the definition: docs/api.md.
    RoundingMode.HALF_EVEN: {"5.5": "6", "2.6": "3", "2.5": "2", "1.1": "1", "-1.1": "-1"},
}


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [(m, v, e) for m, cases in SEED_EXAMPLES.items() for v, e in cases.items()],
)
def test_rounding_modes_follow_seed_003(mode: RoundingMode, value: str, expected: str) -> None:
    assert round_amount(D(value), 0, mode) == D(expected)


def test_rounding_to_the_owners_places() -> None:
    assert round_amount(D("2.345"), 2, RoundingMode.HALF_UP) == D("2.35")
    assert round_amount(D("2.345"), 2, RoundingMode.HALF_EVEN) == D("2.34")
    assert round_amount(D("2.341"), 2, RoundingMode.UP) == D("2.35")


def test_money_refuses_mixed_currencies_and_floats() -> None:
    with pytest.raises(CurrencyMismatch):
        _ = Money(D("1.00"), "GBP") + Money(D("1.00"), "EUR")
    with pytest.raises(InvalidAmount):
        Money(1.0, "GBP")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        parse_amount(0.1)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        parse_amount("12,3x")
    with pytest.raises(InvalidAmount):
        Money(D(1), "gbp")


def test_money_arithmetic_is_exact() -> None:
    total = Money(D("153.00"), "GBP") - Money(D("16.34"), "GBP")
    assert total == Money(D("136.66"), "GBP")
    assert str(total) == "136.66 GBP"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("16.34", "16.34"),
        ("0", "0.00"),
        ("10.5", "10.50"),
        ("0.1234", "0.1234"),
        ("-3.3000", "-3.30"),
    ],
)
def test_money_text(value: str, text: str) -> None:
    assert money_text(D(value)) == text


@given(
    st.decimals(
        min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False
    )
)
def test_money_text_round_trips(value: Decimal) -> None:
    assert D(money_text(value)) == value
