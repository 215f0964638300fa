"""The README's "without Docker" block, run as a newcomer would: extracted from README.md at test
time, run by bash against a fresh PostgreSQL database and a Redis database of this session, with
the worker, beat and API started in the background as the block says; then what the README says
comes out is checked.

Three things are not run word for word, each for a reason: the install step (the test runs in
the installed environment, linked in as `.venv`), and the database URL, the Redis database and
the API's port, which are this session's own so that parallel sessions do not meet."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from tests.conftest import PG_ADMIN, REDIS_URL, REPO, pg_url
from tests.e2e.conftest import claim_redis_database, free_port

pytestmark = pytest.mark.integration

README_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payrecon"
README_BROKER = "redis://127.0.0.1:6379/0"
README_PORT = "8000"


def without_docker_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("Without Docker, against local services") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README has no sh block after 'Without Docker'"
    return match[1]


def runnable(block: str, database: str, broker: str, port: int) -> str:
    install = [line for line in block.splitlines() if line.endswith("# the install step")]
    assert len(install) == 1
    for written in (README_DATABASE, README_BROKER, f"--port {README_PORT}"):
        assert written in block, f"the README no longer says {written}"
    script = (
        block.replace(install[0], "")
        .replace(README_DATABASE, database)
        .replace(README_BROKER, broker)
        .replace(f":{README_PORT}/", f":{port}/")
        .replace(f"--port {README_PORT}", f"--port {port}")
    )
    # Whatever the block started in the background ends with it.
    return "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n" + script


@pytest.fixture
def services() -> tuple[str, str]:
    name = f"payrecon_readme_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    broker = f"{REDIS_URL}/{claim_redis_database(name)}"
    try:
        yield pg_url(name), broker
    finally:
        redis.Redis.from_url(broker).flushdb()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_readme_without_docker_block(tmp_path: Path, services: tuple[str, str]) -> None:
    database, broker = services
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "src").symlink_to(REPO / "src")  # where the block's sample files are
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")}
    env["COLUMNS"] = "160"
    process = subprocess.Popen(
        ["bash", "-c", runnable(without_docker_block(), database, broker, free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=400)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything the trap did not end
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]

    # What the README says comes out.
    assert "contract owners: 2 rows" in stdout
    assert "customers: 300 rows" in stdout
    assert "invoices: 520 rows" in stdout
    assert "statement-2026-10.camt053.xml: processed (camt.053), 315 lines, 315 new" in stdout
    header = "external_id,invoice_number,amount_applied,currency,rule,confidence"
    export = stdout[stdout.index(header) :]
    rows = list(csv.DictReader(io.StringIO(export.split("\n{", 1)[0])))
    assert len(rows) == 284
    balance = next(json.loads(line) for line in stdout.splitlines() if line.startswith('{"id"'))
    assert balance["customerId"] == 1
    assert "balance" in balance
    status = stdout[stdout.index("Services") :]
    assert re.search(r"database\s+ok", status)
    assert re.search(r"broker\s+ok", status)
    assert re.search(r"workers\s+celery@", status), status
