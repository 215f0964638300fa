"""After every bulk load the planner's statistics are fresh (PostgreSQL): the imports, the ingest
and the reconcile run ANALYZE on the tables they filled, once their transaction committed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import tables as t
from payrecon.store.bulk import analyze_after_load
from payrecon.store.db import make_engine
from tests.integration.test_pipeline_services import DATA


def _statistics(engine: Engine, names: list[str]) -> dict[str, tuple[datetime | None, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, last_analyze, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE relname = ANY(:names)"
            ),
            {"names": names},
        ).all()
    return {r.relname: (r.last_analyze, int(r.n_mod_since_analyze)) for r in rows}


def _now(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT now()")).scalar_one()  # type: ignore[no-any-return]


def _assert_analysed_since(engine: Engine, names: list[str], since: datetime) -> None:
    found = _statistics(engine, names)
    assert sorted(found) == sorted(names)
    for name, (last_analyze, modified) in found.items():
        assert last_analyze is not None, name
        assert last_analyze >= since, name
        assert modified == 0, name


def test_imports_and_ingest_leave_the_tables_analysed(pg_engine: Engine, tmp_path: Path) -> None:
    started = _now(pg_engine)
    import_contract_owners(pg_engine, DATA / "contract_owners.csv")
    import_customers(pg_engine, DATA / "customers.csv")
    _assert_analysed_since(
        pg_engine, ["customers", "customer_bank_accounts", "customer_balances"], started
    )

    started = _now(pg_engine)
    import_invoices(pg_engine, DATA / "invoices.csv")
    _assert_analysed_since(pg_engine, ["invoices"], started)

    started = _now(pg_engine)
    store = tmp_path / "store"
    received = receive_file(pg_engine, store, DATA / "statement.camt053.xml")
    assert ingest_feed_file(pg_engine, store, received.feed_file_id).new_lines == 4
    _assert_analysed_since(pg_engine, ["statement_lines"], started)

    started = _now(pg_engine)
    assert reconcile_pending(pg_engine).allocations > 0
    _assert_analysed_since(pg_engine, ["allocations", "payments"], started)


def test_only_a_load_that_counts_is_analysed(pg_engine: Engine) -> None:
    import_contract_owners(pg_engine, DATA / "contract_owners.csv")
    import_customers(pg_engine, DATA / "customers.csv")
    with pg_engine.connect() as conn:
        counted = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = 'customers'")
        ).scalar_one()
    assert counted > 0
    # Nothing loaded, nothing to analyse; more rows than the statistics counted, an ANALYZE.
    assert analyze_after_load(pg_engine, {t.customers: 0}) == []
    assert analyze_after_load(pg_engine, {t.customers: int(counted * 10)}) == ["customers"]


def test_sqlite_has_no_statistics_to_refresh(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert analyze_after_load(engine, {t.customers: 1_000_000}) == []
    engine.dispose()
