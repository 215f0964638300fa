"""Money as a value: a Decimal amount with its currency, and the seven rounding modes of seed 003.

Rounding happens at the edges only, with the contract owner's mode and decimal places.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Self

from payrecon.domain.errors import CurrencyMismatch, InvalidAmount

ZERO = Decimal(0)
CENT = Decimal("0.01")


class RoundingMode(StrEnum):
    """The contract owner's `priceRoundingMode` (seed 003); HALF_UP is the default."""

    UP = "UP"
    DOWN = "DOWN"
    CEILING = "CEILING"
    FLOOR = "FLOOR"
    HALF_UP = "HALF_UP"
    HALF_DOWN = "HALF_DOWN"
    HALF_EVEN = "HALF_EVEN"

    @property
    def decimal_rounding(self) -> str:
        return _DECIMAL_ROUNDING[self]


_DECIMAL_ROUNDING = {
    RoundingMode.UP: decimal.ROUND_UP,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.CEILING: decimal.ROUND_CEILING,
    RoundingMode.FLOOR: decimal.ROUND_FLOOR,
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_DOWN: decimal.ROUND_HALF_DOWN,
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
}


# ISO 4217 minor units where they are not 2 (JPY 0, KWD 3, CLF 4).
ISO_EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"), 0
    ),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit_exponent(currency: str, table: Mapping[str, int] = ISO_EXPONENTS) -> int:
    """Decimal places of `currency`'s minor unit: JPY 0, GBP 2, KWD 3."""
    return table.get(currency.upper(), 2)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of `currency` (0.01 GBP, 1 JPY, 0.001 KWD)."""
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


# Where a recorded exchange rate came from: the provider's payout (the rate it converted the
# money at), the rate table an admin keeps, or a person matching by hand who gave it.
RATE_FROM_PAYOUT = "provider_payout"
RATE_FROM_TABLE = "rate_table"
RATE_GIVEN = "given"
RATE_SOURCES = frozenset({RATE_FROM_PAYOUT, RATE_FROM_TABLE, RATE_GIVEN})
RATE_PLACES = 8  # the scale of every stored exchange rate


@dataclass(frozen=True, slots=True)
class RecordedRate:
    """An exchange rate on record: 1 `base` is `rate` `quote`, for money dated `as_of` (the
    rate's own date; a table rate holds from that date until a later one)."""

    base: str
    quote: str
    rate: Decimal
    as_of: date
    source: str

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise InvalidAmount(f"an exchange rate must be positive, got {self.rate}")
        if self.base == self.quote:
            raise InvalidAmount(f"a rate converts between two currencies, not {self.base}")
        if self.source not in RATE_SOURCES:
            raise InvalidAmount(f"unknown exchange-rate source {self.source!r}")


def rate_on(rates: Sequence[RecordedRate], base: str, quote: str, on: date) -> RecordedRate | None:
    """The rate from `base` to `quote` that holds on `on`: the latest dated on or before it."""
    usable = [r for r in rates if r.base == base and r.quote == quote and r.as_of <= on]
    return max(usable, key=lambda r: r.as_of) if usable else None


def round_amount(
    amount: Decimal, places: int, mode: RoundingMode = RoundingMode.HALF_UP
) -> Decimal:
    """Round `amount` to `places` decimal places with `mode` (seed 003 semantics)."""
    if places < 0:
        raise InvalidAmount(f"decimal places must be >= 0, got {places}")
    return amount.quantize(Decimal(1).scaleb(-places), rounding=mode.decimal_rounding)


def money_text(value: Decimal) -> str:
    """An amount as files and JSON show it: at least two places, more only when they are not
    zero, never an exponent (`16.34`, `0.00`, `10.5` -> `10.50`, `0.1234`)."""
    cents = value.quantize(CENT)
    return f"{cents if cents == value else value.normalize():f}"


def parse_amount(text: str | int | Decimal, *, field: str | None = None) -> Decimal:
    """Read an exact decimal; floats are refused so that no binary fraction sneaks in."""
    prefix = f"{field}: " if field else ""
    if isinstance(text, bool | float):
        raise InvalidAmount(f"{prefix}floats are not accepted for money, got {text!r}")
    try:
        value = Decimal(text.strip() if isinstance(text, str) else text)
    except decimal.InvalidOperation:
        raise InvalidAmount(f"{prefix}not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise InvalidAmount(f"{prefix}not a finite number: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies is an error."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise InvalidAmount(f"Money needs a Decimal, got {type(self.amount).__name__}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise InvalidAmount(f"not an ISO 4217 currency code: {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(ZERO, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} cannot be combined")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def rounded(self, places: int, mode: RoundingMode = RoundingMode.HALF_UP) -> Money:
        return Money(round_amount(self.amount, places, mode), self.currency)

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"
