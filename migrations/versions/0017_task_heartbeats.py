"""Task runs that cannot stay "running": a run beats (`heartbeat_at`) while its worker lives, so
a run whose worker died is found and marked `lost` (and its message put back); a transient
failure that Celery retries ends its run `retrying` (it does not count against the delivery cap,
which is for messages that kill their worker); a message past the cap ends `dead_lettered`; an
audit that found breaches ends `breached`. `worker` names the process that ran it.

Revision ID: 0017_task_heartbeats
Revises: 0016_partitions
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_task_heartbeats"
down_revision = "0016_partitions"
branch_labels = None
depends_on = None

STATUSES = "'running','succeeded','failed','retrying','lost','dead_lettered','breached'"
OLD_STATUSES = "'running','succeeded','failed'"


def upgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
        batch.drop_constraint(op.f("ck_task_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_task_runs_status"), f"status IN ({STATUSES})")
    op.create_index(
        "ix_task_runs_running",
        "task_runs",
        ["heartbeat_at"],
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )
    op.create_index("ix_task_runs_task_id", "task_runs", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_task_runs_task_id", table_name="task_runs")
    op.drop_index("ix_task_runs_running", table_name="task_runs")
    op.execute("UPDATE task_runs SET status = 'failed' WHERE status NOT IN ('running','succeeded')")
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_constraint(op.f("ck_task_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_task_runs_status"), f"status IN ({OLD_STATUSES})")
        batch.drop_column("worker")
        batch.drop_column("heartbeat_at")
