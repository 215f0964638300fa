"""The processes a test session starts, and the folder that records them.

Each session that starts a service gets one folder `payrecon-testsvc-*` in the system's temporary
directory. `owner.json` names the session's process; `processes.json` lists every process started
for it (pid and identity, so a reused pid is never mistaken for ours). The identity is the boot id,
pid namespace and start time in clock ticks (`worker_process.process_identity`), never a start time
in seconds since the epoch: that one is derived from the boot time, which moves when the wall clock
is stepped (a VM restored from a snapshot, an NTP step), and a live session would then look dead
to the next one, which would remove its servers' folders under them. A session stops its own at
the end; a session that was killed outright (SIGKILL, a power cut) is found by the next one, which
stops what it left and removes the folder (`reap_orphans`).

Children are started in a session of their own, so a Ctrl-C in the terminal reaches pytest only:
pytest tears its fixtures down while the services still answer, then stops them. On Linux they
also get a parent-death signal, so they stop with a session killed by SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from payrecon.services.operations.worker_process import process_identity, still_running

PREFIX = "payrecon-testsvc-"
_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A service could not be started; the message says why and what to do."""


@dataclass(frozen=True)
class Account:
    """The unprivileged account a server runs as when the session runs as root."""

    name: str
    uid: int
    gid: int


@dataclass
class Child:
    """One process started by the session, with the signal that stops it cleanly."""

    name: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(check: Callable[[], bool], child: Child | None, what: str, timeout: float) -> None:
    """Wait until `check()` is true; fail early, with the log, if `child` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        if child is not None and not child.alive():
            raise ServiceError(
                f"{what} exited with status {child.process.returncode} while starting; "
                f"the end of {child.log}:\n{child.log_tail()}"
            )
        time.sleep(0.2)
    tail = f"; the end of {child.log}:\n{child.log_tail()}" if child else ""
    raise ServiceError(f"{what} did not answer within {timeout:.0f} s{tail}")


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def identify(pid: int) -> dict[str, object]:
    """What names process `pid` in a record: its identity, and its start time for systems
    without /proc (where the identity is None)."""
    return {"pid": pid, "identity": process_identity(pid), "create_time": _create_time(pid)}


def is_running(record: dict[str, object]) -> bool | None:
    """Whether the process a record names still runs: True, False, or None when this process
    cannot tell (another machine or pid namespace)."""
    pid = int(str(record["pid"]))
    identity = record.get("identity")
    if isinstance(identity, str):
        return still_running(pid, identity)
    # no /proc where it was recorded: the start time in seconds, as near as the clock allows
    started, recorded = _create_time(pid), record.get("create_time")
    if started is None:
        return False
    return not isinstance(recorded, int | float) or abs(started - recorded) < 1.0


def _write_json(path: Path, data: object) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)


class Workspace:
    """The temporary folder of one session's own services, and the record of their processes."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))
        if os.geteuid() == 0:
            self.path.chmod(0o711)  # a server running as another account must reach its folder
        self._lock = threading.Lock()
        self._records: list[dict[str, object]] = []
        self.children: list[Child] = []
        _write_json(self.path / "owner.json", identify(os.getpid()))

    def folder(self, name: str, owner: Account | None = None) -> Path:
        """A new folder named `name`, or `name-2`, `name-3`... when a server of the same kind
        already holds one in this workspace (the fault suite's own broker beside the session's)."""
        with self._lock:
            path, n = self.path / name, 1
            while path.exists():
                n += 1
                path = self.path / f"{name}-{n}"
            path.mkdir(mode=0o700)
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
        return path

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        account: Account | None = None,
    ) -> Child:
        """Start `argv` as a child of this session, its output in `<name>.log` here."""
        log = self.path / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_death_signal_setter(stop_signal),
                **_as_account(account),
            )
        child = Child(name=name, process=process, stop_signal=stop_signal, log=log)
        with self._lock:
            self.children.append(child)
            self._records.append(
                {"name": name, **identify(process.pid), "stop_signal": int(stop_signal)}
            )
            _write_json(self.path / "processes.json", self._records)
        return child

    def stop(self, child: Child, timeout: float = 30.0) -> None:
        """Stop one child and whatever it started, then forget it."""
        stop_process_tree(child.pid, child.stop_signal, timeout, popen=child.process)
        with self._lock:
            if child in self.children:
                self.children.remove(child)

    def close(self) -> None:
        """Stop every child, newest first, and remove the folder."""
        for child in reversed(list(self.children)):
            self.stop(child)
        shutil.rmtree(self.path, ignore_errors=True)


def stop_process_tree(
    pid: int,
    stop_signal: signal.Signals,
    timeout: float,
    *,
    popen: subprocess.Popen[bytes] | None = None,
    record: dict[str, object] | None = None,
) -> None:
    """Send `stop_signal` to `pid`, wait, then kill it and its descendants if they linger.
    With a `record`, only when it names the process that runs as `pid` now."""
    if record is not None and not is_running(record):
        return  # gone, the pid reused, or not ours to tell
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    if family:
        with contextlib.suppress(psutil.NoSuchProcess):
            family[0].send_signal(stop_signal)
        if popen is not None:
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
        _, alive = psutil.wait_procs(family, timeout=timeout if popen is None else 3.0)
        for straggler in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                straggler.kill()
        psutil.wait_procs(alive, timeout=5.0)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5.0)


def reap_orphans(root: Path | None = None) -> list[Path]:
    """Stop what killed sessions left behind and remove their folders; return the folders."""
    reaped: list[Path] = []
    base = root or Path(tempfile.gettempdir())
    for folder in sorted(base.glob(f"{PREFIX}*")):
        if not folder.is_dir() or _owner_alive(folder):
            continue
        try:
            records = json.loads((folder / "processes.json").read_text())
        except (OSError, ValueError):
            records = []
        for record in reversed(records):
            stop_process_tree(
                int(record["pid"]),
                signal.Signals(int(record["stop_signal"])),
                timeout=10.0,
                record=record,
            )
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


def _owner_alive(folder: Path) -> bool:
    try:
        owner = json.loads((folder / "owner.json").read_text())
    except (OSError, ValueError):
        # being created right now, or unreadable: leave young folders alone
        try:
            return time.time() - folder.stat().st_mtime < 600
        except OSError:
            return True
    # None: another container's session, whose pids mean nothing here: leave it be
    return is_running(owner) is not False


def _as_account(account: Account | None) -> dict[str, object]:
    if account is None or os.geteuid() != 0:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def _death_signal_setter(sig: signal.Signals) -> Callable[[], None] | None:
    """On Linux, and only from the main thread (the signal follows the thread that forked),
    make the child get `sig` when this session dies, however it dies."""
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the session died before prctl took effect
            os._exit(1)

    return set_death_signal
