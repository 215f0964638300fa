"""Redis for the tests: the configured one if it answers, else a `redis-server` of our own."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import redis

from tests.services.processes import ServiceError, Workspace, free_port, wait_for

DEFAULT_URL = "redis://127.0.0.1:6379"
SESSION_KEY = "payrecon:test-session"


def configured_url() -> str:
    """`PAYRECON_TEST_REDIS_URL` without a database number (the tests pick theirs)."""
    return os.environ.get("PAYRECON_TEST_REDIS_URL", DEFAULT_URL).rstrip("/")


def probe(url: str) -> str | None:
    """None if Redis at `url` answers PING, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no answer ({exc})"
    finally:
        client.close()
    return None


def binary() -> Path | None:
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if Path(p).is_file()), None
    )
    return Path(found) if found else None


def start_own(workspace: Workspace, server: Path, attempts: int = 3) -> str:
    """A `redis-server` on a free port that keeps nothing on disk; its URL."""
    folder = workspace.folder("redis")
    for attempt in range(attempts):
        port = free_port()
        command = [
            str(server),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--daemonize",
            "no",
            "--databases",
            "16",
        ]
        child = workspace.spawn("redis", command)
        url = f"redis://127.0.0.1:{port}"
        try:
            wait_for(_answers(url), child, "the own Redis", timeout=30)
            return url
        except ServiceError:
            busy = "in use" in child.log_tail()
            workspace.stop(child)
            if not busy or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _answers(url: str) -> Callable[[], bool]:
    return lambda: probe(url) is None


def claim_database(base_url: str, owner: str) -> int:
    """A Redis database (1..15; the tests own these) that no other running test session holds,
    emptied, so that two sessions on one machine never consume each other's task messages. The
    claim expires if a session dies without releasing it."""
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base_url}/{number}")
        try:
            if client.set(SESSION_KEY, owner, nx=True, ex=3600):
                client.flushdb()  # what an earlier, dead session left
                client.set(SESSION_KEY, owner, ex=3600)
                return number
        finally:
            client.close()
    raise AssertionError("no free Redis database (1..15) for the test session")
