"""The reconciliation console: server-rendered pages under /console in the API's app (Jinja2
templates, plain forms, no JavaScript build, every asset served from here). Each page calls the
same services as the API; see docs/console.md and ADR 0010.

    session.py       the signed session cookie, CSRF tokens, the security headers
    rendering.py     templates, the guards (scope, CSRF), the error pages
    auth_pages.py    sign-in and sign-out
    review_pages.py  the review queue, a line, an allocation's why-panel and undo
    item_pages.py    a provider payment waiting in the queue
    ledger_pages.py  a customer and its statement, the dashboard and task triggers
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from payrecon.api.console import auth_pages, item_pages, ledger_pages, review_pages
from payrecon.api.console.rendering import HERE, install_console_errors, problem_page
from payrecon.api.console.session import ConsoleHeaders, session_of


def _not_found_router() -> APIRouter:
    router = APIRouter()

    @router.get("/{rest:path}", response_class=HTMLResponse)
    def not_found(request: Request, rest: str) -> Response:
        return problem_page(
            request,
            session_of(request),
            404,
            "Page not found",
            f"There is no console page at /console/{rest}.",
            "Start again from the dashboard or the review queue.",
        )

    return router


def install_console(app: FastAPI) -> None:
    """Mount the console's pages, assets, error pages and headers on `app`."""
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (auth_pages, review_pages, item_pages, ledger_pages):
        app.include_router(module.router, prefix="/console", include_in_schema=False)
    app.include_router(_not_found_router(), prefix="/console", include_in_schema=False)
    install_console_errors(app)
    app.add_middleware(ConsoleHeaders)
