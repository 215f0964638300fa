"""A customer (balance, credit status and its history, open invoices, the statement of account
with ageing, as a printable page and as CSV) and the dashboard (figures, the match rate per day
as an SVG drawn here, the last task runs, trigger buttons for admins)."""

from __future__ import annotations

import datetime as dt
import uuid
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
from payrecon.api.console.session import ConsoleSession
from payrecon.api.exports import export_response
from payrecon.api.listquery import ListQuery
from payrecon.domain.errors import InvalidInput, NotFound, PayreconError
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import get_balance
from payrecon.services.ledger.credit_status import get_credit_status, list_credit_status_history
from payrecon.services.ledger.statement import STATEMENT_COLUMNS, statement_of_account
from payrecon.services.ledger.views import get_customer, list_invoices
from payrecon.services.operations.task_runs import list_task_runs
from payrecon.services.reconciliation.daily_figures import (
    DayRate,
    match_rate_by_day,
    period_figures,
    week_start,
)
from payrecon.services.reconciliation.review_ageing import review_queue_age

router = APIRouter()
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# Tasks without parameters an admin may start from the dashboard.
TRIGGERS = {
    "scan_inbox": "Ingest the inbox",
    "reconcile_pending": "Match pending lines",
    "age_review_queue": "Count the review queue by age",
    "audit_ledger": "Audit the ledger",
}


def _dates(request: Request) -> tuple[dt.date | None, dt.date]:
    def parse(name: str) -> dt.date | None:
        raw = request.query_params.get(name, "").strip()
        try:
            return dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            raise InvalidInput(f"{name}: {raw!r} is not a date (YYYY-MM-DD)") from None

    return parse("from"), parse("to") or utcnow().date()


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    customer_id: CustomerId,
    session: Annotated[ConsoleSession, Depends(page_session("read"))],
) -> Response:
    engine = request.app.state.container.engine
    try:
        date_from, date_to = _dates(request)
        customer = get_customer(engine, customer_id)
        statement = statement_of_account(engine, customer_id, date_from=date_from, date_to=date_to)
    except NotFound:
        return problem_page(
            request,
            session,
            404,
            "No such customer",
            f"Customer {customer_id} does not exist.",
            "Open a customer from a line or the dashboard.",
        )
    except InvalidInput as exc:
        return problem_page(
            request,
            session,
            422,
            "That period is not valid",
            str(exc),
            "Give the dates as YYYY-MM-DD.",
        )
    try:
        balance: Any = get_balance(engine, customer_id)
    except NotFound:
        balance = None
    try:
        credit: Any = get_credit_status(engine, customer_id)
    except NotFound:
        credit = None
    history = list_credit_status_history(
        engine, ListQuery(1, 20, [("id", True)], None, {}), customer_id=customer_id
    )
    invoices = list_invoices(
        engine,
        ListQuery(
            1,
            200,
            [("dueDate", False)],
            None,
            {"customerId": str(customer_id), "status": "in:open,partially_paid"},
        ),
    )
    return render(
        request,
        "customer.html",
        session,
        {
            "customer": customer,
            "balance": balance,
            "credit": credit,
            "history": history.items,
            "invoices": invoices.items,
            "statement": statement,
            "date_from": date_from,
            "date_to": date_to,
        },
    )


@router.get("/customers/{customer_id}/statement.csv")
def statement_csv(
    request: Request,
    customer_id: CustomerId,
    session: Annotated[ConsoleSession, Depends(page_session("read"))],
) -> Response:
    engine = request.app.state.container.engine
    try:
        date_from, date_to = _dates(request)
        statement = statement_of_account(engine, customer_id, date_from=date_from, date_to=date_to)
    except NotFound:
        return problem_page(
            request,
            session,
            404,
            "No such customer",
            f"Customer {customer_id} does not exist.",
            "Check the link.",
        )
    except InvalidInput as exc:
        return problem_page(
            request,
            session,
            422,
            "That period is not valid",
            str(exc),
            "Give the dates as YYYY-MM-DD.",
        )
    return export_response(
        statement.rows(), STATEMENT_COLUMNS, "csv", name=f"statement-{customer_id}"
    )


def chart(days: list[DayRate], width: int = 640, height: int = 200) -> dict[str, Any]:
    """The bars of the match-rate chart, in SVG user units (drawn by the template)."""
    left, bottom, top = 40, 30, 10
    plot_h = height - bottom - top
    step = (width - left - 10) / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        rate = day.rate
        h = float(rate) * plot_h
        bars.append(
            {
                "x": round(left + i * step + step * 0.15, 1),
                "y": round(top + plot_h - h, 1),
                "w": round(step * 0.7, 1),
                "h": round(h, 1),
                "label": day.day.strftime("%m-%d"),
                "lx": round(left + i * step + step / 2, 1),
                "percent": f"{rate * 100:.0f}",
                "day": day,
            }
        )
    grid = [
        {"y": round(top + plot_h - plot_h * p / 100, 1), "label": f"{p}%"} for p in (0, 50, 100)
    ]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "grid": grid,
        "base": top + plot_h,
        "left": left,
    }


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(
    request: Request, session: Annotated[ConsoleSession, Depends(page_session("read"))]
) -> Response:
    engine = request.app.state.container.engine
    today = utcnow().date()
    runs, _ = list_task_runs(engine, limit=10)
    age = review_queue_age(
        engine,
        today,
        overdue_days=request.app.state.container.settings.review_overdue_days,
        report=False,
    )
    days = match_rate_by_day(engine)
    overall = sum((d.matched for d in days), 0), sum((d.lines for d in days), 0)
    return render(
        request,
        "dashboard.html",
        session,
        {
            "today": period_figures(engine, today),
            "week": period_figures(engine, week_start(today)),
            "chart": chart(days),
            "days": days,
            "overall": Decimal(overall[0]) / Decimal(overall[1]) if overall[1] else None,
            "runs": runs,
            "age": age,
            "triggers": TRIGGERS,
            "idempotency_key": uuid.uuid4().hex,
        },
    )


@router.post("/tasks/{name}", response_class=HTMLResponse)
def trigger_task(
    request: Request,
    name: Annotated[str, Path(pattern=r"^[a-z_]{1,64}$")],
    session: Annotated[ConsoleSession, Depends(form_session("admin"))],
    form: Annotated[FormData, Depends(posted_form)],
) -> Response:
    if name not in TRIGGERS:
        return problem_page(
            request,
            session,
            404,
            "No such task",
            f"{name} cannot be started from the console.",
            "Use one of the dashboard's buttons.",
        )
    key = str(form.get("idempotency_key") or "").strip()[:128] or None
    try:
        triggered = request.app.state.pipeline.trigger(
            name, {}, actor=session.subject, idempotency_key=key
        )
    except PayreconError as exc:
        return problem_page(
            request,
            session,
            422,
            "The task was not started",
            str(exc),
            "Check the task's parameters, or try again.",
        )
    verb = "started" if triggered.created else "was already started with this button"
    return see_other(request, "/console", f"{TRIGGERS[name]} {verb} (task {triggered.task_id}).")
