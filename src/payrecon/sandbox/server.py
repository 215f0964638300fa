"""Running the sandbox (a development tool): in the foreground for `payrecon sandbox`, or in a
background thread on a free port for tests and the demo."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from payrecon.sandbox.app import create_app
from payrecon.sandbox.state import SandboxConfig, SandboxState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _config(
    state: SandboxState, host: str, port: int, log_level: str, *, access_log: bool = False
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        ws="none",
        access_log=access_log,
    )


def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    seed: int,
    customers: int = 25,
    payments_per_customer: int = 4,
    config: SandboxConfig | None = None,
    log_level: str = "info",
) -> None:
    """Serve the sandbox until interrupted. Base URLs: http://HOST:PORT/gocardless, .../stripe,
    .../openbanking; the expected set is at /_sandbox/truth."""
    state = SandboxState(
        seed=seed, customers=customers, payments_per_customer=payments_per_customer, config=config
    )
    uvicorn.Server(_config(state, host, port, log_level, access_log=True)).run()


@dataclass(frozen=True)
class RunningSandbox:
    state: SandboxState
    url: str

    @property
    def gocardless_url(self) -> str:
        return f"{self.url}/gocardless"

    @property
    def stripe_url(self) -> str:
        return f"{self.url}/stripe"

    @property
    def openbanking_url(self) -> str:
        return f"{self.url}/openbanking"


@contextmanager
def serve_in_thread(
    state: SandboxState, *, host: str = DEFAULT_HOST, startup_timeout: float = 10.0
) -> Iterator[RunningSandbox]:
    """Serve `state` on a free port of `host` in a daemon thread; stop it on exit."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every small answer waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(state, host, port, "warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="payrecon-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the sandbox did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield RunningSandbox(state=state, url=f"http://{host}:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()
