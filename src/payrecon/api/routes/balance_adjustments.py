"""`/v1/customer-balance-adjustments`: seed 000's manual balance adjustment, exactly.

Request `{customerId, amountInMajorCurrency, description}`; response `{id, customerId,
amountInMajorCurrency, currencyId, description}` where `currencyId` is the ISO 4217 numeric code
of the customer's currency (GBP 826, EUR 978, USD 840). A positive amount credits the customer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from payrecon.api.auth import require
from payrecon.api.fields import Amount, RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.services.ledger import adjustments
from payrecon.services.ledger.adjustments import AdjustmentView

router = APIRouter(
    prefix="/v1",
    tags=["balances"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
AdjustmentId = Annotated[RowId, Path(description="Balance adjustment identifier")]


class AdjustmentBody(BaseModel):
    """New customer balance adjustment (seed 000)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    customer_id: RowId = Field(alias="customerId")
    amount_in_major_currency: Amount = Field(
        alias="amountInMajorCurrency",
        description="Amount in major currency (e.g pounds/dollars/euros); positive credits",
    )
    description: str | None = Field(default=None, max_length=2000)


def adjustment_json(view: AdjustmentView, *, seed_shape: bool = False) -> dict[str, Any]:
    """Seed 000's response (the create answers exactly that); reads add the currency code and
    the creation time, which docs/api.md lists as filters and sort keys."""
    shown: dict[str, Any] = {
        "id": view.id,
        "customerId": view.customer_id,
        "amountInMajorCurrency": view.amount,
        "currencyId": view.currency_id,
        "description": view.description,
    }
    if not seed_shape:
        shown["currencyCode"] = view.currency
        shown["createdAt"] = view.created_at
    return shown


ADJUSTMENT_FIELDS = (
    "id",
    "customerId",
    "amountInMajorCurrency",
    "currencyId",
    "currencyCode",
    "description",
    "createdAt",
)


@router.post(
    "/customer-balance-adjustments",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Make a manual adjustment to a customer's outstanding balance",
)
def create_balance_adjustment(request: Request, body: AdjustmentBody) -> Any:
    view = adjustments.create_adjustment(
        request.app.state.container.engine,
        body.customer_id,
        body.amount_in_major_currency,
        body.description,
    )
    return DecimalJSONResponse(
        adjustment_json(view, seed_shape=True),
        status_code=201,
        headers={"Location": f"/v1/customer-balance-adjustments/{view.id}"},
    )


@list_endpoint(
    router,
    "/customer-balance-adjustments",
    dependencies=[Depends(require("read"))],
    summary="List balance adjustments",
)
def list_balance_adjustments(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = adjustments.list_adjustments(request.app.state.container.engine, q)
    return list_response(
        [adjustment_json(v) for v in page.items],
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=ADJUSTMENT_FIELDS,
    )


@router.get(
    "/customer-balance-adjustments/{adjustment_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a balance adjustment",
)
def get_balance_adjustment(request: Request, adjustment_id: AdjustmentId) -> Any:
    view = adjustments.get_adjustment(request.app.state.container.engine, adjustment_id)
    return DecimalJSONResponse(adjustment_json(view))
