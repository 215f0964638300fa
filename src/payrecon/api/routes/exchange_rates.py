"""`/v1/exchange-rates`: the dated rates admins record (1 `baseCurrency` = `rate`
`quoteCurrency`, for money dated from `validFrom`). Recording one settles the provider payments
that waited in the review queue for it. Reads `read`, writes `admin`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from payrecon.api.auth import Principal, caller, require
from payrecon.api.fields import ExactDecimal
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
    operation_id,
)
from payrecon.services.ledger import exchange_rates

router = APIRouter(
    prefix="/v1",
    tags=["exchange rates"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
RateId = Annotated[int, Path(ge=1, description="Exchange rate identifier")]


class RateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    base_currency: str = Field(alias="baseCurrency", pattern=r"^[A-Za-z]{3}$")
    quote_currency: str = Field(alias="quoteCurrency", pattern=r"^[A-Za-z]{3}$")
    rate: Annotated[ExactDecimal, Field(gt=0, max_digits=24, decimal_places=8)]
    valid_from: dt.date = Field(alias="validFrom")
    note: str | None = Field(default=None, max_length=2000)


@list_endpoint(
    router, "/exchange-rates", dependencies=[Depends(require("read"))], summary="Exchange rates"
)
def list_exchange_rates(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = exchange_rates.list_rates(request.app.state.container.engine, q)
    return list_response(
        page.items,
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=exchange_rates.FIELDS,
    )


@router.get(
    "/exchange-rates/{rate_id}",
    dependencies=[Depends(require("read"))],
    summary="Get an exchange rate",
)
def get_exchange_rate(request: Request, rate_id: RateId) -> Any:
    return DecimalJSONResponse(exchange_rates.get_rate(request.app.state.container.engine, rate_id))


@router.post("/exchange-rates", status_code=201, summary="Record a dated exchange rate")
def create_exchange_rate(
    request: Request, body: RateBody, principal: Annotated[Principal, Depends(caller("admin"))]
) -> Any:
    item = exchange_rates.record_rate(
        request.app.state.container.engine,
        exchange_rates.RateInput(
            body.base_currency, body.quote_currency, body.rate, body.valid_from, body.note
        ),
        actor=principal.subject,
    )
    return DecimalJSONResponse(
        item, status_code=201, headers={"Location": f"/v1/exchange-rates/{item['id']}"}
    )


@router.delete(
    "/exchange-rates/{rate_id}",
    status_code=204,
    dependencies=[Depends(require("admin"))],
    summary="Remove a rate recorded in error",
)
def delete_exchange_rate(request: Request, rate_id: RateId) -> Response:
    exchange_rates.delete_rate(request.app.state.container.engine, rate_id)
    return Response(status_code=204)
