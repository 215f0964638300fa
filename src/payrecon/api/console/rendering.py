"""Templates, the guards every console page uses, and the error pages in the console's look.

`page_session(scope)` lets a GET through with a session holding `scope` (none: to the sign-in
page; too little: the 403 page); `form_session(scope)` also checks the form's CSRF token (a
post without the right one answers 403, signed in or not).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from payrecon.api.console.session import ConsoleSession, csrf_ok, session_of

HERE = Path(__file__).parent


def _money(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        return f"{Decimal(value):,.2f}"
    return str(value)


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["money"] = _money
_env.filters["when"] = _when
templates = Jinja2Templates(env=_env)


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class ConsoleForbidden(Exception):
    def __init__(self, message: str, session: ConsoleSession | None) -> None:
        self.message = message
        self.session = session


def render(
    request: Request,
    name: str,
    session: ConsoleSession | None,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"session": session, "notice": notice_of(request), **(context or {})},
        status_code=status_code,
    )


def problem_page(
    request: Request,
    session: ConsoleSession | None,
    status_code: int,
    title: str,
    message: str,
    next_step: str,
) -> HTMLResponse:
    return render(
        request,
        "problem.html",
        session,
        {"status": status_code, "title": title, "message": message, "next_step": next_step},
        status_code=status_code,
    )


def page_session(scope: str) -> Callable[[Request], ConsoleSession]:
    def dependency(request: Request) -> ConsoleSession:
        session = session_of(request)
        if session is None:
            raise SignInNeeded(request.url.path)
        if not session.can(scope):
            raise ConsoleForbidden(f"This page needs the {scope} scope.", session)
        return session

    return dependency


async def posted_form(request: Request) -> FormData:
    return await request.form()


def form_session(scope: str) -> Callable[[Request], Awaitable[ConsoleSession]]:
    async def dependency(request: Request) -> ConsoleSession:
        session = session_of(request)
        form = await request.form()
        if session is None or not csrf_ok(session.csrf, form.get("csrf")):
            raise ConsoleForbidden(
                "The form was not sent by a signed-in console page (its CSRF token is missing "
                "or wrong).",
                session,
            )
        if not session.can(scope):
            raise ConsoleForbidden(f"This action needs the {scope} scope.", session)
        return session

    return dependency


def _notice_mac(request: Request, notice: str) -> str:
    key = request.app.state.container.settings.api_token_secret.get_secret_value()
    digest = hmac.new(f"notice:{key}".encode(), notice.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def see_other(request: Request, path: str, notice: str | None = None) -> RedirectResponse:
    """A redirect after a post; `notice` is shown by the next page (signed, so that a link made
    elsewhere cannot put words of its own on a console page)."""
    if not notice:
        return RedirectResponse(path, status_code=303)
    query = urlencode({"notice": notice, "sig": _notice_mac(request, notice)})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def notice_of(request: Request) -> str | None:
    notice = request.query_params.get("notice")
    given = request.query_params.get("sig", "")
    if notice and hmac.compare_digest(_notice_mac(request, notice), given):
        return notice
    return None


def install_console_errors(app: FastAPI) -> None:
    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        return RedirectResponse(f"/console/sign-in?next={quote(exc.next_path)}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleForbidden)
        return problem_page(
            request,
            exc.session,
            403,
            "Not allowed",
            exc.message,
            "Ask an admin for the scope, or sign in as another user.",
        )

    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(ConsoleForbidden, forbidden)
