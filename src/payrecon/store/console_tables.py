"""The console's users: a name, a password hash (argon2id) and the API scopes they hold."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, String, Table, false

from payrecon.store.tables import metadata
from payrecon.store.types import Id

console_users = Table(
    "console_users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("scopes", String(64), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
