"""Shared fixtures: a fresh SQLite file, and a PostgreSQL database made for the session.

The servers come from `tests.services` (its docstring lists the API: `pg_admin_dsn()`,
`pg_url(name)`, `redis_url()`, `amqp_url()`, `chromium()`), which starts what is not running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, make_url, text

from payrecon.store.db import make_engine, upgrade_schema
from payrecon.store.schema import metadata
from tests.services import pg_admin_dsn, pg_url, redis_url

pytest_plugins = ["tests.services.plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

__all__ = ["REPO", "SHARED", "pg_admin_dsn", "pg_url", "redis_url"]


def __getattr__(name: str) -> str:
    """The constants this module had before `tests.services` (`from tests.conftest import
    PG_ADMIN, REDIS_URL`), resolved on use, which starts the server if need be."""
    if name == "PG_ADMIN":
        return pg_admin_dsn()
    if name == "REDIS_URL":
        return redis_url()
    if name == "PG_HOST":
        return str(make_url(pg_url("postgres")).host)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session, migrated to the newest schema, dropped after."""
    name = f"payrecon_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade_schema(pg_url(name))
        yield pg_url(name)
    finally:
        with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'payrecon.db'}"
        upgrade_schema(url)
        eng = make_engine(url)
    else:
        eng = make_engine(request.getfixturevalue("pg_database"))
        _truncate_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    eng = make_engine(pg_database)
    _truncate_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    path = SHARED / "fixtures"
    assert path.is_dir(), f"the shared fixtures are missing: {path}"
    return path
