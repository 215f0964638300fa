"""BAI2: the fixtures, the trailer checks, continuations and implied decimals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds import detect_format, read_statement_file, read_statements

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "bai2"
if not FIXTURES.is_dir():
    raise RuntimeError(f"the conformance fixtures are missing: {FIXTURES}")

# Worked out from the 16 records: type codes 100-399 credit, 400-699 debit, cents implied.
CONSISTENT = {
    "sample1.txt": (17, "0.00"),
    "sample2.txt": (4, "309500.00"),
    "sample3.txt": (26, "-197.05"),
}
# Goldman Sachs samples whose account trailer states a control total of -1260161341762.
INCONSISTENT = {
    "sample4-continuations-newline-delimited.txt": (17, "-307483.24"),
    "sample5-issue113.txt": (20, "37667896.02"),
}


def test_every_bai2_fixture_is_classified() -> None:
    on_disk = {p.name for p in FIXTURES.glob("sample*")}
    assert on_disk == set(CONSISTENT) | set(INCONSISTENT) | {"sample-parseError.txt"}


@pytest.mark.parametrize(("name", "expected"), sorted(CONSISTENT.items()))
def test_consistent_fixture(name: str, expected: tuple[int, str]) -> None:
    assert detect_format(FIXTURES / name) == "bai2"
    lines = list(read_statement_file(FIXTURES / name))
    assert len(lines) == expected[0]
    assert sum((line.amount for line in lines), Decimal(0)) == Decimal(expected[1])


@pytest.mark.parametrize(("name", "expected"), sorted(INCONSISTENT.items()))
def test_fixture_with_wrong_control_total(name: str, expected: tuple[int, str]) -> None:
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(FIXTURES / name))
    assert caught.value.place == "line 22 (record 49)"
    assert "account control total" in caught.value.problem
    lines = list(read_statement_file(FIXTURES / name, verify=False))
    assert len(lines) == expected[0]
    assert sum((line.amount for line in lines), Decimal(0)) == Decimal(expected[1])


def test_parse_error_fixture_is_refused() -> None:
    for verify in (True, False):
        with pytest.raises(FeedFormatError) as caught:
            list(read_statement_file(FIXTURES / "sample-parseError.txt", verify=verify))
        assert str(caught.value).startswith("sample-parseError.txt: line 1 (record 00): ")
        assert "record 01 expected" in caught.value.problem


def test_fields_of_sample1_and_sample2() -> None:
    first = next(iter(read_statement_file(FIXTURES / "sample1.txt")))
    assert (first.account, first.amount, first.currency) == (
        "10200123456",
        Decimal("-25.00"),
        "CAD",
    )
    assert (first.booking_date, first.value_date) == (date(2006, 3, 17), date(2006, 3, 16))
    assert (first.remittance, first.bank_transaction_code) == ("RETURNED CHEQUE", "409")
    assert first.external_id.startswith("H")
    lines = list(read_statement_file(FIXTURES / "sample2.txt"))
    lc = lines[2]
    assert (lc.external_id, lc.end_to_end_id, lc.amount) == (
        "SP4738",
        "YRC065321",
        Decimal("200000.00"),
    )
    assert lc.remittance == "PROCEEDS OF LETTER OF CREDIT FROM THE ARAMCO OIL CO"
    assert (lc.currency, lc.value_date) == ("USD", date(2004, 6, 22))
    headers = list(read_statements(FIXTURES / "sample2.txt"))
    assert [h.line_count for h in headers] == [1, 1, 2, 0, 0]


def test_slashes_and_continuations_of_sample5() -> None:
    lines = list(read_statement_file(FIXTURES / "sample5-issue113.txt", verify=False))
    wire = lines[2]
    assert (wire.external_id, wire.amount) == ("SPB2322684598521", Decimal("-9286.50"))
    assert wire.end_to_end_id == "AB/GS/RPFILERP0001/RPBA0001"
    returned = lines[3]
    assert (returned.counterparty_name, returned.amount) == ("Test", Decimal("-2000.00"))


def test_ledger_balances_of_sample3_add_up() -> None:
    header = next(iter(read_statements(FIXTURES / "sample3.txt")))
    assert (header.opening_balance, header.closing_balance, header.total) == (
        Decimal("-35.00"),
        Decimal("-36.00"),
        Decimal("-1.00"),
    )


FILE = """01,SENDER,RECEIVER,240102,0800,1,,,2/
02,RECEIVER,SENDER,1,240102,,{currency},2/
03,ACC1,,010,10000,,,015,{closing},,/
16,195,{amount},,BANKREF1,CUSTREF1,INCOMING WIRE/
88,INV-0001234/
49,{account_total},{account_records}/
98,{account_total},1,{group_records}/
99,{account_total},1,{file_records}/
"""


def bai2(tmp_path: Path, **changes: str) -> Path:
    values = {
        "currency": "USD",
        "closing": "12500",
        "amount": "2500",
        "account_total": "25000",
        "account_records": "4",
        "group_records": "6",
        "file_records": "8",
    }
    values.update(changes)
    path = tmp_path / "file.bai"
    path.write_text(FILE.format(**values))
    return path


def test_built_file_reads(tmp_path: Path) -> None:
    (line,) = read_statement_file(bai2(tmp_path))
    assert (line.amount, line.remittance) == (Decimal("25.00"), "INCOMING WIRE INV-0001234")
    assert (line.external_id, line.end_to_end_id) == ("BANKREF1", "CUSTREF1")


def test_implied_decimals_follow_the_currency(tmp_path: Path) -> None:
    path = bai2(tmp_path, currency="JPY", closing="12500", account_total="25000")
    (line,) = read_statement_file(path, verify=False)
    assert (line.amount, line.currency) == (Decimal("2500"), "JPY")


@pytest.mark.parametrize(
    ("changes", "place", "problem"),
    [
        ({"account_records": "5"}, "line 6 (record 49)", "account number of records"),
        ({"group_records": "7"}, "line 7 (record 98)", "group number of records"),
        ({"file_records": "9"}, "line 8 (record 99)", "file number of records"),
        ({"account_total": "25001"}, "line 6 (record 49)", "account control total"),
        ({"closing": "12600", "account_total": "25100"}, "line 3 (account ACC1)", "opening"),
    ],
)
def test_trailer_checks(tmp_path: Path, changes: dict[str, str], place: str, problem: str) -> None:
    path = bai2(tmp_path, **changes)
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert (caught.value.place, caught.value.file) == (place, "file.bai")
    assert problem in caught.value.problem
    assert len(list(read_statement_file(path, verify=False))) == 1


def test_structure_errors(tmp_path: Path) -> None:
    path = bai2(tmp_path)
    path.write_text(path.read_text().replace("99,25000,1,8/\n", ""))
    with pytest.raises(FeedFormatError, match="end of file: record 99 missing"):
        list(read_statement_file(path, verify=False))
    path = bai2(tmp_path, amount="25A0")
    with pytest.raises(FeedFormatError, match=r"line 4 \(record 16\): amount: not a whole number"):
        list(read_statement_file(path, verify=False))
    path.write_text(bai2(tmp_path).read_text().replace("16,195", "16,901"))
    with pytest.raises(FeedFormatError, match="neither a credit nor a debit"):
        list(read_statement_file(path, verify=False))
