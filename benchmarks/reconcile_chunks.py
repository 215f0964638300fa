"""Reconcile time per chunk, first to last: with the open amounts kept on the invoices, a chunk
costs the same on the first and the hundredth, whatever was allocated before it.

    .venv/bin/python -m benchmarks.reconcile_chunks --lines 100000 --chunk 5000 --postgres

Generates the labelled matching data set (`benchmarks.matching_data`) at the chosen size,
imports it into a scratch database, ingests its statements, then reconciles chunk by chunk and
prints each chunk's partition, lines and seconds, and the first and the last full chunk (the
issue's bound: the last no more than 1.2 times the first). The partitions hold different
numbers of lines, so each partition's last chunk is a partial one of any size: only full chunks
are compared, and the cost per line is printed beside. The same-run baseline: before each
partition, a probe (the median of five bare reads of one chunk's worth of statement lines,
whose work does not change during the run); each chunk's seconds over its probe divides out the
machine's load at the time, and the last full chunk over the first is printed both ways.
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
from sqlalchemy import Engine, select

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import (
    PARTITION_ORDER,
    ReconcileResult,
    prepare_reconcile,
    reconcile_partition,
)
from payrecon.services.rules import stored_rule_book
from payrecon.store import tables as t
from payrecon.store.db import make_engine, upgrade_schema
from payrecon.store.ledger_writes import PAYOUT_PARTITION


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
        # What `reconcile_pending` does, partition by partition, with the probe before each.
        rules = stored_rule_book(engine)
        prepare_reconcile(engine, rules=rules)
        result, probes = ReconcileResult(), {}
        for partition in PARTITION_ORDER:
            probes[partition] = _probe(engine, chunk)
            result.add(reconcile_partition(engine, partition, chunk_size=chunk, rules=rules))
        engine.dispose()
    chunks = result.chunks
    # Partitions hold different numbers of lines, so a partition's last chunk is a partial one
    # of any size: like is compared with like, the full chunks (chunk-size lines) in run order.
    # The payouts' partition does other work (settling payouts) and is left out of the ratios.
    customers = [c for c in chunks if c.partition != PAYOUT_PARTITION and c.lines]
    full = [c for c in customers if c.lines == chunk] or customers
    per_line = [c.seconds / c.lines * 1e6 for c in full]
    # Each chunk over the probe taken just before its partition: the machine's load at the
    # time divides out (a chunk that costs more because more was written before it does not).
    normalised = [c.seconds / c.lines / probes[c.partition] * chunk for c in full]
    return {
        "database": "postgresql" if postgres else "sqlite",
        "lines": result.lines,
        "chunk_size": chunk,
        "chunks": len(chunks),
        "full_chunks": len(full),
        "import_seconds": round(imported - started, 2),
        "ingest_seconds": round(ingested - imported, 2),
        "reconcile_seconds": round(sum(c.seconds for c in chunks), 2),
        "chunk_list": [
            {
                "partition": c.partition,
                "lines": c.lines,
                "seconds": round(c.seconds, 3),
                "probe": round(probes[c.partition], 4),
            }
            for c in chunks
        ],
        "first_full_chunk": round(full[0].seconds, 3),
        "last_full_chunk": round(full[-1].seconds, 3),
        "last_over_first": round(per_line[-1] / per_line[0], 3),
        "median_full_chunk": round(statistics.median(c.seconds for c in full), 3),
        "first_us_per_line": round(per_line[0], 1),
        "last_us_per_line": round(per_line[-1], 1),
        "median_us_per_line": round(statistics.median(per_line), 1),
        "probe_seconds": {str(k): round(v, 4) for k, v in probes.items()},
        "first_full_over_probe": round(normalised[0], 2),
        "last_full_over_probe": round(normalised[-1], 2),
        "last_over_first_normalised": round(normalised[-1] / normalised[0], 3),
        "matched": result.matched,
        "unmatched": result.unmatched,
    }


def _probe(engine: Engine, chunk: int, reads: int = 5) -> float:
    """The same-run baseline: the median of `reads` bare reads of one chunk's worth of
    statement lines (all lines are stored before reconciling starts, so the probe's own work
    is the same before every partition; only the machine's load changes it)."""
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        with engine.connect() as conn:
            rows = conn.execute(select(t.statement_lines).limit(chunk)).all()
        assert rows
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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
    print("chunk  partition  lines  seconds  us/line   probe  seconds/probe")
    for number, c in enumerate(figures["chunk_list"], start=1):  # type: ignore[arg-type]
        us = c["seconds"] / c["lines"] * 1e6 if c["lines"] else 0.0
        print(
            f"{number:>5}  {c['partition']:>9}  {c['lines']:>5}  {c['seconds']:7.3f}  {us:7.1f}"
            f"  {c['probe']:6.3f}  {c['seconds'] / c['probe']:13.1f}"
        )
    print(
        f"full chunks ({figures['full_chunks']} of {figures['chunk_size']:,} lines): first "
        f"{figures['first_full_chunk']} s, last {figures['last_full_chunk']} s, last/first = "
        f"{figures['last_over_first']} (bound 1.2); median {figures['median_full_chunk']} s; "
        f"us per line first {figures['first_us_per_line']}, last {figures['last_us_per_line']}, "
        f"median {figures['median_us_per_line']}"
    )
    print(
        f"over the probe before each partition: first {figures['first_full_over_probe']}, "
        f"last {figures['last_full_over_probe']}, last/first = "
        f"{figures['last_over_first_normalised']}"
    )


if __name__ == "__main__":
    main()
