"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from payrecon.api.jsonenc import DecimalJSONResponse

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "The database or the broker does not answer"}}
)
def readyz(request: Request) -> Any:
    """The database and the broker answer; 503 names what does not."""
    checks: dict[str, str] = {}
    try:
        with request.app.state.container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports any failure as "not ready"
        checks["database"] = type(exc).__name__
    try:
        request.app.state.pipeline.broker_reachable()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    return DecimalJSONResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status_code=200 if ready else 503
    )
