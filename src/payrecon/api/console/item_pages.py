"""A provider payment of the review queue (no customer known, or no rate): its fields and the
open invoices of a customer, matched like a line through `review_queue.match_item`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from payrecon.api.console.rendering import (
    form_session,
    page_session,
    posted_form,
    problem_page,
    render,
    see_other,
)
from payrecon.api.console.review_pages import matched_notice, open_invoices, wanted_allocations
from payrecon.api.console.session import ConsoleSession
from payrecon.api.listquery import ListQuery
from payrecon.domain.errors import InvalidInput, PayreconError
from payrecon.services.reconciliation import review_queue

router = APIRouter()
ItemId = Annotated[str, Path(pattern=r"^provider-[0-9]{1,18}$")]


def _item(request: Request, item_id: str) -> dict[str, Any] | None:
    q = ListQuery(1, 1, [], None, {"id": item_id})
    page = review_queue.list_review_queue(request.app.state.container.engine, q)
    return dict(page.items[0]) if page.items else None


def _item_page(
    request: Request,
    session: ConsoleSession,
    item_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    item = _item(request, item_id)
    if item is None:
        return problem_page(
            request,
            session,
            404,
            "Not in the review queue",
            f"{item_id} is not waiting for review (matched already, or no such payment).",
            "Go back to the review queue.",
        )
    chosen = request.query_params.get("customer", "").strip()
    customer_id = int(chosen) if chosen.isdigit() else item.get("customerId")
    search = request.query_params.get("q", "").strip()
    return render(
        request,
        "item.html",
        session,
        {
            "item": item,
            "page_url": f"/console/items/{item_id}",
            "match_url": f"/console/items/{item_id}/match",
            "currency": item["currency"],
            "is_debit": Decimal(item["amount"]) <= 0,
            "customer_id": customer_id,
            "invoices": open_invoices(request, int(customer_id), search) if customer_id else [],
            "search": search,
            "available": Decimal(item["amount"]),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    request: Request,
    item_id: ItemId,
    session: Annotated[ConsoleSession, Depends(page_session("read"))],
) -> Response:
    return _item_page(request, session, item_id)


@router.post("/items/{item_id}/match", response_class=HTMLResponse)
def match_item(
    request: Request,
    item_id: ItemId,
    session: Annotated[ConsoleSession, Depends(form_session("write"))],
    form: Annotated[FormData, Depends(posted_form)],
) -> Response:
    item = _item(request, item_id)
    if item is None:
        return _item_page(request, session, item_id)
    try:
        customer = str(form.get("customer") or "")
        if not customer.isdigit():
            raise InvalidInput("choose the customer the money is from")
        invoices = open_invoices(request, int(customer), "")
        wanted = wanted_allocations(form, invoices, Decimal(item["amount"]))
        matched = review_queue.match_item(
            request.app.state.container.engine,
            item_id,
            customer_id=int(customer),
            allocations=wanted,
            reason=str(form.get("reason") or "").strip() or "matched in the console",
            actor=session.subject,
        )
    except PayreconError as exc:
        return _item_page(request, session, item_id, error=str(exc), status_code=422)
    payment = matched.get("paymentId") or matched.get("id")
    notice = matched_notice(len(wanted)) + (f" Payment {payment} recorded." if payment else "")
    return see_other(request, "/console/review", notice)
