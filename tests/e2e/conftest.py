"""The real stack for end-to-end tests: a PostgreSQL database, a Redis database, a Celery worker
process and the API served by uvicorn, all started by the test session (no eager mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from payrecon.config import Settings
from payrecon.store.db import make_engine, upgrade_schema
from payrecon.worker.app import create_celery
from tests.services import claim_redis_database, pg_admin_dsn, pg_url, redis_url
from tests.services.processes import free_port

BIN = Path(sys.executable).parent
API_SECRET = "e2e-secret-of-sufficient-length-0123456789abcdef"


@dataclass
class Stack:
    env: dict[str, str]
    database_url: str
    tmp: Path
    api_url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def payrecon(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "payrecon"), *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def wait_until(check: object, what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come up within {timeout} s")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"payrecon_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    broker = f"{redis_url()}/{claim_redis_database(name)}"
    tmp = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "PAYRECON_DATABASE_URL": pg_url(name),
        "PAYRECON_BROKER_URL": broker,
        "PAYRECON_FEED_STORE_DIR": str(tmp / "feeds"),
        "PAYRECON_API_TOKEN_SECRET": API_SECRET,
        "PAYRECON_LOG_FORMAT": "json",
        "PAYRECON_ENVIRONMENT": "test",
    }
    upgrade_schema(pg_url(name))
    s = Stack(env=env, database_url=pg_url(name), tmp=tmp)
    worker_log = (tmp / "worker.log").open("wb")
    s.processes.append(
        subprocess.Popen(
            [str(BIN / "payrecon"), "worker", "--concurrency", "2", "--loglevel", "INFO"],
            env=env,
            cwd=tmp,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
    )
    control = create_celery(Settings(broker_url=broker, environment="test"))
    wait_until(lambda: control.control.ping(timeout=1.0), "the Celery worker")
    port = free_port()
    api_log = (tmp / "api.log").open("wb")
    s.processes.append(
        subprocess.Popen(
            [str(BIN / "payrecon"), "api", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=api_log,
            stderr=subprocess.STDOUT,
        )
    )
    s.api_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{s.api_url}/healthz", timeout=1).status_code == 200, "the API")
    try:
        yield s
    finally:
        for process in s.processes:
            process.terminate()
        for process in s.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        worker_log.close()
        api_log.close()
        control.close()
        redis.Redis.from_url(broker).flushdb()
        make_engine(pg_url(name)).dispose()
        with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
