"""The sandbox's ASGI app: the provider paths behind bearer-token auth and the fault switches, and
the `/_sandbox/*` admin paths. A development tool, not a provider emulator to trust in production.

    /gocardless/{resource}[/{id}]                     GoCardless shapes; base URL .../gocardless
    /stripe/v1/{resource}[/{id}]                      Stripe shapes; base URL .../stripe
    /openbanking/api/v2/accounts/{id}/transactions/   Bank Account Data; base URL .../openbanking
    GET  /_sandbox/truth      the full expected set of ids and amounts, per provider
    GET  /_sandbox/config     the switches (tokens masked); POST merges a JSON object of switches
    GET  /_sandbox/stats      requests counted, responses by status, page duplicates served
    POST /_sandbox/reset      zero the counters (so `rate_limit_every` counts from the next request)

The admin paths take no token: bind the sandbox to 127.0.0.1 (the default).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payrecon.sandbox import listing
from payrecon.sandbox.listing import Answer, SandboxRequestError
from payrecon.sandbox.state import ConfigError, SandboxState

RATE_LIMIT = 1000
_GC_DOCS = "https://developer.gocardless.com/api-reference"

Handler = Callable[[Request], Answer]


def _gocardless_error(status: int, reason: str, message: str, request_id: str) -> object:
    if status == 429:  # the shape of the shared fixture rate_limit_exceeded.json
        reason, message = "rate_limit_exceeded", "Rate limit exceeded"
    kind = "gocardless" if status >= 500 else "invalid_api_usage"
    if reason == "validation_failed":
        kind = "validation_failed"
    error: dict[str, object] = {
        "message": "Uh-oh!" if status >= 500 else message,
        "documentation_url": f"{_GC_DOCS}#{reason}",
        "type": kind,
        "request_id": request_id,
        "code": status,
    }
    if status < 500:
        error["errors"] = [{"reason": reason, "message": message}]
    return {"error": error}


def _stripe_error(status: int, reason: str, message: str, request_id: str) -> object:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    return {
        "error": {"type": kind, "code": reason, "message": message, "request_log_url": request_id}
    }


def _openbanking_error(status: int, reason: str, message: str, request_id: str) -> object:
    return {"summary": reason.replace("_", " "), "detail": message, "status_code": status}


_ERROR_SHAPES = {
    "gocardless": _gocardless_error,
    "stripe": _stripe_error,
    "openbanking": _openbanking_error,
}


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def _quota_headers(provider: str, remaining: int, reset_in: int) -> dict[str, str]:
    if provider == "gocardless":
        return {
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": _http_date(reset_in),
        }
    if provider == "openbanking":
        return {
            "HTTP_X_RATELIMIT_LIMIT": str(RATE_LIMIT),
            "HTTP_X_RATELIMIT_REMAINING": str(remaining),
            "HTTP_X_RATELIMIT_RESET": str(reset_in),
        }
    return {}


def create_app(state: SandboxState) -> Starlette:
    """The sandbox as an ASGI app serving `state` (its data, switches and counters)."""

    def endpoint(provider: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        shape = _ERROR_SHAPES[provider]

        async def serve(request: Request) -> Response:
            config = state.config
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token not in config.tokens:
                state.record(401)
                body = shape(401, "unauthorised", "Invalid or missing bearer token", "-")
                return JSONResponse(body, status_code=401)
            number, draw = state.next_request()
            request_id = f"sandbox-{number:08d}"
            if config.slow_ms:
                await asyncio.sleep(config.slow_ms / 1000)
            every = config.rate_limit_every
            if every and number % every == 0:
                headers = {
                    "Retry-After": str(config.retry_after),
                    **_quota_headers(provider, 0, config.retry_after),
                }
                state.record(429)
                body = shape(429, "rate_limit_exceeded", "Rate limit exceeded", request_id)
                return JSONResponse(body, status_code=429, headers=headers)
            if (config.fail_every and number % config.fail_every == 0) or draw < config.error_rate:
                status = 500 if config.fail_every and number % config.fail_every == 0 else 503
                state.record(status)
                body = shape(status, "internal_error", "Internal server error", request_id)
                return JSONResponse(body, status_code=status)
            try:
                answer = handler(request)
            except SandboxRequestError as exc:
                state.record(exc.status)
                body = shape(exc.status, exc.reason, exc.message, request_id)
                return JSONResponse(body, status_code=exc.status)
            state.record(200, duplicates=answer.duplicates)
            remaining, reset_in = RATE_LIMIT - 1, 60
            if every:
                remaining, reset_in = every - 1 - number % every, config.retry_after
            headers = _quota_headers(provider, remaining, reset_in)
            return JSONResponse(answer.body, headers={**headers, "Request-Id": request_id})

        return serve

    def query(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    def duplicate() -> bool:
        return state.config.duplicate_page_boundary

    def gc_list(request: Request) -> Answer:
        resource = request.path_params["resource"]
        return listing.gocardless_list(state.data, resource, query(request), duplicate=duplicate())

    def gc_get(request: Request) -> Answer:
        params = request.path_params
        return listing.gocardless_get(state.data, params["resource"], params["identity"])

    def stripe_list(request: Request) -> Answer:
        resource = request.path_params["resource"]
        return listing.stripe_list(state.data, resource, query(request), duplicate=duplicate())

    def stripe_get(request: Request) -> Answer:
        params = request.path_params
        return listing.stripe_get(state.data, params["resource"], params["identity"])

    def ob_transactions(request: Request) -> Answer:
        account = request.path_params["account"]
        return listing.openbanking_transactions(
            state.data, account, query(request), duplicate=duplicate()
        )

    async def truth(request: Request) -> Response:
        return JSONResponse(state.truth)

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def reset(request: Request) -> Response:
        state.reset_counters()
        return JSONResponse(state.stats())

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = await request.json()
            except ValueError:
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            if not isinstance(changes, dict):
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            try:
                state.configure(changes)
            except ConfigError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(state.config.as_json())

    ob_path = "/openbanking/api/v2/accounts/{account}/transactions/"
    routes = [
        Route("/_sandbox/truth", truth, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/config", config, methods=["GET", "POST"]),
        Route("/gocardless/{resource}", endpoint("gocardless", gc_list), methods=["GET"]),
        Route("/gocardless/{resource}/{identity}", endpoint("gocardless", gc_get), methods=["GET"]),
        Route("/stripe/v1/{resource}", endpoint("stripe", stripe_list), methods=["GET"]),
        Route("/stripe/v1/{resource}/{identity}", endpoint("stripe", stripe_get), methods=["GET"]),
        Route(ob_path, endpoint("openbanking", ob_transactions), methods=["GET"]),
    ]
    return Starlette(routes=routes)
