"""Request bodies are limited by size before they are read, on every route, webhooks included.

`BodySizeLimit` is pure ASGI (a `BaseHTTPMiddleware` would buffer the body it is meant to guard)
and sits outside authentication and signature checks, so an anonymous caller cannot make the API
hold more than a route's limit:

- a `Content-Length` above the limit answers 413 at once; not a byte of the body is read;
- a body without one (chunked) is counted as it streams: past the limit, reading stops and the
  request answers 413 (`BodyTooLarge`, an HTTP exception, so FastAPI's own body parsing and the
  routes' `request.body()` let it through to the error handler). uvicorn closes the connection,
  since the rest of the body was never read.

The limit of a route is `limits[(method, path)]`, else `default`: the small JSON and webhook limit
(`PAYRECON_MAX_BODY_BYTES`) everywhere, and the upload limit on `POST /v1/feeds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payrecon.api.errors import error_body
from payrecon.api.jsonenc import encode


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=_detail(limit))


def _detail(limit: int) -> dict[str, Any]:
    return {
        "code": "body_too_large",
        "message": f"the request body is larger than this route's limit of {limit} bytes",
        "details": {"limit": limit},
    }


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, *, default: int, limits: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits or {})

    def limit_for(self, method: str, path: str) -> int:
        return self.limits.get((method, path.rstrip("/") or "/"), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, 400, error_body("invalid_input", "Content-Length is not a number"))
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, _detail(limit))
            return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:  # too late for a 413: let the server drop the connection
                raise
            await _answer(send, 413, _detail(limit))


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent; -1 when it is not a non-negative integer."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = encode(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
