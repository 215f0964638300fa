"""The one place services read the time; tests and tasks pass `now` explicitly where it matters."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
