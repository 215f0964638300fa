"""Access tokens never reach a log line, an exception, a traceback or a repr."""

from __future__ import annotations

import json
import traceback
from datetime import date

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.feeds.http import BearerToken, ProviderError, ProviderHTTP
from payrecon.feeds.openbanking import OpenBankingClient
from payrecon.feeds.stripe import StripeClient
from tests.unit.providers.support import TOKEN, FakeClock, routed


def _echoing(status: int) -> httpx.Client:
    """A hostile server that copies the request's Authorization header into its error body."""

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["Authorization"]
        body = {
            "error": {"type": "echo", "message": f"you sent {echoed}", "request_id": echoed},
            "summary": echoed,
        }
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"X-Echo": echoed})

    return routed(handler)


def _everything_said(caught: BaseException, logs: list[dict[str, object]]) -> str:
    parts = [str(caught), repr(caught), repr(getattr(caught, "details", None)), repr(caught.args)]
    parts += traceback.format_exception(caught)
    parts += [repr(entry) for entry in logs]
    return "\n".join(parts)


@pytest.mark.parametrize("status", [500, 429, 401, 404])
@pytest.mark.parametrize("secret", [TOKEN, SecretStr(TOKEN)])
def test_no_token_in_logs_or_errors_even_when_the_server_echoes_it(
    clock: FakeClock, status: int, secret: str | SecretStr
) -> None:
    client = GoCardlessClient(
        _echoing(status),
        access_token=secret,
        base_url="https://api.test",
        policy=clock.policy(max_attempts=3),
    )
    with capture_logs() as logs, pytest.raises(ProviderError) as caught:
        list(client.payment_pages())
    said = _everything_said(caught.value, logs)
    assert "you sent Bearer **********" in said  # the echo was kept, the token masked
    assert TOKEN not in said
    if status >= 429:
        assert any(entry["event"] == "provider_retry" for entry in logs)


def test_connection_failures_do_not_leak_the_token(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending {request.headers['Authorization']}")

    http = ProviderHTTP(
        routed(handler),
        provider="stripe",
        base_url="https://api.test",
        token=TOKEN,
        policy=clock.policy(max_attempts=2),
    )
    with capture_logs() as logs, pytest.raises(ProviderError) as caught:
        http.get_json("/v1/charges")
    assert TOKEN not in _everything_said(caught.value, logs)


def test_no_token_in_any_repr(clock: FakeClock) -> None:
    http = httpx.Client()
    objects = [
        GoCardlessClient(http, access_token=TOKEN, policy=clock.policy()),
        StripeClient(http, api_key=TOKEN),
        OpenBankingClient(http, access_token=SecretStr(TOKEN)),
        ProviderHTTP(http, provider="x", base_url="https://x.test", token=TOKEN),
        BearerToken(TOKEN),
        clock.policy(),
    ]
    for thing in objects:
        assert TOKEN not in repr(thing)
        assert TOKEN not in repr(vars(thing))
    assert TOKEN not in repr(vars(GoCardlessClient(http, access_token=TOKEN).http))


def test_the_open_banking_poll_does_not_leak_the_token(clock: FakeClock) -> None:
    client = OpenBankingClient(
        _echoing(503), access_token=TOKEN, base_url="https://bad.test", policy=clock.policy()
    )
    with capture_logs() as logs, pytest.raises(ProviderError) as caught:
        list(client.statement_line_pages("ACC", until=date(2024, 1, 31)))
    assert TOKEN not in _everything_said(caught.value, logs)
