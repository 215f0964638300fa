"""`/v1/credit-notes` and `/v1/customers/{id}/credit-notes`: seed 004's credit notes.

Bodies take camelCase (`customerId`, `amountApplied`, ...) or the seed's spelling (`customerID`,
`Amount`, `invoiceID`, ...); a date is `yyyy-mm-dd` or the seed's `05 Apr 2016`. Only the last
four characters of `creditNumber` are kept and shown. Lists take the seed's `page`/`page_size`
and the Admin API conventions. PUT answers 200 with the credit note; DELETE answers 204.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

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
from payrecon.domain.ledger import Collection
from payrecon.services.ledger import credit_notes
from payrecon.services.ledger.credit_notes import (
    CreditAllocationInput,
    CreditNoteInput,
    CreditNoteView,
)

router = APIRouter(
    prefix="/v1",
    tags=["credit notes"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
CreditNoteId = Annotated[RowId, Path(description="Credit note identifier")]
CustomerId = Annotated[RowId, Path(description="Customer identifier")]


def _seed_date(value: object) -> object:
    """`2016-04-05` or the seed's `05 Apr 2016`."""
    if isinstance(value, str) and not value[:4].isdigit():
        try:
            return dt.datetime.strptime(value.strip(), "%d %b %Y").date()  # noqa: DTZ007 - a date
        except ValueError:
            raise ValueError("a date is yyyy-mm-dd or dd Mon yyyy") from None
    return value


SeedDate = Annotated[dt.date, BeforeValidator(_seed_date)]


def _field(*names: str, **options: Any) -> Any:
    return Field(validation_alias=AliasChoices(*names), **options)


class CreditAllocationBody(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    allocation_id: RowId | None = _field("allocationId", "allocationID", default=None)
    invoice_id: RowId | None = _field("invoiceId", "invoiceID", default=None)
    invoice_number: str | None = _field("invoiceNumber", default=None, max_length=64)
    amount_applied: Amount = _field("amountApplied")


class CreditNoteBody(BaseModel):
    """Seed 004's credit note. `collectionStatus` (ours) records a card credit that is still
    pending or has failed; such a credit note carries no allocations."""

    model_config = ConfigDict(extra="ignore")

    customer_id: RowId = _field("customerId", "customerID")
    date: SeedDate = _field("date", "Date")
    currency_code: str = _field(
        "currencyCode", "CurrencyCode", min_length=3, max_length=3, pattern="^[A-Za-z]{3}$"
    )
    amount: Amount = _field("amount", "Amount")
    credit_number: str | None = _field(
        "creditNumber", "CreditNumber", "creditRef", default=None, max_length=64
    )
    memo: str | None = _field("memo", "Memo", default=None, max_length=2000)
    auto_apply: bool = _field("autoApply", "AutoApply", default=False)
    allocations: list[CreditAllocationBody] | None = _field(
        "allocations", "Allocations", default=None
    )
    collection_status: Collection = _field("collectionStatus", default=Collection.COLLECTED)

    def as_input(self) -> CreditNoteInput:
        allocations = None
        if self.allocations is not None:
            allocations = [
                CreditAllocationInput(
                    amount_applied=a.amount_applied,
                    invoice_id=a.invoice_id,
                    invoice_number=a.invoice_number,
                    allocation_id=a.allocation_id,
                )
                for a in self.allocations
            ]
        return CreditNoteInput(
            customer_id=self.customer_id,
            date=self.date,
            currency=self.currency_code,
            amount=self.amount,
            credit_number=self.credit_number,
            memo=self.memo,
            auto_apply=self.auto_apply,
            allocations=allocations,
            collection=self.collection_status,
        )


def credit_note_json(view: CreditNoteView) -> dict[str, Any]:
    return {
        "id": view.id,
        "customerId": view.customer_id,
        "status": view.status.value,
        "date": view.date,
        "currencyCode": view.currency,
        "amount": view.amount,
        "creditNumber": view.credit_number,
        "memo": view.memo,
        "allocations": [
            {
                "allocationId": a.allocation_id,
                "invoiceId": a.invoice_id,
                "invoiceNumber": a.invoice_number,
                "amountApplied": a.amount_applied,
            }
            for a in view.allocations
        ],
    }


CREDIT_NOTE_FIELDS = (
    "id",
    "customerId",
    "status",
    "date",
    "currencyCode",
    "amount",
    "creditNumber",
    "memo",
    "allocations",
)
SeedPageSize = Annotated[
    int | None, Query(ge=1, le=1000, description="Seed 004's page size (same as pageSize)")
]


def _with_seed_page_size(q: ListQuery, page_size: int | None) -> ListQuery:
    filters = {k: v for k, v in q.filters.items() if k != "page_size"}
    return replace(q, page_size=page_size or q.page_size, filters=filters)


def _list(request: Request, q: ListQuery, customer_id: int | None) -> Any:
    engine = request.app.state.container.engine
    page = credit_notes.list_credit_notes(engine, q, customer_id=customer_id)
    return list_response(
        [credit_note_json(v) for v in page.items],
        page.total,
        q,
        head=request.method == "HEAD",
        known_fields=CREDIT_NOTE_FIELDS,
    )


@list_endpoint(
    router,
    "/credit-notes",
    dependencies=[Depends(require("read"))],
    summary="List credit notes",
)
def list_credit_notes(
    request: Request,
    q: Annotated[ListQuery, Depends(list_query)],
    page_size: SeedPageSize = None,
) -> Any:
    return _list(request, _with_seed_page_size(q, page_size), None)


@list_endpoint(
    router,
    "/customers/{customer_id}/credit-notes",
    dependencies=[Depends(require("read"))],
    summary="List a customer's credit notes",
)
def list_customer_credit_notes(
    request: Request,
    customer_id: CustomerId,
    q: Annotated[ListQuery, Depends(list_query)],
    page_size: SeedPageSize = None,
) -> Any:
    return _list(request, _with_seed_page_size(q, page_size), customer_id)


@router.get(
    "/credit-notes/{credit_note_id}",
    dependencies=[Depends(require("read"))],
    summary="Get a specific credit note",
)
def get_credit_note(request: Request, credit_note_id: CreditNoteId) -> Any:
    view = credit_notes.get_credit_note(request.app.state.container.engine, credit_note_id)
    return DecimalJSONResponse(credit_note_json(view))


@router.post(
    "/credit-notes",
    status_code=201,
    dependencies=[Depends(require("write"))],
    summary="Add a credit note, allocated to invoices or auto-applied oldest first",
)
def create_credit_note(request: Request, body: CreditNoteBody) -> Any:
    view = credit_notes.create_credit_note(request.app.state.container.engine, body.as_input())
    return DecimalJSONResponse(
        credit_note_json(view),
        status_code=201,
        headers={"Location": f"/v1/credit-notes/{view.id}"},
    )


@router.put(
    "/credit-notes/{credit_note_id}",
    dependencies=[Depends(require("write"))],
    summary="Edit a credit note; its allocation list is replaced (add, edit, delete)",
)
def update_credit_note(request: Request, credit_note_id: CreditNoteId, body: CreditNoteBody) -> Any:
    engine = request.app.state.container.engine
    view = credit_notes.update_credit_note(engine, credit_note_id, body.as_input())
    return DecimalJSONResponse(credit_note_json(view))


@router.delete(
    "/credit-notes/{credit_note_id}",
    status_code=204,
    dependencies=[Depends(require("write"))],
    summary="Delete a credit note; its invoices reopen",
)
def delete_credit_note(request: Request, credit_note_id: CreditNoteId) -> Response:
    credit_notes.delete_credit_note(request.app.state.container.engine, credit_note_id)
    return Response(status_code=204)
