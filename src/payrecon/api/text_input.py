"""Text the database can store: no NUL character (PostgreSQL's text refuses it) and no lone
UTF-16 surrogate (`"\\ud800"` in JSON, which no UTF-8 column can hold). Either is a 422, checked
before a route runs, never a database error:

- in a path or query string, by `RefuseUnstorableText` (pure ASGI, outside the routes);
- in a JSON body, by `check_storable` as `listquery.ExactJSONRequest` decodes it.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from payrecon.api.errors import error_body
from payrecon.api.jsonenc import encode


def unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_storable(value: Any, where: tuple[str | int, ...] = ("body",)) -> None:
    """RequestValidationError naming the first string (key or value) in `value` that no text
    column can store."""
    if isinstance(value, str):
        if unstorable(value):
            raise RequestValidationError(
                [{"loc": where, "msg": "text must not hold NUL or lone surrogate characters"}]
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, (*where, "<key>"))
            check_storable(item, (*where, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, (*where, index))


class RefuseUnstorableText:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").lower()
            if b"%00" in query or b"\x00" in query or unstorable(scope["path"]):
                body = encode(
                    error_body(
                        "invalid_input",
                        "the path or query holds a NUL character",
                        [{"field": "path or query", "problem": "NUL character"}],
                    )
                ).encode("utf-8")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 422,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
