"""Bearer JWT (HS256) with a `scope` claim: `read`, `write`, `admin`. 401 without a valid token,
403 when its scope falls short."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated

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


def _scopes_of(token: str, secret: str) -> set[str]:
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
    scope = claims["scope"]
    return set(scope.split() if isinstance(scope, str) else scope)


def require(scope: str) -> Callable[..., set[str]]:
    """A dependency that lets the request through only with a token holding `scope`.
    `admin` implies `write`, and `write` implies `read`."""
    implied = {"read": {"read", "write", "admin"}, "write": {"write", "admin"}, "admin": {"admin"}}[
        scope
    ]

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> set[str]:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail={"code": "not_authenticated", "message": "a bearer token is required"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        secret = request.app.state.container.settings.api_token_secret.get_secret_value()
        scopes = _scopes_of(credentials.credentials, secret)
        if not scopes & implied:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"code": "forbidden", "message": f"this needs the {scope!r} scope"},
            )
        return scopes

    return dependency
