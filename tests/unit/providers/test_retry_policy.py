"""The one retry policy: 429s wait as told, 5xx and network errors back off, other 4xx never retry."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from payrecon.feeds.http import (
    DEFAULT_TIMEOUT,
    ProviderHTTP,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderUnavailableError,
    RetryPolicy,
    parse_wait,
)
from tests.unit.providers.support import TOKEN, FakeClock, Script, json_response, load_fixture

OK = json_response(200, {"ok": True})


def _http(script: Script, policy: RetryPolicy) -> ProviderHTTP:
    return ProviderHTTP(
        script.client(),
        provider="gocardless",
        base_url="https://api.example.test/",
        token=TOKEN,
        policy=policy,
    )


def test_429_waits_the_retry_after_seconds_then_succeeds(clock: FakeClock) -> None:
    limited = json_response(429, load_fixture("rate_limit_exceeded.json"), {"Retry-After": "7"})
    script = Script([limited, OK])
    assert _http(script, clock.policy()).get_json("/payments") == {"ok": True}
    assert clock.sleeps == [7.0]
    assert len(script.requests) == 2


def test_429_honours_an_http_date_retry_after(clock: FakeClock) -> None:
    when = email.utils.format_datetime(clock.now() + timedelta(seconds=12), usegmt=True)
    script = Script([json_response(429, {}, {"Retry-After": when}), OK])
    _http(script, clock.policy()).get_json("/payments")
    assert clock.sleeps == [12.0]


def test_429_without_retry_after_waits_for_the_gocardless_ratelimit_reset(clock: FakeClock) -> None:
    reset = email.utils.format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    headers = {"RateLimit-Limit": "1000", "RateLimit-Remaining": "0", "RateLimit-Reset": reset}
    script = Script([json_response(429, {}, headers), OK])
    _http(script, clock.policy()).get_json("/payments")
    assert clock.sleeps == [30.0]


def test_a_spent_quota_pauses_the_next_request_until_the_reset(clock: FakeClock) -> None:
    reset = email.utils.format_datetime(clock.now() + timedelta(seconds=20), usegmt=True)
    spent = json_response(200, {"page": 1}, {"ratelimit-remaining": "0", "ratelimit-reset": reset})
    script = Script([spent, OK])
    http = _http(script, clock.policy())
    assert http.get_json("/payments") == {"page": 1}
    assert clock.sleeps == []
    assert http.get_json("/payments") == {"ok": True}
    assert clock.sleeps == [20.0]


def test_5xx_is_retried_with_jittered_exponential_backoff(clock: FakeClock) -> None:
    error = json_response(500, load_fixture("gocardless_error.json"))
    script = Script([error, json_response(503, {}), json_response(502, {}), OK])
    policy = clock.policy(base_delay=1.0, random=lambda: 0.5)
    assert _http(script, policy).get_json("/payments") == {"ok": True}
    assert clock.sleeps == [0.5, 1.0, 2.0]  # half of the caps 1, 2, 4


def test_the_backoff_is_full_jitter_under_a_cap() -> None:
    draws = iter([0.0, 0.999, 0.25])
    policy = RetryPolicy(base_delay=2.0, max_delay=5.0, random=lambda: next(draws))
    assert policy.backoff(1) == 0.0
    assert policy.backoff(10) == pytest.approx(4.995)  # capped at max_delay
    assert policy.backoff(2) == 1.0


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_timeouts_and_connection_errors_are_retried(clock: FakeClock, failure: Exception) -> None:
    script = Script([failure, OK])
    assert _http(script, clock.policy()).get_json("/payments") == {"ok": True}
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_other_4xx_are_not_retried(clock: FakeClock, status: int) -> None:
    body = {"error": {"type": "invalid_api_usage", "message": "nope", "errors": [{"reason": "r"}]}}
    script = Script([json_response(status, body)])
    with pytest.raises(ProviderRejectedError) as caught:
        _http(script, clock.policy()).get_json("/payments")
    assert len(script.requests) == 1
    assert clock.sleeps == []
    assert caught.value.status == status
    assert caught.value.provider_code == "r"
    assert "nope" in str(caught.value)


def test_exhausted_attempts_raise_a_clear_error_without_the_token(clock: FakeClock) -> None:
    error = json_response(500, load_fixture("gocardless_error.json"))
    script = Script([error] * 3)
    with pytest.raises(ProviderUnavailableError) as caught:
        _http(script, clock.policy(max_attempts=3)).get_json("/payments")
    message = str(caught.value)
    assert "gocardless GET /payments: gave up after 3 attempt(s)" in message
    assert "500" in message
    assert "Uh-oh!" in message
    assert "41a59cf8-ca4c-474c-9931-7f01fb547bc7" in message  # GoCardless's request id
    assert TOKEN not in message
    assert TOKEN not in repr(caught.value.details)
    assert caught.value.attempts == 3
    assert len(clock.sleeps) == 2


def test_exhausted_429s_say_when_to_come_back(clock: FakeClock) -> None:
    limited = json_response(429, {}, {"Retry-After": "2"})
    script = Script([limited] * 2)
    with pytest.raises(ProviderRateLimitedError) as caught:
        _http(script, clock.policy(max_attempts=2)).get_json("/payments")
    assert caught.value.retry_after == 2.0
    assert isinstance(caught.value, ProviderUnavailableError)


def test_a_retry_after_beyond_the_budget_gives_up_at_once(clock: FakeClock) -> None:
    script = Script([json_response(429, {}, {"Retry-After": "3600"})])
    with pytest.raises(ProviderRateLimitedError) as caught:
        _http(script, clock.policy(max_total_wait=60)).get_json("/payments")
    assert caught.value.retry_after == 3600.0
    assert clock.sleeps == []


def test_each_request_carries_the_explicit_timeout_and_the_bearer_token(clock: FakeClock) -> None:
    script = Script([OK])
    _http(script, clock.policy()).get_json("/payments", {"limit": 5, "after": None})
    request = script.requests[0]
    assert request.extensions["timeout"] == DEFAULT_TIMEOUT.as_dict()
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(request.url) == "https://api.example.test/payments?limit=5"


def test_a_success_that_is_not_json_is_a_response_error(clock: FakeClock) -> None:
    script = Script([httpx.Response(200, content=b"<html>")])
    with pytest.raises(ProviderResponseError):
        _http(script, clock.policy()).get_json("/payments")


def test_json_numbers_with_fractions_decode_as_decimals(clock: FakeClock) -> None:
    script = Script([httpx.Response(200, content=b'{"amount": 12.30}')])
    body = _http(script, clock.policy()).get_json("/x")
    assert repr(body["amount"]) == "Decimal('12.30')"


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Wed, 01 May 2024 12:00:10 GMT", 10.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
        (str(int(NOW.timestamp()) + 45), 45.0),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_wait(value: str, expected: float | None) -> None:
    assert parse_wait(value, NOW) == expected
