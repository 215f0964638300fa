"""The whole pipeline on the real stack, at a chosen scale: PostgreSQL, a Redis of its own and N
real Celery worker processes started here, fed the way a user feeds it (`payrecon ingest --wait`).

    .venv/bin/python -m benchmarks.pipeline --lines 100000 --workers 2
    .venv/bin/python -m benchmarks.pipeline --lines 10000 --workers 1,2,4 --json out.json
    .venv/bin/python -m benchmarks.pipeline --lines 100000 --workers 2 --two-hosts mirror,split

Generates the labelled matching data set (`benchmarks.matching_data`: every rule, the traps,
returns, provider payouts; all statements rendered as camt.053), then for each worker count
(all on one host) and each two-host layout asked for (`TWO_HOSTS`: a worker per simulated host,
with its own node name and working directory; both hosts serving every queue, or one `ingest`
and the other `match,balances`), on a fresh database: imports owners, customers, invoices and
payouts (timed), starts the workers, runs `payrecon ingest <files> --wait` (ingest to every
allocation and balance committed: timed), and reads back
- each task run (ingest per file, prepare, reconcile per partition, finish) and its seconds;
- each worker's peak RSS (its process and its pool child, sampled) and busy share (the seconds
  of its task runs over the run's seconds, and its CPU seconds over the run's seconds);
- the balance and credit-status recompute of every customer, timed on its own afterwards;
- accuracy against the truth (`benchmarks.matching_score.score`);
- the sorted allocation and balance exports, whose digests must agree across all the runs.
Beside them, in the same run, the baselines: a bare lxml iterparse walk of the same files
(`benchmarks.camt_parse.bare_walk`) and a bare COPY of the same statement-line rows into a copy
of the table (its indexes included). Prints a table, and with --json writes one JSON document.

PostgreSQL is the tests' server (`tests.services`: PAYRECON_TEST_DATABASE_URL, else a throwaway
cluster); each run creates its own database and drops it. Redis is always one of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from benchmarks.camt_parse import bare_walk
from benchmarks.matching_data import write_dataset
from benchmarks.matching_payouts import load_payouts
from benchmarks.matching_score import Score, score
from sqlalchemy import Engine, make_url, select, text
from tests.faults.harness import (
    BIN,
    SECRET,
    _allocations,
    _balances,
    _flush_broker,
    _Redis,
    _wait_for_workers,
)
from tests.services import pg_admin_dsn, pg_url, scratch_database
from tests.services.processes import Child, Workspace

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.operations.worker_process import pid_of
from payrecon.store import tables as t
from payrecon.store.db import make_engine, upgrade_schema
from payrecon.worker.app import QUEUES


@dataclass
class _Sampler:
    """Peak RSS and CPU seconds of each worker's process tree, sampled in a thread."""

    workers: list[Child]
    interval: float = 0.2
    peak_rss: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    pids: list[set[int]] = field(default_factory=list)  # each tree's processes, pool included
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.peak_rss = [0] * len(self.workers)
        self.cpu = [0.0] * len(self.workers)
        self.pids = [set() for _ in self.workers]
        self._start_cpu = [self._tree(w)[1] for w in self.workers]

    def _tree(self, worker: Child) -> tuple[int, float]:
        try:
            root = psutil.Process(worker.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0, 0.0
        if self.pids:
            self.pids[self.workers.index(worker)].update(p.pid for p in procs)
        rss = cpu = 0.0
        for proc in procs:
            try:
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return int(rss), cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for n, worker in enumerate(self.workers):
            rss, cpu = self._tree(worker)
            self.peak_rss[n] = max(self.peak_rss[n], rss)
            if cpu:
                self.cpu[n] = cpu - self._start_cpu[n]

    def __enter__(self) -> _Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


@dataclass(frozen=True)
class Sizes:
    """The pipeline's sizes a run is given: the reconcile chunk, the block of lines that
    reading and routing write at once, and the bytes of a file per part routed side by side
    (None: the setting's default)."""

    chunk: int = 5000
    batch: int = 5000
    part_bytes: int | None = None


def _env(database: str, redis: _Redis, folder: Path, sizes: Sizes) -> dict[str, str]:
    parts = (
        {} if sizes.part_bytes is None else {"PAYRECON_INGEST_PART_BYTES": str(sizes.part_bytes)}
    )
    return {
        **os.environ,
        "PAYRECON_DATABASE_URL": pg_url(database),
        "PAYRECON_BROKER_URL": redis.broker,
        "PAYRECON_RESULT_BACKEND": redis.backend,
        "PAYRECON_FEED_STORE_DIR": str(folder / "feeds"),
        "PAYRECON_API_TOKEN_SECRET": SECRET,
        "PAYRECON_LOG_FORMAT": "json",
        "PAYRECON_LOG_LEVEL": "WARNING",
        "PAYRECON_ENVIRONMENT": "test",
        "PAYRECON_RECONCILE_CHUNK_SIZE": str(sizes.chunk),
        "PAYRECON_WRITE_BATCH_SIZE": str(sizes.batch),
        **parts,
    }


def _import(engine: Engine, data: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for name, step in (
        ("contract_owners", lambda: import_contract_owners(engine, data / "contract_owners.csv")),
        ("customers", lambda: import_customers(engine, data / "customers.csv")),
        ("invoices", lambda: import_invoices(engine, data / "invoices.csv")),
        ("payouts", lambda: load_payouts(engine, data / "payouts.json")),
    ):
        started = time.perf_counter()
        step()
        seconds[name] = round(time.perf_counter() - started, 3)
    return seconds


def _task_runs(engine: Engine, run_started: Any) -> list[dict[str, Any]]:
    runs = t.task_runs
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                runs.c.name, runs.c.status, runs.c.params, runs.c.counts, runs.c.worker,
                runs.c.started_at, runs.c.finished_at,
            )
            .where(runs.c.started_at >= run_started)
            .order_by(runs.c.started_at)
        ).all()  # fmt: skip
    return [
        {
            "name": r.name,
            "status": r.status,
            "params": r.params,
            "lines": (r.counts or {}).get("lines", (r.counts or {}).get("new_lines")),
            "worker": r.worker,
            "seconds": None
            if r.finished_at is None
            else round((r.finished_at - r.started_at).total_seconds(), 3),
            # When it started and ended, in seconds after the ingest command was started.
            "from": round((r.started_at - run_started).total_seconds(), 3),
            "to": None
            if r.finished_at is None
            else round((r.finished_at - run_started).total_seconds(), 3),
        }
        for r in rows
    ]


def _recompute_seconds(engine: Engine) -> tuple[float, int]:
    """Every customer's balance and credit status recomputed, in one transaction."""
    started = time.perf_counter()
    with engine.begin() as conn:
        customers = recompute_customers(conn, None, utcnow(), cause="benchmark recompute")
    return time.perf_counter() - started, customers


def _bare_copy_seconds(database: str) -> tuple[float, int]:
    """The floor of writing the lines: the same statement-line rows COPY'd into a copy of the
    table (columns, defaults, indexes) in one transaction; the read-out is not timed."""
    dsn = make_url(pg_url(database)).set(drivername="postgresql")
    with psycopg.connect(dsn.render_as_string(hide_password=False)) as conn:
        columns = [
            c.name for c in t.statement_lines.columns if c.name != "id"
        ]  # the id from the sequence, as the pipeline's COPY does not either
        names = ", ".join(f'"{c}"' for c in columns)
        buffer = bytearray()
        with conn.cursor().copy(f"COPY (SELECT {names} FROM statement_lines) TO STDOUT") as out:
            for block in out:
                buffer += block
        rows = conn.execute("SELECT count(*) FROM statement_lines").fetchone()
        conn.execute("CREATE TABLE bare_copy (LIKE statement_lines INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY bare_copy ({names}) FROM STDIN") as copy:
            for offset in range(0, len(buffer), 1 << 20):
                copy.write(bytes(buffer[offset : offset + (1 << 20)]))
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bare_copy")
        conn.commit()
    return seconds, int(rows[0]) if rows else 0


def _digest(rows: list[tuple[str, ...]]) -> str:
    return hashlib.sha256("\n".join("\t".join(r) for r in rows).encode()).hexdigest()


def _accuracy(s: Score) -> dict[str, Any]:
    predicted, right = sum(s.predicted.values()), sum(s.predicted_right.values())
    expected, found = sum(s.expected.values()), sum(s.expected_found.values())
    return {
        "precision": round(right / predicted, 5) if predicted else None,
        "recall": round(found / expected, 5) if expected else None,
        "allocations_predicted": predicted,
        "allocations_expected": expected,
        "reversals_expected": s.reversals_expected,
        "reversals_right": s.reversals_right,
        "over_allocated_payments": s.over_allocated_payments,
        "unknown_payers_allocated": s.unknown_payers_allocated,
    }


ALL_QUEUES = ",".join(QUEUES)


@dataclass(frozen=True)
class Host:
    """One worker process of a run: the node it stands for and the queues it serves."""

    name: str
    queues: str = ALL_QUEUES


def one_host(workers: int) -> tuple[Host, ...]:
    """`workers` processes on one host, each serving every queue."""
    return tuple(Host(f"bench{n}") for n in range(workers))


def one_host_layout(workers: int) -> str:
    """The name of a run of `one_host(workers)`."""
    return f"{workers} worker{'s' if workers > 1 else ''}, one host"


# Two hosts simulated on this one: each a worker of its own (its own node name and working
# directory) against the one PostgreSQL and the one Redis, the statement files on a folder both
# see (a shared volume on real hosts). "mirror": both serve every queue; "split": one parses
# (`ingest`), the other reconciles and recomputes (`match,balances`), as docs/performance.md's
# scale-out section lays the roles out.
TWO_HOSTS: dict[str, tuple[Host, ...]] = {
    "mirror": (Host("host-a"), Host("host-b")),
    "split": (Host("host-a", "ingest"), Host("host-b", "match,balances")),
}


def _spawn_worker(
    workspace: Workspace, env: dict[str, str], folder: Path, host: Host, run: str
) -> Child:
    home = folder / host.name  # the host's own working directory
    home.mkdir()
    command = [
        str(BIN / "payrecon"), "worker", "--concurrency", "1", "--loglevel", "WARNING",
        "--queues", host.queues, "--hostname", f"{host.name}-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    return workspace.spawn(f"bench-{run}-{host.name}", command, env=env, cwd=home)


def run_once(
    workspace: Workspace,
    redis: _Redis,
    data: Path,
    hosts: tuple[Host, ...],
    *,
    layout: str,
    sizes: Sizes = Sizes(),
    timeout: float = 3600.0,
    baselines: bool = True,
) -> dict[str, Any]:
    """One run with a worker process per host on a fresh database; its figures, under the
    name `layout`."""
    workers = len(hosts)
    manifest = json.loads((data / "manifest.json").read_text())
    files = [str(data / name) for name in manifest["files"]]
    with scratch_database("payrecon_bench") as database:
        folder = workspace.folder(f"run-{workers}w-{uuid.uuid4().hex[:6]}")
        # The CLI's and the workers' feed store: one folder every host sees.
        env = _env(database, redis, folder, sizes)
        url = pg_url(database)
        upgrade_schema(url)
        engine = make_engine(url)
        children: list[Child] = []
        try:
            imports = _import(engine, data)
            _flush_broker(redis)
            run = folder.name
            children = [_spawn_worker(workspace, env, folder, host, run) for host in hosts]
            _wait_for_workers(env, workers)
            with engine.connect() as conn:
                run_started = conn.execute(text("SELECT now()")).scalar_one()
            with _Sampler(children) as sampler:
                started = time.perf_counter()
                ingest = subprocess.run(
                    [str(BIN / "payrecon"), "ingest", *files, "--wait", "--timeout", str(timeout)],
                    env=env, cwd=folder, capture_output=True, text=True, check=False,
                )  # fmt: skip
                seconds = time.perf_counter() - started
            if ingest.returncode != 0:
                raise RuntimeError(f"ingest failed ({ingest.returncode}): {ingest.stderr[-2000:]}")
            runs = _task_runs(engine, run_started)
            recompute, customers = _recompute_seconds(engine)
            accuracy = _accuracy(score(engine, data / "truth.jsonl"))
            allocations, balances = _allocations(engine), _balances(engine)
            copy_seconds, copy_rows = _bare_copy_seconds(database) if baselines else (0.0, 0)
        finally:
            for child in children:
                workspace.stop(child)
            engine.dispose()
    lines = int(manifest["lines"])
    per_worker = []
    for n, child in enumerate(children):
        # A task run names the process that ran it as host:pid (the worker's pool child).
        mine = [r for r in runs if pid_of(r["worker"] or "") in sampler.pids[n]]
        for r in mine:
            r["host"] = hosts[n].name
        busy = sum(r["seconds"] or 0.0 for r in mine)
        per_worker.append(
            {
                "worker": n,
                "host": hosts[n].name,
                "queues": hosts[n].queues,
                "pid": child.pid,
                "tasks": len(mine),
                "peak_rss_mb": round(sampler.peak_rss[n] / 2**20, 1),
                "busy_share_tasks": round(busy / seconds, 3),
                "busy_share_cpu": round(sampler.cpu[n] / seconds, 3),
            }
        )
    figures: dict[str, Any] = {
        "layout": layout,
        "workers": workers,
        "lines": lines,
        "customers": manifest["customers"],
        "invoices": manifest["invoices"],
        "files": len(files),
        "chunk_size": sizes.chunk,
        "batch_size": sizes.batch,
        "part_bytes": sizes.part_bytes,
        "import_seconds": imports,
        "import_total_seconds": round(sum(imports.values()), 3),
        "ingest_to_committed_seconds": round(seconds, 3),
        "lines_per_second": round(lines / seconds, 1),
        "tasks": runs,
        "partition_seconds": sorted(
            (r["seconds"] or 0.0 for r in runs if r["name"] == "reconcile_partition"),
            reverse=True,
        ),
        "balance_recompute_seconds": round(recompute, 3),
        "balance_recompute_customers": customers,
        "per_worker": per_worker,
        "accuracy": accuracy,
        "allocations_sha256": _digest(allocations),
        "balances_sha256": _digest(balances),
        "allocation_rows": len(allocations),
        "balance_rows": len(balances),
    }
    if baselines:
        walk_started = time.perf_counter()
        entries = sum(bare_walk(Path(f)) for f in files)
        walk = time.perf_counter() - walk_started
        figures["baseline"] = {
            "bare_walk_entries": entries,
            "bare_walk_seconds": round(walk, 3),
            "bare_walk_per_second": round(entries / walk, 1),
            "bare_copy_rows": copy_rows,
            "bare_copy_seconds": round(copy_seconds, 3),
            "bare_copy_per_second": round(copy_rows / copy_seconds, 1) if copy_seconds else None,
            # The pipeline's seconds over the floor's (walk + COPY of the same lines).
            "pipeline_over_floor": round(seconds / (walk + copy_seconds), 2),
        }
    return figures


def run(
    lines: int,
    worker_counts: list[int],
    *,
    two_hosts: Sequence[str] = (),
    seed: int = 1,
    sizes: Sizes = Sizes(),
    workspace: Workspace | None = None,
) -> dict[str, Any]:
    """Generate once, run each worker count (on one host) and each two-host layout named
    (`TWO_HOSTS`), and compare the exports across them. The processes started live in
    `workspace` (a test session's), else in one of the benchmark's own."""
    layouts = [(one_host_layout(n), one_host(n)) for n in worker_counts]
    layouts += [(f"two hosts, {name}", TWO_HOSTS[name]) for name in two_hosts]
    own = workspace is None
    space = workspace or Workspace()
    try:
        with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
            data = Path(tmp) / "data"
            started = time.perf_counter()
            write_dataset(seed, lines, data, render="camt053")
            generated = time.perf_counter() - started
            redis = _Redis(space)
            try:
                results = [
                    run_once(space, redis, data, hosts, layout=name, sizes=sizes)
                    for name, hosts in layouts
                ]
            finally:
                if redis.child is not None:
                    space.stop(redis.child)
            size = sum(f.stat().st_size for f in data.glob("statement-*"))
    finally:
        if own:
            space.close()
    digests = {(r["allocations_sha256"], r["balances_sha256"]) for r in results}
    return {
        "machine": _machine(),
        "seed": seed,
        "generate_seconds": round(generated, 2),
        "statement_bytes": size,
        "runs": results,
        "identical_across_workers": len(digests) == 1,
    }


def _machine() -> dict[str, Any]:
    import platform

    with psycopg.connect(pg_admin_dsn()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "postgresql": row[0] if row else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def report(figures: dict[str, Any]) -> None:
    m = figures["machine"]
    print(
        f"machine: {m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}, load {m['load_average']}"
    )
    header = (
        f"{'workers':>7} {'lines':>9} {'import s':>9} {'ingest→committed s':>19} {'lines/s':>9} "
        f"{'recompute s':>11} {'precision':>9} {'recall':>7} {'walk/s':>9} {'copy/s':>9} "
        f"{'x floor':>7}"
    )
    print(header)
    for r in figures["runs"]:
        b = r.get("baseline", {})
        a = r["accuracy"]
        print(
            f"{r['workers']:>7} {r['lines']:>9,} {r['import_total_seconds']:>9.2f} "
            f"{r['ingest_to_committed_seconds']:>19.2f} {r['lines_per_second']:>9,.0f} "
            f"{r['balance_recompute_seconds']:>11.3f} {a['precision'] or 0:>9.4f} "
            f"{a['recall'] or 0:>7.4f} {b.get('bare_walk_per_second', 0):>9,.0f} "
            f"{b.get('bare_copy_per_second') or 0:>9,.0f} {b.get('pipeline_over_floor', 0):>7}"
        )
        if r["layout"] != one_host_layout(r["workers"]):
            print(f"        {r['layout']}")
        for w in r["per_worker"]:
            print(
                f"        worker {w['worker']} ({w['host']}: {w['queues']}): {w['tasks']} tasks, "
                f"peak RSS {w['peak_rss_mb']} MB, "
                f"busy {w['busy_share_tasks']:.0%} (tasks) / {w['busy_share_cpu']:.0%} (CPU)"
            )
        steps: dict[str, list[float]] = {}
        for task in r["tasks"]:
            steps.setdefault(task["name"], []).append(task["seconds"] or 0.0)
        for name, secs in steps.items():
            print(
                f"        {name}: {len(secs)} run(s), {sum(secs):.2f} s in all, "
                f"longest {max(secs):.2f} s"
            )
    print(f"allocations and balances identical across the runs: "
          f"{figures['identical_across_workers']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--workers", default="2", help="worker counts, comma-separated: 1,2,4")
    parser.add_argument(
        "--two-hosts",
        default="",
        help=f"two hosts simulated, comma-separated layouts: {', '.join(TWO_HOSTS)}",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=5000, help="reconcile chunk size")
    parser.add_argument(
        "--batch", type=int, default=5000, help="lines read and routed at once (a block)"
    )
    parser.add_argument(
        "--part-bytes",
        type=int,
        help="bytes of a file per part routed side by side (default: the setting's)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    layouts = [name for name in args.two_hosts.split(",") if name]
    unknown = sorted(set(layouts) - set(TWO_HOSTS))
    if unknown:
        parser.error(
            f"--two-hosts: unknown layout {', '.join(unknown)} (known: {', '.join(TWO_HOSTS)})"
        )
    sizes = Sizes(chunk=args.chunk, batch=args.batch, part_bytes=args.part_bytes)
    figures = run(args.lines, counts, two_hosts=layouts, seed=args.seed, sizes=sizes)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    report(figures)
    if len(figures["runs"]) > 1 and not figures["identical_across_workers"]:
        raise SystemExit("the allocations or balances differ between the runs")


if __name__ == "__main__":
    main()
