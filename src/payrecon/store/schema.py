"""The whole schema: importing this module registers every table module on `metadata`.

Each capability keeps its tables in a module of its own; add the module's import here.
"""

from __future__ import annotations

import payrecon.store.ledger_tables  # noqa: F401  (registers the ledger tables)
from payrecon.store import (
    admin_tables,
    audit_tables,
    console_tables,
    finance_tables,
    ops_tables,
    provider_tables,
    staging_tables,
    tables,
)
from payrecon.store import matching_tables as _matching  # noqa: F401  (registers its tables)
from payrecon.store.tables import metadata

__all__ = [
    "admin_tables",
    "audit_tables",
    "console_tables",
    "finance_tables",
    "metadata",
    "ops_tables",
    "provider_tables",
    "staging_tables",
    "tables",
]
