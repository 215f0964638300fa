"""A user's session against the real stack: import, ingest a camt.053 through a real Celery worker,
read the allocations and balances from PostgreSQL and through the API over HTTP."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from payrecon.api.auth import issue_token
from payrecon.store import tables as t
from payrecon.store.db import make_engine
from tests.e2e.conftest import API_SECRET, Stack

DATA = Path(__file__).resolve().parents[1] / "data"
D = Decimal


def counts(stack: Stack) -> tuple[int, ...]:
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        result = tuple(
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (t.feed_files, t.statement_lines, t.payments, t.allocations)
        )
    engine.dispose()
    return result


def test_ingest_through_a_real_worker(stack: Stack) -> None:
    owners = stack.payrecon("import", "contract-owners", str(DATA / "contract_owners.csv"))
    assert owners.returncode == 0, owners.stderr
    assert stack.payrecon("import", "customers", str(DATA / "customers.csv")).returncode == 0
    assert stack.payrecon("import", "invoices", str(DATA / "invoices.csv")).returncode == 0

    queued = stack.payrecon("ingest", str(DATA / "statement.camt053.xml"), "--wait")
    assert queued.returncode == 0, queued.stderr
    assert "statement.camt053.xml: processed (camt.053), 4 lines, 4 new" in queued.stdout

    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        allocations = conn.execute(
            select(
                t.statement_lines.c.external_id, t.invoices.c.invoice_number, t.allocations.c.amount
            )
            .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
            .join(t.statement_lines, t.statement_lines.c.id == t.payments.c.statement_line_id)
            .join(t.invoices, t.invoices.c.id == t.allocations.c.invoice_id)
            .where(
                t.invoices.c.invoice_number.in_(
                    ["INV-00001", "INV-00002", "INV-00003", "INV-00004"]
                )
            )
            .order_by(t.allocations.c.id)
        ).all()
        balances = dict(
            conn.execute(
                select(t.customers.c.external_id, t.customer_balances.c.balance)
                .join(t.customer_balances, t.customer_balances.c.customer_id == t.customers.c.id)
                .where(t.customers.c.external_id.in_(["C001", "C002", "C003"]))
            ).all()
        )
        runs = conn.execute(
            select(t.task_runs.c.name, t.task_runs.c.status, t.task_runs.c.task_id)
        ).all()
        feed_id = conn.execute(
            select(t.feed_files.c.id).where(t.feed_files.c.filename == "statement.camt053.xml")
        ).scalar_one()
        ingest_runs = [
            p
            for (p,) in conn.execute(
                select(t.task_runs.c.params).where(t.task_runs.c.name == "ingest_file")
            )
            if p["feed_file_id"] == feed_id
        ]
        bowman = conn.execute(
            select(t.customers.c.id).where(t.customers.c.external_id == "C001")
        ).scalar_one()
    engine.dispose()
    assert [tuple(a) for a in allocations] == [
        ("BR-0001", "INV-00001", D("16.34")),
        ("BR-0002", "INV-00002", D("40.00")),
        ("BR-0002", "INV-00001", D("136.66")),
        ("BR-0004", "INV-00004", D("17.00")),
    ]
    assert balances == {"C001": D("23.34"), "C002": D("-99.99"), "C003": D("-233.00")}
    # Other tests of the session trigger tasks too: look at this pipeline's kinds of run.
    statuses = {(name, status) for name, status, _ in runs}
    assert {
        ("ingest_file", "succeeded"),
        ("prepare_reconcile", "succeeded"),
        ("reconcile_partition", "succeeded"),  # one run per partition, side by side
        ("finish_reconcile", "succeeded"),
    } <= statuses
    assert len(ingest_runs) == 1
    assert not {status for _, status, _ in runs} - {"succeeded"}
    # The runs carry Celery task ids, and the worker process (not this one) executed them.
    worker_log = (stack.tmp / "worker.log").read_text()
    for name, _, task_id in runs:
        assert task_id, f"{name} has no task id"
        assert task_id in worker_log, f"{name} did not run on the worker"

    token = issue_token(API_SECRET, ["read"])
    response = httpx.get(
        f"{stack.api_url}/v1/customer-balances",
        params={"customer_id": bowman},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert json.loads(response.text, parse_float=D)["balance"] == D("23.34")
    assert (
        httpx.get(
            f"{stack.api_url}/v1/customer-balances", params={"customer_id": bowman}
        ).status_code
        == 401
    )

    exported = stack.payrecon("export", "allocations", "--format", "csv")
    assert (
        exported.stdout.splitlines()[1]
        == "BR-0001,INV-00001,16.34,GBP,invoice_reference_exact,1.000"
    )

    # The same file again adds no row.
    before = counts(stack)
    again = stack.payrecon("ingest", str(DATA / "statement.camt053.xml"), "--wait")
    assert again.returncode == 0
    assert "already received" in again.stdout
    assert counts(stack) == before


def test_malformed_file_is_rejected_by_the_worker_and_writes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-statement.xml"
    broken.write_text(
        (DATA / "statement.camt053.xml").read_text().replace("</Ntry>", "</Entry>", 1)
    )
    before = counts(stack)
    result = stack.payrecon("ingest", str(broken), "--wait")
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "quarantined: broken-statement.xml: line 21, column 15: not well-formed XML" in message
    assert counts(stack)[1:] == before[1:]
