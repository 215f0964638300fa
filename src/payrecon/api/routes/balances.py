"""`GET /v1/customer-balances?customer_id=`: seed 000's CustomerOutstandingBalance, exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from payrecon.api.auth import require
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.services.ledger.balances import get_balance
from payrecon.services.ledger.statement import customer_balance_on

router = APIRouter(prefix="/v1", tags=["balances"])


@router.get(
    "/customer-balances",
    response_class=DecimalJSONResponse,
    dependencies=[Depends(require("read"))],
    summary="Get the outstanding balance for a customer",
)
def customer_balance(
    request: Request,
    customer_id: Annotated[RowId, Query(description="Customer identifier")],
    as_of: Annotated[
        dt.date | None,
        Query(description="The balance as it stood at the end of this date (yyyy-mm-dd)"),
    ] = None,
) -> Any:
    """Negative balance: the customer owes; positive: the customer is in credit (seed 000)."""
    engine = request.app.state.container.engine
    balance = get_balance(engine, customer_id)
    figure = balance.balance if as_of is None else customer_balance_on(engine, customer_id, as_of)
    return DecimalJSONResponse(
        {
            "id": balance.customer_id,
            "customerId": balance.customer_id,
            "balance": figure,
            "totalPayments": balance.total_payments,
            "totalPaymentsSinceLastInvoice": balance.total_payments_since_last_invoice,
            "paymentMethodSummary": {
                "paymentMethod": "DIRECT_DEBIT" if balance.has_mandate else "BANK_TRANSFER",
                "summaryType": "NONE",
            },
            "repaymentPlanSummary": {
                "repaymentPlanAmount": Decimal(0),
                "repaymentPlanRemainingPeriods": 0,
                "summaryType": "NONE",
            },
        }
    )
