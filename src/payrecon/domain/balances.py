"""Balance arithmetic with the seed's sign: negative = the customer owes, positive = in credit."""

from __future__ import annotations

from decimal import Decimal


def customer_balance(
    *,
    payments: Decimal,
    invoices: Decimal,
    credit_notes: Decimal = Decimal(0),
    adjustments: Decimal = Decimal(0),
    refunds: Decimal = Decimal(0),
) -> Decimal:
    """balance = payments + credit notes + adjustments - refunds - invoices (DESIGN.md)."""
    return payments + credit_notes + adjustments - refunds - invoices
