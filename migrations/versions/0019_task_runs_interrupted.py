"""Two more ends of a task run: `interrupted` (the worker stopped the task before it finished,
for example when its broker connection dropped, so its message is delivered again) and
`retried` (an earlier attempt, `retrying` or `interrupted`, whose next delivery has started).
So no run is left `retrying` for ever once its retry ran.

Revision ID: 0019_task_runs_interrupted
Revises: 0018_currencies
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_task_runs_interrupted"
down_revision = "0018_currencies"
branch_labels = None
depends_on = None

STATUSES = (
    "'running','succeeded','failed','retrying','interrupted','retried','lost','dead_lettered',"
    "'breached'"
)
OLD_STATUSES = "'running','succeeded','failed','retrying','lost','dead_lettered','breached'"


def upgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_constraint(op.f("ck_task_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_task_runs_status"), f"status IN ({STATUSES})")
    op.create_index(
        "ix_task_runs_interrupted",
        "task_runs",
        ["task_id"],
        postgresql_where=sa.text("status = 'interrupted'"),
        sqlite_where=sa.text("status = 'interrupted'"),
    )


def downgrade() -> None:
    op.drop_index("ix_task_runs_interrupted", table_name="task_runs")
    op.execute("UPDATE task_runs SET status = 'retrying' WHERE status IN ('interrupted','retried')")
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_constraint(op.f("ck_task_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_task_runs_status"), f"status IN ({OLD_STATUSES})")
