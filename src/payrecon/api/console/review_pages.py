"""The review queue, a line (match to one invoice, split, or on account) and an allocation's
why-panel with undo: the services of `/v1/review-queue`, `/v1/statement-lines` and
`/v1/allocations`, with the user's name in the audit log."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
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
from payrecon.api.console.session import ConsoleSession
from payrecon.api.listquery import ListQuery
from payrecon.domain.errors import InvalidInput, NotFound, PayreconError
from payrecon.domain.matching.manual import ManualAllocation
from payrecon.domain.review_age import AGE_BUCKETS, bucket_cutoffs
from payrecon.services.admin.entities import CONTRACT_OWNERS
from payrecon.services.admin.resources import list_resources
from payrecon.services.clock import utcnow
from payrecon.services.ledger.payments import get_payment
from payrecon.services.ledger.views import list_invoices
from payrecon.services.reconciliation import review, review_queue
from payrecon.services.reconciliation.review_ageing import review_queue_age

router = APIRouter()
PAGE_SIZE = 25
SORTS = {"date": "date", "amount": "amount", "received": "createdDate", "reason": "reason"}
FILTERS = ("source", "currency", "account")
LineId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _queue_query(request: Request) -> tuple[ListQuery, dict[str, str]]:
    params = request.query_params
    names = (*FILTERS, "reason", "amount", "sort", "owner", "age")
    chosen = {k: params.get(k, "").strip() for k in names}
    filters = {k: chosen[k] for k in FILTERS if chosen[k]}
    if chosen["reason"]:
        filters["reason"] = f"like:{chosen['reason']}"
    if chosen["amount"]:
        filters["amount"] = chosen["amount"]
    sort_key, _, direction = chosen["sort"].partition(":")
    field = SORTS.get(sort_key, "date")
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    q = ListQuery(page, PAGE_SIZE, [(field, direction == "desc")], None, filters)
    return q, chosen


def _age_period(bucket: str, today: date) -> tuple[date | None, date | None]:
    """The dates of an age bucket's items: (first, last), inclusive; unknown: every date."""
    cutoffs = bucket_cutoffs(today)
    for i, (name, cutoff) in enumerate(cutoffs):
        if name == bucket:
            older = cutoffs[i + 1][1] + timedelta(days=1) if i + 1 < len(cutoffs) else None
            return older, cutoff
    return None, None


@router.get("/review", response_class=HTMLResponse)
def queue_page(
    request: Request, session: Annotated[ConsoleSession, Depends(page_session("read"))]
) -> Response:
    engine = request.app.state.container.engine
    q, chosen = _queue_query(request)
    dated_from, dated_to = _age_period(chosen["age"], utcnow().date())
    owners = list_resources(
        engine, CONTRACT_OWNERS, ListQuery(1, 1000, [("name", False)], None, {})
    ).items
    owner_id = int(chosen["owner"]) if chosen["owner"].isdigit() else None
    try:
        page = review_queue.list_review_queue(
            engine, q, owner_id=owner_id, dated_from=dated_from, dated_to=dated_to
        )
    except InvalidInput as exc:
        return problem_page(
            request,
            session,
            422,
            "That filter is not valid",
            str(exc),
            "Change the filter, or clear it.",
        )
    settings = request.app.state.container.settings
    age = review_queue_age(
        engine, utcnow().date(), overdue_days=settings.review_overdue_days, report=False
    )
    pages = max(1, -(-page.total // PAGE_SIZE))
    return render(
        request,
        "queue.html",
        session,
        {
            "items": page.items,
            "total": page.total,
            "age": age,
            "chosen": chosen,
            "page": q.page,
            "pages": pages,
            "query": {k: v for k, v in chosen.items() if v},
            "owners": owners,
            "buckets": [name for name, _ in AGE_BUCKETS],
        },
    )


def _available(line: dict[str, Any]) -> Decimal:
    payment = line.get("payment")
    if payment is not None:
        return Decimal(payment["unusedAmount"])
    return Decimal(line["amount"])


def open_invoices(request: Request, customer_id: int, search: str) -> list[dict[str, Any]]:
    filters = {"customerId": str(customer_id), "status": "in:open,partially_paid"}
    if search:
        filters["invoiceNumber"] = f"like:{search}"
    q = ListQuery(1, 200, [("dueDate", False)], None, filters)
    return list(list_invoices(request.app.state.container.engine, q).items)


def _line_page(
    request: Request,
    session: ConsoleSession,
    line_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = request.app.state.container.engine
    try:
        line = review.get_statement_line(engine, line_id)
    except NotFound:
        return problem_page(
            request,
            session,
            404,
            "No such line",
            f"Statement line {line_id} does not exist.",
            "Go back to the review queue.",
        )
    chosen = request.query_params.get("customer", "").strip()
    customer_id: int | None = None
    if chosen.isdigit():
        customer_id = int(chosen)
    elif line.get("customerId"):
        customer_id = int(line["customerId"])
    elif line["suggestions"]:
        customer_id = int(line["suggestions"][0]["customerId"])
    search = request.query_params.get("q", "").strip()
    invoices = open_invoices(request, customer_id, search) if customer_id else []
    return render(
        request,
        "line.html",
        session,
        {
            "line": line,
            "page_url": f"/console/lines/{line_id}",
            "match_url": f"/console/lines/{line_id}/match",
            "currency": line["currency"],
            "is_debit": Decimal(line["amount"]) <= 0,
            "customer_id": customer_id,
            "invoices": invoices,
            "search": search,
            "available": _available(line),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/lines/{line_id}", response_class=HTMLResponse)
def line_page(
    request: Request,
    line_id: LineId,
    session: Annotated[ConsoleSession, Depends(page_session("read"))],
) -> Response:
    return _line_page(request, session, line_id)


def _amount(raw: object) -> Decimal | None:
    text = str(raw or "").strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{text!r} is not a positive amount")
    return value


def wanted_allocations(
    form: FormData, invoices: list[dict[str, Any]], available: Decimal
) -> list[ManualAllocation]:
    """What the form asks: `match` one invoice (its open amount, at most what the line has
    left), `split` (amounts typed, or open amounts of the invoices ticked), `account` (none)."""
    action = str(form.get("action") or "")
    open_amounts = {int(i["id"]): Decimal(i["openAmount"]) for i in invoices}
    if action.startswith("match:"):
        invoice_id = int(action.removeprefix("match:"))
        if invoice_id not in open_amounts:
            raise InvalidInput(f"invoice {invoice_id} is not an open invoice of this customer")
        return [ManualAllocation(invoice_id, min(open_amounts[invoice_id], available))]
    if action == "split":
        wanted = []
        for invoice_id, open_amount in open_amounts.items():
            typed = _amount(form.get(f"amount-{invoice_id}"))
            if typed is None and form.get(f"take-{invoice_id}"):
                typed = open_amount
            if typed is not None:
                wanted.append(ManualAllocation(invoice_id, typed))
        if not wanted:
            raise InvalidInput("type an amount, or tick the invoices whose open amounts to take")
        return wanted
    if action == "account":
        return []
    raise InvalidInput("choose match, split or on account")


@router.post("/lines/{line_id}/match", response_class=HTMLResponse)
def match_line(
    request: Request,
    line_id: LineId,
    session: Annotated[ConsoleSession, Depends(form_session("write"))],
    form: Annotated[FormData, Depends(posted_form)],
) -> Response:
    engine = request.app.state.container.engine
    try:
        customer = str(form.get("customer") or "")
        if not customer.isdigit():
            raise InvalidInput("choose the customer the money is from")
        customer_id = int(customer)
        line = review.get_statement_line(engine, line_id)
        invoices = open_invoices(request, customer_id, "")
        wanted = wanted_allocations(form, invoices, _available(line))
        reason = str(form.get("reason") or "").strip() or "matched in the console"
        review_queue.match_item(
            engine,
            f"{review_queue.LINE}{line_id}",
            customer_id=customer_id,
            allocations=wanted,
            reason=reason,
            actor=session.subject,
        )
    except NotFound as exc:
        return problem_page(
            request, session, 404, "Not found", str(exc), "Go back to the review queue."
        )
    except PayreconError as exc:
        return _line_page(request, session, line_id, error=str(exc), status_code=422)
    return see_other(request, f"/console/lines/{line_id}", matched_notice(len(wanted)))


def matched_notice(invoices: int) -> str:
    if not invoices:
        return "Put on the customer's account."
    return f"Matched to {invoices} invoice{'s' if invoices > 1 else ''}."


@router.get("/allocations/{allocation_id}", response_class=HTMLResponse)
def allocation_page(
    request: Request,
    allocation_id: LineId,
    session: Annotated[ConsoleSession, Depends(page_session("read"))],
) -> Response:
    engine = request.app.state.container.engine
    try:
        allocation = review.get_allocation(engine, allocation_id)
        payment = get_payment(engine, int(allocation["paymentId"]))
    except NotFound as exc:
        return problem_page(
            request, session, 404, "No such allocation", str(exc), "Go back to the review queue."
        )
    return render(
        request, "allocation.html", session, {"allocation": allocation, "payment": payment}
    )


@router.post("/allocations/{allocation_id}/undo", response_class=HTMLResponse)
def undo_allocation(
    request: Request,
    allocation_id: LineId,
    session: Annotated[ConsoleSession, Depends(form_session("write"))],
    form: Annotated[FormData, Depends(posted_form)],
) -> Response:
    engine = request.app.state.container.engine
    reason = str(form.get("reason") or "").strip()
    if not reason:
        return problem_page(
            request,
            session,
            422,
            "A reason is needed",
            "Say why the allocation is undone; it goes into the audit log.",
            "Go back and type a reason.",
        )
    try:
        undone = review.delete_allocation(
            engine, allocation_id, actor=session.subject, reason=reason
        )
    except NotFound as exc:
        return problem_page(
            request, session, 404, "No such allocation", str(exc), "Go back to the review queue."
        )
    except PayreconError as exc:
        return problem_page(
            request,
            session,
            409,
            "It cannot be undone",
            str(exc),
            "Look at the payment's other records first.",
        )
    line_id = undone.get("statementLineId")
    notice = (
        "Undone; the line is back in the review queue."
        if undone.get("lineReturnedToReview")
        else "Undone; the invoice is open again."
    )
    if line_id:
        return see_other(request, f"/console/lines/{line_id}", notice)
    return see_other(request, "/console/review", notice)
