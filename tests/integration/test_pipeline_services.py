"""The foundation pipeline through its services, on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from payrecon.domain.errors import Conflict, FeedFormatError
from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.ledger.balances import get_balance, recompute_balances
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.services.reconciliation.reports import export_csv
from payrecon.store import tables as t

DATA = Path(__file__).resolve().parents[1] / "data"
D = Decimal


def count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def load_ledger(engine: Engine) -> None:
    import_contract_owners(engine, DATA / "contract_owners.csv")
    import_customers(engine, DATA / "customers.csv")
    import_invoices(engine, DATA / "invoices.csv")


def run_pipeline(engine: Engine, store: Path, *files: Path) -> list[int]:
    ids = []
    for file in files:
        received = receive_file(engine, store, file)
        if not received.duplicate:
            ingest_feed_file(engine, store, received.feed_file_id)
            ids.append(received.feed_file_id)
    reconcile_pending(engine)
    recompute_balances(engine)
    return ids


def customer_id(engine: Engine, external_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(t.customers.c.id).where(t.customers.c.external_id == external_id)
            ).scalar_one()
        )


def test_imports_are_idempotent_and_keep_several_ibans(engine: Engine) -> None:
    first = import_customers(engine, DATA / "customers.csv")
    second = import_customers(engine, DATA / "customers.csv")
    assert (first.created, second.created, second.updated) == (3, 0, 3)
    assert count(engine, t.customer_bank_accounts) == 3
    assert count(engine, t.mandates) == 1
    assert count(engine, t.contract_owners) == 1
    assert import_invoices(engine, DATA / "invoices.csv").created == 4
    assert import_invoices(engine, DATA / "invoices.csv").created == 0
    assert count(engine, t.invoices) == 4


def test_bad_csv_cell_names_line_and_column_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    bad = tmp_path / "invoices.csv"
    bad.write_text(
        "invoice_id,invoice_number,customer_id,kind,issue_date,due_date,currency,total\n"
        "I9,INV-9,C001,standard,2026-09-01,2026-10-01,GBP,10.00\n"
        "I10,INV-10,C001,standard,2026-09-01,2026-10-01,GBP,12,50\n"
    )
    with pytest.raises(FeedFormatError, match=r"invoices.csv: line 3: more cells than the header"):
        import_invoices(engine, bad)
    bad.write_text(bad.read_text().replace("GBP,12,50", "GBP,12.5x"))
    with pytest.raises(FeedFormatError, match=r"invoices.csv: line 3, column total: not a decimal"):
        import_invoices(engine, bad)
    assert count(engine, t.invoices) == 4


def test_pipeline_allocates_by_exact_reference(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.statement_lines.c.external_id, t.invoices.c.invoice_number, t.allocations.c.amount
            )
            .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
            .join(t.statement_lines, t.statement_lines.c.id == t.payments.c.statement_line_id)
            .join(t.invoices, t.invoices.c.id == t.allocations.c.invoice_id)
            .order_by(t.allocations.c.id)
        ).all()
        statuses = dict(
            conn.execute(select(t.statement_lines.c.external_id, t.statement_lines.c.status)).all()
        )
    assert [tuple(r) for r in rows] == [
        ("BR-0001", "INV-00001", D("16.34")),
        ("BR-0002", "INV-00002", D("40.00")),
        ("BR-0002", "INV-00001", D("136.66")),
        ("BR-0004", "INV-00004", D("17.00")),
    ]
    assert statuses == {
        "BR-0001": "matched",
        "BR-0002": "matched",
        "BR-0003": "unmatched",
        "BR-0004": "matched",
    }
    bowman = get_balance(engine, customer_id(engine, "C001"))
    assert (bowman.balance, bowman.total_payments, bowman.total_payments_since_last_invoice) == (
        D("23.34"),
        D("216.34"),
        D("216.34"),
    )
    assert get_balance(engine, customer_id(engine, "C002")).balance == D("-99.99")
    assert get_balance(engine, customer_id(engine, "C003")).balance == D("-233.00")


def test_reingesting_the_same_or_a_renamed_copy_adds_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    store = tmp_path / "store"
    run_pipeline(engine, store, DATA / "statement.camt053.xml")
    before = [
        count(engine, table)
        for table in (t.feed_files, t.statement_lines, t.payments, t.allocations)
    ]
    copy = tmp_path / "renamed.xml"
    shutil.copyfile(DATA / "statement.camt053.xml", copy)
    assert run_pipeline(engine, store, DATA / "statement.camt053.xml", copy) == []
    after = [
        count(engine, table)
        for table in (t.feed_files, t.statement_lines, t.payments, t.allocations)
    ]
    assert before == after == [1, 4, 3, 4]


def test_overlapping_statement_adds_only_new_lines(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    store = tmp_path / "store"
    run_pipeline(engine, store, DATA / "statement.camt053.xml")
    text = (DATA / "statement.camt053.xml").read_text()
    # Same account, one line already seen (BR-0004) and one new one; the balances still agree.
    overlapping = text.replace("TEST-STMT-1", "TEST-STMT-2").replace("1333.33", "1350.33", 1)
    overlapping = overlapping.replace("BR-0001", "BR-0005")
    overlapping = overlapping.replace('<Amt Ccy="GBP">16.34</Amt>', '<Amt Ccy="GBP">33.34</Amt>')
    path = tmp_path / "overlap.xml"
    path.write_text(overlapping)
    (feed_id,) = run_pipeline(engine, store, path)
    assert count(engine, t.statement_lines) == 5
    with engine.connect() as conn:
        feed = conn.execute(select(t.feed_files).where(t.feed_files.c.id == feed_id)).one()
    assert (feed.line_count, feed.new_line_count) == (4, 1)


def test_malformed_xml_is_quarantined_with_its_place_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    truncated = tmp_path / "truncated.xml"
    truncated.write_text((DATA / "statement.camt053.xml").read_text()[:2500])
    store = tmp_path / "store"
    received = receive_file(engine, store, truncated)
    result = ingest_feed_file(engine, store, received.feed_file_id)
    assert result.status == "quarantined"
    assert result.error is not None
    assert result.error.startswith("truncated.xml: ")
    assert "line" in result.error
    assert count(engine, t.statement_lines) == 0
    # Running it again changes nothing: the file stays quarantined.
    assert ingest_feed_file(engine, store, received.feed_file_id).status == "quarantined"
    assert count(engine, t.statement_lines) == 0


def test_export_files(engine: Engine, tmp_path: Path) -> None:
    import io

    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    allocations, unmatched = io.StringIO(), io.StringIO()
    assert export_csv(engine, "allocations", allocations) == 4
    assert export_csv(engine, "unmatched", unmatched) == 1
    assert allocations.getvalue().splitlines()[:2] == [
        "external_id,invoice_number,amount_applied,currency,rule,confidence",
        "BR-0001,INV-00001,16.34,GBP,invoice_reference_exact,1.000",
    ]
    assert unmatched.getvalue().splitlines() == [
        "external_id,amount,currency,reason",
        "BR-0003,99.99,GBP,no_reference: no invoice reference in the line",
    ]


def test_reimport_cannot_drop_a_total_below_its_allocations(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    lowered = tmp_path / "invoices.csv"
    lowered.write_text((DATA / "invoices.csv").read_text().replace("GBP,40.00", "GBP,10.00"))
    with pytest.raises(Conflict, match="INV-00002"):
        import_invoices(engine, lowered)
    with engine.connect() as conn:
        total = conn.execute(
            select(t.invoices.c.total).where(t.invoices.c.invoice_number == "INV-00002")
        ).scalar()
    assert total == D("40.00")


def test_owners_imported_with_explicit_ids_leave_room_for_generated_ids(engine: Engine) -> None:
    load_ledger(engine)
    with engine.begin() as conn:
        new_id = conn.execute(
            t.contract_owners.insert()
            .values(name="Created later", created_at=func.now(), updated_at=func.now())
            .returning(t.contract_owners.c.id)
        ).scalar_one()
    assert new_id == 2
