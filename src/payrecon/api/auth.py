"""Bearer JWT (HS256) with a `scope` claim: `read`, `write`, `admin`. 401 without a valid token,
403 when its scope falls short."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

SCOPES = ("read", "write", "admin")
_bearer = HTTPBearer(auto_error=False)


def issue_token(
    secret: str,
    scopes: Iterable[str],
    *,
    ttl: timedelta = timedelta(hours=12),
    subject: str = "cli",
) -> str:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise ValueError(
            f"scopes must be among {', '.join(SCOPES)}; got {', '.join(wanted) or 'none'}"
        )
    now = datetime.now(UTC)
    claims = {"sub": subject, "scope": " ".join(wanted), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's subject (written to the audit log) and its scopes."""

    subject: str
    scopes: frozenset[str]


def _claims_of(token: str, secret: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "scope"]}
        )
    except jwt.PyJWTError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"code": "not_authenticated", "message": f"invalid token: {exc}"},
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    return dict(claims)


def _scopes(claims: dict[str, Any]) -> set[str]:
    scope = claims["scope"]
    return set(scope.split() if isinstance(scope, str) else scope)


_IMPLIED = {"read": {"read", "write", "admin"}, "write": {"write", "admin"}, "admin": {"admin"}}


def caller(scope: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets the request through only with a token holding `scope`, and hands
    the route the `Principal` (for the audit log). `admin` implies `write` implies `read`.

    Async, as is `require`'s: the check does no I/O, and FastAPI runs a plain `def` dependency
    in its thread pool, a hop to a thread and back on every request for a microsecond's work."""
    implied = _IMPLIED[scope]

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail={"code": "not_authenticated", "message": "a bearer token is required"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        secret = request.app.state.container.settings.api_token_secret.get_secret_value()
        claims = _claims_of(credentials.credentials, secret)
        scopes = _scopes(claims)
        if not scopes & implied:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"code": "forbidden", "message": f"this needs the {scope!r} scope"},
            )
        return Principal(subject=str(claims.get("sub", "unknown")), scopes=frozenset(scopes))

    return dependency


def require(scope: str) -> Callable[..., Coroutine[Any, Any, set[str]]]:
    """Like `caller`, for routes that need only the check: returns the token's scopes."""
    check = caller(scope)

    # A plain default, not Annotated: `check` is local, and annotations are strings here.
    async def dependency(principal: Principal = Depends(check)) -> set[str]:
        return set(principal.scopes)

    return dependency
