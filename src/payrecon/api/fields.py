"""Request field types shared by the routes, each bounded to what the database can hold, so that
out-of-range input is a 422 (and the bound is in the OpenAPI document), never a database error.

    RowId   an id in a path, a query or a body: 1 .. 2^63-1 (BIGINT)
    Amount  the amount of a money field (its currency is the resource's; in the services it
            becomes `domain.money.Money`): an exact decimal, read from a JSON number (as
            Decimal, by `listquery.ExactJSONRoute`) or a string, never from a float; within the
            NUMERIC(19, 4) money columns
    StoredAmount  an Amount kept as given: at most the 4 places the money columns hold
    AmountFilter  an amount in a query (`amount_greater_than=`): what NUMERIC(19, 4) holds, at
            most 15 integer digits and 4 decimals

Use `Annotated[RowId, Path(description=...)]` (or `Query`) for a parameter.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from payrecon.store.types import MAX_ID

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
Amount = Annotated[ExactDecimal, AfterValidator(_bounded)]
StoredAmount = Annotated[Amount, Field(max_digits=19, decimal_places=4)]

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
AmountFilter = Annotated[Decimal, Field(max_digits=19, decimal_places=4, allow_inf_nan=False)]
