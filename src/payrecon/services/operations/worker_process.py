"""Which process runs a task, written so that a process of the same machine can tell at once
that it is gone.

A run records `host:pid`, then (on Linux) `;` the kernel's boot id, the pid namespace and the
process's start time in clock ticks: `db7:4242;5e0c...;4026531836;91234`. Another process that
sees the same boot id and pid namespace sees the same pids, so when that pid is gone, or is
another process (a different start time) or a zombie, the run's process died: its run is lost
now, not after its heartbeat has been silent for `LOST_AFTER_SECONDS`. A process that cannot
tell (another host, another container's pid namespace, no /proc) answers "not known to be
gone", and the heartbeat decides, as before. Never the other way: a live process is never
taken for dead, since a pid namespace's number is unique while any of its processes live.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

_PROC = Path("/proc")


def _start_ticks(pid: int) -> tuple[str, int] | None:
    """The process's state letter and start time (field 22 of /proc/PID/stat), or None."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (the state) on
    return fields[0], int(fields[19])


@cache
def _pid_space() -> str | None:
    """`boot id;pid namespace` of this process, when its /proc is its own; else None."""
    try:
        if os.readlink(_PROC / "self") != str(os.getpid()):
            return None  # a /proc of another pid namespace is mounted here
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except (OSError, ValueError):
        return None
    return f"{boot};{namespace}"


def process_identity(pid: int) -> str | None:
    """`boot id;pid namespace;start ticks` of process `pid`, or None when this process cannot
    tell (no /proc of its own, or no such process). Unlike a start time in seconds since the
    epoch (psutil's `create_time`, derived from the boot time, which moves when the wall clock is
    stepped), this names one process for as long as the machine is up."""
    space, started = _pid_space(), _start_ticks(pid)
    if space is None or started is None:
        return None
    return f"{space};{started[1]}"


def still_running(pid: int, identity: str | None) -> bool | None:
    """Whether the process `identity` (from `process_identity`) named as `pid` still runs: True,
    False (it exited, or the pid is now another process or a zombie), or None (cannot tell: another
    machine or pid namespace, or no identity recorded)."""
    parts = (identity or "").split(";")
    if len(parts) != 3 or _pid_space() != f"{parts[0]};{parts[1]}":
        return None
    now = _start_ticks(pid)
    return not (now is None or now[0] in ("Z", "X") or str(now[1]) != parts[2])


def this_process() -> str:
    """The `worker` of a run recorded by this process."""
    pid = os.getpid()
    name = f"{socket.gethostname()}:{pid}"
    identity = process_identity(pid)
    return name if identity is None else f"{name};{identity}"


def pid_of(worker: str) -> int | None:
    """The pid a `worker` names."""
    try:
        return int(worker.split(";", 1)[0].rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def known_gone(worker: str | None) -> bool:
    """True only when this process can tell that the process `worker` names has exited."""
    if not worker or ";" not in worker:
        return False
    pid = pid_of(worker)
    return pid is not None and still_running(pid, worker.split(";", 1)[1]) is False
