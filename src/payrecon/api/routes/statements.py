"""`GET /v1/customers/{id}/statement?from=&to=`: a customer's statement of account (opening
balance, every invoice, payment, credit note, refund and adjustment with the running balance,
closing balance, ageing buckets), as JSON or, with `format=csv|xlsx`, a spreadsheet."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from payrecon.api.auth import require
from payrecon.api.exports import export_format, export_response
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import operation_id
from payrecon.services.clock import utcnow
from payrecon.services.ledger.statement import STATEMENT_COLUMNS, statement_of_account

router = APIRouter(prefix="/v1", tags=["balances"], generate_unique_id_function=operation_id)


@router.get(
    "/customers/{customer_id}/statement",
    dependencies=[Depends(require("read"))],
    summary="A customer's statement of account with ageing",
)
def customer_statement(
    request: Request,
    customer_id: Annotated[int, Path(ge=1, description="Customer identifier")],
    date_from: Annotated[
        dt.date | None, Query(alias="from", description="First day (inclusive)")
    ] = None,
    date_to: Annotated[
        dt.date | None, Query(alias="to", description="Last day (inclusive); default today")
    ] = None,
    format: Annotated[str | None, Query(pattern="^(json|csv|xlsx)$")] = None,
) -> Any:
    statement = statement_of_account(
        request.app.state.container.engine,
        customer_id,
        date_from=date_from,
        date_to=date_to or utcnow().date(),
    )
    wanted = export_format(request)
    if wanted is not None:
        return export_response(
            statement.rows(), STATEMENT_COLUMNS, wanted, name=f"statement-{customer_id}"
        )
    return DecimalJSONResponse(statement.as_json())
