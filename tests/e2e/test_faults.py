"""The fault suite: every fault of the reliability issue injected into a real pipeline run (real
workers, a broker of the suite's own, PostgreSQL), each at least three times at random moments,
and after each run: the run finished without a person, within two minutes of the last fault;
the allocations, lines and balances equal an undisturbed run's; nothing is allocated twice; no
task run is left "running".

CI runs it small (PAYRECON_FAULT_LINES, default 3,000 lines; Redis with every fault, RabbitMQ with
a killed worker and a broker restart); `make faults` runs it at 20,000 lines on both brokers and writes the figures
to var/faults/results.json, from which docs/reliability.md's table is made
(`python -m tests.faults.report`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.faults.harness import Fault, FaultStack, Outcome, dataset, random_faults, write_results
from tests.services import SESSION

LINES = int(os.environ.get("PAYRECON_FAULT_LINES", "3000"))
TIMES = int(os.environ.get("PAYRECON_FAULT_TIMES", "3"))
BROKERS = os.environ.get("PAYRECON_FAULT_BROKERS", "redis,rabbitmq").split(",")
FULL = os.environ.get("PAYRECON_FAULT_FULL") == "1"  # every fault on every broker
RESULTS = Path(os.environ.get("PAYRECON_FAULT_RESULTS", "var/faults/results.json"))
RECOVERED_WITHIN = 120.0
_results: list[dict[str, object]] = []


def _cases() -> list[tuple[str, str]]:
    cases = []
    for broker in BROKERS:
        for kind in ("kill_worker", "drop_database", "restart_broker"):
            if broker == "rabbitmq" and kind == "drop_database" and not FULL:
                continue  # the same path as on Redis: by hand (`make faults`)
            cases.append((broker, kind))
    return cases


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.mktemp("faults") / "data", LINES)


@pytest.fixture(scope="module", params=BROKERS)
def stack(request: pytest.FixtureRequest) -> FaultStack:
    if request.param == "rabbitmq":
        request.applymarker(pytest.mark.rabbitmq)
    return FaultStack(SESSION.workspace(), broker=request.param, workers=2)


@pytest.fixture(scope="module")
def undisturbed(stack: FaultStack, data: Path) -> Outcome:
    outcome = stack.run(data, faults=[])
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.allocations
    assert outcome.duplicate_allocations == 0
    _record(stack.kind, "none", outcome, outcome)
    return outcome


@pytest.mark.parametrize("kind", ["kill_worker", "drop_database", "restart_broker"])
def test_the_run_recovers_by_itself_and_ends_as_undisturbed(
    stack: FaultStack, data: Path, undisturbed: Outcome, kind: str
) -> None:
    if (stack.kind, kind) not in _cases():
        pytest.skip(f"{kind} on {stack.kind}: `make faults` runs it")
    window = max(3.0, undisturbed.seconds * 0.7)
    faults: list[Fault] = random_faults(kind, TIMES, window, random.Random(f"{stack.kind}-{kind}"))
    outcome = stack.run(data, faults=faults)
    _record(stack.kind, kind, outcome, undisturbed)
    injected = [f for f in outcome.faults if f.at <= outcome.seconds]
    assert len(injected) >= min(TIMES, 1), "the run ended before the faults"
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.after_last_fault is not None
    assert outcome.after_last_fault <= RECOVERED_WITHIN
    assert outcome.duplicate_allocations == 0
    assert outcome.left_running == 0
    assert outcome.allocations == undisturbed.allocations
    assert outcome.balances == undisturbed.balances


def test_a_dead_lettered_step_makes_ingest_wait_exit_non_zero(
    stack: FaultStack, data: Path, undisturbed: Outcome
) -> None:
    """With a cap of one delivery that dies with its worker, a worker killed under a task
    dead-letters that task's next delivery: the chain stops there (no later step runs, so
    nothing downstream works on half-done work), and `ingest --wait` exits 1 naming why. The
    killed run's own work may have committed just before its worker died: the lines it
    reconciled then equal the undisturbed run's, so what is compared is the steps, not the
    allocations."""
    if stack.kind == "rabbitmq" and not FULL:
        pytest.skip("the same path as on Redis: by hand (`make faults`)")
    # Each kill waits for a worker to be running a task: at CI's scale the whole run takes a few
    # seconds, and a kill at a fixed moment can fall between two tasks and lose no delivery (CI,
    # 2026-12-03: both kills missed, all 21 runs succeeded). Three, in case a task ends between
    # being seen running and the kill.
    kills = [
        Fault("kill_worker", undisturbed.seconds * share, busy_within=30.0)
        for share in (0.1, 0.3, 0.5)
    ]
    outcome = stack.run(data, faults=kills, settings={"PAYRECON_MAX_DELIVERIES": "1"})
    assert outcome.runs.get("dead_lettered", 0) >= 1, outcome.runs
    assert outcome.exit_code == 1, outcome.stderr
    assert "the pipeline did not finish: DeadLettered" in " ".join(outcome.stderr.split())
    stages = [(step.stage, step) for step in outcome.steps if step.stage is not None]
    stopped_at = min(stage for stage, step in stages if step.status == "dead_lettered")
    later = [step for stage, step in stages if stage > stopped_at]
    assert not later, (stopped_at, outcome.steps)
    assert not any(s.name == "finish_reconcile" and s.status == "succeeded" for s in outcome.steps)
    assert outcome.duplicate_allocations == 0
    assert outcome.left_running == 0


def _record(broker: str, kind: str, outcome: Outcome, undisturbed: Outcome) -> None:
    _results.append(
        {
            "broker": broker,
            "fault": kind,
            "lines": LINES,
            "injected": len([f for f in outcome.faults if f.at <= outcome.seconds]),
            "exit_code": outcome.exit_code,
            "seconds": round(outcome.seconds, 1),
            "recovered_after_last_fault": None
            if outcome.after_last_fault is None
            else round(outcome.after_last_fault, 1),
            "same_as_undisturbed": outcome.allocations == undisturbed.allocations
            and outcome.balances == undisturbed.balances,
            "duplicates": outcome.duplicate_allocations,
            "left_running": outcome.left_running,
            "task_runs": outcome.runs,
            "errors": outcome.errors[:5],
        }
    )
    write_results(RESULTS, _results)
