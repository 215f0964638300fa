"""Helpers for the provider tests: the shared fixtures, a fake clock, scripted transports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from payrecon.feeds.http import RetryPolicy

REPO = Path(__file__).resolve().parents[3]
GOCARDLESS_FIXTURES = REPO.parent / "shared" / "fixtures" / "gocardless"
TOKEN = "sk_test_SECRET_0123456789abcdef"


def fixture_path(name: str) -> Path:
    """A shared GoCardless fixture; a missing one fails the test loudly, never skips it."""
    path = GOCARDLESS_FIXTURES / name
    if not path.is_file():
        pytest.fail(f"shared fixture missing: {path} (expected <repo>/../shared/fixtures)")
    return path


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path(name).read_text(), parse_float=Decimal)
    return data


class FakeClock:
    """`now` and `sleep` for RetryPolicy: sleeping advances the clock, nothing really waits."""

    def __init__(self, start: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) -> None:
        self.current = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)

    def policy(self, **overrides: Any) -> RetryPolicy:
        settings: dict[str, Any] = {"sleep": self.sleep, "now": self.now, "random": lambda: 0.5}
        settings.update(overrides)
        return RetryPolicy(**settings)


class Script:
    """A MockTransport answering from a list of responses (or exceptions), recording requests."""

    def __init__(self, answers: Iterable[httpx.Response | Exception]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def routed(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def json_response(
    status: int, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers or {})
