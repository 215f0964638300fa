"""Operations on the real stack: manual triggers (API and CLI), a real beat, Flower, /metrics."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from payrecon.api.auth import issue_token
from payrecon.store import tables as t
from payrecon.store.audit_tables import audit_log
from payrecon.store.db import make_engine
from tests.e2e.conftest import API_SECRET, BIN, Stack, free_port, wait_until

ADMIN = {"Authorization": f"Bearer {issue_token(API_SECRET, ['admin'], subject='ops-alice')}"}


def runs_of(stack: Stack, name: str) -> list[tuple[str, str]]:
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.task_runs.c.task_id, t.task_runs.c.status).where(t.task_runs.c.name == name)
        ).all()
    engine.dispose()
    return [(r.task_id, r.status) for r in rows]


def test_trigger_through_the_api_once_per_idempotency_key(stack: Stack) -> None:
    key = f"audit-{uuid.uuid4()}"
    first = httpx.post(
        f"{stack.api_url}/v1/tasks/audit_ledger", headers={**ADMIN, "Idempotency-Key": key}
    )
    assert first.status_code == 202, first.text
    task_id = first.json()["taskId"]
    wait_until(
        lambda: (task_id, "succeeded") in runs_of(stack, "audit_ledger"), "the triggered run"
    )

    again = httpx.post(
        f"{stack.api_url}/v1/tasks/audit_ledger", headers={**ADMIN, "Idempotency-Key": key}
    )
    assert again.status_code == 200
    assert again.json() == {**first.json(), "created": False}
    time.sleep(1.0)
    assert [r for r in runs_of(stack, "audit_ledger") if r[0] == task_id] == [
        (task_id, "succeeded")
    ]

    status = httpx.get(f"{stack.api_url}/v1/tasks/{task_id}", headers=ADMIN).json()
    assert status["state"] == "SUCCESS"
    assert status["run"]["counts"]["breaches"] == 0
    listed = httpx.get(
        f"{stack.api_url}/v1/task-runs", params={"name": "audit_ledger"}, headers=ADMIN
    )
    assert task_id in {r["taskId"] for r in listed.json()}
    assert int(listed.headers["X-Total-Count"]) >= 1

    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.actor).where(audit_log.c.entity_id == task_id)
        ).all()
    engine.dispose()
    assert [a.actor for a in audited] == ["ops-alice"]


def test_trigger_needs_the_admin_scope(stack: Stack) -> None:
    write = {"Authorization": f"Bearer {issue_token(API_SECRET, ['write'])}"}
    assert httpx.post(f"{stack.api_url}/v1/tasks/audit_ledger", headers=write).status_code == 403
    assert httpx.post(f"{stack.api_url}/v1/tasks/audit_ledger").status_code == 401
    bad = httpx.post(f"{stack.api_url}/v1/tasks/ingest_file", json={"nope": 1}, headers=ADMIN)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_input"


def test_trigger_through_the_cli_and_wait(stack: Stack) -> None:
    key = f"cli-{uuid.uuid4()}"
    result = stack.payrecon("trigger", "recompute_balances", "--wait", "--idempotency-key", key)
    assert result.returncode == 0, result.stderr
    assert '"customers"' in result.stdout
    task_id = result.stdout.split("task ")[1].split()[0]
    assert (task_id, "succeeded") in runs_of(stack, "recompute_balances")
    again = stack.payrecon("trigger", "recompute_balances", "--idempotency-key", key)
    assert "not run again" in again.stdout
    assert len([r for r in runs_of(stack, "recompute_balances") if r[0] == task_id]) == 1


def test_a_real_beat_runs_the_schedules(stack: Stack, tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "fast.yaml").write_text(
        "- {name: fast-audit, task: audit_ledger, every: 1, expires: 30}\n"
        "- {name: fast-balances, task: recompute_balances, every: 1, expires: 30}\n"
    )
    before = (len(runs_of(stack, "audit_ledger")), len(runs_of(stack, "recompute_balances")))
    log = (tmp_path / "beat.log").open("wb")
    beat = subprocess.Popen(
        [str(BIN / "payrecon"), "beat", "--schedules-dir", str(schedules)],
        env=stack.env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: (
                len(runs_of(stack, "audit_ledger")) >= before[0] + 2
                and len(runs_of(stack, "recompute_balances")) >= before[1] + 2
            ),
            "two scheduled runs of each task",
            timeout=60,
        )
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        log.close()
    assert all(status == "succeeded" for _, status in runs_of(stack, "audit_ledger"))


def test_flower_lists_the_worker_and_a_task_the_test_ran(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    flower = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "payrecon.worker.app",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
            "--basic-auth=ops:secret-pass",
        ],
        env=stack.env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    auth = ("ops", "secret-pass")
    try:
        wait_until(
            lambda: httpx.get(f"{base}/api/workers", auth=auth, timeout=5).status_code == 200,
            "Flower",
        )
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
        wait_until(
            lambda: len(httpx.get(f"{base}/api/workers", auth=auth, timeout=5).json()) >= 1,
            "a worker in Flower",
        )
        key = f"flower-{uuid.uuid4()}"
        task_id = httpx.post(
            f"{stack.api_url}/v1/tasks/audit_ledger", headers={**ADMIN, "Idempotency-Key": key}
        ).json()["taskId"]
        wait_until(
            lambda: (
                httpx.get(f"{base}/api/task/info/{task_id}", auth=auth, timeout=5)
                .json()
                .get("state")
                == "SUCCESS"
            ),
            "the task in Flower",
        )
        info = httpx.get(f"{base}/api/task/info/{task_id}", auth=auth, timeout=5).json()
        assert info["name"] == "payrecon.audit_ledger"
    finally:
        flower.terminate()
        flower.wait(timeout=20)
        log.close()


def test_metrics_count_the_pipeline(stack: Stack) -> None:
    text = httpx.get(f"{stack.api_url}/metrics").text
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        matched = conn.execute(
            select(func.count())
            .select_from(t.statement_lines)
            .where(t.statement_lines.c.status == "matched")
        ).scalar_one()
    engine.dispose()
    assert f'payrecon_statement_lines_total{{status="matched"}} {float(matched)}' in text
    assert 'payrecon_queue_depth{queue="ingest"}' in text
    assert 'payrecon_review_queue_lines{age="30d+"}' in text
    assert 'payrecon_task_runs_total{status="succeeded",task="ingest_file"}' in text or matched == 0
