"""The sandbox's switches and its running state (a development tool).

Switches, set at construction or through `POST /_sandbox/config`:

    rate_limit_every=N        every Nth provider request answers 429 (N >= 2; 0 = off)
    retry_after=S             the Retry-After seconds of those 429s (0..60, default 1)
    fail_every=N              every Nth provider request answers 500 (N >= 2; 0 = off)
    error_rate=P              besides, each request answers 503 with probability P (0..0.5, seeded)
    slow_ms=MS                each provider request waits MS milliseconds first (0..10000)
    duplicate_page_boundary   each page after the first repeats the last item of the one before;
                              an open-banking answer repeats one booked transaction
    tokens                    the bearer tokens accepted (any of them)
    payout_fx_rate            a decimal string: GoCardless payouts in another currency than GBP
                              are paid out in GBP at this rate (their `fx`); "" = no FX data
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from payrecon.sandbox.records import JsonObject, SandboxData
from payrecon.sandbox.seeding import generate

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's well-known development token


class ConfigError(ValueError):
    """A switch value the sandbox refuses; the admin endpoint answers 400 with the message."""


def _every(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value == 1:
        raise ConfigError(f"{name} must be 0 (off) or an integer >= 2, got {value!r}")
    return value


def _bounded(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


@dataclass(frozen=True)
class SandboxConfig:
    rate_limit_every: int = 0
    retry_after: int = 1
    fail_every: int = 0
    error_rate: float = 0.0  # a probability, not money
    slow_ms: int = 0
    duplicate_page_boundary: bool = False
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    payout_fx_rate: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.payout_fx_rate, str):
            raise ConfigError("payout_fx_rate must be a decimal string, or empty for none")
        if self.payout_fx_rate:
            try:
                fx_rate = Decimal(self.payout_fx_rate)
            except InvalidOperation:
                raise ConfigError(
                    f"payout_fx_rate is not a decimal: {self.payout_fx_rate!r}"
                ) from None
            if not fx_rate.is_finite() or fx_rate <= 0:
                raise ConfigError("payout_fx_rate must be positive")
        _every("rate_limit_every", self.rate_limit_every)
        _every("fail_every", self.fail_every)
        _bounded("retry_after", self.retry_after, 0, 60)
        _bounded("slow_ms", self.slow_ms, 0, 10_000)
        rate = self.error_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 0.5:
            raise ConfigError(f"error_rate must be a number in 0..0.5, got {rate!r}")
        if not isinstance(self.duplicate_page_boundary, bool):
            raise ConfigError("duplicate_page_boundary must be true or false")
        if not self.tokens or not all(isinstance(t, str) and t for t in self.tokens):
            raise ConfigError("tokens must be a non-empty list of non-empty strings")

    def updated(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A copy with `changes` applied (the admin endpoint's JSON); unknown names are refused."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown switch(es): {', '.join(unknown)}; known: {sorted(known)}")
        values = dict(changes)
        if "tokens" in values:
            tokens = values["tokens"]
            if not isinstance(tokens, list | tuple):
                raise ConfigError("tokens must be a list of strings")
            values["tokens"] = tuple(tokens)
        return replace(self, **values)

    def as_json(self) -> JsonObject:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["tokens"] = ["*" * len(t) for t in self.tokens]  # never echo the tokens
        return out


class SandboxState:
    """The seeded data, the switches and the request counter behind one sandbox app."""

    def __init__(
        self,
        *,
        seed: int = 0,
        customers: int = 25,
        payments_per_customer: int = 4,
        config: SandboxConfig | None = None,
    ) -> None:
        self.seed = seed
        self.data: SandboxData = generate(
            seed, customers=customers, payments_per_customer=payments_per_customer
        )
        self.truth: JsonObject = self.data.truth()
        self.config = config or SandboxConfig()
        _apply_payout_fx(self.data, self.config.payout_fx_rate)
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - reproducible fault injection
        self.requests = 0
        self.responses: Counter[int] = Counter()
        self.duplicates_served = 0

    def configure(self, changes: Mapping[str, Any]) -> SandboxConfig:
        with self._lock:
            self.config = self.config.updated(changes)
            _apply_payout_fx(self.data, self.config.payout_fx_rate)
            return self.config

    def next_request(self) -> tuple[int, float]:
        """Count a provider request; its number and a seeded draw for `error_rate`."""
        with self._lock:
            self.requests += 1
            return self.requests, self._random.random()

    def record(self, status: int, *, duplicates: int = 0) -> None:
        with self._lock:
            self.responses[status] += 1
            self.duplicates_served += duplicates

    def reset_counters(self) -> None:
        with self._lock:
            self.requests, self.duplicates_served = 0, 0
            self.responses.clear()

    def stats(self) -> JsonObject:
        with self._lock:
            return {
                "requests": self.requests,
                "responses": {str(k): v for k, v in sorted(self.responses.items())},
                "duplicates_served": self.duplicates_served,
            }


def _apply_payout_fx(data: SandboxData, rate_text: str) -> None:
    """GoCardless `fx` on the payouts not in GBP: paid out in GBP at the rate (or, with no rate,
    in their own currency, as GoCardless writes a payout without foreign exchange)."""
    for payout in data.gocardless.get("payouts", []):
        if payout["currency"] == "GBP":
            continue
        if not rate_text:
            payout["fx"] = {
                "fx_currency": payout["currency"],
                "fx_amount": None,
                "exchange_rate": None,
                "estimated_exchange_rate": None,
            }
            continue
        rate = Decimal(rate_text)
        fx_amount = (Decimal(payout["amount"]) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        payout["fx"] = {
            "fx_currency": "GBP",
            "fx_amount": int(fx_amount),
            "exchange_rate": rate_text,
            "estimated_exchange_rate": rate_text,
        }
