"""For tests that need customers in the database and nothing else: one contract owner and the
customers given, inserted directly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from payrecon.store import tables as t


def insert_customers(engine: Engine, now: datetime, customers: Sequence[dict[str, Any]]) -> None:
    """Each customer's columns over these defaults: `C<n>`, `Customer <n>`, EUR, threshold 0."""
    with engine.begin() as conn:
        owner = conn.execute(
            insert(t.contract_owners)
            .values(name="Owner", created_at=now, updated_at=now)
            .returning(t.contract_owners.c.id)
        ).scalar_one()
        conn.execute(
            insert(t.customers),
            [
                {
                    "external_id": f"C{n}",
                    "name": f"Customer {n}",
                    "contract_owner_id": owner,
                    "currency": "EUR",
                    "credit_threshold": Decimal("0"),
                    "created_at": now,
                    **columns,
                }
                for n, columns in enumerate(customers)
            ],
        )
