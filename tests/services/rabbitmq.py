"""RabbitMQ for the tests: the configured broker if it answers, else a node of our own.

An own node is fully separate from a system one: its own node name, AMQP and distribution ports,
its own epmd (started by us on a free port, so the system's epmd never learns of it), and its
configuration, data, logs and Erlang cookie in the session's workspace. It takes some seconds to
boot, so it starts only when a test first asks for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

import psutil
from kombu import Connection

from tests.services.processes import (
    Child,
    ServiceError,
    Workspace,
    free_port,
    port_answers,
    wait_for,
)

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672//"


def configured_url() -> str:
    return os.environ.get("PAYRECON_TEST_AMQP_URL", DEFAULT_URL)


def probe(url: str) -> str | None:
    """None if the broker at `url` accepts an AMQP login, else why not."""
    connection = Connection(url, connect_timeout=3)
    try:
        connection.connect()
    except Exception as exc:
        return f"no answer ({exc.__class__.__name__}: {exc})"
    finally:
        connection.release()
    return None


def binaries() -> tuple[Path, Path] | None:
    """The `rabbitmq-server` start script (not Debian's wrapper, which runs the system node's
    set-up) and `epmd`, if both are installed."""
    server = next(
        (
            Path(p)
            for p in ("/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server"))
            if p and Path(p).is_file()
        ),
        None,
    )
    epmd = shutil.which("epmd") or next(
        (str(p) for p in sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd")) if p.is_file()),
        None,
    )
    if server is None or epmd is None:
        return None
    return server, Path(epmd)


def start_own(workspace: Workspace, server: Path, epmd: Path) -> str:
    """Boot an own node (epmd first) and return its AMQP URL."""
    return OwnRabbitMQ(workspace, server, epmd).url


class OwnRabbitMQ:
    """An own node that can be stopped and started again as the same node: the same node name,
    AMQP port, epmd and data folder (mnesia, which holds the durable quorum queues and their
    messages), as a broker restarted by its supervisor would be."""

    def __init__(self, workspace: Workspace, server: Path, epmd: Path) -> None:
        self.workspace, self.server = workspace, server
        self.folder = workspace.folder("rabbitmq")
        epmd_port = free_port()
        self.epmd = workspace.spawn(
            "epmd", [str(epmd), "-port", str(epmd_port), "-address", "127.0.0.1"]
        )
        wait_for(
            lambda: port_answers("127.0.0.1", epmd_port), self.epmd, "the own epmd", timeout=15
        )
        self.amqp_port, dist_port = free_port(), free_port()
        folder = self.folder
        (folder / "rabbitmq-env.conf").write_text("")  # not the system's rabbitmq-env.conf
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
        )
        (folder / "enabled_plugins").write_text("[].\n")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(folder),  # the Erlang cookie goes here
            "RABBITMQ_NODENAME": f"payrecon-test-{uuid.uuid4().hex[:8]}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{self.amqp_port}//"
        self.node: Child | None = None
        try:
            self.start()
        except ServiceError:
            workspace.stop(self.epmd)
            raise

    def start(self, timeout: float = 120.0) -> None:
        """Boot the node and wait until it takes an AMQP login."""
        # the start script turns SIGTERM into a clean stop of the node
        node = self.workspace.spawn("rabbitmq", [str(self.server)], env=self.env, cwd=self.folder)
        self.node = node
        try:
            wait_for(lambda: probe(self.url) is None, node, "the own RabbitMQ", timeout=timeout)
        except ServiceError:
            self.workspace.stop(node, timeout=15)
            self.node = None
            raise

    def stop(self, *, crash: bool = False) -> None:
        """Stop the node: cleanly (SIGTERM: the start script runs the node's own stop), or as a
        crash (`crash=True`: SIGKILL of the script and the Erlang VM, nothing flushed)."""
        node, self.node = self.node, None
        if node is None:
            return
        if crash:
            family = [psutil.Process(node.pid), *psutil.Process(node.pid).children(recursive=True)]
            for process in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            psutil.wait_procs(family, timeout=10)
        self.workspace.stop(node, timeout=60)
