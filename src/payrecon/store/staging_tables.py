"""Where the files of one pipeline run wait between parsing and storing (migrations
0022_staged_lines, 0026_staged_routes).

Every file of a run is parsed at once, each by its own task, into `staged_lines`; its lines are
then routed in parts, side by side, into `staged_routes` (and `staged_suggestions`); one step
moves them into `statement_lines` in the run's file order, so that a line two files share
belongs to the first whichever was parsed first (`services.reconciliation.ingest`). A file's
staged rows live only until that step has stored them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from payrecon.store.tables import metadata, statement_lines
from payrecon.store.types import Id


def _feed_file() -> Column[int]:
    return Column(
        "feed_file_id",
        Id,
        ForeignKey("feed_files.id", ondelete="CASCADE"),
        primary_key=True,
    )


# A parsed file: what storing it will record on `feed_files`.
staged_files = Table(
    "staged_files",
    metadata,
    _feed_file(),
    Column("format", String(16), nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("contract_owner_id", Id),
    Column("staged_at", DateTime(timezone=True), nullable=False),
)

# What routing decides of a line, stored with it: its status, reason, customer and partition.
ROUTE_COLUMNS = ("status", "reason", "customer_id", "partition")

# Its lines as parsed, keyed by the file's seq: the columns and types of `statement_lines`,
# without the line's id, the foreign keys and the route.
staged_lines = Table(
    "staged_lines",
    metadata,
    _feed_file(),
    Column("seq", Integer, primary_key=True),
    *(
        Column(c.name, c.type, nullable=c.nullable)
        for c in statement_lines.c
        if c.name not in ("id", "feed_file_id", "seq", *ROUTE_COLUMNS)
    ),
)

# Each line's route, written by the part of the file that routed it.
staged_routes = Table(
    "staged_routes",
    metadata,
    _feed_file(),
    Column("seq", Integer, primary_key=True),
    *(
        Column(c.name, c.type, nullable=c.nullable)
        for c in statement_lines.c
        if c.name in ROUTE_COLUMNS
    ),
)

# The review queue's suggestions of the lines routed unmatched, by the line's seq.
staged_suggestions = Table(
    "staged_suggestions",
    metadata,
    _feed_file(),
    Column("seq", Integer, primary_key=True),
    Column("customer_id", Id, primary_key=True),
    Column("score", Integer, nullable=False),
    Column("basis", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
