"""The migrations build exactly the schema the code declares, on SQLite and on PostgreSQL, and
a released migration is never edited (new tables come by new migrations)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from payrecon.store.db import alembic_config
from payrecon.store.schema import metadata


# SQLite's dialect cannot reflect an expression index (0021's `lower(reference_number)`), so on
# SQLite that one index is left out of the comparison, saying so; the PostgreSQL run compares it.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index "
    "ix_payments_reference_number_lower"
)
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index "
    "'ix_payments_reference_number_lower'"
)
def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_the_migrations_form_one_history_and_the_database_is_at_its_heads(engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    heads = set(script.get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    assert current == heads
    assert "0001_foundation" in {r.revision for r in script.walk_revisions()}
