"""`benchmarks/pipeline.py` at CI scale: the real stack with 1 and 2 worker processes, and two
hosts simulated with the roles split (one parses, the other reconciles), gives the same
allocations and balances, and the matching is as accurate as on the matching benchmark. Each
file is routed in several parts (small parts and blocks, so that 2,000 lines make some).
Correctness only: no figure of time is asserted."""

from __future__ import annotations

import pytest
from benchmarks.pipeline import Sizes, run

from tests.services import SESSION

pytestmark = pytest.mark.integration


def test_one_and_two_workers_and_two_hosts_reconcile_alike_and_right() -> None:
    sizes = Sizes(chunk=500, batch=100, part_bytes=256 * 1024)
    figures = run(
        2000, [1, 2], two_hosts=["split"], seed=3, sizes=sizes, workspace=SESSION.workspace()
    )
    assert figures["identical_across_workers"]
    assert [r["workers"] for r in figures["runs"]] == [1, 2, 2]
    for r in figures["runs"]:
        assert r["lines"] == 2000
        assert r["allocation_rows"] > 2000  # every line's outcome, and the allocations
        assert r["balance_rows"] == r["customers"]
        assert {t["status"] for t in r["tasks"]} == {"succeeded"}
        assert sum(t["lines"] or 0 for t in r["tasks"] if t["name"] == "ingest_file") == 2000
        parts = [t for t in r["tasks"] if t["name"] == "route_part"]
        assert len(parts) > r["files"]  # some file was routed in more than one part
        assert sum(t["lines"] or 0 for t in parts) == 2000
        accuracy = r["accuracy"]
        assert accuracy["precision"] >= 0.99
        assert accuracy["recall"] >= 0.95
        assert accuracy["over_allocated_payments"] == 0
        assert accuracy["unknown_payers_allocated"] == 0
        assert len(r["per_worker"]) == r["workers"]
        assert all(w["peak_rss_mb"] > 0 for w in r["per_worker"])
        assert sum(w["tasks"] for w in r["per_worker"]) == len(r["tasks"])
        assert r["baseline"]["bare_walk_entries"] == 2000
        assert r["baseline"]["bare_copy_rows"] == 2000
    # Split roles: every step ran on the host serving its queue, a run's last step included.
    split = figures["runs"][2]
    on: dict[str, set[str]] = {}
    for task in split["tasks"]:
        on.setdefault(task["host"], set()).add(task["name"])
    assert on == {
        "host-a": {"ingest_file", "route_part", "store_files"},
        "host-b": {"prepare_reconcile", "reconcile_partition", "finish_reconcile"},
    }
