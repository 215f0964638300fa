"""A run's process, as a worker of the same machine sees it: gone at once when it has exited,
never taken for gone when it lives or when it is out of sight (another machine or pid space)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from payrecon.services.operations.worker_process import (
    known_gone,
    pid_of,
    process_identity,
    still_running,
    this_process,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _of_a_process_that_exited() -> str:
    script = "from payrecon.services.operations.worker_process import this_process as p; print(p())"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_live_process_is_not_gone() -> None:
    me = this_process()
    assert me.count(";") == 3
    assert not known_gone(me)


def test_a_process_that_exited_is_gone_at_once() -> None:
    worker = _of_a_process_that_exited()
    assert pid_of(worker) is not None
    assert known_gone(worker)


def test_a_pid_reused_by_another_process_is_gone() -> None:
    host_pid, boot, namespace, started = this_process().split(";")
    assert known_gone(f"{host_pid};{boot};{namespace};{int(started) + 1}")


@pytest.mark.parametrize(
    "worker",
    [
        None,
        "",
        "db7:4242",  # written before the start time was recorded: the heartbeat decides
        "not-a-worker",
    ],
)
def test_what_cannot_be_told_is_not_gone(worker: str | None) -> None:
    assert not known_gone(worker)


def test_a_process_of_another_machine_or_pid_space_is_not_gone() -> None:
    host_pid, boot, namespace, started = _of_a_process_that_exited().split(";")
    assert not known_gone(f"{host_pid};{'0' * 8}-another-boot;{namespace};{started}")
    assert not known_gone(f"{host_pid};{boot};4026530000;{started}")


def test_a_process_identity_holds_while_it_runs_and_not_after() -> None:
    """The identity (start time in clock ticks since boot, not seconds since the epoch) names a
    running process the same each time it is read, and no longer matches once it exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        identity = process_identity(child.pid)
        assert identity is not None
        assert identity == process_identity(child.pid)
        assert still_running(child.pid, identity) is True
    finally:
        child.kill()
        child.wait()
    assert still_running(child.pid, identity) is False
    assert still_running(child.pid, None) is None
    assert still_running(child.pid, f"another-boot;1;{identity.rsplit(';', 1)[1]}") is None
