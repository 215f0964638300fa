"""The status API under load (issue 11, item 7): `GET /v1/customer-balances` and filtered
`GET /v1/customer-payments` against a database of a million payments, driven at a fixed rate.

    .venv/bin/python -m benchmarks.api_load --payments 1000000 --customers 200000 --rate 200
    .venv/bin/python -m benchmarks.api_load --payments 5000 --customers 1000 --duration 3 --json x
    .venv/bin/python -m benchmarks.api_load --keep ...      # keep the database; --reuse NAME next

What it does:
1. Builds a scratch PostgreSQL database (the tests' server, `tests.services`): the schema through
   the project's Alembic upgrade (`store.db.upgrade_schema`), then owners, customers, mandates
   (half the customers), invoices, payments (one per invoice, same customer) and their allocations
   (70 % paid in full, 10 % in part, 20 % unallocated) loaded with COPY, open and unused amounts
   kept consistent, sequences moved past the ids; every balance and credit status computed by the
   project's own `recompute_customers`; then `VACUUM ANALYZE`.
2. Starts the real API (`payrecon api`, uvicorn, one process) as a subprocess, with a read token.
3. Drives it from this process with an open-loop generator (asyncio + httpx): a fixed schedule of
   request start times at `--rate` per second for `--duration` seconds, each request's latency
   counted from its scheduled start (so time spent queueing, in the generator or the server, is
   counted: no coordinated omission), at most `--connections` connections at once (a request
   waits for a free connection and that wait counts). Phases, each at the same rate after a short
   warm-up: `healthz` (the baseline: the generator's and uvicorn's own cost), `balances` (random
   customers), `payments` (a mix of realistic filters: a customer's payments in the Admin API and
   the seed's syntax, a customer's payments in a date range or by payment mode, the payments of
   one invoice, a payment by reference, one day's payments paged). Bodies are kept and checked
   after each phase (status 200 and the response shape), so checking costs no time under load.
4. Beside the figures, in the same run: the bare SQL behind each endpoint timed serially over
   psycopg, the load average, the generator's and the server's CPU seconds over the phase.

The load generator, the API server and PostgreSQL share this machine's cores: the healthz phase
shows what the generator and uvicorn cost by themselves at the same rate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from sqlalchemy import make_url
from tests.services import pg_admin_dsn, pg_url, scratch_database
from tests.services.processes import Child, Workspace, free_port

from payrecon.api.auth import issue_token
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.store.db import make_engine, upgrade_schema

BIN = Path(sys.executable).parent
SECRET = "api-load-benchmark-secret-of-sufficient-length-0123456789"
FIRST_DAY = dt.date(2025, 1, 1)
DAYS = 700
CREATED = "2026-12-01 00:00:00+00"
MODES = ("BankTransfer",) * 6 + ("DirectDebit",) * 2 + ("Cash", "Check", "CreditCard", "Stripe")
FIRST = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas")
LAST = ("Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch", "Bauer")
BALANCE_FIELDS = {
    "id",
    "customerId",
    "balance",
    "totalPayments",
    "totalPaymentsSinceLastInvoice",
    "paymentMethodSummary",
    "repaymentPlanSummary",
}
PAYMENT_FIELDS = {
    "id", "paymentId", "paymentNumber", "customerId", "customerName", "paymentMode", "date",
    "currencyCode", "exchangeRate", "rateSource", "rateDate", "amount", "bcyCurrency",
    "bcyAmount", "unusedAmount", "bcyUnusedAmount", "invoiceNumbers", "status", "bankCharges",
    "taxAmountWithheld", "description", "referenceNumber", "invoices",
}  # fmt: skip


@dataclass
class World:
    """What the generator needs to know of the data to ask realistic questions."""

    customers: int
    payments: int
    payment_customer: array  # type: ignore[type-arg]  # customer of payment i+1 (= of invoice i+1)
    payment_day: array  # type: ignore[type-arg]  # days after FIRST_DAY
    allocated: array  # type: ignore[type-arg]  # 1 where payment i+1 pays invoice i+1
    per_customer: array  # type: ignore[type-arg]  # how many payments customer c has, at c

    def reference(self, payment_id: int) -> str:
        return f"RF{payment_id:09d}"


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def generate(rng: random.Random, customers: int, payments: int) -> World:
    payment_customer = array("i", (rng.randrange(customers) + 1 for _ in range(payments)))
    per_customer = array("i", bytes(4 * (customers + 1)))
    for customer in payment_customer:
        per_customer[customer] += 1
    return World(
        customers=customers,
        payments=payments,
        payment_customer=payment_customer,
        payment_day=array("h", (rng.randrange(DAYS) for _ in range(payments))),
        allocated=array("b", (rng.random() < 0.8 for _ in range(payments))),
        per_customer=per_customer,
    )


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, lines: Iterator[str]) -> int:
    """COPY text lines (tab-separated, no escaping needed for what we generate) into `table`."""
    n = 0
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line)
            n += 1
            if n % 20000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return n


def load(dsn: str, world: World, rng: random.Random) -> dict[str, float]:
    """Fill the migrated database with COPY; the seconds of each table."""
    seconds: dict[str, float] = {}
    n_customers, n_payments = world.customers, world.payments
    # Amounts drawn here, in the order of the ids, so that one seed gives one database.
    totals = array("q", (rng.randrange(1500, 50000) for _ in range(n_payments)))
    partial = array("b", (rng.random() < 0.125 for _ in range(n_payments)))  # of the allocated

    def owners() -> Iterator[str]:
        for i in range(1, 5):
            yield f"{i}\tOwner {i}\tHALF_UP\t2\tt\t{CREATED}\t{CREATED}\n"

    def customers() -> Iterator[str]:
        for i in range(1, n_customers + 1):
            name = f"{FIRST[i % len(FIRST)]} {LAST[(i // 10) % len(LAST)]} {i}"
            yield f"{i}\tC{i:07d}\t{name}\t{i % 4 + 1}\tEUR\t500.00\tACC{i:08d}\t{CREATED}\n"

    def mandates() -> Iterator[str]:
        for i in range(1, n_customers + 1, 2):
            status = "cancelled" if i % 10 == 1 else "active"
            yield f"{(i + 1) // 2}\t{i}\tMD{i:08d}\t{status}\t{CREATED}\n"

    def paid(i: int) -> int:
        """What payment i+1 allocates to invoice i+1, in cents."""
        if not world.allocated[i]:
            return 0
        return totals[i] // 2 if partial[i] else totals[i]

    def invoices() -> Iterator[str]:
        for i in range(n_payments):
            issue = FIRST_DAY + dt.timedelta(days=max(0, world.payment_day[i] - 10))
            due = issue + dt.timedelta(days=30)
            open_cents = totals[i] - paid(i)
            yield (
                f"{i + 1}\tI{i + 1:08d}\tINV-{i + 1:08d}\t{world.payment_customer[i]}\tstandard\t"
                f"{issue}\t{due}\tEUR\t{_money(totals[i])}\t{CREATED}\t{_money(open_cents)}\n"
            )

    def payments() -> Iterator[str]:
        for i in range(n_payments):
            day = FIRST_DAY + dt.timedelta(days=world.payment_day[i])
            mode = MODES[i % len(MODES)]
            amount = totals[i]
            unused = amount - paid(i)
            pid = i + 1
            yield (
                f"{pid}\t{world.payment_customer[i]}\tbank\tE2E{pid:010d}\t{mode}\t{day}\t"
                f"{_money(amount)}\tEUR\t1\t0.00\t0.00\t{world.reference(pid)}\t"
                f"Payment for INV-{pid:08d}\tactive\t{CREATED}\t{_money(unused)}\t{pid}\n"
            )

    def allocations() -> Iterator[str]:
        aid = 0
        for i in range(n_payments):
            cents = paid(i)
            if cents:
                aid += 1
                yield (
                    f"{aid}\t{i + 1}\t{i + 1}\t{_money(cents)}\tEUR\treference\t1.000\t"
                    f'{{"matched_on": "reference"}}\t{CREATED}\n'
                )

    steps: list[tuple[str, str, Callable[[], Iterator[str]]]] = [
        ("contract_owners", "id, name, price_rounding_mode, price_decimal_places, "
         "enable_balance_carry_forward, created_at, updated_at", owners),
        ("customers", "id, external_id, name, contract_owner_id, currency, credit_threshold, "
         "account_number, created_at", customers),
        ("mandates", "id, customer_id, reference, status, created_at", mandates),
        ("invoices", "id, external_id, invoice_number, customer_id, kind, issue_date, due_date, "
         "currency, total, created_at, open_amount", invoices),
        ("payments", "id, customer_id, source, external_id, payment_mode, date, amount, currency, "
         "exchange_rate, bank_charges, tax_amount_withheld, reference_number, description, "
         "status, created_at, unused_amount, payment_number", payments),
        ("allocations", "id, payment_id, invoice_id, amount, currency, rule, confidence, "
         "evidence, created_at", allocations),
    ]  # fmt: skip
    with psycopg.connect(dsn) as conn:
        # The rows are valid by construction: skip the per-row foreign-key triggers.
        conn.execute("SET session_replication_role = replica")
        for table, columns, rows in steps:
            started = time.perf_counter()
            _copy(conn, table, columns, rows())
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
            seconds[table] = round(time.perf_counter() - started, 2)
        conn.execute(f"SELECT setval('payment_number_seq', {n_payments + 1}, false)")
        conn.commit()
    return seconds


def build(name: str, world: World, rng: random.Random) -> dict[str, Any]:
    url = pg_url(name)
    started = time.perf_counter()
    upgrade_schema(url)
    figures: dict[str, Any] = {"schema_seconds": round(time.perf_counter() - started, 2)}
    figures["copy_seconds"] = load(_dsn(name), world, rng)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            recompute_customers(conn, None, utcnow(), cause="api load benchmark")
        figures["recompute_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        engine.dispose()
    started = time.perf_counter()
    with psycopg.connect(_dsn(name), autocommit=True) as conn:
        # What autovacuum does to a table that has settled: statistics, and the visibility map
        # that lets an index-only scan skip the heap.
        conn.execute("VACUUM ANALYZE")
    figures["vacuum_analyze_seconds"] = round(time.perf_counter() - started, 2)
    return figures


def _dsn(name: str) -> str:
    url = make_url(pg_url(name)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@contextmanager
def database(reuse: str | None, keep: bool) -> Iterator[tuple[str, bool]]:
    """(name, built already): a new scratch database, or the one `reuse` names."""
    if reuse:
        yield reuse, True
        return
    with scratch_database("payrecon_apiload", keep=keep) as name:
        yield name, False


# --- the requests ------------------------------------------------------------------------------


def _day(world: World, payment_index: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=world.payment_day[payment_index])


def payment_queries(world: World, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """One filtered payments-list request: (kind, url, what the answer must satisfy)."""
    i = rng.randrange(world.payments)
    customer = world.payment_customer[i]
    kind = rng.choices(
        ["customer", "customer_admin", "customer_dates", "customer_mode_seed", "invoice",
         "reference", "day"],
        weights=[3, 2, 2, 1, 1, 1, 1],
    )[0]  # fmt: skip
    base = "/v1/customer-payments"
    if kind == "customer":
        count = min(100, world.per_customer[customer])
        return kind, f"{base}?customer_id={customer}", {"customerId": customer, "count": count}
    if kind == "customer_admin":
        url = f"{base}?customerId={customer}&sort=date:desc&pageSize=25"
        count = min(25, world.per_customer[customer])
        return kind, url, {"customerId": customer, "count": count, "descending": True}
    if kind == "customer_dates":
        start = _day(world, i) - dt.timedelta(days=rng.randrange(0, 120))
        end = start + dt.timedelta(days=180)
        url = f"{base}?customer_id={customer}&date_start={start}&date_end={end}"
        return kind, url, {"customerId": customer, "dates": (str(start), str(end))}
    if kind == "customer_mode_seed":
        url = (
            f"{base}?customer_id={customer}&filter_by=PaymentMode.BankTransfer"
            "&sort_column=date&sort_order=D&per_page=25"
        )
        return kind, url, {"customerId": customer, "envelope": True, "mode": "BankTransfer"}
    if kind == "invoice":
        # Payment i+1 pays invoice i+1 when allocated; otherwise the answer is an empty list.
        return kind, f"{base}?invoice_id={i + 1}", {"count": 1 if world.allocated[i] else 0}
    if kind == "reference":
        url = f"{base}?reference_number={world.reference(i + 1)}"
        return kind, url, {"count": 1, "id": i + 1}
    page = rng.choice((1, 1, 2))
    return (
        kind,
        f"{base}?date={_day(world, i)}&pageSize=50&page={page}",
        {"date": str(_day(world, i))},
    )


def balance_query(world: World, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    customer = rng.randrange(world.customers) + 1
    return "balance", f"/v1/customer-balances?customer_id={customer}", {"customerId": customer}


def healthz_query(world: World, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    return "healthz", "/healthz", {}


PHASES: dict[str, Callable[[World, random.Random], tuple[str, str, dict[str, Any]]]] = {
    "healthz": healthz_query,
    "balances": balance_query,
    "payments": payment_queries,
}


def check(kind: str, expect: dict[str, Any], status: int, body: bytes) -> str | None:
    """None when the answer is right; else what is wrong."""
    if status != 200:
        return f"status {status}"
    try:
        data = json.loads(body)
    except ValueError:
        return "not JSON"
    if kind == "healthz":
        return None if data == {"status": "ok"} else "healthz body"
    if kind == "balance":
        if set(data) != BALANCE_FIELDS or data["customerId"] != expect["customerId"]:
            return "balance shape"
        return None
    if expect.get("envelope"):
        if data.get("code") != 0 or "page_context" not in data:
            return "seed envelope"
        data = data["customerpayments"]
    if not isinstance(data, list):
        return "not a list"
    for item in data:
        if set(item) != PAYMENT_FIELDS:
            return "payment shape"
        if "customerId" in expect and item["customerId"] != expect["customerId"]:
            return "customer filter"
        if "dates" in expect and not expect["dates"][0] <= item["date"] <= expect["dates"][1]:
            return "date filter"
        if "date" in expect and item["date"] != expect["date"]:
            return "date filter"
        if "mode" in expect and item["paymentMode"] != expect["mode"]:
            return "payment mode filter"
    if expect.get("descending") and [i["date"] for i in data] != sorted(
        (i["date"] for i in data), reverse=True
    ):
        return "order"
    if "count" in expect and len(data) != expect["count"]:
        return f"{len(data)} items, expected {expect['count']}"
    if "id" in expect and data[0]["id"] != expect["id"]:
        return "reference filter"
    return None


# --- the generator -----------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    latency: float  # seconds from the scheduled start to the last byte
    status: int
    problem: str | None = None


@dataclass
class PhaseResult:
    name: str
    rate: float
    duration: float
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0  # first scheduled start to the last answer
    max_dispatch_lag: float = 0.0  # how late the generator started a request, at worst
    generator_cpu: float = 0.0
    server_cpu: float = 0.0
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()


_Raw = tuple[str, float, int, bytes, dict[str, Any]]  # kind, latency, status, body, expected


class _Client:
    """A lean HTTP/1.1 keep-alive client over asyncio streams, for GETs to our own server: a few
    tens of microseconds a request where httpx's async client spends milliseconds on this machine,
    so that the generator takes as little as it can of the cores it shares with the server. At
    most `connections` at once; a request waits for a free one (and that wait is counted)."""

    def __init__(self, host: str, port: int, token: str, connections: int) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.slots = asyncio.Semaphore(connections)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.slots:
            reused = bool(self.idle)
            conn = self.idle.pop() if reused else await self._open()
            try:
                answer = await self._exchange(conn, path)
            except (ConnectionError, asyncio.IncompleteReadError):
                conn[1].close()
                if not reused:
                    raise
                conn = await self._open()  # the server closed an idle keep-alive connection
                answer = await self._exchange(conn, path)
            self.idle.append(conn)
            return answer

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str
    ) -> tuple[int, bytes]:
        reader, writer = conn
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ConnectionError("an answer without Content-Length")
        return status, await reader.readexactly(length)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _drive(
    base: str,
    token: str,
    plan: list[tuple[str, str, dict[str, Any]]],
    rate: float,
    connections: int,
) -> tuple[list[_Raw], float, float]:
    url = httpx.URL(base)
    client = _Client(url.host, url.port or 80, token, connections)
    raw: list[_Raw] = []
    lag = 0.0
    loop = asyncio.get_running_loop()

    async def one(kind: str, path: str, expect: dict[str, Any], due: float) -> None:
        try:
            status, body = await client.get(path)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status, body = 0, type(exc).__name__.encode()
        raw.append((kind, loop.time() - due, status, body, expect))

    start = loop.time() + 0.05
    tasks = []
    for n, (kind, path, expect) in enumerate(plan):
        due = start + n / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag = max(lag, -delay)
        tasks.append(asyncio.create_task(one(kind, path, expect, due)))
    await asyncio.gather(*tasks)
    wall = loop.time() - start
    client.close()
    return raw, wall, lag


def run_phase(
    name: str,
    world: World,
    server: Child,
    base: str,
    token: str,
    *,
    rate: float,
    duration: float,
    connections: int,
    warmup: float,
    rng: random.Random,
) -> PhaseResult:
    make = PHASES[name]
    if warmup > 0:
        asyncio.run(
            _drive(base, token, [make(world, rng) for _ in range(int(rate * warmup))], rate,
                   connections)
        )  # fmt: skip
    plan = [make(world, rng) for _ in range(int(rate * duration))]
    result = PhaseResult(name, rate, duration, load_before=os.getloadavg())
    server_process = psutil.Process(server.pid)
    server_before = sum(server_process.cpu_times()[:2])
    cpu_before = time.process_time()
    raw, result.wall, result.max_dispatch_lag = asyncio.run(
        _drive(base, token, plan, rate, connections)
    )
    result.generator_cpu = time.process_time() - cpu_before
    result.server_cpu = sum(server_process.cpu_times()[:2]) - server_before
    result.load_after = os.getloadavg()
    # Checked once the phase is over, so that checking takes nothing from the server under load.
    result.samples = [
        Sample(kind, latency, status, check(kind, expect, status, body))
        for kind, latency, status, body, expect in raw
    ]
    return result


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summary(samples: list[Sample], wall: float) -> dict[str, Any]:
    ms = sorted(s.latency * 1000 for s in samples)
    errors = [s for s in samples if s.problem is not None]
    return {
        "requests": len(samples),
        "requests_per_second": round(len(samples) / wall, 1) if wall else 0.0,
        "p50_ms": round(_percentile(ms, 0.50), 2),
        "p90_ms": round(_percentile(ms, 0.90), 2),
        "p99_ms": round(_percentile(ms, 0.99), 2),
        "max_ms": round(ms[-1], 2) if ms else 0.0,
        "mean_ms": round(statistics.fmean(ms), 2) if ms else 0.0,
        "errors": len(errors),
        "error_kinds": sorted({e.problem or "" for e in errors})[:10],
    }


def phase_figures(result: PhaseResult) -> dict[str, Any]:
    kinds = sorted({s.kind for s in result.samples})
    return {
        "phase": result.name,
        "target_rate": result.rate,
        "duration_s": result.duration,
        **summary(result.samples, result.wall),
        "by_kind": {k: summary([s for s in result.samples if s.kind == k], result.wall)
                    for k in kinds} if len(kinds) > 1 else {},
        "max_dispatch_lag_ms": round(result.max_dispatch_lag * 1000, 2),
        "generator_cpu_share": round(result.generator_cpu / result.wall, 3),
        "server_cpu_share": round(result.server_cpu / result.wall, 3),
        "load_average_before": [round(x, 2) for x in result.load_before],
        "load_average_after": [round(x, 2) for x in result.load_after],
    }  # fmt: skip


# --- baselines -----------------------------------------------------------------------------------


def bare_sql(name: str, world: World, rng: random.Random, n: int = 400) -> dict[str, Any]:
    """The SQL behind each endpoint, one query at a time over one psycopg connection: what the
    database alone costs per request (a floor, without the app, HTTP or the generator)."""
    queries = {
        "balance_row": (
            "SELECT * FROM customer_balances WHERE customer_id = %s",
            lambda: (rng.randrange(world.customers) + 1,),
        ),
        "customer_payments_page": (
            "SELECT id FROM payments WHERE customer_id = %s ORDER BY date DESC, id LIMIT 100",
            lambda: (world.payment_customer[rng.randrange(world.payments)],),
        ),
    }
    out: dict[str, Any] = {}
    with psycopg.connect(_dsn(name), autocommit=True) as conn:
        for label, (sql, params) in queries.items():
            times = []
            for _ in range(n):
                started = time.perf_counter()
                conn.execute(sql, params()).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out[label] = {
                "p50_ms": round(_percentile(times, 0.5), 3),
                "p99_ms": round(_percentile(times, 0.99), 3),
            }
    return out


# --- the server ---------------------------------------------------------------------------------


def start_api(workspace: Workspace, name: str) -> tuple[Child, str]:
    folder = workspace.folder(f"api-load-{uuid.uuid4().hex[:6]}")
    port = free_port()
    env = {
        **os.environ,
        "PAYRECON_DATABASE_URL": pg_url(name),
        "PAYRECON_BROKER_URL": "memory://",
        "PAYRECON_API_TOKEN_SECRET": SECRET,
        "PAYRECON_FEED_STORE_DIR": str(folder / "feeds"),
        "PAYRECON_INBOX_DIR": str(folder / "inbox"),
        "PAYRECON_ENVIRONMENT": "test",
        "PAYRECON_LOG_FORMAT": "json",
    }
    command = [str(BIN / "payrecon"), "api", "--port", str(port)]
    child = workspace.spawn(f"api-load-{port}", command, env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the API exited:\n{child.log_tail()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return child, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not answer within 60 s:\n{child.log_tail()}")


def _machine() -> dict[str, Any]:
    import platform

    with psycopg.connect(pg_admin_dsn()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        buffers = conn.execute("SHOW shared_buffers").fetchone()
    return {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "postgresql": row[0] if row else None,
        "shared_buffers": buffers[0] if buffers else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run(
    *,
    customers: int,
    payments: int,
    rate: float,
    duration: float,
    phases: list[str],
    connections: int = 64,
    warmup: float = 2.0,
    seed: int = 1,
    reuse: str | None = None,
    keep: bool = False,
    workspace: Workspace | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.perf_counter()
    world = generate(rng, customers, payments)
    figures: dict[str, Any] = {
        "machine": _machine(),
        "customers": customers,
        "payments": payments,
        "connections": connections,
        "generate_seconds": round(time.perf_counter() - started, 2),
    }
    own = workspace is None
    space = workspace or Workspace()
    try:
        with database(reuse, keep) as (name, built):
            figures["database"] = name
            if built:
                upgrade_schema(pg_url(name))  # a migration added since it was built
                with psycopg.connect(_dsn(name), autocommit=True) as conn:
                    conn.execute("ANALYZE")
            else:
                figures["build"] = build(name, world, rng)
            figures["bare_sql"] = bare_sql(name, world, rng)
            server, base = start_api(space, name)
            try:
                token = issue_token(SECRET, ["read"], subject="api-load-benchmark")
                figures["phases"] = []
                for spec in phases:
                    phase, _, own_rate = spec.partition("@")
                    result = run_phase(
                        phase,
                        world,
                        server,
                        base,
                        token,
                        rate=float(own_rate or rate),
                        duration=duration,
                        connections=connections,
                        warmup=warmup,
                        rng=rng,
                    )
                    figures["phases"].append(phase_figures(result))  # fmt: skip
            finally:
                space.stop(server)
    finally:
        if own:
            space.close()
    figures["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def report(figures: dict[str, Any]) -> None:
    m = figures["machine"]
    print(
        f"machine: {m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, PostgreSQL "
        f"{m['postgresql']} (shared_buffers {m['shared_buffers']}), load {m['load_average']}"
    )
    print(
        f"data: {figures['customers']:,} customers, {figures['payments']:,} payments "
        f"(and as many invoices), database {figures['database']}"
    )
    if "build" in figures:
        b = figures["build"]
        copy = ", ".join(f"{k} {v} s" for k, v in b["copy_seconds"].items())
        print(
            f"build: schema {b['schema_seconds']} s; COPY {copy}; balances recompute "
            f"{b['recompute_seconds']} s; VACUUM ANALYZE {b['vacuum_analyze_seconds']} s"
        )
    bare = ", ".join(
        f"{k} p50 {v['p50_ms']} ms / p99 {v['p99_ms']} ms" for k, v in figures["bare_sql"].items()
    )
    print(f"bare SQL, serial, one connection: {bare}")
    print(
        "the generator, the API (one uvicorn process) and PostgreSQL share the machine's cores; "
        "latency counts from each request's scheduled start"
    )
    header = (
        f"{'phase / kind':<22} {'req':>6} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>6}"
    )
    print(header)
    for p in figures["phases"]:
        label = f"{p['phase']} @{p['target_rate']:.0f}/s"
        rows = [(label, p), *((f"  {k}", v) for k, v in p["by_kind"].items())]
        for label, r in rows:
            print(
                f"{label:<22} {r['requests']:>6} {r['requests_per_second']:>7.1f} "
                f"{r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['max_ms']:>8.2f} {r['errors']:>6}"
            )
        print(
            f"  (target {p['target_rate']:.0f} req/s for {p['duration_s']:.0f} s; generator CPU "
            f"{p['generator_cpu_share']:.0%} of a core, server {p['server_cpu_share']:.0%}; "
            f"dispatch lag <= {p['max_dispatch_lag_ms']} ms; load "
            f"{p['load_average_before'][0]} -> {p['load_average_after'][0]})"
        )
        if p["errors"]:
            print(f"  errors: {p['error_kinds']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument(
        "--phases",
        default="healthz,balances,payments",
        help="phases in order, each at --rate or at its own: healthz,balances,payments@50",
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database (name printed)")
    parser.add_argument("--reuse", metavar="NAME", help="a database an earlier --keep run built")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p.partition("@")[0] not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; choose from {sorted(PHASES)}")
    figures = run(
        customers=args.customers,
        payments=args.payments,
        rate=args.rate,
        duration=args.duration,
        phases=phases,
        connections=args.connections,
        warmup=args.warmup,
        seed=args.seed,
        reuse=args.reuse,
        keep=args.keep,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    report(figures)
    if any(p["errors"] for p in figures["phases"]):
        raise SystemExit("some requests failed (see errors above)")


if __name__ == "__main__":
    main()
