"""`GET /v1/reconciliation/summary`: the pipeline's figures over everything stored (what
`payrecon demo` prints): files, lines by outcome, amounts, the most indebted customers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from payrecon.api.auth import require
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.services.reconciliation.reports import reconciliation_summary

router = APIRouter(prefix="/v1", tags=["reconciliation"])


@router.get(
    "/reconciliation/summary",
    dependencies=[Depends(require("read"))],
    summary="Files, lines by outcome, amounts and the most indebted customers",
)
def summary(request: Request, top: Annotated[int, Query(ge=0, le=100)] = 3) -> Any:
    s = reconciliation_summary(request.app.state.container.engine, top=top)
    # An explicit response: a plain dict would be pre-encoded by FastAPI, Decimals as strings.
    return DecimalJSONResponse(
        {
            "files": s.files,
            "filesQuarantined": s.files_quarantined,
            "lines": s.lines,
            "linesMatched": s.matched,
            "linesUnmatched": s.unmatched,
            "linesPending": s.pending,
            "amountReceived": s.amount_in,
            "amountAllocated": s.amount_allocated,
            "amountUnused": s.amount_unused,
            "amountUnmatched": s.amount_unmatched,
            "mostIndebted": [
                {
                    "customerId": d.customer_id,
                    "externalId": d.external_id,
                    "name": d.name,
                    "balance": d.balance,
                    "currency": d.currency,
                }
                for d in s.most_indebted
            ],
        }
    )
