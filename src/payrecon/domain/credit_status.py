"""Credit status: a customer's balance against their credit threshold (seed 000).

With the seed's sign a negative balance is debt, so a customer is over the threshold when they owe
more than it: `-balance > credit_threshold`. Owing exactly the threshold is still within it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class CreditStatus(StrEnum):
    WITHIN_THRESHOLD = "WITHIN_THRESHOLD"
    OVER_THRESHOLD = "OVER_THRESHOLD"


def credit_status(balance: Decimal, credit_threshold: Decimal) -> CreditStatus:
    if -balance > credit_threshold:
        return CreditStatus.OVER_THRESHOLD
    return CreditStatus.WITHIN_THRESHOLD
