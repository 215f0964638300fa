"""`payrecon api` served by uvicorn in a process of its own, for tests that need a real server:
its own database, the in-process broker, its own store; RSS readable from /proc."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.conftest import API_SECRET, BIN, free_port, wait_until


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def rss(self) -> int:
        """The server process's resident memory, in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextmanager
def serve_api(tmp: Path, database_url: str, **settings: str) -> Iterator[Server]:
    """Serve the API on a free port; `settings` are PAYRECON_* variables (name without it)."""
    port = free_port()
    env = {
        **os.environ,
        "PAYRECON_DATABASE_URL": database_url,
        "PAYRECON_BROKER_URL": "memory://",
        "PAYRECON_API_TOKEN_SECRET": API_SECRET,
        "PAYRECON_FEED_STORE_DIR": str(tmp / "feeds"),
        "PAYRECON_INBOX_DIR": str(tmp / "inbox"),
        "PAYRECON_ENVIRONMENT": "test",
        "PAYRECON_LOG_FORMAT": "json",
        **{f"PAYRECON_{name.upper()}": value for name, value in settings.items()},
    }
    log_path = tmp / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "payrecon"), "api", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200, "the API"
            )
            yield Server(base, port, process, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
