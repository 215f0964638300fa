"""Accuracy and end-to-end speed of matching on labelled data sets (`benchmarks.matching_data`).

    .venv/bin/python -m benchmarks.matching_score --seeds 1 2 3 --lines 10000 [--postgres]
        [--render own|camt053|mt940 ...]

For each seed: generate the data set, import owners, customers and invoices, then time ingest
(both statements) and reconcile through the services, as `payrecon ingest` runs them. Then
compare the live allocations with the truth: precision per rule the engine used, recall per
rule the truth expected (a line settling a provider payout counts once, as rule `payout`),
reversals found, and the invariants (no payment allocates more than
its line; no unknown payer gets an allocation). Runs on SQLite by default; `--postgres` makes
a scratch database on the tests' server (`tests.services`: PAYRECON_TEST_DATABASE_URL, else
PAYRECON_TEST_PG_HOST:5432, else a throwaway cluster of its own) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from benchmarks.matching_data import RENDERINGS, write_dataset
from benchmarks.matching_payouts import load_payouts
from sqlalchemy import Engine, func, select

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import matching_tables as mt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.db import make_engine, upgrade_schema

Key = tuple[str, str, Decimal]  # (line external id, invoice number, amount)


@dataclass
class Score:
    lines: int = 0
    ingest_seconds: float = 0.0
    reconcile_seconds: float = 0.0
    predicted: Counter[str] = field(default_factory=Counter)
    predicted_right: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    expected_found: Counter[str] = field(default_factory=Counter)
    reversals_expected: int = 0
    reversals_found: int = 0
    reversals_made: int = 0
    reversals_right: int = 0
    over_allocated_payments: int = 0
    unknown_payers_allocated: int = 0
    unmatched_by_scenario: Counter[str] = field(default_factory=Counter)

    @property
    def lines_per_second(self) -> float:
        return self.lines / (self.ingest_seconds + self.reconcile_seconds)

    def add(self, other: Score) -> None:
        for name in ("predicted", "predicted_right", "expected", "expected_found"):
            getattr(self, name).update(getattr(other, name))
        self.unmatched_by_scenario.update(other.unmatched_by_scenario)
        for name in (
            "lines",
            "ingest_seconds",
            "reconcile_seconds",
            "reversals_expected",
            "reversals_found",
            "reversals_made",
            "reversals_right",
            "over_allocated_payments",
            "unknown_payers_allocated",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def load_and_reconcile(engine: Engine, data: Path, store: Path) -> tuple[float, float]:
    """Import the master data, then time ingest and reconcile (seconds each)."""
    import_contract_owners(engine, data / "contract_owners.csv")
    import_customers(engine, data / "customers.csv")
    import_invoices(engine, data / "invoices.csv")
    load_payouts(engine, data / "payouts.json")
    manifest = json.loads((data / "manifest.json").read_text())
    started = time.perf_counter()
    for name in manifest["files"]:
        received = receive_file(engine, store, data / name)
        result = ingest_feed_file(engine, store, received.feed_file_id)
        if result.status != "processed":
            raise RuntimeError(f"{name} was not ingested: {result.error}")
    ingested = time.perf_counter()
    reconcile_pending(engine)
    return ingested - started, time.perf_counter() - ingested


def score(engine: Engine, truth_path: Path) -> Score:
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    reversed_lines = {r["reverses"] for r in truth if r["reverses"]}
    expected: dict[Key, str] = {
        (r["external_id"], number, Decimal(amount)): r["expected_rule"] or "none"
        for r in truth
        if r["external_id"] not in reversed_lines
        for number, amount in r["allocations"]
    }
    sl, p, a = t.statement_lines, t.payments, t.allocations
    with engine.connect() as conn:
        predicted: dict[Key, str] = {
            (ext, number, amount): rule
            for ext, number, amount, rule in conn.execute(
                select(sl.c.external_id, t.invoices.c.invoice_number, a.c.amount, a.c.rule)
                .join(p, p.c.id == a.c.payment_id)
                .join(sl, sl.c.id == p.c.statement_line_id)
                .join(t.invoices, t.invoices.c.id == a.c.invoice_id)
                .where(p.c.status == "active")
            )
        }
        allocated = (
            select(a.c.payment_id, func.sum(a.c.amount).label("used"))
            .group_by(a.c.payment_id)
            .subquery()
        )
        over = conn.execute(
            select(func.count())
            .select_from(p)
            .join(allocated, allocated.c.payment_id == p.c.id)
            .join(sl, sl.c.id == p.c.statement_line_id)
            .where((allocated.c.used > p.c.amount) | (p.c.amount != sl.c.amount))
        ).scalar_one()
        undone = dict(
            conn.execute(
                select(sl.c.external_id, p.c.statement_line_id)
                .select_from(mt.payment_reversals)
                .join(sl, sl.c.id == mt.payment_reversals.c.statement_line_id)
                .join(p, p.c.id == mt.payment_reversals.c.payment_id)
                .where(mt.payment_reversals.c.reverses_payment.is_(True))
            ).all()
        )
        settled = set(
            conn.execute(
                select(sl.c.external_id, pt.payouts.c.external_id).join(
                    pt.payouts, pt.payouts.c.statement_line_id == sl.c.id
                )
            ).all()
        )
        ext_of = dict(conn.execute(select(sl.c.id, sl.c.external_id)).all())
        status = dict(conn.execute(select(sl.c.external_id, sl.c.status)).all())
    result = Score(lines=len(truth), over_allocated_payments=int(over))
    for key, rule in predicted.items():
        result.predicted[rule] += 1
        result.predicted_right[rule] += key in expected
    for key, rule in expected.items():
        result.expected[rule] += 1
        result.expected_found[rule] += key in predicted
    truly_settled = {(r["external_id"], r["payout"]) for r in truth if r.get("payout")}
    result.predicted["payout"] += len(settled)
    result.predicted_right["payout"] += len(settled & truly_settled)
    result.expected["payout"] += len(truly_settled)
    result.expected_found["payout"] += len(settled & truly_settled)
    with_allocations = {k[0] for k in predicted}
    for r in truth:
        if r["customer"] is None and Decimal(r["amount"]) > 0:
            result.unknown_payers_allocated += r["external_id"] in with_allocations
        if status.get(r["external_id"]) == "unmatched" and r["customer"] is not None:
            result.unmatched_by_scenario[r["scenario"]] += 1
        if r["reverses"]:
            result.reversals_expected += 1
    truth_reversal = {r["external_id"]: r["reverses"] for r in truth if r["reverses"]}
    result.reversals_made = len(undone)
    for debit, original_line in undone.items():
        right = truth_reversal.get(debit) == ext_of[original_line]
        result.reversals_right += right
        result.reversals_found += right
    return result


@contextmanager
def scratch_database(postgres: bool, directory: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    from tests.services import pg_url
    from tests.services import scratch_database as database

    with database("payrecon_bench") as name:  # on the test server, started if none answers
        yield pg_url(name)


def run_seed(seed: int, lines: int, postgres: bool, render: str = "own") -> Score:
    with tempfile.TemporaryDirectory(prefix=f"match-bench-{seed}-") as tmp:
        directory = Path(tmp)
        write_dataset(seed, lines, directory / "data", render=render)
        with scratch_database(postgres, directory) as url:
            upgrade_schema(url)
            engine = make_engine(url)
            try:
                ingest, reconcile = load_and_reconcile(
                    engine, directory / "data", directory / "store"
                )
                result = score(engine, directory / "data" / "truth.jsonl")
            finally:
                engine.dispose()
    result.ingest_seconds, result.reconcile_seconds = ingest, reconcile
    return result


def _ratio(part: int, whole: int) -> str:
    return "   n/a" if not whole else f"{Decimal(100 * part) / Decimal(whole):6.2f}%"


def report(title: str, s: Score) -> None:
    print(f"\n== {title}: {s.lines} lines")
    print(f"{'rule':<28}{'predicted':>10}{'precision':>11}{'expected':>10}{'recall':>9}")
    rows = [
        (rule, s.predicted[rule], s.predicted_right[rule], s.expected[rule], s.expected_found[rule])
        for rule in sorted(set(s.predicted) | set(s.expected))
    ]
    totals = (s.predicted, s.predicted_right, s.expected, s.expected_found)
    rows.append(("all (allocations, payouts)", *(sum(c.values()) for c in totals)))
    for rule, made, right, wanted, found in rows:
        precision, recall = _ratio(right, made), _ratio(found, wanted)
        print(f"{rule:<28}{made:>10}{precision:>11}{wanted:>10}{recall:>9}")
    recall = _ratio(s.reversals_found, s.reversals_expected)
    print(
        f"reversals: {s.reversals_made} made, {s.reversals_right} right, "
        f"{s.reversals_expected} expected (recall {recall})"
    )
    print(
        f"invariants: {s.over_allocated_payments} payments allocating more than their line, "
        f"{s.unknown_payers_allocated} unknown payers with allocations"
    )
    if s.unmatched_by_scenario:
        print(f"known payers left for review, by scenario: {dict(s.unmatched_by_scenario)}")
    print(
        f"end to end: ingest {s.ingest_seconds:.2f} s + reconcile {s.reconcile_seconds:.2f} s "
        f"= {s.lines_per_second:,.0f} lines/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--render",
        choices=RENDERINGS,
        nargs="+",
        default=["own"],
        help="statement formats: each owner's own, or every owner's payments as camt.053 or as "
        "German MT940 (GVC :86: wrapped at 65); several are scored one after the other",
    )
    args = parser.parse_args()
    for render in args.render:
        total = Score()
        for seed in args.seeds:
            result = run_seed(seed, args.lines, args.postgres, render)
            database = "PostgreSQL" if args.postgres else "SQLite"
            report(f"seed {seed} ({database}, rendered {render})", result)
            total.add(result)
        if len(args.seeds) > 1:
            report(f"all seeds, rendered {render}", total)


if __name__ == "__main__":
    main()
