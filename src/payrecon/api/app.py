"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from payrecon import __version__
from payrecon.api.errors import install_error_handlers
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.routes import all_routers
from payrecon.bootstrap import Container, get_container, pipeline
from payrecon.services.pipeline import Pipeline
from payrecon.services.rules import load_rule_book


def create_app(container: Container | None = None, port: Pipeline | None = None) -> FastAPI:
    """The app over `container` (the process's own by default); `port` is the pipeline it
    tells about received files and asks about tasks (Celery, by default)."""
    app = FastAPI(
        title="payrecon status API",
        version=__version__,
        description="Balances, payments and the reconciliation pipeline's state. "
        "Every /v1 path needs `Authorization: Bearer <JWT>`.",
        default_response_class=DecimalJSONResponse,
    )
    app.state.container = container or get_container()
    app.state.pipeline = port or pipeline(app.state.container)
    load_rule_book()  # a bad rules file stops the API at start (RuleSetError names the field)
    install_error_handlers(app)
    for router in all_routers():
        app.include_router(router)
    return app
