"""Engines, transactions and schema migration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool


def make_engine(url: str, *, null_pool: bool = False) -> Engine:
    """An engine for `url`. SQLite gets foreign keys, WAL and a busy timeout, as a server would."""
    # hide_parameters: a failed statement's error (and so a log line) never shows bound values,
    # which can be provider secrets or customers' bank details.
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    if null_pool:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work: everything inside commits together or not at all."""
    with engine.begin() as connection:
        yield connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A pooled connection for reads only, without a transaction: each statement is its own (as
    each statement of a READ COMMITTED transaction already sees its own snapshot), so a request
    that reads pays no BEGIN and no ROLLBACK round trip to the server."""
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def migrations_dir() -> Path:
    """The Alembic scripts: packaged inside the wheel, or at the repository root in a checkout."""
    packaged = Path(str(resources.files("payrecon"))) / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(url: str, *, secrets_keys: Sequence[str] = ()) -> Config:
    """The Alembic config of `url`; `secrets_keys` (PAYRECON_SECRETS_KEY's ring) reach the
    migrations that seal or open stored secrets."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["payrecon.secrets_keys"] = list(secrets_keys)
    return config


def upgrade_schema(url: str, revision: str = "heads", *, secrets_keys: Sequence[str] = ()) -> None:
    """Create or migrate the schema to the newest revision (what `payrecon db upgrade` runs)."""
    command.upgrade(alembic_config(url, secrets_keys=secrets_keys), revision)
