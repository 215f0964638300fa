"""CSV exports through the bundled profiles, and the errors that name line and column."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds import detect_format, read_statement_file, read_statements
from payrecon.feeds.csvprofile import bundled_profiles, load_profile

GENERIC_HEADER = (
    "date,amount,currency,reference,counterparty_name,counterparty_account,remittance,account"
)
ACCOUNT = "DE02120300000000202051"


def write(tmp_path: Path, text: str, name: str = "export.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_bundled_profiles() -> None:
    assert {p.name for p in bundled_profiles()} >= {"generic", "lloyds_uk", "sparkasse_camt_v2"}


def test_generic_profile(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{GENERIC_HEADER}\n"
        f"2024-01-02,100.50,EUR,REF-1,ACME GmbH,DE89370400440532013000,INV-0001234,{ACCOUNT}\n"
        f'2024-01-03,-20,eur,,Bank,,"fees, monthly",{ACCOUNT}\n'
        "\n"
        f'2024-01-03,-20,EUR,,Bank,,"fees, monthly",{ACCOUNT}\n',
    )
    assert detect_format(path) == "csv"
    lines = list(read_statement_file(path))
    assert [line.amount for line in lines] == [Decimal("100.50"), Decimal("-20"), Decimal("-20")]
    first = lines[0]
    assert (first.external_id, first.account, str(first.booking_date)) == (
        "REF-1",
        ACCOUNT,
        "2024-01-02",
    )
    assert (first.counterparty_name, first.remittance) == ("ACME GmbH", "INV-0001234")
    assert first.counterparty_account == "DE89370400440532013000"
    assert first.value_date is None
    assert lines[1].currency == "EUR"
    # No reference column value: a content hash; the identical second row stays a second line.
    assert lines[1].external_id.startswith("H")
    assert lines[2].external_id == lines[1].external_id + "~2"
    (header,) = read_statements(path)
    assert (header.account, header.line_count, header.total) == (ACCOUNT, 3, Decimal("60.50"))


def test_generic_profile_with_value_date_and_column_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "account,value_date,date,amount,currency,reference,counterparty_name,"
        "counterparty_account,remittance\n"
        f"{ACCOUNT},2024-01-04,2024-01-03,1.00,EUR,R,,,\n",
    )
    (line,) = read_statement_file(path)
    assert (str(line.value_date), str(line.booking_date)) == ("2024-01-04", "2024-01-03")


@pytest.mark.parametrize(
    ("row", "column", "problem"),
    [
        (f"2024-13-01,1.00,EUR,R,,,,{ACCOUNT}", "date", "not a date"),
        (f"2024-01-01,1.0.0,EUR,R,,,,{ACCOUNT}", "amount", "not an amount"),
        (f"2024-01-01,1e3,EUR,R,,,,{ACCOUNT}", "amount", "not an amount"),
        ("2024-01-01,1.00,EUR,R,,,,", "account", "no account"),
        (f"2024-01-01,1.00,EURO,R,,,,{ACCOUNT}", "currency", "no currency"),
        ("2024-01-01,1.00", "currency", "only 2 cells"),
    ],
)
def test_bad_row_names_line_and_column(tmp_path: Path, row: str, column: str, problem: str) -> None:
    path = write(tmp_path, f"{GENERIC_HEADER}\n2024-01-01,1.00,EUR,OK,,,,{ACCOUNT}\n{row}\n")
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert caught.value.file == "export.csv"
    assert caught.value.place == f"line 3, column {column!r}"
    assert problem in caught.value.problem


def test_lloyds_debit_credit_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,"
        "Debit Amount,Credit Amount,Balance\n"
        '02/01/2024,BGC,\'30-94-57,12345678,ACME LTD INV 1234,,"1,250.00",1250.00\n'
        "03/01/2024,DD,'30-94-57,12345678,BRITISH GAS,45.10,,1204.90\n",
    )
    lines = list(read_statement_file(path))
    assert [line.amount for line in lines] == [Decimal("1250.00"), Decimal("-45.10")]
    assert lines[0].account == "'30-94-57 12345678"
    assert (lines[0].currency, lines[0].bank_transaction_code) == ("GBP", "BGC")
    assert str(lines[1].booking_date) == "2024-01-03"


def test_lloyds_row_with_both_amounts_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,"
        "Debit Amount,Credit Amount,Balance\n"
        "02/01/2024,BGC,30-94-57,12345678,X,1.00,2.00,0\n",
    )
    with pytest.raises(FeedFormatError, match="both debit and credit"):
        list(read_statement_file(path))


SPARKASSE = (
    '"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";'
    '"Glaeubiger ID";"Mandatsreferenz";"Kundenreferenz (End-to-End)";"Sammlerreferenz";'
    '"Lastschrift Ursprungsbetrag";"Auslagenersatz Ruecklastschrift";'
    '"Beguenstigter/Zahlungspflichtiger";"Kontonummer/IBAN";"BIC (SWIFT-Code)";"Betrag";'
    '"Waehrung";"Info"\n'
    f'"{ACCOUNT}";"02.01.24";"02.01.24";"GUTSCHR. UEBERWEISUNG";"RE 2024-17 Müller";"";"";'
    '"E2E-17";"";"";"";"Müller & Söhne";"DE89370400440532013000";"COBADEFFXXX";"1.234,56";'
    '"EUR";"Umsatz gebucht"\n'
    f'"{ACCOUNT}";"03.01.24";"03.01.24";"FOLGELASTSCHRIFT";"Strom";"DE98ZZZ09999999999";'
    '"M-77";"";"";"";"";"Stadtwerke";"DE12500105170648489890";"INGDDEFFXXX";"-89,90";'
    '"EUR";"Umsatz gebucht"\n'
    f'"{ACCOUNT}";"04.01.24";"";"KARTENZAHLUNG";"Kiosk";"";"";"";"";"";"";"Kiosk";"";"";'
    '"-3,00";"EUR";"Umsatz vorgemerkt"\n'
)


def test_sparkasse_semicolon_decimal_comma_cp1252(tmp_path: Path) -> None:
    path = write(tmp_path, SPARKASSE, encoding="cp1252")
    assert detect_format(path) == "csv"
    lines = list(read_statement_file(path))
    assert [line.amount for line in lines] == [Decimal("1234.56"), Decimal("-89.90")]
    first, second = lines
    assert (first.counterparty_name, first.remittance) == ("Müller & Söhne", "RE 2024-17 Müller")
    assert (first.end_to_end_id, first.external_id) == ("E2E-17", first.external_id)
    assert first.external_id.startswith("H")
    assert (second.mandate_id, second.bank_transaction_code) == ("M-77", "FOLGELASTSCHRIFT")
    assert str(second.value_date) == "2024-01-03"


def test_named_profile_and_profile_file(tmp_path: Path) -> None:
    profile = tmp_path / "mybank.yaml"
    profile.write_text(
        "name: mybank\n"
        "delimiter: '|'\n"
        "header_row: 3\n"
        "date_format: '%Y%m%d'\n"
        "decimal: ','\n"
        "thousands: ' '\n"
        "columns: {booking_date: Datum, amount: Bedrag, reference: Ref}\n"
        "amount: {mode: indicator, indicator: CD, credit_values: [C], debit_values: [D]}\n"
        "defaults: {currency: EUR, account: NL91ABNA0417164300}\n"
    )
    path = write(
        tmp_path,
        "Rekeningoverzicht\nNL91ABNA0417164300\nDatum|Bedrag|CD|Ref\n"
        "20240102|1 234,50|C|A1\n20240103|12,00|D|A2\n20240104|1,00|X|A3\n",
        name="odd.txt",
    )
    lines = read_statement_file(path, csv_profile=str(profile))
    assert next(lines).amount == Decimal("1234.50")
    assert next(lines).amount == Decimal("-12.00")
    with pytest.raises(FeedFormatError) as caught:
        next(lines)
    assert caught.value.place == "line 6, column 'CD'"


def test_header_fitting_no_profile(tmp_path: Path) -> None:
    path = write(tmp_path, "when,how much\n2024-01-01,1.00\n")
    with pytest.raises(FeedFormatError, match="fits no bundled CSV profile"):
        list(read_statement_file(path))
    with pytest.raises(FeedFormatError, match="missing columns for profile 'generic'"):
        list(read_statement_file(path, csv_profile="generic"))
    with pytest.raises(FeedFormatError, match="no such CSV profile"):
        load_profile("nope")


def test_invalid_profile_is_reported(tmp_path: Path) -> None:
    profile = tmp_path / "broken.yaml"
    profile.write_text("name: broken\ncolumns: {booking_date: d, amount: a, colour: c}\n")
    with pytest.raises(FeedFormatError) as caught:
        load_profile(str(profile))
    assert "unknown field 'colour'" in caught.value.problem
    assert "'currency'" in caught.value.problem
