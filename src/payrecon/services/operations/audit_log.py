"""Writing the audit log, inside the caller's transaction so the entry and the change commit
together (or not at all)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert

from payrecon.services.clock import utcnow
from payrecon.store.audit_tables import audit_log


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry; `actor` is the token subject (or `cli`, `beat`), `action` a verb
    such as `allocation.deleted` or `task.triggered`."""
    return int(
        conn.execute(
            insert(audit_log)
            .values(
                at=utcnow(),
                actor=actor,
                action=action,
                entity=entity,
                entity_id=None if entity_id is None else str(entity_id),
                reason=reason,
                details=dict(details or {}),
            )
            .returning(audit_log.c.id)
        ).scalar_one()
    )
