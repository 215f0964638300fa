"""The matching engine through the services, on SQLite and PostgreSQL, over a small labelled
data set from the benchmark's generator (camt.053 and MT940, every rule and trap)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from benchmarks.matching_data import write_dataset
from benchmarks.matching_score import load_and_reconcile, score
from sqlalchemy import Engine, func, select

from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t


@pytest.fixture
def reconciled(engine: Engine, tmp_path: Path) -> Path:
    write_dataset(seed=11, lines=400, out=tmp_path / "data")
    load_and_reconcile(engine, tmp_path / "data", tmp_path / "store")
    return tmp_path / "data"


def test_allocations_are_right_and_the_invariants_hold(engine: Engine, reconciled: Path) -> None:
    result = score(engine, reconciled / "truth.jsonl")
    made, right = sum(result.predicted.values()), sum(result.predicted_right.values())
    wanted, found = sum(result.expected.values()), sum(result.expected_found.values())
    assert made > 300
    assert right == made  # precision: no allocation the truth does not have
    assert Decimal(found) / Decimal(wanted) >= Decimal("0.95")  # recall: review scenarios aside
    assert set(result.unmatched_by_scenario) <= {"new_account", "ref_typo_other"}
    assert (result.over_allocated_payments, result.unknown_payers_allocated) == (0, 0)
    assert result.reversals_right == result.reversals_made == result.reversals_expected > 0


def test_every_allocation_has_its_rule_confidence_and_evidence(
    engine: Engine, reconciled: Path
) -> None:
    del reconciled
    with engine.connect() as conn:
        rows = conn.execute(select(t.allocations)).all()
    assert rows
    for row in rows:
        assert row.rule
        assert Decimal("0.5") <= row.confidence <= 1
        assert row.evidence["rule"] == row.rule
        assert row.evidence["explanation"]
        assert row.evidence["identified_by"]


def test_review_lines_carry_a_reason_and_unknown_payers_suggestions(
    engine: Engine, reconciled: Path
) -> None:
    del reconciled
    sl = t.statement_lines
    with engine.connect() as conn:
        reasons = conn.execute(select(sl.c.reason).where(sl.c.status == "unmatched")).scalars()
        assert all(reasons)
        suggested = conn.execute(
            select(func.count(func.distinct(mt.line_suggestions.c.statement_line_id)))
        ).scalar_one()
        pending = conn.execute(
            select(func.count()).select_from(sl).where(sl.c.status == "pending")
        ).scalar_one()
    assert suggested > 0
    assert pending == 0


def test_reconciling_again_changes_nothing(engine: Engine, reconciled: Path) -> None:
    del reconciled

    def counts() -> list[int]:
        with engine.connect() as conn:
            return [
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (t.payments, t.allocations, mt.payment_reversals)
            ]

    before = counts()
    assert reconcile_pending(engine).lines == 0
    assert counts() == before
