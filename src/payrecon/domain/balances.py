"""Balance arithmetic with the seed's sign: negative = the customer owes, positive = in credit."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol, TypeVar, cast


class Summable(Protocol):
    """Decimals, or the column expressions of a query that sums them."""

    def __add__(self, other: Any, /) -> Any: ...
    def __sub__(self, other: Any, /) -> Any: ...


S = TypeVar("S", bound=Summable)


def customer_balance(*, payments: S, invoices: S, credit_notes: S, adjustments: S, refunds: S) -> S:
    """balance = payments + credit notes + adjustments - refunds - invoices (DESIGN.md). The one
    definition: the services build their set-based SQL by calling this with column sums."""
    return cast(S, payments + credit_notes + adjustments - refunds - invoices)


def billing_period_start(as_of: date, start_day: int) -> date:
    """The first day of the billing period holding `as_of`, for a cycle starting on `start_day`
    (1..28, so every month has it): the period is half-open, [start, next start)."""
    if not 1 <= start_day <= 28:
        raise ValueError(f"a billing cycle starts on day 1..28, not {start_day}")
    if as_of.day >= start_day:
        return as_of.replace(day=start_day)
    if as_of.month == 1:
        return date(as_of.year - 1, 12, start_day)
    return date(as_of.year, as_of.month - 1, start_day)


AGEING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def ageing_bucket(days_past_due: int) -> str:
    """The statement's ageing bucket of money `days_past_due` days past its due date."""
    if days_past_due <= 0:
        return "current"
    for bucket, last_day in (("1-30", 30), ("31-60", 60), ("61-90", 90)):
        if days_past_due <= last_day:
            return bucket
    return "90+"
