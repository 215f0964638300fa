"""Credit status: a customer's balance against their credit threshold (seed 000).

With the seed's sign a negative balance is debt, so a customer is over the threshold when they owe
more than it: `-balance > credit_threshold`. Owing exactly the threshold is still within it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any


class CreditStatus(StrEnum):
    WITHIN_THRESHOLD = "WITHIN_THRESHOLD"
    OVER_THRESHOLD = "OVER_THRESHOLD"


def owes_more_than_threshold(balance: Any, credit_threshold: Any) -> Any:
    """The one definition of "over the threshold", for decimals or for column expressions (the
    services build their set-based SQL by calling it with columns)."""
    return -balance > credit_threshold


def credit_status(balance: Decimal, credit_threshold: Decimal) -> CreditStatus:
    if owes_more_than_threshold(balance, credit_threshold):
        return CreditStatus.OVER_THRESHOLD
    return CreditStatus.WITHIN_THRESHOLD
