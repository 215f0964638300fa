"""Every error answers `{"code", "message", "details"}` with the status HTTP means by it, and
every route declares in the OpenAPI document each error status it can answer
(`declared_errors`, applied per router by `create_app`), with this shape as its schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from pydantic import BaseModel, Field
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


class ErrorBody(BaseModel):
    """The body of every error."""

    code: str = Field(description="What went wrong, for a program: `not_found`, `invalid_input`")
    message: str = Field(description="What went wrong, for a person")
    details: Any = Field(default=None, description="The field, the limit, the problems")


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry of an error status."""
    return {"model": ErrorBody, "description": description}


Responses = dict[int | str, dict[str, Any]]
_BODY_ERRORS: Responses = {
    400: error_response("The body cannot be read (a malformed upload or Content-Length)"),
    413: error_response("The body is larger than this route's limit (nothing of it is kept)"),
}
_BEARER_ERRORS: Responses = {
    401: error_response("No valid bearer token"),
    403: error_response("The token's scope falls short"),
    404: error_response("The resource, or one it names, does not exist"),
    409: error_response("The request contradicts the stored state; nothing is written"),
    422: error_response("A parameter or the body is not valid; nothing is written"),
}
_SIGNATURE_ERRORS: Responses = {
    404: error_response("No provider of that kind with that id"),
    422: error_response("The id, or a correctly signed body, is not valid"),
}


def declared_errors(router: APIRouter) -> Responses:
    """The error statuses of a router's routes: every route may answer 400 and 413 (the body
    limit); `/v1` routes behind a bearer token 401, 403, 404, 409, 422; webhooks (signed, no
    token) 404 and 422, each adding its own bad-signature status. A route's own declaration wins."""
    if router.prefix.startswith("/v1/webhooks"):
        return {**_BODY_ERRORS, **_SIGNATURE_ERRORS}
    if router.prefix.startswith("/v1"):
        return {**_BODY_ERRORS, **_BEARER_ERRORS}
    return dict(_BODY_ERRORS)


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
