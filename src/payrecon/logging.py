"""structlog set-up: JSON lines when stdout is not a terminal, readable console output when it is.

Every log line of a Celery task carries `task_id` and `task_name` (bound through contextvars by the
worker's signal handlers); IBANs are masked before anything is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_IBAN = re.compile(r"\b([A-Z]{2}\d{2})([A-Z0-9]{6,26})([A-Z0-9]{4})\b")
_SECRET_KEYS = {"password", "secret", "token", "access_token", "webhook_secret", "authorization"}


def mask_iban(text: str) -> str:
    """`CH9300762011623852957` -> `CH93*************2957`."""
    return _IBAN.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key.lower() in _SECRET_KEYS:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = mask_iban(value)
    return event


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing (a test's capture, a redirected
    stream), not the object that was stderr when logging was configured."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(log_format: str = "auto", level: str = "INFO") -> None:
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
