"""Ingestion on SQLite and PostgreSQL: the contract owner by account, overlapping statements,
hostile XML, the inbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from payrecon.services.reconciliation.inbox import scan_inbox
from payrecon.services.reconciliation.ingest import (
    ingest_feed_file,
    receive_file,
    stage_feed_file,
    store_staged_files,
)
from payrecon.store import tables as t
from payrecon.store.staging_tables import staged_files, staged_lines, staged_suggestions
from tests.integration.test_pipeline_services import DATA, count, load_ledger, run_pipeline

CAMT = (DATA / "statement.camt053.xml").read_text()


def test_lines_carry_the_owner_of_their_account(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    (feed_id,) = run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    with engine.connect() as conn:
        owners = set(conn.execute(select(t.statement_lines.c.contract_owner_id)).scalars())
        feed = conn.execute(select(t.feed_files).where(t.feed_files.c.id == feed_id)).one()
    assert owners == {1}
    assert (feed.contract_owner_id, feed.source, feed.format) == (1, "cli", "camt.053")


def test_an_unknown_account_is_quarantined_not_guessed(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    other = tmp_path / "other-bank.xml"
    other.write_text(CAMT.replace("GB33BUKB20201555555555", "DE89370400440532013000"))
    store = tmp_path / "store"
    result = ingest_feed_file(engine, store, receive_file(engine, store, other).feed_file_id)
    assert result.status == "quarantined"
    assert result.error == (
        "other-bank.xml: line 1 (account DE89370400440532013000): "
        "no contract owner has this bank account; configure it on the owner"
    )
    assert count(engine, t.statement_lines) == 0
    # Once the owner has the account, sending the same file again retries it.
    with engine.begin() as conn:
        conn.execute(
            t.contract_owners.update()
            .where(t.contract_owners.c.id == 1)
            .values(bank_iban="DE89370400440532013000")
        )
    again = receive_file(engine, store, other)
    assert (again.duplicate, again.status) == (False, "received")
    assert ingest_feed_file(engine, store, again.feed_file_id).status == "processed"
    assert count(engine, t.statement_lines) == 4
    assert receive_file(engine, store, other).duplicate is True


def _intraday_report() -> str:
    """A camt.052 of the first two entries of the day's camt.053."""
    entries = CAMT.split("<Ntry>")
    intraday = (
        "<Ntry>".join(entries[:3])  # header + the first two entries
        .replace("camt.053.001.02", "camt.052.001.02")
        .replace("BkToCstmrStmt", "BkToCstmrAcctRpt")
        .replace("<Stmt>", "<Rpt>")
        .replace("</Stmt>", "</Rpt>")
    )
    intraday = (
        intraday[: intraday.rindex("</Ntry>") + len("</Ntry>")]
        + "</Rpt></BkToCstmrAcctRpt></Document>"
    )
    intraday = intraday.replace(
        "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd>", "<Bal><Tp><CdOrPrtry><Cd>ITBD</Cd>"
    )
    return intraday


def test_intraday_then_end_of_day_statement_adds_each_line_once(
    engine: Engine, tmp_path: Path
) -> None:
    """A camt.052 report during the day, then the day's camt.053 repeating its entries."""
    load_ledger(engine)
    intraday = _intraday_report()
    path = tmp_path / "intraday.xml"
    path.write_text(intraday)
    store = tmp_path / "store"
    run_pipeline(engine, store, path)
    assert count(engine, t.statement_lines) == 2
    run_pipeline(engine, store, DATA / "statement.camt053.xml")
    assert count(engine, t.statement_lines) == 4
    with engine.connect() as conn:
        per_ref = conn.execute(
            select(t.statement_lines.c.external_id, func.count()).group_by(
                t.statement_lines.c.external_id
            )
        ).all()
    assert sorted(per_ref) == [("BR-0001", 1), ("BR-0002", 1), ("BR-0003", 1), ("BR-0004", 1)]
    assert count(engine, t.payments) == 3


def test_a_runs_files_staged_in_any_order_are_stored_in_the_runs_order(
    engine: Engine, tmp_path: Path
) -> None:
    """The pipeline parses a run's files side by side: whichever is staged first, a line two
    files share belongs to the first file of the run, and storing again adds nothing."""
    load_ledger(engine)
    path = tmp_path / "intraday.xml"
    path.write_text(_intraday_report())
    store = tmp_path / "store"
    intraday = receive_file(engine, store, path).feed_file_id
    day = receive_file(engine, store, DATA / "statement.camt053.xml").feed_file_id
    assert stage_feed_file(engine, store, day).status == "staged"
    assert stage_feed_file(engine, store, day).lines == 4  # staging again replaces
    assert stage_feed_file(engine, store, intraday).lines == 2
    assert count(engine, t.statement_lines) == 0  # nothing is stored while staged
    stored = store_staged_files(engine, store, [intraday, day])
    assert [(r.status, r.lines, r.new_lines) for r in stored] == [
        ("processed", 2, 2),
        ("processed", 4, 2),
    ]
    with engine.connect() as conn:
        owners = dict(
            conn.execute(
                select(t.statement_lines.c.external_id, t.statement_lines.c.feed_file_id)
            ).all()
        )
        files = dict(conn.execute(select(t.feed_files.c.id, t.feed_files.c.new_line_count)).all())
    assert owners == {"BR-0001": intraday, "BR-0002": intraday, "BR-0003": day, "BR-0004": day}
    assert files == {intraday: 2, day: 2}
    for table in (staged_lines, staged_files, staged_suggestions):
        assert count(engine, table) == 0
    assert stage_feed_file(engine, store, day).status == "processed"  # a redelivery: nothing
    assert count(engine, staged_lines) == 0
    again = store_staged_files(engine, store, [intraday, day])
    assert [(r.status, r.new_lines) for r in again] == [("processed", 0), ("processed", 0)]
    assert count(engine, t.statement_lines) == 4


def test_storing_a_received_file_not_staged_stages_it_first(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    store = tmp_path / "store"
    day = receive_file(engine, store, DATA / "statement.camt053.xml").feed_file_id
    bad = tmp_path / "bad.xml"
    bad.write_text(CAMT[: len(CAMT) // 2])
    broken = receive_file(engine, store, bad).feed_file_id
    stored = store_staged_files(engine, store, [broken, day])
    assert [(r.status, r.new_lines) for r in stored] == [("quarantined", 0), ("processed", 4)]
    assert count(engine, t.statement_lines) == 4


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>
<Id>&lol9;</Id></Stmt></BkToCstmrStmt></Document>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>
<Id>&xxe;</Id></Stmt></BkToCstmrStmt></Document>
"""


@pytest.mark.parametrize(
    ("name", "content"),
    [("bomb.xml", BILLION_LAUGHS), ("xxe.xml", XXE), ("truncated.xml", CAMT[: len(CAMT) // 2])],
)
def test_hostile_xml_is_rejected_quickly_with_nothing_written(
    engine: Engine, tmp_path: Path, name: str, content: str
) -> None:
    load_ledger(engine)
    path = tmp_path / name
    path.write_text(content)
    store = tmp_path / "store"
    started = time.monotonic()
    result = ingest_feed_file(engine, store, receive_file(engine, store, path).feed_file_id)
    elapsed = time.monotonic() - started
    assert result.status == "quarantined"
    assert result.error is not None
    assert result.error.startswith(f"{name}: ")
    assert "passwd" not in result.error
    assert "root:" not in result.error
    assert count(engine, t.statement_lines) == 0
    assert elapsed < 5  # "well under a second" in practice; generous for a loaded CI machine


def test_inbox_moves_files_to_done_or_quarantine_with_a_reason(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.xml").write_text(CAMT)
    (inbox / "bad.xml").write_text(CAMT[:900])
    (inbox / "upload.xml.partial").write_text("still arriving")
    scan = scan_inbox(engine, tmp_path / "store", inbox)
    assert scan.as_counts() == {
        "files": 2,
        "processed": 1,
        "duplicates": 0,
        "quarantined": 1,
        "new_lines": 4,
    }
    assert (inbox / "done" / "good.xml").exists()
    assert (inbox / "quarantine" / "bad.xml").exists()
    reason = (inbox / "quarantine" / "bad.xml.reason.txt").read_text()
    assert reason.startswith("bad.xml: line ")
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["upload.xml.partial"]
    # The same content dropped again is a duplicate: moved to done/, nothing added.
    (inbox / "good-again.xml").write_text(CAMT)
    again = scan_inbox(engine, tmp_path / "store", inbox)
    assert (again.duplicates, again.new_lines) == (1, 0)
    assert (inbox / "done" / "good-again.xml").exists()
    assert count(engine, t.statement_lines) == 4


VARIANTS = Path(__file__).resolve().parents[1] / "fixtures" / "bank-variants"


def test_an_amount_beyond_the_ledger_is_quarantined_at_parse_time(
    engine: Engine, tmp_path: Path
) -> None:
    """An OFX TRNAMT of 40 digits used to pass `parse` and crash the insert; now the file is
    quarantined with its place, and nothing is written."""
    load_ledger(engine)
    store = tmp_path / "store"
    path = VARIANTS / "ofx-amount-beyond-ledger.ofx"
    result = ingest_feed_file(engine, store, receive_file(engine, store, path).feed_file_id)
    assert result.status == "quarantined"
    assert result.error is not None
    assert result.error.startswith(
        "ofx-amount-beyond-ledger.ofx: STMTRS 1/STMTTRN 1 (line 9)/TRNAMT: amount "
    )
    assert "more than 15 integer digits" in result.error
    assert count(engine, t.statement_lines) == 0
