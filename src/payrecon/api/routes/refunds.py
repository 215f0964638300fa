"""`/v1/refunds`: seed 000's Refund, money returned from a payment or a credit note.

A refund never exceeds what is unallocated on its source (409 otherwise). DELETE voids a refund
recorded in error and answers 204.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
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
from payrecon.services.ledger import refunds
from payrecon.services.ledger.refunds import RefundInput, RefundView

router = APIRouter(
    prefix="/v1",
    tags=["refunds"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
RefundId = Annotated[RowId, Path(description="Refund identifier")]


class RefundBody(BaseModel):
    """Exactly one of `paymentId` and `creditNoteId`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    payment_id: RowId | None = Field(default=None, alias="paymentId")
    credit_note_id: RowId | None = Field(default=None, alias="creditNoteId")
    amount: Amount
    date: dt.date
    reference_number: str | None = Field(default=None, alias="referenceNumber", max_length=128)
    description: str | None = Field(default=None, max_length=2000)


def refund_json(view: RefundView) -> dict[str, Any]:
    return {
        "id": view.id,
        "customerId": view.customer_id,
        "paymentId": view.payment_id,
        "creditNoteId": view.credit_note_id,
        "date": view.date,
        "amount": view.amount,
        "currencyCode": view.currency,
        "referenceNumber": view.reference_number,
        "description": view.description,
        "createdAt": view.created_at,
    }


REFUND_FIELDS = (
    "id",
    "customerId",
    "paymentId",
    "creditNoteId",
    "date",
    "amount",
    "currencyCode",
    "referenceNumber",
    "description",
    "createdAt",
)


@list_endpoint(router, "/refunds", dependencies=[Depends(require("read"))], summary="List refunds")
def list_refunds(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    page = refunds.list_refunds(request.app.state.container.engine, q)
    return list_response(
        [refund_json(v) for v in page.items],
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=REFUND_FIELDS,
    )


@router.get("/refunds/{refund_id}", dependencies=[Depends(require("read"))], summary="Get a refund")
def get_refund(request: Request, refund_id: RefundId) -> Any:
    view = refunds.get_refund(request.app.state.container.engine, refund_id)
    return DecimalJSONResponse(refund_json(view))


@router.post(
    "/refunds",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Refund unallocated money of a payment or a credit note",
)
def create_refund(request: Request, body: RefundBody) -> Any:
    data = RefundInput(
        amount=body.amount,
        date=body.date,
        payment_id=body.payment_id,
        credit_note_id=body.credit_note_id,
        reference_number=body.reference_number,
        description=body.description,
    )
    view = refunds.create_refund(request.app.state.container.engine, data)
    return DecimalJSONResponse(
        refund_json(view), status_code=201, headers={"Location": f"/v1/refunds/{view.id}"}
    )


@router.delete(
    "/refunds/{refund_id}",
    status_code=204,
    dependencies=[Depends(require("write"))],
    summary="Void a refund recorded in error",
)
def delete_refund(request: Request, refund_id: RefundId) -> Response:
    refunds.delete_refund(request.app.state.container.engine, refund_id)
    return Response(status_code=204)
