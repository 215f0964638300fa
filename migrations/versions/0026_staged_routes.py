"""A staged file's lines are routed in parts, side by side: the parsed lines stay in
`staged_lines` (without a route), and each part of the file writes the routes of its lines into
`staged_routes`; storing joins the two (services.reconciliation.ingest).

The staging tables are empty between runs. Lines a stopped run left staged lose their routes
here and are routed again when their file is stored.

Revision ID: 0026_staged_routes
Revises: 0025_room_for_hot_updates
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payrecon.store.types import Id

revision = "0026_staged_routes"
down_revision = "0025_room_for_hot_updates"
branch_labels = None
depends_on = None


def _route_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("customer_id", Id, nullable=True),
        sa.Column("partition", sa.SmallInteger(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "staged_routes",
        sa.Column("feed_file_id", Id, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        *_route_columns(),
        sa.ForeignKeyConstraint(
            ["feed_file_id"],
            ["feed_files.id"],
            name=op.f("fk_staged_routes_feed_file_id_feed_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_file_id", "seq", name=op.f("pk_staged_routes")),
    )
    with op.batch_alter_table("staged_lines") as batch_op:
        for column in _route_columns():
            batch_op.drop_column(column.name)


def downgrade() -> None:
    # What is staged is dropped (the code of then stages it again when the file is sent again).
    op.execute("DELETE FROM staged_suggestions")
    op.execute("DELETE FROM staged_lines")
    op.execute("DELETE FROM staged_files")
    with op.batch_alter_table("staged_lines") as batch_op:
        for column in _route_columns():
            batch_op.add_column(column)
    op.drop_table("staged_routes")
