"""Issue 13: bank files as banks really write them, one test (or more) per class of file.

The fixtures are in tests/fixtures/bank-variants (README there); the conformance test runs them
all through `payrecon parse` as well.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from payrecon.cli import app
from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds import FeedNotice, read_feed, read_statement_file, read_statements

VARIANTS = Path(__file__).resolve().parents[2] / "fixtures" / "bank-variants"


def lines_of(name: str, **options: bool) -> list[StatementLine]:
    return list(read_statement_file(VARIANTS / name, **options))


def notices_of(name: str) -> list[FeedNotice]:
    return [item for item in read_feed(VARIANTS / name) if isinstance(item, FeedNotice)]


def refusal(name: str, *, verify: bool = True) -> FeedFormatError:
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(VARIANTS / name, verify=verify))
    assert caught.value.file == name
    return caught.value


# 1. camt.052 version 1: the account as PrtryAcct, TxDtls in the entry, Tp/Cd, RtrRsn.
def test_camt_version_1_proprietary_account() -> None:
    credit, debit = lines_of("camt052-v01-proprietary-account.xml")
    assert (credit.account, credit.amount, credit.currency) == (
        "0042-7781-55",
        Decimal("250.50"),
        "CHF",
    )
    assert (credit.counterparty_name, credit.counterparty_account) == (
        "Muster AG",
        "CH9300762011623852957",
    )
    assert (credit.remittance, credit.end_to_end_id) == ("INV-0004711 March", "E2E-V1-0001")
    assert (debit.amount, debit.return_reason, debit.value_date) == (
        Decimal("-80.00"),
        "AM04",
        None,
    )
    (header,) = read_statements(VARIANTS / "camt052-v01-proprietary-account.xml")
    assert (header.format, header.opening_balance, header.closing_balance) == (
        "camt.052",
        Decimal("1000.00"),
        Decimal("1170.50"),
    )


# 2. A batch whose details carry no amounts: one line, the details kept as evidence, a notice.
def test_batch_without_detail_amounts_is_one_line_with_the_details_as_evidence() -> None:
    for verify in (True, False):
        (line,) = lines_of("camt053-batch-without-detail-amounts.xml", verify=verify)
        assert (line.external_id, line.amount, line.currency) == (
            "SE-BATCH-0001",
            Decimal("4500.00"),
            "SEK",
        )
        assert line.counterparty_name == "Nordvik AB"  # all three details name the same payer
        text = line.remittance or ""
        for evidence in ("INV-0000301", "RF18INV302", "INV-0000303", "e2e BG-2024-0302"):
            assert evidence in text
    (notice,) = notices_of("camt053-batch-without-detail-amounts.xml")
    assert notice.place.endswith("Ntry[1] (line 13)")
    assert "3 TxDtls without an amount" in notice.message
    assert "one line of 4500.00" in notice.message


def test_batch_with_some_detail_amounts_missing_is_one_line_too(tmp_path: Path) -> None:
    source = (VARIANTS / "camt053-batch-without-detail-amounts.xml").read_text()
    one_amount = source.replace(
        "<TxDtls><Refs><EndToEndId>BG-2024-0301",
        '<TxDtls><AmtDtls><TxAmt><Amt Ccy="SEK">1500.00</Amt></TxAmt></AmtDtls>'
        "<Refs><EndToEndId>BG-2024-0301",
    )
    path = tmp_path / "partial.xml"
    path.write_text(one_amount)
    (line,) = read_statement_file(path)
    assert line.amount == Decimal("4500.00")


# 3. Entries with neither BookgDt nor ValDt take the statement's period end, and say so.
def test_entries_without_dates_take_the_end_of_the_reporting_period(tmp_path: Path) -> None:
    dated, undated, fee = lines_of("camt053-entries-without-dates.xml")
    assert dated.booking_date == date(2024, 3, 12)
    assert (undated.booking_date, undated.value_date) == (date(2024, 3, 31), None)
    assert (fee.booking_date, fee.amount, fee.remittance) == (
        date(2024, 3, 31),
        Decimal("-20.00"),
        "Account fee",
    )
    (notice,) = notices_of("camt053-entries-without-dates.xml")
    assert "2 booked entries state neither BookgDt nor ValDt" in notice.message
    assert "FrToDt/ToDtTm" in notice.message
    # Without a period the statement's creation date is taken, then the group header's.
    source = (VARIANTS / "camt053-entries-without-dates.xml").read_text()
    without_period = re.sub(r"<FrToDt>.*?</FrToDt>", "", source)
    path = tmp_path / "created.xml"
    path.write_text(without_period)
    assert [line.booking_date for line in read_statement_file(path)][1] == date(2024, 4, 1)
    path.write_text(
        re.sub(
            r"<Stmt>\s*<Id>NODATE-1-1</Id>\s*<CreDtTm>[^<]*</CreDtTm>",
            "<Stmt><Id>X</Id>",
            without_period,
        )
    )
    assert [line.booking_date for line in read_statement_file(path)][1] == date(2024, 4, 1)
    path.write_text(re.sub(r"<CreDtTm>[^<]*</CreDtTm>", "", without_period))
    with pytest.raises(FeedFormatError, match="no BookgDt or ValDt"):
        list(read_statement_file(path))


# 4. A camt document without a statement, report or notification is not a statement.
def test_camt_without_any_statement_is_refused() -> None:
    for verify in (True, False):
        error = refusal("camt053-no-statement.xml", verify=verify)
        assert error.place == "BkToCstmrStmt (line 4)"
        assert "not a statement" in error.problem


# 5. OFX error responses are refused, quoting the bank's code and message.
@pytest.mark.parametrize(
    ("name", "place", "quoted"),
    [
        ("ofx-signon-failed.ofx", "SONRS/STATUS (line 14)", "code 15500 (ERROR): 'Signon invalid"),
        ("ofx-server-error.ofx", "STMTTRNRS/STATUS (line 14)", "code 2000 (ERROR): 'General error"),
    ],
)
def test_ofx_error_responses_are_refused(name: str, place: str, quoted: str) -> None:
    for verify in (True, False):
        error = refusal(name, verify=verify)
        assert error.place == place
        assert quoted in error.problem


def test_ofx_warning_beside_a_statement_is_a_notice(tmp_path: Path) -> None:
    source = (VARIANTS / "ofx-amount-beyond-ledger.ofx").read_text()
    path = tmp_path / "warn.ofx"
    path.write_text(
        source.replace(
            "<CODE>0<SEVERITY>INFO", "<CODE>2019<SEVERITY>WARN<MESSAGE>Duplicate"
        ).replace("1234567890123456789012345678901234567890.00", "12.00")
    )
    items = list(read_feed(path))
    assert [type(item).__name__ for item in items] == [
        "FeedNotice",
        "StatementLine",
        "StatementHeader",
    ]
    assert "code 2019 (WARN): 'Duplicate'" in str(items[0])


# 6. BAI2 continuation records of a US bank: every record ends after whole groups.
def test_bai2_continuations_of_a_us_bank_are_read() -> None:
    lines = lines_of("bai2-us-bank-continuations.bai")
    assert [(line.external_id, line.amount) for line in lines] == [
        ("880011", Decimal("1000.00")),
        ("880012", Decimal("375.00")),
        ("880013", Decimal("-250.00")),
    ]
    assert lines[0].remittance == "ACH CREDIT ACME SUPPLY INV-0004711"
    (header,) = read_statements(VARIANTS / "bai2-us-bank-continuations.bai")
    assert (header.opening_balance, header.closing_balance) == (
        Decimal("25000.00"),
        Decimal("26125.00"),
    )


def test_bai2_error_in_a_continuation_names_the_continuation(tmp_path: Path) -> None:
    path = tmp_path / "bad.bai"
    source = (VARIANTS / "bai2-us-bank-continuations.bai").read_text()
    path.write_text(source.replace("88,072,000,,,074,000,,,/", "88,072,000,,Q,074,000,,,/"))
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert caught.value.place == "line 5 (record 88)"
    assert caught.value.problem == "unknown funds type 'Q'"


def test_bai2_record_cut_after_an_amount_defaults_the_rest_of_its_group(tmp_path: Path) -> None:
    path = tmp_path / "short.bai"
    path.write_text(
        "01,S,R,240102,0800,1,,,2/\n02,R,S,1,240102,,USD,2/\n03,ACC1,USD,010,10000/\n"
        "88,015,12500/\n16,195,2500,,BANKREF1,CUSTREF1,INCOMING WIRE/\n49,25000,4/\n"
        "98,25000,1,6/\n99,25000,1,8/\n"
    )
    (line,) = read_statement_file(path)
    assert line.amount == Decimal("25.00")


# 7. A Dutch bank's references longer than SWIFT's 16 characters are kept whole.
def test_mt940_long_references_are_kept_whole() -> None:
    first, second = lines_of("mt940-dutch-long-reference.sta")
    assert first.external_id == "RABO2403050000123456"
    assert first.end_to_end_id == "EREF-2024-03-05-ACME-INV-0004711"
    assert first.counterparty_name == "ACME SUPPLIES BV"  # a full line cut inside a word
    assert (second.external_id, second.amount) == ("RABO2403050000123457", Decimal("-50.00"))
    assert (second.counterparty_account, second.counterparty_name) == (
        "NL86INGB0002445588",
        "J. DE VRIES",
    )


def test_an_unreadable_statement_line_is_named_without_library_output(tmp_path: Path) -> None:
    path = tmp_path / "bad.sta"
    path.write_text(":20:X\n:25:NL91RABO0317283740\n:60F:C240304EUR1,00\n:61:24AB\n-\n")
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert str(caught.value) == "bad.sta: line 4 (:61:): not a statement line: '24AB'"


# 8. Content after the end of a message: the statement is read, the stray part reported.
def test_mt940_content_after_the_end_mark_is_set_aside_with_its_lines() -> None:
    (line,) = lines_of("mt940-content-after-end.sta")
    assert (line.external_id, line.amount) == ("BANK-0001", Decimal("25.00"))
    (notice,) = notices_of("mt940-content-after-end.sta")
    assert notice.place == "lines 9-10"
    assert notice.message.startswith(":61: outside every statement")


def test_mt940_with_nothing_but_stray_content_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stray.sta"
    path.write_text(":61:2403060306C99,00NTRFNONREF//BANK-0002\n:86:RG-004712\n-\n")
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert (caught.value.place, caught.value.problem) == (
        "line 1",
        ":61: outside a statement (no :20: before it)",
    )


# 9. German GVC :86: wrapped over 65-character lines: the references come out as in camt.053.
_INVOICE = re.compile(r"(?<![A-Za-z0-9])RG[-_/ .#:]*0*(\d+)(?!\d)")


def test_gvc_details_give_the_same_references_as_camt() -> None:
    camt = {line.external_id: line for line in lines_of("camt053-same-payments-as-gvc.xml")}
    mt940 = lines_of("mt940-gvc-wrapped.sta")
    assert [line.external_id for line in mt940] == list(camt)
    for line in mt940:
        twin = camt[line.external_id]
        assert _INVOICE.findall(line.remittance or "") == _INVOICE.findall(twin.remittance or "")
        assert (line.amount, line.end_to_end_id, line.counterparty_account) == (
            twin.amount,
            twin.end_to_end_id,
            twin.counterparty_account,
        )
        # ?32 and ?33 hold 54 characters: a longer name is cut by the bank.
        assert (twin.counterparty_name or "").startswith(line.counterparty_name or "")
    assert mt940[1].remittance == "Miete fuer Maerz 2024 RG-004712 danke"  # slices trimmed
    assert "Tennis xxxxxxxxxxxxxxxx Rechnung RG-004713" in (mt940[2].remittance or "")


@pytest.mark.parametrize(
    ("details", "remittance"),
    [
        # a slice of 27 was cut by width: no space
        ("166?20SVWZ+Zahlung Rechnung RG-00?214711 danke", "Zahlung Rechnung RG-004711 danke"),
        # a shorter slice ended at a word: a space
        ("166?20SVWZ+Zahlung Rechnung?21RG-004711", "Zahlung Rechnung RG-004711"),
        # ?60 continues ?29 like any slice
        (
            "166?20SVWZ+"
            + "a" * 22
            + "".join(f"?2{n}" + "b" * 27 for n in range(1, 9))
            + "?29"
            + "c" * 22
            + " RG-0?604711 danke",
            "a" * 22 + "b" * 216 + "c" * 22 + " RG-04711 danke",
        ),
    ],
)
def test_gvc_slices_join(tmp_path: Path, details: str, remittance: str) -> None:
    path = tmp_path / "gvc.sta"
    path.write_text(
        ":20:X\n:25:DE89370400440532013000\n:60F:C240304EUR0,00\n"
        f":61:2403050305C1,00NTRFNONREF//B1\n:86:{details}\n-\n"
    )
    (line,) = read_statement_file(path)
    assert line.remittance == remittance


# 10. Pending entries are skipped, and `payrecon parse` says how many on standard error.
def test_parse_reports_skipped_pending_entries() -> None:
    assert lines_of("camt053-pending-entries.xml") == []
    result = CliRunner().invoke(app, ["parse", str(VARIANTS / "camt053-pending-entries.xml")])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "note: camt053-pending-entries.xml: Stmt[1] Id PDNG-1-1: 2 entries not booked "
        "(2 PDNG) skipped: not money moved"
    )
