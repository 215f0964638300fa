"""Request-body field types shared by the routes: money is an exact decimal, read from a JSON
number (as Decimal, by `listquery.ExactJSONRoute`) or a string, and never from a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

MAX_AMOUNT = Decimal(10) ** 14  # the money columns hold NUMERIC(19, 4)


def _refuse_float(value: object) -> object:
    if isinstance(value, float | bool):
        raise ValueError("money is an exact decimal: a JSON number or a string, never a float")
    return value


def _bounded(value: Decimal) -> Decimal:
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"money must lie within +-{MAX_AMOUNT:f}")
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_refuse_float)]
Money = Annotated[ExactDecimal, AfterValidator(_bounded)]
