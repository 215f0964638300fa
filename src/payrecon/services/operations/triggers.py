"""Manual task triggers: recorded (and audited) before the task is enqueued, once per
idempotency key, so a retried request or a double click does not run a task twice."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from payrecon.services.clock import utcnow
from payrecon.services.operations.audit_log import record_audit
from payrecon.store.bulk import insert_ignoring_conflicts
from payrecon.store.ops_tables import task_triggers


@dataclass(frozen=True, slots=True)
class Trigger:
    task_id: str
    task: str
    params: dict[str, Any]
    created: bool  # false: the idempotency key was seen before; nothing new is enqueued


def record_trigger(
    engine: Engine,
    task: str,
    params: Mapping[str, Any],
    *,
    actor: str,
    idempotency_key: str | None = None,
) -> Trigger:
    with engine.begin() as conn:
        if idempotency_key is not None:
            known = conn.execute(
                select(task_triggers).where(task_triggers.c.idempotency_key == idempotency_key)
            ).first()
            if known is not None:
                return Trigger(known.task_id, known.task, known.params, created=False)
        task_id = str(uuid.uuid4())
        ids = insert_ignoring_conflicts(
            conn,
            task_triggers,
            [
                {
                    "idempotency_key": idempotency_key,
                    "task": task,
                    "task_id": task_id,
                    "params": dict(params),
                    "actor": actor,
                    "created_at": utcnow(),
                }
            ],
            ["idempotency_key"],
        )
        if not ids:  # a concurrent request with the same key committed first
            known = conn.execute(
                select(task_triggers).where(task_triggers.c.idempotency_key == idempotency_key)
            ).one()
            return Trigger(known.task_id, known.task, known.params, created=False)
        record_audit(
            conn,
            actor=actor,
            action="task.triggered",
            entity="task",
            entity_id=task_id,
            details={"task": task, "params": dict(params), "idempotency_key": idempotency_key},
        )
    return Trigger(task_id, task, dict(params), created=True)


def forget_trigger(engine: Engine, task_id: str) -> None:
    """Undo a trigger whose task could not be enqueued (the broker refused it)."""
    with engine.begin() as conn:
        conn.execute(task_triggers.delete().where(task_triggers.c.task_id == task_id))
