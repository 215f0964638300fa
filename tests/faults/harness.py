"""The fault suite's stack: a real pipeline run (PostgreSQL, a broker of its own, real worker
processes, `payrecon ingest --wait`), with faults injected while it runs, and what it leaves
compared with an undisturbed run.

    stack = FaultStack(broker="redis" | "rabbitmq", workers=2)
    outcome = stack.run(dataset, faults=[Fault("kill_worker", at=1.5), ...])

Faults, injected at the given seconds after the run started:

    kill_worker     SIGKILL to one worker's whole process group (main process and pool), then
                    the worker started again, as a supervisor (compose's restart policy) would
    drop_database   pg_terminate_backend of every connection the workers hold
    restart_broker  the broker stopped cleanly (SIGTERM) and started again on the same port with
                    its data: Redis keeps it in an append-only file, RabbitMQ in its node's
                    folder (durable quorum queues)

After the run: the time from the last fault to the run's end, the ingest command's exit code,
the allocations and balances exported (sorted), duplicate allocations, and task runs still
"running" once the workers' recovery had time to mark the lost ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from benchmarks.matching_data import write_dataset
from benchmarks.matching_payouts import load_payouts
from sqlalchemy import Engine, func, select, text

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.operations.worker_process import pid_of
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.db import make_engine, upgrade_schema
from payrecon.store.ledger_writes import PAYOUT_PARTITION
from tests.services import pg_admin_dsn, pg_url, scratch_database
from tests.services import rabbitmq as rmq
from tests.services.processes import Child, Workspace, free_port, port_answers, wait_for

BIN = Path(sys.executable).parent
SECRET = "fault-suite-secret-of-sufficient-length-0123456789"
FAULTS = ("kill_worker", "drop_database", "restart_broker")


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float  # seconds after the run started
    # kill_worker: wait up to this many seconds (while the run lasts) for a worker to be running
    # a task, so that the kill takes a delivery down with it; then, or at once when 0, a worker
    # running a task if there is one, else either
    busy_within: float = 0.0


@dataclass(frozen=True)
class Step:
    """A task run of the pipeline: its task, its partition (reconcile steps), its status."""

    name: str
    partition: int | None
    status: str

    @property
    def stage(self) -> int | None:
        """Where the step stands in a pipeline's chain: read the files, route their parts,
        store, route what is left, payouts, the customer partitions (side by side), add up;
        None for a task outside the chain. Steps of one stage may run in any order."""
        if self.name == "reconcile_partition":
            return 4 if self.partition == PAYOUT_PARTITION else 5
        stages = {
            "ingest_file": 0,
            "route_part": 1,
            "store_files": 2,
            "prepare_reconcile": 3,
            "finish_reconcile": 6,
        }
        return stages.get(self.name)


@dataclass
class Outcome:
    exit_code: int
    seconds: float
    after_last_fault: float | None
    allocations: list[tuple[str, ...]]
    balances: list[tuple[str, ...]]
    duplicate_allocations: int
    left_running: int
    runs: dict[str, int] = field(default_factory=dict)  # task runs by status
    errors: list[str] = field(default_factory=list)  # of the runs that did not succeed
    steps: list[Step] = field(default_factory=list)  # every task run, in the order they started
    faults: list[Fault] = field(default_factory=list)
    stderr: str = ""


def dataset(folder: Path, lines: int, seed: int = 7) -> Path:
    """The labelled matching data set (every rule, returns, payouts) at `lines` lines."""
    write_dataset(seed, lines, folder)
    return folder


class _Redis:
    """A Redis of the suite's own, on a fixed port, that can be stopped and started again and
    keeps its data across (append-only file), as a broker must."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.folder = workspace.folder(f"broker-redis-{uuid.uuid4().hex[:6]}")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.child: Child | None = None
        self.start()

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no",
        ]  # fmt: skip
        self.child = self.workspace.spawn("broker-redis", command)
        wait_for(lambda: port_answers("127.0.0.1", self.port), self.child, "Redis", timeout=30)

    def restart(self, down_for: float = 2.0) -> None:
        assert self.child is not None
        self.workspace.stop(self.child)  # SIGTERM: Redis writes its data and stops
        time.sleep(down_for)
        self.start()

    @property
    def broker(self) -> str:
        return f"{self.url}/0"

    @property
    def backend(self) -> str:
        return f"{self.url}/1"


class _RabbitMQ:
    """A RabbitMQ node of the suite's own (durable quorum queues), results in a Redis of its own.

    A restart stops the node cleanly (SIGTERM, which its start script turns into the node's own
    stop, as a supervisor's stop or a host's shutdown would) and boots it again as the same node:
    the same AMQP port and data folder, so the quorum queues and the messages on them survive."""

    def __init__(self, workspace: Workspace) -> None:
        found = rmq.binaries()
        assert found is not None, "RabbitMQ is not installed"
        self.node = rmq.OwnRabbitMQ(workspace, *found)
        self.results = _Redis(workspace)

    def restart(self, down_for: float = 2.0) -> None:
        self.node.stop()
        time.sleep(down_for)
        self.node.start()

    @property
    def broker(self) -> str:
        return self.node.url

    @property
    def backend(self) -> str:
        return self.results.backend


class FaultStack:
    """One broker and one database per stack; a run creates a fresh database each time."""

    def __init__(self, workspace: Workspace, *, broker: str = "redis", workers: int = 2) -> None:
        self.workspace = workspace
        self.kind = broker
        self.broker: _Redis | _RabbitMQ = (
            _Redis(workspace) if broker == "redis" else _RabbitMQ(workspace)
        )
        self.workers = workers
        self.rng = random.Random(11)

    def _env(
        self, database: str, folder: Path, settings: dict[str, str] | None = None
    ) -> dict[str, str]:
        return {
            **os.environ,
            "PAYRECON_DATABASE_URL": pg_url(database),
            "PAYRECON_BROKER_URL": self.broker.broker,
            "PAYRECON_RESULT_BACKEND": self.broker.backend,
            "PAYRECON_FEED_STORE_DIR": str(folder / "feeds"),
            "PAYRECON_API_TOKEN_SECRET": SECRET,
            "PAYRECON_LOG_FORMAT": "json",
            "PAYRECON_ENVIRONMENT": "test",
            "PAYRECON_RECONCILE_CHUNK_SIZE": "500",
            # Each file routed in several parts (blocks of 250 lines, a part per 256 KiB), so
            # that a fault can land on a part as it can on a partition.
            "PAYRECON_WRITE_BATCH_SIZE": "250",
            "PAYRECON_INGEST_PART_BYTES": str(256 * 1024),
            **(settings or {}),
        }

    def _worker(self, env: dict[str, str], number: int, folder: Path) -> Child:
        command = [
            str(BIN / "payrecon"), "worker", "--concurrency", "1", "--loglevel", "INFO",
            "--hostname", f"fault{number}-{uuid.uuid4().hex[:6]}@%h",
        ]  # fmt: skip
        return self.workspace.spawn(f"fault-worker-{number}", command, env=env, cwd=folder)

    def run(
        self,
        data: Path,
        faults: list[Fault],
        *,
        timeout: float = 600.0,
        settings: dict[str, str] | None = None,
    ) -> Outcome:
        """One run of `payrecon ingest --wait` over `data` with `faults` injected; `settings`
        (PAYRECON_* variables) for the workers and the command."""
        with scratch_database("payrecon_faults") as database:
            folder = self.workspace.folder(f"run-{uuid.uuid4().hex[:8]}")
            env = self._env(database, folder, settings)
            upgrade_schema(pg_url(database))
            engine = make_engine(pg_url(database))
            _load(engine, data)
            _flush_broker(self.broker)
            workers = [self._worker(env, n, folder) for n in range(self.workers)]
            try:
                _wait_for_workers(env, len(workers))
                files = [
                    str(data / name)
                    for name in json.loads((data / "manifest.json").read_text())["files"]
                ]
                started = time.monotonic()
                ingest = subprocess.Popen(
                    [str(BIN / "payrecon"), "ingest", *files, "--wait", "--timeout", str(timeout)],
                    env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
                last_fault: float | None = None
                for fault in sorted(faults, key=lambda f: f.at):
                    delay = started + fault.at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    if ingest.poll() is not None:
                        break  # the run ended before this fault
                    workers = self._inject(
                        fault, workers, env, folder, database, engine, lambda: ingest.poll() is None
                    )
                    last_fault = time.monotonic()
                _out, err = ingest.communicate(timeout=timeout)
                ended = time.monotonic()
                left = _wait_until_none_running(engine, patience=120.0)
                return Outcome(
                    exit_code=ingest.returncode,
                    seconds=ended - started,
                    after_last_fault=None if last_fault is None else ended - last_fault,
                    allocations=_allocations(engine),
                    balances=_balances(engine),
                    duplicate_allocations=_duplicates(engine),
                    left_running=left,
                    runs=_runs_by_status(engine),
                    errors=_run_errors(engine),
                    steps=_steps(engine),
                    faults=list(faults),
                    stderr=err[-4000:],
                )
            finally:
                for worker in workers:
                    self.workspace.stop(worker)
                engine.dispose()

    def _inject(
        self,
        fault: Fault,
        workers: list[Child],
        env: dict[str, str],
        folder: Path,
        database: str,
        engine: Engine,
        lasts: Callable[[], bool],
    ) -> list[Child]:
        if fault.kind == "kill_worker":
            deadline = time.monotonic() + fault.busy_within
            victim = _busy_worker(workers, engine)
            while victim is None and time.monotonic() < deadline and lasts():
                time.sleep(0.05)
                victim = _busy_worker(workers, engine)
            if victim is None and fault.busy_within and not lasts():
                return workers  # the run ended while this fault waited for work to kill
            if victim is None:
                victim = self.rng.randrange(len(workers))
            os.killpg(workers[victim].pid, signal.SIGKILL)
            workers[victim].process.wait()
            self.workspace.stop(workers[victim])
            time.sleep(1.0)
            workers[victim] = self._worker(env, victim, folder)
        elif fault.kind == "drop_database":
            with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
        elif fault.kind == "restart_broker":
            self.broker.restart()
        else:
            raise ValueError(fault.kind)
        return workers


def _busy_worker(workers: list[Child], engine: Engine) -> int | None:
    """The index of a worker running a task now (its pool child named in `task_runs.worker`),
    so that a kill takes work down with it; None when both are idle."""
    import psutil

    with engine.connect() as conn:
        names = conn.execute(
            select(t.task_runs.c.worker).where(
                t.task_runs.c.status == "running", t.task_runs.c.worker.is_not(None)
            )
        ).scalars()
    for name in names:
        pid = pid_of(name)
        if pid is None:
            continue
        try:
            parents = {p.pid for p in psutil.Process(pid).parents()}
        except psutil.Error:
            continue
        for index, worker in enumerate(workers):
            if worker.pid in parents:
                return index
    return None


def random_faults(kind: str, times: int, within: float, rng: random.Random) -> list[Fault]:
    """`times` faults of `kind` at random moments of the first `within` seconds (spaced)."""
    slots = sorted(rng.uniform(0.5, within) for _ in range(times))
    return [Fault(kind, at + 2.0 * i) for i, at in enumerate(slots)]


def _load(engine: Engine, data: Path) -> None:
    import_contract_owners(engine, data / "contract_owners.csv")
    import_customers(engine, data / "customers.csv")
    import_invoices(engine, data / "invoices.csv")
    load_payouts(engine, data / "payouts.json")


def _flush_broker(broker: _Redis | _RabbitMQ) -> None:
    """Nothing of an earlier run left: the Redis databases emptied, RabbitMQ's queues purged."""
    import redis
    from kombu import Connection

    from payrecon.worker.app import QUEUES

    for url in {broker.backend, broker.broker} if isinstance(broker, _Redis) else {broker.backend}:
        redis.Redis.from_url(url).flushdb()
    if isinstance(broker, _RabbitMQ):
        with Connection(broker.broker) as connection:
            for queue in QUEUES:
                # a queue not declared yet (the first run) has nothing to purge
                with contextlib.suppress(Exception):
                    connection.channel().queue_purge(queue)


def _wait_for_workers(env: dict[str, str], workers: int = 1) -> None:
    """Until `workers` workers answer a ping."""
    from payrecon.config import Settings
    from payrecon.worker.app import create_celery

    control = create_celery(
        Settings(
            broker_url=env["PAYRECON_BROKER_URL"],
            result_backend=env["PAYRECON_RESULT_BACKEND"],
            environment="test",
        )
    )
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            try:
                if len(control.control.ping(timeout=1.0) or []) >= workers:
                    return
            except Exception:
                pass
            time.sleep(0.5)
    finally:
        control.close()
    raise AssertionError(f"not all {workers} workers came up")


def _wait_until_none_running(engine: Engine, patience: float) -> int:
    """Task runs still "running" once the workers had `patience` seconds to find the lost ones."""
    deadline = time.monotonic() + patience
    while True:
        with engine.connect() as conn:
            running = conn.execute(
                select(func.count())
                .select_from(t.task_runs)
                .where(t.task_runs.c.status == "running")
            ).scalar_one()
        if running == 0 or time.monotonic() > deadline:
            return int(running)
        time.sleep(2.0)


def _runs_by_status(engine: Engine) -> dict[str, int]:
    runs = t.task_runs
    with engine.connect() as conn:
        rows = conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all()
    return {status: int(n) for status, n in rows}


def _steps(engine: Engine) -> list[Step]:
    runs = t.task_runs
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.name, runs.c.params, runs.c.status).order_by(runs.c.started_at, runs.c.id)
        ).all()
    return [Step(r.name, (r.params or {}).get("partition"), r.status) for r in rows]


def _run_errors(engine: Engine) -> list[str]:
    runs = t.task_runs
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.name, runs.c.status, runs.c.error).where(runs.c.error.is_not(None))
        ).all()
    return [f"{r.name} {r.status}: {r.error}"[:300] for r in rows]


def _allocations(engine: Engine) -> list[tuple[str, ...]]:
    sl, p, a = t.statement_lines, t.payments, t.allocations
    with engine.connect() as conn:
        rows = conn.execute(
            select(sl.c.external_id, t.invoices.c.invoice_number, a.c.amount, a.c.rule,
                   a.c.confidence, p.c.status)
            .join(p, p.c.id == a.c.payment_id)
            .join(sl, sl.c.id == p.c.statement_line_id)
            .join(t.invoices, t.invoices.c.id == a.c.invoice_id)
        ).all()  # fmt: skip
        cna = conn.execute(
            select(t.invoices.c.invoice_number, lt.credit_note_allocations.c.amount,
                   lt.credit_note_allocations.c.rule)
            .join(t.invoices, t.invoices.c.id == lt.credit_note_allocations.c.invoice_id)
        ).all()  # fmt: skip
        lines = conn.execute(select(sl.c.external_id, sl.c.status, sl.c.reason)).all()
    return sorted(
        [tuple(str(v) for v in r) for r in rows]
        + [("credit note", *(str(v) for v in r)) for r in cna]
        + [("line", *(str(v) for v in r)) for r in lines]
    )


def _balances(engine: Engine) -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.external_id, b.balance, s.status FROM customers c "
                "LEFT JOIN customer_balances b ON b.customer_id = c.id "
                "LEFT JOIN credit_status s ON s.customer_id = c.id"
            )
        ).all()
    return sorted(tuple(str(v) for v in r) for r in rows)


def _duplicates(engine: Engine) -> int:
    """Allocations that appear twice (the same payment on the same invoice), and statement lines
    with two payments."""
    a, p = t.allocations, t.payments
    with engine.connect() as conn:
        twice = conn.execute(
            select(func.count()).select_from(
                select(a.c.payment_id, a.c.invoice_id)
                .group_by(a.c.payment_id, a.c.invoice_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        paid_twice = conn.execute(
            select(func.count()).select_from(
                select(p.c.statement_line_id)
                .where(p.c.statement_line_id.is_not(None))
                .group_by(p.c.statement_line_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    return int(twice) + int(paid_twice)


def write_results(path: Path, results: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
