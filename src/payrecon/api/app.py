"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse

from payrecon import __version__
from payrecon.api.auth import require
from payrecon.api.body_limit import BodySizeLimit
from payrecon.api.console import install_console
from payrecon.api.errors import declared_errors, install_error_handlers
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.routes import all_routers
from payrecon.api.text_input import RefuseUnstorableText
from payrecon.bootstrap import Container, get_container, pipeline
from payrecon.services.pipeline import Pipeline
from payrecon.services.rules import load_rule_book

# Room for a multipart upload's boundaries and part headers around a file of the upload limit.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(container: Container | None = None, port: Pipeline | None = None) -> FastAPI:
    """The app over `container` (the process's own by default); `port` is the pipeline it
    tells about received files and asks about tasks (Celery, by default)."""
    container = container or get_container()
    # Open without a token: /healthz, /readyz, /metrics and the signed webhooks; and, outside
    # production, the OpenAPI document and its pages. In production the document needs a `read`
    # token and the pages are not served (docs/api.md).
    production = container.settings.environment == "production"
    app = FastAPI(
        title="payrecon status API",
        version=__version__,
        description="Balances, payments and the reconciliation pipeline's state. "
        "Every /v1 path needs `Authorization: Bearer <JWT>`.",
        default_response_class=DecimalJSONResponse,
        openapi_url=None if production else "/openapi.json",
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
    )
    app.state.container = container
    app.state.pipeline = port or pipeline(container)
    load_rule_book()  # a bad rules file stops the API at start (RuleSetError names the field)
    install_error_handlers(app)
    settings = app.state.container.settings
    app.add_middleware(RefuseUnstorableText)
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        limits={("POST", "/v1/feeds"): settings.max_upload_bytes + MULTIPART_OVERHEAD},
    )
    for router in all_routers():
        app.include_router(router, responses=declared_errors(router))
    if production:
        app.include_router(_openapi_behind_a_token(app))
    install_console(app)
    return app


def _openapi_behind_a_token(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require("read"))])
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    return router
