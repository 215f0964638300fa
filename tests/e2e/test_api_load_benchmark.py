"""`benchmarks/api_load.py` at CI scale: a few thousand payments, a few seconds of load at a fixed
rate against the real API served by uvicorn. Every request must answer 200 with the right shape
(the benchmark checks each body: fields, the filter it asked for, the count it expects).
Correctness only: no figure of time is asserted."""

from __future__ import annotations

import pytest
from benchmarks.api_load import run

from tests.services import SESSION

pytestmark = pytest.mark.integration

KINDS = {
    "customer",
    "customer_admin",
    "customer_dates",
    "customer_mode_seed",
    "invoice",
    "reference",
    "day",
}


def test_every_request_under_load_answers_right() -> None:
    figures = run(
        customers=400,
        payments=3000,
        rate=60,
        duration=3,
        phases=["healthz", "balances", "payments"],
        warmup=0.5,
        workspace=SESSION.workspace(),
    )
    build = figures["build"]
    assert set(build["copy_seconds"]) >= {"customers", "invoices", "payments", "allocations"}
    assert set(figures["bare_sql"]) == {"balance_row", "customer_payments_page"}
    phases = {p["phase"]: p for p in figures["phases"]}
    assert list(phases) == ["healthz", "balances", "payments"]
    for phase in phases.values():
        assert phase["requests"] == 180, phase["phase"]
        assert phase["errors"] == 0, (phase["phase"], phase["error_kinds"])
        assert 0 < phase["p50_ms"] <= phase["p90_ms"] <= phase["p99_ms"] <= phase["max_ms"]
    by_kind = phases["payments"]["by_kind"]
    assert set(by_kind) <= KINDS
    assert len(by_kind) >= 5
    assert sum(k["requests"] for k in by_kind.values()) == 180
    assert all(k["errors"] == 0 for k in by_kind.values())
