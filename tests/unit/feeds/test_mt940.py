"""MT940/MT942: every fixture read, inconsistent ones refused by the checks, edge cases decided."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds import detect_format, read_statement_file, read_statements

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "mt940"
if not FIXTURES.is_dir():
    raise RuntimeError(f"the conformance fixtures are missing: {FIXTURES}")

# Worked out from the :61: lines of each file (C and RD positive, D and RC negative).
BALANCED = {
    "jejik-generic.sta": (2, "-20.00"),
    "jejik-rabobank-iban.sta": (4, "-70.00"),
    "jejik-sns.sta": (2, "-25.00"),
    "self-provided-account_identification.sta": (0, "0"),
    "self-provided-february_30.sta": (1, "-6.00"),
    "self-provided-gv_codes.sta": (2, "-257.45"),
    "self-provided-long_statement_number.sta": (0, "0"),
    # A 2022 :61: appended after the 2004 message's end mark: the statement is read, the stray
    # line reported in a notice (issue 13, item 8; see test_bank_variants.py).
    "self-provided-multiline.sta": (1, "-5"),
    "self-provided-raphaelm.sta": (9, "95000.00"),
    "self-provided-transaction_details_wrapped.sta": (1, "-6.00"),
    "self-provided-wrapped_timestamp.sta": (1, "-6.00"),
}
# Anonymised samples whose stated balances or MT942 totals do not add up: verify refuses them at
# the statement (its first line) or control-total line named here; without verify they are read.
INCONSISTENT = {
    "jejik-abnamro.sta": (10, "-345.93", "statement at line 4"),
    "jejik-ing.sta": (7, "-45.59", "statement at line 4"),
    "jejik-knab.sta": (3, "-6260", "statement at line 10"),
    "jejik-postfinance.sta": (4, "159.4", "statement at line 15"),
    "jejik-rabobank.sta": (5, "-1589.09", "statement at line 2"),
    "jejik-triodos.sta": (2, "-715.70", "statement at line 1"),
    "self-provided-details_60-63.sta": (1, "-233.15", "statement at line 1"),
    "self-provided-malformed_details.sta": (1, "-233.15", "statement at line 1"),
    "self-provided-mt942.sta": (1, "-0.42", "line 11 (:90D:)"),
    "self-provided-overly_long_details.sta": (1, "-233.15", "statement at line 1"),
    "self-provided-raiffeisen-cmi.sta": (7, "-1012213.50", "statement at line 1"),
    "self-provided-whitespace.sta": (1, "-233.15", "statement at line 1"),
}
# Refused whatever `verify` says: not a statement, or a transaction outside any statement.
REFUSED = {
    "self-provided-invalid_statement.sta": ("start of file", "unrecognised format"),
    "self-provided-empty_non_swift.sta": ("line 1", "no MT940/MT942 statement"),
    "self-provided-sparkassen.sta": ("line 1", ":61: outside a statement"),
}


def total(lines: list[StatementLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))


def test_every_mt940_fixture_is_classified() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.sta")}
    assert on_disk == set(BALANCED) | set(INCONSISTENT) | set(REFUSED)


@pytest.mark.parametrize(("name", "expected"), sorted(BALANCED.items()))
def test_balanced_fixture(name: str, expected: tuple[int, str]) -> None:
    lines = list(read_statement_file(FIXTURES / name))
    assert (len(lines), total(lines)) == (expected[0], Decimal(expected[1]))


@pytest.mark.parametrize(("name", "expected"), sorted(INCONSISTENT.items()))
def test_inconsistent_fixture(name: str, expected: tuple[int, str, str]) -> None:
    count, amount, place = expected
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(FIXTURES / name))
    assert (caught.value.file, caught.value.place) == (name, place)
    lines = list(read_statement_file(FIXTURES / name, verify=False))
    assert (len(lines), total(lines)) == (count, Decimal(amount))


@pytest.mark.parametrize(("name", "expected"), sorted(REFUSED.items()))
def test_refused_fixture(name: str, expected: tuple[str, str]) -> None:
    for verify in (True, False):
        with pytest.raises(FeedFormatError) as caught:
            list(read_statement_file(FIXTURES / name, verify=verify))
        assert caught.value.file == name
        assert caught.value.place == expected[0]
        assert expected[1] in caught.value.problem


def test_february_30_is_clamped_to_the_end_of_february() -> None:
    (line,) = read_statement_file(FIXTURES / "self-provided-february_30.sta")
    assert line.value_date == date(2016, 2, 29)
    assert line.booking_date == date(2016, 3, 1)
    assert (line.account, line.amount, line.currency) == (
        "12345678/1020304050",
        Decimal("-6.00"),
        "EUR",
    )


def test_multiline_statement_up_to_its_end_mark(tmp_path: Path) -> None:
    text = (FIXTURES / "self-provided-multiline.sta").read_text("latin-1").splitlines()
    path = tmp_path / "multiline.sta"
    path.write_text("\n".join(text[:37]) + "\n", "latin-1")
    (line,) = read_statement_file(path)
    assert line.amount == Decimal("-5")
    assert line.external_id == "MUL0408041114005"
    (header,) = read_statements(path)
    assert (header.opening_balance, header.closing_balance) == (Decimal("16.40"), Decimal("11.40"))
    assert header.account == 'BILLLULLXXX/"NUMERO DE COMPTE IBAN 2"'


def test_field_mapping() -> None:
    knab = list(read_statement_file(FIXTURES / "jejik-knab.sta", verify=False))
    assert knab[0].external_id == "B4E07XM00J000023"
    assert "MOOIE OMSCHRIJVING" in (knab[0].remittance or "")
    rabo = list(read_statement_file(FIXTURES / "jejik-rabobank-iban.sta"))
    assert rabo[0].counterparty_account == "NL70ABNA0987654321"
    assert rabo[1].counterparty_name == "JOHN DOE"
    gv = list(read_statement_file(FIXTURES / "self-provided-gv_codes.sta"))
    assert gv[0].counterparty_name == "PayPal (Europe) S.a.r.l. et"
    assert gv[0].end_to_end_id == "1234567890123 PAYPAL"
    assert gv[0].mandate_id == "12AB234CD6E7F"
    # No bank reference after //: a content hash, the same on every read of the file.
    again = list(read_statement_file(FIXTURES / "self-provided-gv_codes.sta"))
    assert gv[1].external_id.startswith("H")
    assert [line.external_id for line in gv] == [line.external_id for line in again]


def test_mt942_detected_and_its_bank_reference() -> None:
    path = FIXTURES / "self-provided-mt942.sta"
    assert detect_format(path) == "mt942"
    (line,) = read_statement_file(path, verify=False)
    assert (line.external_id, line.booking_date) == ("055001022000001", date(2016, 10, 31))
    (header,) = read_statements(path, verify=False)
    assert header.format == "mt942"


def test_reversal_marks(tmp_path: Path) -> None:
    path = tmp_path / "reversal.sta"
    path.write_text(
        ":20:REV\n:25:NL91ABNA0417164300\n:28C:1/1\n:60F:C240102EUR100,00\n"
        ":61:2401020102RC10,00NTRFNONREF//B1\n:86:reversed credit\n"
        ":61:2401020102RD4,00NTRFNONREF//B2\n:86:reversed debit\n"
        ":62F:C240102EUR94,00\n-\n"
    )
    assert [line.amount for line in read_statement_file(path)] == [
        Decimal("-10.00"),
        Decimal("4.00"),
    ]


def test_statement_without_account_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noacct.sta"
    path.write_text(":20:X\n:28C:1\n:60F:C240102EUR1,00\n:62F:C240102EUR1,00\n-\n")
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert caught.value.place == "statement at line 1"
    assert ":25:" in caught.value.problem
