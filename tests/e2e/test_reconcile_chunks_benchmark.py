"""`benchmarks/reconcile_chunks.py` at CI scale, on PostgreSQL: every pending line goes through
exactly one timed chunk, chunks never exceed the chunk size, each partition has its probe, and
the figures it prints are computed from those chunks. Correctness only: no time is asserted."""

from __future__ import annotations

import pytest
from benchmarks.reconcile_chunks import measure

from payrecon.services.reconciliation.reconcile import PARTITION_ORDER

pytestmark = pytest.mark.integration


def test_every_line_is_in_one_chunk_and_every_partition_is_probed() -> None:
    figures = measure(1500, 100, postgres=True, seed=2)
    chunks = figures["chunk_list"]
    assert isinstance(chunks, list)
    assert all(0 < c["lines"] <= 100 for c in chunks)
    assert {str(p) for p in PARTITION_ORDER} == set(figures["probe_seconds"])  # type: ignore[arg-type]
    assert all(c["probe"] > 0 for c in chunks)
    # Lines moved to another partition are read again there: the chunks read at least every line.
    assert sum(c["lines"] for c in chunks) >= figures["lines"]
    assert figures["matched"] + figures["unmatched"] <= figures["lines"]  # type: ignore[operator]
    assert figures["matched"] > 0
    full = [c for c in chunks if c["lines"] == 100 and c["partition"] != PARTITION_ORDER[0]]
    assert figures["full_chunks"] == len(full)
    assert figures["last_over_first"] == pytest.approx(
        full[-1]["seconds"] / full[0]["seconds"], rel=0.05
    )
