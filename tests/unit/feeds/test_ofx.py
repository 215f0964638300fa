"""OFX 1.x (SGML) and 2.x (XML): the fixtures, the fail_nice files, and mixed markup."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds import detect_format, read_statement_file, read_statements

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "ofx"
if not FIXTURES.is_dir():
    raise RuntimeError(f"the conformance fixtures are missing: {FIXTURES}")

# Worked out from the STMTTRN/TRNAMT values of each file.
WELL_FORMED = {
    "bank_medium.ofx": (3, "-345.27"),
    "bank_small.ofx": (0, "0"),
    "checking.ofx": (3, "-59.50"),
    "multiple_accounts.ofx": (0, "0"),
    "ofx-v102-empty-tags.ofx": (1, "12.34"),
    "suncorp.ofx": (1, "-16.85"),
}
MALFORMED = {
    "fail_nice-date_missing.ofx": ("STMTRS 1/STMTTRN 1 (line 33)/DTPOSTED", "missing or empty"),
    "fail_nice-decimal_error.ofx": ("STMTRS 1/STMTTRN 1 (line 34)/DTPOSTED", "not an OFX date"),
    "fail_nice-empty_balance.ofx": ("STMTRS 1/LEDGERBAL (line 37)/BALAMT", "BALAMT is empty"),
}


def test_every_ofx_fixture_is_classified() -> None:
    assert {p.name for p in FIXTURES.glob("*.ofx")} == set(WELL_FORMED) | set(MALFORMED)


@pytest.mark.parametrize(("name", "expected"), sorted(WELL_FORMED.items()))
def test_well_formed_fixture(name: str, expected: tuple[int, str]) -> None:
    assert detect_format(FIXTURES / name) == "ofx"
    lines = list(read_statement_file(FIXTURES / name))
    assert len(lines) == expected[0]
    assert sum((line.amount for line in lines), Decimal(0)) == Decimal(expected[1])


@pytest.mark.parametrize(("name", "expected"), sorted(MALFORMED.items()))
def test_fail_nice_fixture(name: str, expected: tuple[str, str]) -> None:
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(FIXTURES / name, verify=False))
    assert (caught.value.file, caught.value.place) == (name, expected[0])
    assert expected[1] in caught.value.problem


def test_sgml_fields() -> None:
    lines = list(read_statement_file(FIXTURES / "checking.ofx"))
    check = lines[2]
    assert (check.external_id, check.account, check.currency) == ("0000488", "1452687~7", "USD")
    assert (check.booking_date, check.amount) == (date(2011, 4, 7), Decimal("-25.00"))
    assert check.counterparty_name == "RETURNED CHECK FEE, CHECK # 319"
    assert check.remittance == "RETURNED CHECK FEE, CHECK # 319 FOR $45.33 ON 04/07/11 CHECK 319"
    assert check.bank_transaction_code == "CHECK"
    (header,) = read_statements(FIXTURES / "checking.ofx")
    assert (header.closing_balance, header.opening_balance) == (Decimal("100.99"), None)


def test_xml_cdata_and_multiple_accounts() -> None:
    (line,) = read_statement_file(FIXTURES / "suncorp.ofx")
    assert line.counterparty_name == "EFTPOS WDL HANDYWAY ALDI STORE"
    assert line.currency == "AUD"
    headers = list(read_statements(FIXTURES / "multiple_accounts.ofx"))
    assert [(h.account, h.closing_balance) for h in headers] == [
        ("9100", Decimal("111")),
        ("9200", Decimal("222")),
    ]


def test_empty_tags_fall_back() -> None:
    (line,) = read_statement_file(FIXTURES / "ofx-v102-empty-tags.ofx")
    assert line.currency == "AUD"  # CURDEF is empty; the transaction's CURSYM says AUD
    assert line.external_id.startswith("H")  # FITID is empty
    assert line.value_date == date(2018, 5, 7)


OFX = """OFXHEADER:100
DATA:OFXSGML
VERSION:102

<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR
<BANKACCTFROM><ACCTID>NL91ABNA0417164300</BANKACCTFROM>
<BANKTRANLIST>
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240102<TRNAMT>{amount}<FITID>F1<NAME>ACME &amp; Co
<MEMO>INV-0001234<REFNUM>R-9</STMTTRN>
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240102<TRNAMT>{amount}<FITID>F1<NAME>ACME &amp; Co
</STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""


def test_unclosed_leaves_entities_and_repeated_fitid(tmp_path: Path) -> None:
    path = tmp_path / "sgml.ofx"
    path.write_text(OFX.format(amount="1,50"))
    first, second = read_statement_file(path)
    assert (first.counterparty_name, first.amount) == ("ACME & Co", Decimal("1.50"))
    assert first.remittance == "INV-0001234 REFNUM R-9"
    assert (first.external_id, second.external_id) == ("F1", "F1~2")


def test_bad_amount_and_stray_close_tag(tmp_path: Path) -> None:
    path = tmp_path / "bad.ofx"
    path.write_text(OFX.format(amount="1.5.0"))
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert caught.value.place == "STMTRS 1/STMTTRN 1 (line 8)/TRNAMT"
    path.write_text(OFX.format(amount="1").replace("</BANKTRANLIST>", "</BANKTRANLIST></FOO>"))
    with pytest.raises(FeedFormatError, match="line 12: </FOO> closes nothing"):
        list(read_statement_file(path))
