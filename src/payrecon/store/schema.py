"""The whole schema: importing this module registers every table module on `metadata`.

Each capability keeps its tables in a module of its own; add the module's import here.
"""

from __future__ import annotations

from payrecon.store import audit_tables, tables
from payrecon.store.tables import metadata

__all__ = ["audit_tables", "metadata", "tables"]
