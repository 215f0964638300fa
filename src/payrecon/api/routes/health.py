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


@router.get("/readyz")
def readyz(request: Request) -> Any:
    """The database answers (the broker check joins with the operations issue)."""
    try:
        with request.app.state.container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return DecimalJSONResponse(
            {"status": "unavailable", "database": type(exc).__name__}, status_code=503
        )
    return {"status": "ok", "database": "ok"}
