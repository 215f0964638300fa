"""Operations: manual task triggers (with their idempotency keys) and dead letters."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, Text

from payrecon.store.tables import metadata
from payrecon.store.types import Id

task_triggers = Table(
    "task_triggers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("idempotency_key", String(128), unique=True),
    Column("task", String(64), nullable=False),
    Column("task_id", String(64), nullable=False, unique=True),
    Column("params", JSON, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Id, primary_key=True),
    Column("task_id", String(64), nullable=False, unique=True),
    Column("task", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("deliveries", Integer, nullable=False),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
