"""The console's session: a signed cookie (a JWT for the audience `payrecon-console`, which the
API's bearer check refuses), HttpOnly, SameSite=Strict, Secure outside development; a CSRF token
in it that every form posts back; a Content-Security-Policy without `unsafe-inline`.

A session names who signed in and how: a console user (`payrecon users add`), whose scopes are
read from the database at every request (a disabled user is signed out at once), or an API token,
whose scopes and expiry the session keeps.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payrecon.api.auth import SCOPES
from payrecon.services.operations.console_users import current_user

COOKIE = "payrecon_console"
SIGN_IN_COOKIE = "payrecon_console_sign_in"  # the sign-in form's CSRF token, before a session
AUDIENCE = "payrecon-console"
SESSION_HOURS = 8
_IMPLIED = {"read": {"read", "write", "admin"}, "write": {"write", "admin"}, "admin": {"admin"}}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    subject: str  # written to the audit log
    scopes: frozenset[str]
    csrf: str
    kind: str  # "user" or "token"

    def can(self, scope: str) -> bool:
        return bool(self.scopes & _IMPLIED[scope])


def _secret(request: Request) -> str:
    return str(request.app.state.container.settings.api_token_secret.get_secret_value())


def secure_cookies(request: Request) -> bool:
    return bool(request.app.state.container.settings.environment != "development")


def issue_session(
    request: Request,
    response: Response,
    subject: str,
    scopes: frozenset[str],
    kind: str,
    *,
    expires: datetime | None = None,
) -> None:
    now = datetime.now(UTC)
    until = min(
        expires or now + timedelta(hours=SESSION_HOURS), now + timedelta(hours=SESSION_HOURS)
    )
    claims = {
        "sub": subject,
        "scope": " ".join(sorted(scopes)),
        "kind": kind,
        "csrf": secrets.token_urlsafe(32),
        "aud": AUDIENCE,
        "iat": now,
        "exp": until,
    }
    response.set_cookie(
        COOKIE,
        jwt.encode(claims, _secret(request), algorithm="HS256"),
        max_age=int((until - now).total_seconds()),
        path="/console",
        httponly=True,
        secure=secure_cookies(request),
        samesite="strict",
    )


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/console", httponly=True, secure=secure_cookies(request), samesite="strict"
    )


def session_of(request: Request) -> ConsoleSession | None:
    """The request's session, or None (no cookie, a bad or expired one, a user gone)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            _secret(request),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "scope", "csrf", "kind"]},
        )
    except jwt.PyJWTError:
        return None
    scopes = frozenset(str(claims["scope"]).split()) & set(SCOPES)
    if claims["kind"] == "user":
        user = current_user(request.app.state.container.engine, str(claims["sub"]))
        if user is None:
            return None
        scopes = user.scopes
    return ConsoleSession(str(claims["sub"]), scopes, str(claims["csrf"]), str(claims["kind"]))


def token_principal(request: Request, token: str) -> tuple[str, frozenset[str], datetime] | None:
    """An API token's subject, scopes and expiry, or None when it is not a valid token."""
    try:
        claims = jwt.decode(
            token, _secret(request), algorithms=["HS256"], options={"require": ["exp", "scope"]}
        )
    except jwt.PyJWTError:
        return None
    scope = claims["scope"]
    scopes = frozenset(scope.split() if isinstance(scope, str) else scope) & set(SCOPES)
    if not scopes:
        return None
    return (
        f"token:{claims.get('sub', 'unknown')}",
        scopes,
        datetime.fromtimestamp(int(claims["exp"]), UTC),
    )


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected, given)


class ConsoleHeaders:
    """The console's security headers, on every /console response (the Swagger pages keep
    theirs: they load their own scripts). Pure ASGI: request bodies pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/console" or path.startswith("/console/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if not path.startswith("/console/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
