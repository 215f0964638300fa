"""What the ledger cannot hold is refused (or cut, or kept elsewhere) at parse time, in every
format, naming the file and the place: `parse` and `ingest` agree."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Numeric, String

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import AMOUNT_DECIMALS, AMOUNT_INTEGER_DIGITS, TEXT_WIDTHS
from payrecon.feeds import FeedNotice, read_feed, read_statement_file
from payrecon.store import tables as t

BIG = "1" * 40
LONG_FRACTION = "1." + "5" * 100
IBAN = "DE02120300000000202051"


def test_the_bounds_are_the_store_columns() -> None:
    columns = t.statement_lines.c
    for field, width in TEXT_WIDTHS.items():
        column_type = columns[field].type
        assert isinstance(column_type, String)
        assert column_type.length == width, field
    amount = columns["amount"].type.load_dialect_impl(_postgres())
    assert isinstance(amount, Numeric)
    assert (amount.precision, amount.scale) == (AMOUNT_INTEGER_DIGITS + AMOUNT_DECIMALS, 4)


def _postgres() -> object:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()


def camt(amount: str, *, ref: str = "R1", name: str = "ACME", e2e: str = "E1") -> str:
    return (
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04">'
        "<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr><Stmt><Id>S</Id>"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2024-01-02</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>"
        f"<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties>"
        "<RmtInf><Ustrd>INV-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        "</Stmt></BkToCstmrStmt></Document>"
    )


def mt940(amount: str) -> str:
    return (
        f":20:S\n:25:{IBAN}\n:60F:C240101EUR0,00\n"
        f":61:2401020102C{amount.replace('.', ',')}NTRFNONREF//B1\n:86:INV-1\n-\n"
    )


def bai2(amount: str) -> str:
    return (
        "01,S,R,240102,0800,1,,,2/\n02,R,S,1,240102,,USD,2/\n03,ACC1,,010,0,,/\n"
        f"16,195,{amount},,BANKREF1,,WIRE/\n49,0,3/\n98,0,1,5/\n99,0,1,7/\n"
    )


def ofx(amount: str) -> str:
    return (
        "OFXHEADER:100\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD"
        "<BANKACCTFROM><ACCTID>4455</BANKACCTFROM><BANKTRANLIST>"
        f"<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240102<TRNAMT>{amount}<FITID>F1</STMTTRN>"
        "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )


def csv(amount: str) -> str:
    return (
        "date,amount,currency,reference,counterparty_name,counterparty_account,remittance,account\n"
        f"2024-01-02,{amount},EUR,REF-1,ACME,,INV-1,{IBAN}\n"
    )


@pytest.mark.parametrize(
    ("maker", "name", "amount", "place"),
    [
        (camt, "a.xml", "1" * 16 + ".00", "Stmt[1] Id S/Ntry[1] (line 1)/Amt"),
        (camt, "a.xml", "1.55555", "Stmt[1] Id S/Ntry[1] (line 1)/Amt"),
        (mt940, "a.sta", BIG + ".00", "line 4 (:61:)"),
        (mt940, "a.sta", LONG_FRACTION, "line 4 (:61:)"),
        (bai2, "a.bai", BIG, "line 4 (record 16)"),
        (ofx, "a.ofx", BIG + ".00", "STMTRS 1/STMTTRN 1 (line 3)/TRNAMT"),
        (ofx, "a.ofx", "1" * 100, "STMTRS 1/STMTTRN 1 (line 3)/TRNAMT"),
        (ofx, "a.ofx", LONG_FRACTION, "STMTRS 1/STMTTRN 1 (line 3)/TRNAMT"),
        (csv, "a.csv", BIG, "line 2, column 'amount'"),
        (csv, "a.csv", LONG_FRACTION, "line 2, column 'amount'"),
    ],
)
def test_amounts_beyond_the_ledger_are_refused(
    tmp_path: Path, maker: object, name: str, amount: str, place: str
) -> None:
    path = tmp_path / name
    path.write_text(maker(amount))  # type: ignore[operator]
    for verify in (True, False):
        with pytest.raises(FeedFormatError) as caught:
            list(read_statement_file(path, verify=verify))
        assert (caught.value.file, caught.value.place) == (name, place)
        assert "the ledger keeps 15 integer digits and 4 decimals" in caught.value.problem


def test_trailing_zeros_are_not_decimals(tmp_path: Path) -> None:
    path = tmp_path / "z.xml"
    path.write_text(camt("999999999999999.00000"))
    (line,) = read_statement_file(path)
    assert line.amount == Decimal("999999999999999")


def test_an_over_long_reference_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(camt("1.00", ref="R" * 129))
    with pytest.raises(FeedFormatError, match="bank reference of 129 characters: at most 128"):
        list(read_statement_file(path))


def test_an_over_long_account_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(csv("1.00").replace(IBAN, "X" * 65))
    with pytest.raises(FeedFormatError, match="account id is 65 characters; at most 64"):
        list(read_statement_file(path))


def test_a_long_name_is_cut_and_a_long_identifier_kept_in_the_remittance(tmp_path: Path) -> None:
    path = tmp_path / "n.xml"
    path.write_text(camt("1.00", name="N" * 300, e2e="E" * 130))
    items = list(read_feed(path))
    (line,) = [i for i in items if not isinstance(i, FeedNotice) and hasattr(i, "amount")]
    assert line.counterparty_name == "N" * 255
    assert line.end_to_end_id is None
    assert line.remittance == "INV-1 " + "E" * 130
    notices = [str(i) for i in items if isinstance(i, FeedNotice)]
    assert notices == [
        "n.xml: Stmt[1] Id S/Ntry[1] (line 1): counterparty name of 300 characters cut to 255",
        "n.xml: Stmt[1] Id S/Ntry[1] (line 1): end_to_end_id of 130 characters (at most 128) "
        "kept in the remittance text instead",
    ]


def test_a_currency_that_is_not_iso_4217_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_text(camt("1.00").replace('Ccy="EUR">1.00', 'Ccy="EURO">1.00'))
    with pytest.raises(FeedFormatError, match="not an ISO 4217 currency code: 'EURO'"):
        list(read_statement_file(path))
