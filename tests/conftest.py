"""Shared fixtures: a fresh SQLite file, and a PostgreSQL database made for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from payrecon.store.db import make_engine, upgrade_schema
from payrecon.store.schema import metadata

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_HOST = os.environ.get("PAYRECON_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN = f"host={PG_HOST} port=5432 user=postgres dbname=test"
REDIS_URL = os.environ.get("PAYRECON_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def pg_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session, migrated to the newest schema, dropped after."""
    name = f"payrecon_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade_schema(pg_url(name))
        yield pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
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
