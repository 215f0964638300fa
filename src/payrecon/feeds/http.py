"""The HTTP edge shared by every provider client: one retry policy, one transport wrapper, one page.

Every provider call is an idempotent GET sent through `ProviderHTTP.get_json`, which applies
`RetryPolicy` through tenacity: an explicit `httpx.Timeout`; exponential backoff with full jitter
on 5xx, timeouts and connection errors; on 429 the server's `Retry-After` (seconds or an HTTP
date), else its rate-limit reset header; no retry on any other 4xx; a cap on attempts and on the
total time slept (tenacity's `idle_for`, so an injected `sleep` makes the tests exact).
A response saying the quota is spent (`RateLimit-Remaining: 0`) pauses the next request until the
reset.

Access tokens are held as `SecretStr` and attached by `BearerToken`, whose repr hides them; no
exception message or log event carries them (response text is scrubbed as well, in case a server
echoes the request).

    PayreconError
    ├── ProviderError                     a provider call failed
    │   ├── ProviderUnavailableError      5xx, timeouts or connection errors outlasted the retries
    │   │   └── ProviderRateLimitedError  429s outlasted the retries; `retry_after` says when
    │   └── ProviderRejectedError         any other 4xx (or 3xx): not retried; `status`,
    │                                     `provider_code` (e.g. GoCardless `invalid_api_usage`)
    └── FeedFormatError
        └── ProviderResponseError         a body not of the JSON shape expected; names the place
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

import httpx
import structlog
import tenacity
from pydantic import SecretStr

from payrecon.domain.errors import FeedFormatError, InvalidAmount, InvalidInput, PayreconError
from payrecon.domain.money import parse_amount

log = structlog.get_logger("payrecon.feeds")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
RETRY_AFTER_HEADER = "retry-after"
RESET_HEADERS = ("ratelimit-reset", "x-ratelimit-reset", "http_x_ratelimit_reset")
REMAINING_HEADERS = ("ratelimit-remaining", "x-ratelimit-remaining", "http_x_ratelimit_remaining")
_EPOCH_THRESHOLD = 1_000_000_000  # a reset value this large is a Unix time, not a delay
_MASK = "**********"
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,128}")

RecordT = TypeVar("RecordT")
EnumT = TypeVar("EnumT", bound=StrEnum)
ValueT = TypeVar("ValueT")


class ProviderError(PayreconError):
    code = "provider_error"


class ProviderUnavailableError(ProviderError):
    """Transient: retrying the whole task later is the right answer."""

    code = "provider_unavailable"

    def __init__(self, message: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(message, details={"attempts": attempts, "status": status})
        self.attempts = attempts
        self.status = status


class ProviderRateLimitedError(ProviderUnavailableError):
    code = "provider_rate_limited"

    def __init__(self, message: str, *, attempts: int, retry_after: float) -> None:
        super().__init__(message, attempts=attempts, status=429)
        self.retry_after = retry_after


class ProviderRejectedError(ProviderError):
    """The provider refused the request (bad token, unknown id, invalid cursor)."""

    code = "provider_request_rejected"

    def __init__(self, message: str, *, status: int, provider_code: str | None) -> None:
        super().__init__(message, details={"status": status, "provider_code": provider_code})
        self.status = status
        self.provider_code = provider_code


class ProviderResponseError(FeedFormatError):
    code = "provider_response_invalid"


def path_segment(value: str) -> str:
    """An id safe to put in a URL path (provider ids are letters, digits, `_` and `-`)."""
    if not _SEGMENT.fullmatch(value):
        raise InvalidInput(f"not a provider id: {value[:40]!r}")
    return value


def as_secret(value: str | SecretStr) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


class BearerToken(httpx.Auth):
    """`Authorization: Bearer <token>` on each request; the token never shows in a repr."""

    def __init__(self, token: str | SecretStr) -> None:
        self._token = as_secret(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def scrub(self, text: str) -> str:
        secret = self._token.get_secret_value()
        return text.replace(secret, _MASK) if secret else text

    def __repr__(self) -> str:
        return f"BearerToken('{_MASK}')"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Inject `sleep`, `random` and `now` in tests so that nothing really waits."""

    max_attempts: int = 5
    base_delay: float = 0.5  # seconds; the backoff cap doubles from here per failed attempt
    max_delay: float = 30.0  # the cap on one backoff sleep
    max_total_wait: float = 120.0  # all sleeps of one request; a longer Retry-After gives up

    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)
    now: Callable[[], datetime] = field(default=_utcnow, repr=False)

    def backoff(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(failures - 1))]."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(max(failures - 1, 0), 62))
        return self.random() * cap


def parse_wait(value: str, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` or rate-limit reset value: delay seconds, a Unix time,
    or an HTTP date. None if unreadable."""
    text = value.strip()
    try:
        number = Decimal(text)
    except ArithmeticError:
        number = None
    if number is not None and number.is_finite():
        if number >= _EPOCH_THRESHOLD:
            return max(0.0, float(number) - now.timestamp())
        return max(0.0, float(number))  # seconds to sleep, not money: float is right here
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _header(response: httpx.Response, names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in response.headers:
            return response.headers[name]
    return None


class _Transient(Exception):
    """A failed attempt that another may cure: 5xx, 429, a timeout or a connection error."""

    def __init__(self, problem: str, response: httpx.Response | None = None) -> None:
        super().__init__(problem)
        self.problem, self.response = problem, response
        self.status = None if response is None else response.status_code


def _failure(state: tenacity.RetryCallState) -> _Transient:
    failure = state.outcome.exception() if state.outcome is not None else None
    assert isinstance(failure, _Transient)  # tenacity retries only these
    return failure


class Page(NamedTuple, Generic[RecordT]):
    """One page of a provider list: commit `next_cursor` with the rows made from `records`.
    `next_cursor` is None after the last page (open banking: the last date fully polled)."""

    records: tuple[RecordT, ...]
    next_cursor: str | None


class ProviderHTTP:
    """GET JSON from one provider with the shared retry policy. Wraps an injected `httpx.Client`."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        provider: str,
        base_url: str,
        token: str | SecretStr,
        policy: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._auth = BearerToken(token)
        self.policy = policy or RetryPolicy()
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._resume_at: datetime | None = None

    def __repr__(self) -> str:
        return f"ProviderHTTP(provider={self.provider!r}, base_url={self.base_url!r})"

    def get_json(self, path: str, params: Mapping[str, str | int | None] | None = None) -> Any:
        """The decoded JSON body (floats decoded as Decimal) of a successful GET of `path`."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        where = f"{self.provider} GET {path}"
        policy = self.policy
        waited = self._pause_for_quota(where)

        def out_of_budget(state: tenacity.RetryCallState) -> bool:
            slept = waited + state.idle_for + state.upcoming_sleep
            return state.attempt_number >= policy.max_attempts or slept > policy.max_total_wait

        def retry_log(state: tenacity.RetryCallState) -> None:
            failure = _failure(state)
            log.warning(
                "provider_retry",
                provider=self.provider,
                path=path,
                status=failure.status,
                problem=failure.problem,
                attempt=state.attempt_number,
                delay_s=round(state.upcoming_sleep, 3),
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            wait=self._wait,
            stop=out_of_budget,
            sleep=policy.sleep,
            before_sleep=retry_log,
            retry_error_callback=lambda state: self._give_up(state, where, path),
        )
        return retrying(self._attempt, path, query, where)

    def _attempt(self, path: str, query: Mapping[str, str], where: str) -> Any:
        """One GET: the body, or `_Transient` if another attempt may succeed."""
        try:
            response = self._client.request(
                "GET",
                self.base_url + path,
                params=query,
                headers=self._headers,
                auth=self._auth,
                timeout=self.policy.timeout,
            )
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Transient(type(exc).__name__) from None
        except httpx.HTTPError as exc:  # a bad URL or protocol: retrying cannot help
            raise ProviderError(self._auth.scrub(f"{where}: {type(exc).__name__}: {exc}")) from None
        if response.is_success:
            self._note_quota(response)
            return self._decode(response.content, where)
        status = response.status_code
        problem, provider_code = self._describe(response)
        if status != 429 and status < 500:
            raise ProviderRejectedError(
                f"{where}: HTTP {status}: {problem}", status=status, provider_code=provider_code
            )
        raise _Transient(problem, response)

    def _give_up(self, state: tenacity.RetryCallState, where: str, path: str) -> NoReturn:
        failure, attempts, wait = _failure(state), state.attempt_number, state.upcoming_sleep
        last = f"HTTP {failure.status} {failure.problem}" if failure.status else failure.problem
        message = f"{where}: gave up after {attempts} attempt(s); last: {last}"
        log.error("provider_gave_up", provider=self.provider, path=path, attempts=attempts)
        if failure.status == 429:
            raise ProviderRateLimitedError(message, attempts=attempts, retry_after=wait)
        raise ProviderUnavailableError(message, attempts=attempts, status=failure.status)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Retry-After if given; on 429 the rate-limit reset next; else jittered backoff."""
        response = _failure(state).response
        if response is not None:
            now = self.policy.now()
            hints = [response.headers.get(RETRY_AFTER_HEADER)]
            if response.status_code == 429:
                hints.append(_header(response, RESET_HEADERS))
            for value in hints:
                wait = parse_wait(value, now) if value else None
                if wait is not None:
                    return wait
        return self.policy.backoff(state.attempt_number)

    def _note_quota(self, response: httpx.Response) -> None:
        remaining, reset = _header(response, REMAINING_HEADERS), _header(response, RESET_HEADERS)
        if remaining is None or reset is None or remaining.strip() != "0":
            return
        now = self.policy.now()
        wait = parse_wait(reset, now)
        if wait:
            self._resume_at = now + timedelta(seconds=wait)

    def _pause_for_quota(self, where: str) -> float:
        wait = (
            0.0
            if self._resume_at is None
            else (self._resume_at - self.policy.now()).total_seconds()
        )
        self._resume_at = None
        if wait <= 0:
            return 0.0
        if wait > self.policy.max_total_wait:
            message = f"{where}: rate-limit quota spent; resets in {wait:.0f} s"
            raise ProviderRateLimitedError(message, attempts=0, retry_after=wait)
        log.info("provider_throttle", provider=self.provider, where=where, delay_s=round(wait, 3))
        self.policy.sleep(wait)
        return wait

    @staticmethod
    def _decode(content: bytes, where: str) -> Any:
        try:
            return json.loads(content, parse_float=Decimal)
        except ValueError as exc:
            raise ProviderResponseError(where, "body", f"not JSON: {exc}") from None

    def _describe(self, response: httpx.Response) -> tuple[str, str | None]:
        """A short, token-free summary of an error body (GoCardless, Stripe or open-banking shape)
        and the provider's error code (GoCardless `errors[0].reason`, Stripe `code`)."""
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        error = body.get("error")
        code: str | None = None
        if isinstance(error, dict):
            parts = [error.get("type"), error.get("message"), error.get("request_id")]
            errors = error.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else {}
            reason = first.get("reason") if isinstance(first, dict) else None
            code = str(reason or error.get("code") or error.get("type") or "") or None
        else:
            parts = [body.get("summary"), body.get("detail")]
        text = " | ".join(str(p) for p in parts if p) or response.reason_phrase
        return self._auth.scrub(text[:300]), code


class Fields:
    """Typed reads from one JSON object of a provider body; each error names source and place."""

    def __init__(self, data: object, *, source: str, place: str) -> None:
        if not isinstance(data, dict):
            raise ProviderResponseError(source, place, f"expected an object, got {data!r:.80}")
        self._data: dict[str, Any] = data
        self.source = source
        self.place = place

    def _fail(self, key: str, problem: str) -> ProviderResponseError:
        return ProviderResponseError(self.source, f"{self.place}.{key}", problem)

    def data(self) -> Mapping[str, Any]:
        return self._data

    def raw(self, key: str) -> Any:
        return self._data.get(key)

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def opt_text(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._fail(key, f"expected text, got {value!r:.80}")
        return value

    def text(self, key: str) -> str:
        value = self.opt_text(key)
        if value is None:
            raise self._fail(key, "missing")
        return value

    def integer(self, key: str) -> int:
        value = self._data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"expected an integer, got {value!r:.80}")
        return value

    def decimal(self, key: str) -> Decimal:
        value = self._data.get(key)
        if not isinstance(value, str | int | Decimal) or isinstance(value, bool):
            raise self._fail(key, f"expected a decimal, got {value!r:.80}")
        try:
            return parse_amount(value, field=key)
        except InvalidAmount as exc:
            raise self._fail(key, exc.message) from None

    def _convert(self, key: str, value: str, parse: Callable[[str], ValueT], what: str) -> ValueT:
        try:
            return parse(value)
        except ValueError:
            raise self._fail(key, f"not {what}: {value!r}") from None

    def opt_date(self, key: str) -> date | None:
        value = self.opt_text(key)
        return None if value is None else self._convert(key, value, date.fromisoformat, "a date")

    def timestamp(self, key: str) -> datetime:
        value = self.text(key)
        parsed = self._convert(key, value, datetime.fromisoformat, "an ISO timestamp")
        if parsed.tzinfo is None:
            raise self._fail(key, f"timestamp without a zone: {value!r}")
        return parsed

    def epoch(self, key: str) -> datetime:
        return datetime.fromtimestamp(self.integer(key), UTC)

    def enum(self, key: str, kind: type[EnumT], aliases: Mapping[str, str] | None = None) -> EnumT:
        value = self.text(key)
        return self._convert(key, (aliases or {}).get(value, value), kind, f"a {kind.__name__}")

    def obj(self, key: str) -> Fields:
        """A nested object; a missing one reads as empty."""
        value = self._data.get(key)
        return Fields(
            {} if value is None else value, source=self.source, place=f"{self.place}.{key}"
        )

    def links(self, key: str = "links") -> dict[str, str]:
        value = self._data.get(key) or {}
        if not isinstance(value, dict):
            raise self._fail(key, "expected an object")
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}

    def items(self, key: str) -> list[Fields]:
        """The objects of a list member, each reading with its index in the place."""
        value = self._data.get(key)
        if not isinstance(value, list):
            raise self._fail(key, "expected a list")
        return [
            Fields(item, source=self.source, place=f"{self.place}.{key}[{i}]")
            for i, item in enumerate(value)
        ]


def body_fields(body: object, source: str) -> Fields:
    return Fields(body, source=source, place="$")


def make_client(
    *, timeout: httpx.Timeout = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The `httpx.Client` the composition root hands to the provider clients."""
    return httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
