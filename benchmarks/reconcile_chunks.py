"""Reconcile time per chunk, first to last: with the open amounts kept on the invoices, a chunk
costs the same on the first and the hundredth, whatever was allocated before it.

    .venv/bin/python -m benchmarks.reconcile_chunks --lines 100000 --chunk 5000 --postgres

Generates the labelled matching data set (`benchmarks.matching_data`) at the chosen size,
imports it into a scratch database, ingests its statements, then reconciles chunk by chunk and
prints each chunk's seconds, the first and the last, and their ratio (the issue's bound: the
last no more than 1.2 times the first). Beside them, a same-run baseline: the time of a bare
read of one chunk's worth of statement lines, so a noisy machine shows as noise in both.
Prints a table and, with --json, one JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.matching_data import write_dataset
from benchmarks.matching_payouts import load_payouts
from benchmarks.matching_score import scratch_database
from sqlalchemy import select, text

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import tables as t
from payrecon.store.db import make_engine, upgrade_schema


def measure(lines: int, chunk: int, postgres: bool, seed: int = 1) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, scratch_database(postgres, Path(tmp)) as url:
        data, store = Path(tmp) / "data", Path(tmp) / "store"
        manifest = write_dataset(seed, lines, data)
        upgrade_schema(url)
        engine = make_engine(url)
        started = time.perf_counter()
        import_contract_owners(engine, data / "contract_owners.csv")
        import_customers(engine, data / "customers.csv")
        import_invoices(engine, data / "invoices.csv")
        load_payouts(engine, data / "payouts.json")
        imported = time.perf_counter()
        for name in manifest["files"]:  # type: ignore[attr-defined]
            received = receive_file(engine, store, data / name)
            ingest_feed_file(engine, store, received.feed_file_id)
        ingested = time.perf_counter()
        baseline = _bare_read(engine, chunk)
        result = reconcile_pending(engine, chunk_size=chunk)
        engine.dispose()
    seconds = result.chunk_seconds
    full = seconds[:-1] if len(seconds) > 1 else seconds  # the last chunk may be a partial one
    return {
        "database": "postgresql" if postgres else "sqlite",
        "lines": result.lines,
        "chunk_size": chunk,
        "chunks": len(seconds),
        "import_seconds": round(imported - started, 2),
        "ingest_seconds": round(ingested - imported, 2),
        "reconcile_seconds": round(sum(seconds), 2),
        "chunk_seconds": [round(s, 3) for s in seconds],
        "first_chunk": round(full[0], 3),
        "last_full_chunk": round(full[-1], 3),
        "last_over_first": round(full[-1] / full[0], 3),
        "median_chunk": round(statistics.median(full), 3),
        "baseline_bare_read_seconds": round(baseline, 4),
        "matched": result.matched,
        "unmatched": result.unmatched,
    }


def _bare_read(engine: object, chunk: int) -> float:
    """The same-run baseline: one chunk's worth of statement lines read with no matching."""
    started = time.perf_counter()
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text("SELECT 1"))
        rows = conn.execute(select(t.statement_lines).limit(chunk)).all()
    assert rows
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    figures = measure(args.lines, args.chunk, args.postgres, args.seed)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"{figures['database']}: {figures['lines']:,} lines in {figures['chunks']} chunks of "
        f"{figures['chunk_size']:,}; import {figures['import_seconds']} s, ingest "
        f"{figures['ingest_seconds']} s, reconcile {figures['reconcile_seconds']} s"
    )
    print("chunk  seconds")
    for number, seconds in enumerate(figures["chunk_seconds"], start=1):  # type: ignore[arg-type]
        print(f"{number:>5}  {seconds:7.3f}")
    print(
        f"first {figures['first_chunk']} s, last full {figures['last_full_chunk']} s: "
        f"last/first = {figures['last_over_first']} (bound 1.2); "
        f"median {figures['median_chunk']} s; "
        f"baseline bare read of a chunk {figures['baseline_bare_read_seconds']} s"
    )


if __name__ == "__main__":
    main()
