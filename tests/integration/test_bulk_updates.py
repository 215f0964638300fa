"""`store.copy.update_from_rows`, the reconcile's bulk UPDATE (the lines' statuses, the invoices'
open amounts): it sets or adds to exactly the rows named, on both databases; and on PostgreSQL
the rows to update are read through the key's index whatever the table's size, not found by
scanning the whole table against the temporary table of new values (which has no statistics)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, event, select, text

from payrecon.store import tables as t
from payrecon.store.copy import update_from_rows
from tests.customer_rows import insert_customers

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _customers(engine: Engine, count: int) -> list[int]:
    insert_customers(engine, NOW, [{"credit_threshold": Decimal("100.00")}] * count)
    with engine.connect() as conn:
        return list(conn.execute(select(t.customers.c.id).order_by(t.customers.c.id)).scalars())


def _thresholds(engine: Engine) -> dict[int, Decimal]:
    with engine.connect() as conn:
        c = t.customers.c
        return dict(conn.execute(select(c.id, c.credit_threshold)).all())  # type: ignore[arg-type]


def test_it_sets_and_adds_to_exactly_the_rows_named(engine: Engine) -> None:
    ids = _customers(engine, 5)
    first, second, *_ = ids
    with engine.begin() as conn:
        columns = ["credit_threshold"]
        assert update_from_rows(conn, t.customers, "id", columns, []) == 0
        update_from_rows(conn, t.customers, "id", columns, [(first, Decimal("7.50"))])
        update_from_rows(
            conn,
            t.customers,
            "id",
            columns,
            [(second, Decimal("-0.01")), (first, Decimal("2.50")), (10**12, Decimal(1))],
            add=columns,
        )
    assert _thresholds(engine) == {
        first: Decimal("10.00"),
        second: Decimal("99.99"),
        **{i: Decimal("100.00") for i in ids[2:]},
    }


def test_postgresql_reads_the_rows_to_update_through_the_key_index(pg_engine: Engine) -> None:
    ids = _customers(pg_engine, 20_000)
    with pg_engine.connect() as conn:
        conn.execute(text("ANALYZE customers"))
        conn.commit()
    wanted = ids[::400]  # 50 rows of 20,000
    seen: list[tuple[str, Any]] = []

    def capture(conn: Connection, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith('UPDATE "customers"'):
            seen.append((statement, params))

    event.listen(pg_engine, "before_cursor_execute", capture)
    try:
        with pg_engine.begin() as conn:
            rows = [(i, Decimal("1.00")) for i in wanted]
            assert update_from_rows(conn, t.customers, "id", ["credit_threshold"], rows) == 50
            ((statement, params),) = seen
            # The same statement planned in the same transaction (its temporary table lives
            # until the commit): the customers are read by their primary key, not scanned.
            plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {statement}", params).scalars())
    finally:
        event.remove(pg_engine, "before_cursor_execute", capture)
    assert "Seq Scan on customers" not in plan, plan
    assert "pk_customers" in plan, plan
    changed = {i for i, value in _thresholds(pg_engine).items() if value == Decimal("1.00")}
    assert changed == set(wanted)
