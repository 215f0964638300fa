"""`/v1/payouts`: the providers' payouts with their items, fees, the provider payments each pays
out and the bank line that settled it. Read-only (scope `read`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from payrecon.api.auth import require
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.services.providers import payout_views

router = APIRouter(prefix="/v1", tags=["payouts"], generate_unique_id_function=operation_id)


@list_endpoint(
    router, "/payouts", dependencies=[Depends(require("read"))], summary="List provider payouts"
)
def list_payouts(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = payout_views.list_payouts(request.app.state.container.engine, q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=[*payout_views.FIELDS, "reconciled"],
    )


@router.get(
    "/payouts/{payout_id}",
    dependencies=[Depends(require("read"))],
    summary="A payout with its items, fees, payments and the bank line that settled it",
)
def get_payout(
    request: Request, payout_id: Annotated[int, Path(ge=1, description="Payout identifier")]
) -> Any:
    return DecimalJSONResponse(
        payout_views.get_payout(request.app.state.container.engine, payout_id)
    )
