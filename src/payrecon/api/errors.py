"""Every error answers `{"code", "message", "details"}` with the status HTTP means by it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.domain.errors import Conflict, InvalidInput, NotAuthorised, NotFound, PayreconError
from payrecon.services.reconciliation.feeds import UploadTooLarge

_STATUS: list[tuple[type[PayreconError], int]] = [
    (NotFound, 404),
    (UploadTooLarge, 413),
    (Conflict, 409),
    (InvalidInput, 422),
    (NotAuthorised, 403),
]


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PayreconError)
    async def _domain(_: Request, exc: PayreconError) -> DecimalJSONResponse:
        status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 400)
        return DecimalJSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> DecimalJSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return DecimalJSONResponse(
            error_body("invalid_input", "the request is not valid", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> DecimalJSONResponse:
        detail = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            body = error_body(detail["code"], detail["message"], detail.get("details"))
        else:
            body = error_body(f"http_{exc.status_code}", str(detail))
        headers = exc.headers if isinstance(exc, HTTPException | StarletteHTTPException) else None
        return DecimalJSONResponse(body, status_code=exc.status_code, headers=headers)
