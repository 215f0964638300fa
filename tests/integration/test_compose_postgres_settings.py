"""The PostgreSQL settings docker-compose.yml starts its server with are real settings that a
server reads at start, with values of their units: checked against a real PostgreSQL (the
tests' server), since no Docker engine runs here."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from tests.services import pg_admin_dsn

pytestmark = pytest.mark.integration

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _settings() -> dict[str, str]:
    command = yaml.safe_load(COMPOSE.read_text())["services"]["postgres"]["command"]
    assert command[0] == "postgres"
    pairs = command[1:]
    assert pairs[::2] == ["-c"] * (len(pairs) // 2)
    return dict(item.split("=", 1) for item in pairs[1::2])


def test_the_compose_postgres_settings_exist_and_their_values_fit_their_units() -> None:
    settings = _settings()
    assert {"shared_buffers", "max_wal_size"} <= set(settings)
    with psycopg.connect(pg_admin_dsn()) as conn:
        known = {
            name: (unit, context, vartype)
            for name, unit, context, vartype in conn.execute(
                "SELECT name, unit, context, vartype FROM pg_settings WHERE name = ANY(%s)",
                [list(settings)],
            )
        }
        assert set(known) == set(settings)
        for name, value in settings.items():
            unit, context, vartype = known[name]
            assert context != "internal", name
            if unit in ("8kB", "kB", "MB") and vartype == "integer":  # memory: a size
                assert conn.execute("SELECT pg_size_bytes(%s)", [value]).fetchone()[0] > 0
            elif unit in ("s", "min", "ms"):  # time: an interval
                assert (
                    conn.execute("SELECT %s::interval", [value]).fetchone()[0].total_seconds() > 0
                )
            elif vartype == "bool":
                assert value in ("on", "off"), name
            elif vartype == "enum":
                assert conn.execute(
                    "SELECT %s = ANY(enumvals) FROM pg_settings WHERE name = %s", [value, name]
                ).fetchone()[0], name
