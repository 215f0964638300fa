"""Schemathesis against the real running API (uvicorn, PostgreSQL, seeded ledger) with an admin
token: every operation of /openapi.json, a few examples each, and no response may be a 5xx, carry
a status the document does not declare, or break the document's schema or content type (issue 12).

A longer run by hand (30 examples per operation) is in docs/reliability.md.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from payrecon.api.auth import issue_token
from payrecon.store.db import make_engine, upgrade_schema
from tests.e2e.api_server import Server, serve_api
from tests.e2e.conftest import API_SECRET, BIN
from tests.integration.test_pipeline_services import DATA, load_ledger, run_pipeline
from tests.services import pg_admin_dsn, pg_url

EXAMPLES = 3  # per operation; the whole run stays well under two minutes
CHECKS = (
    "not_a_server_error,status_code_conformance,response_schema_conformance,"
    "content_type_conformance"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    name = f"payrecon_st_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    tmp = tmp_path_factory.mktemp("schemathesis")
    try:
        upgrade_schema(pg_url(name))
        engine = make_engine(pg_url(name))
        load_ledger(engine)
        run_pipeline(engine, tmp / "feeds", DATA / "statement.camt053.xml")
        engine.dispose()
        with serve_api(tmp, pg_url(name)) as running:
            yield running
    finally:
        with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_no_server_error_and_no_schema_violation(server: Server, tmp_path: Path) -> None:
    token = issue_token(API_SECRET, ["admin"], ttl=timedelta(hours=1))
    run = subprocess.run(
        [
            str(BIN / "schemathesis"), "run", f"{server.url}/openapi.json",
            "--checks", CHECKS,
            "--max-examples", str(EXAMPLES),
            "--header", f"Authorization: Bearer {token}",
            "--workers", "1",
            "--seed", "1",
            "--generation-database", "none",
            "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    sys.stdout.write(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "Tested: " in run.stdout, run.stdout[-2000:]
    assert "generated," in run.stdout
    assert "failures" not in run.stdout.split("SUMMARY")[-1].lower()
