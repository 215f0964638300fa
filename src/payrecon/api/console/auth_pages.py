"""Sign-in (a console user's name and password, or an API token) and sign-out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from payrecon.api.console.rendering import posted_form, render, see_other
from payrecon.api.console.session import (
    SIGN_IN_COOKIE,
    csrf_ok,
    end_session,
    issue_session,
    secure_cookies,
    session_of,
    token_principal,
)
from payrecon.services.operations.console_users import authenticate

router = APIRouter()


def _safe_next(value: object) -> str:
    """Only a console path: never another site (`//host`, `https://...`)."""
    if isinstance(value, str) and value.startswith("/console") and not value.startswith("//"):
        return value
    return "/console"


def _sign_in_page(
    request: Request, next_path: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        None,
        {"csrf": token, "next": next_path, "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        path="/console",
        httponly=True,
        secure=secure_cookies(request),
        samesite="strict",
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    if session_of(request) is not None:
        return see_other(request, _safe_next(request.query_params.get("next")))
    return _sign_in_page(request, _safe_next(request.query_params.get("next")))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, form: Annotated[FormData, Depends(posted_form)]) -> Response:
    next_path = _safe_next(form.get("next"))
    if not csrf_ok(request.cookies.get(SIGN_IN_COOKIE, ""), form.get("csrf")):
        return _sign_in_page(
            request, next_path, "The sign-in form had expired; please try again.", 403
        )
    name, password, token = (str(form.get(k) or "") for k in ("name", "password", "token"))
    response = see_other(request, next_path)
    if token.strip():
        found = token_principal(request, token.strip())
        if found is None:
            return _sign_in_page(request, next_path, "That API token is not valid.", 401)
        subject, scopes, expires = found
        issue_session(request, response, subject, scopes, "token", expires=expires)
    else:
        user = authenticate(request.app.state.container.engine, name.strip(), password)
        if user is None:
            return _sign_in_page(request, next_path, "The name or password is wrong.", 401)
        issue_session(request, response, user.name, user.scopes, "user")
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return response


@router.post("/sign-out")
def sign_out(request: Request, form: Annotated[FormData, Depends(posted_form)]) -> Response:
    session = session_of(request)
    response = see_other(request, "/console/sign-in", "You are signed out.")
    if session is not None and csrf_ok(session.csrf, form.get("csrf")):
        end_session(request, response)
    return response
