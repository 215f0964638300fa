"""camt checks on documents built for the purpose: balances, batches, reversals, versions."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds import read_statement_file, read_statements

IBAN = "DE02120300000000202051"


def _amount(signed: str) -> str:
    value = Decimal(signed)
    return (
        f'<Amt Ccy="EUR">{abs(value)}</Amt><CdtDbtInd>{"DBIT" if value < 0 else "CRDT"}</CdtDbtInd>'
    )


def balance(code: str, signed: str) -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amount(signed)}"
        "<Dt><Dt>2024-01-02</Dt></Dt></Bal>"
    )


def detail(amount: str | None = None, *, ref: str = "", e2e: str = "", version: str = "04") -> str:
    refs = f"<Refs><AcctSvcrRef>{ref}</AcctSvcrRef></Refs>" if ref else ""
    if e2e:
        refs = f"<Refs><EndToEndId>{e2e}</EndToEndId></Refs>"
    if amount is None:
        money = ""
    elif version == "02":
        money = f'<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>'
    else:
        money = f'<Amt Ccy="EUR">{amount}</Amt>'
    return f"<TxDtls>{refs}{money}<RmtInf><Ustrd>INV-{ref or e2e}</Ustrd></RmtInf></TxDtls>"


def entry(
    signed: str,
    *,
    ref: str = "",
    details: str = "",
    batch: int | None = None,
    reversal: bool = False,
    status: str = "<Sts>BOOK</Sts>",
) -> str:
    btch = f"<Btch><NbOfTxs>{batch}</NbOfTxs></Btch>" if batch is not None else ""
    dtls = f"<NtryDtls>{btch}{details}</NtryDtls>" if details or btch else ""
    return (
        f"<Ntry>{_amount(signed)}{'<RvslInd>true</RvslInd>' if reversal else ''}{status}"
        "<BookgDt><Dt>2024-01-02</Dt></BookgDt><ValDt><Dt>2024-01-02</Dt></ValDt>"
        f"{f'<AcctSvcrRef>{ref}</AcctSvcrRef>' if ref else ''}{dtls}</Ntry>"
    )


def camt053(
    entries: str,
    *,
    opening: str | None = "0",
    closing: str | None = "0",
    version: str = "04",
    kind: str = "053",
) -> bytes:
    balances = (balance("OPBD", opening) if opening else "") + (
        balance("CLBD", closing) if closing else ""
    )
    outer, inner = {
        "052": ("BkToCstmrAcctRpt", "Rpt"),
        "053": ("BkToCstmrStmt", "Stmt"),
        "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
    }[kind]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.{version}">'
        f"<{outer}><GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-02T06:00:00</CreDtTm></GrpHdr>"
        f"<{inner}><Id>S1</Id><CreDtTm>2024-01-02T06:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{balances}{entries}</{inner}></{outer}></Document>"
    ).encode()


def write(tmp_path: Path, content: bytes, name: str = "statement.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_balanced_statement_is_read(tmp_path: Path) -> None:
    doc = camt053(entry("10.00", ref="A") + entry("-2.50", ref="B"), opening="5", closing="12.50")
    lines = list(read_statement_file(write(tmp_path, doc)))
    assert [(line.external_id, line.amount) for line in lines] == [
        ("A", Decimal("10.00")),
        ("B", Decimal("-2.50")),
    ]
    assert all(line.account == IBAN and line.currency == "EUR" for line in lines)


def test_balance_mismatch_rejected_unless_verify_is_off(tmp_path: Path) -> None:
    path = write(tmp_path, camt053(entry("10.00", ref="A"), opening="5", closing="15.01"))
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert "statement.xml" in str(caught.value)
    assert "Stmt[1]" in caught.value.place
    assert "15.01" in caught.value.problem
    assert [line.amount for line in read_statement_file(path, verify=False)] == [Decimal("10.00")]


def test_batch_details_must_sum_to_the_entry(tmp_path: Path) -> None:
    details = detail("6.00", ref="D1") + detail("3.00", ref="D2")
    path = write(tmp_path, camt053(entry("10.00", ref="E", details=details), closing="10.00"))
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert "Ntry[1]" in caught.value.place
    assert "sum of TxDtls" in caught.value.problem
    lines = list(read_statement_file(path, verify=False))
    assert [line.amount for line in lines] == [Decimal("6.00"), Decimal("3.00")]


def test_batch_count_must_match_nboftxs(tmp_path: Path) -> None:
    details = detail("6.00", ref="D1") + detail("4.00", ref="D2")
    doc = camt053(entry("10.00", details=details, batch=3), closing="10.00")
    path = write(tmp_path, doc)
    with pytest.raises(FeedFormatError, match="NbOfTxs"):
        list(read_statement_file(path))
    assert len(list(read_statement_file(path, verify=False))) == 2


def test_batch_lines_take_the_entry_sign_and_version_02_amounts(tmp_path: Path) -> None:
    details = detail("6.00", ref="D1", version="02") + detail("4.00", version="02")
    doc = camt053(
        entry("-10.00", ref="E", details=details, batch=2), closing="-10.00", version="02"
    )
    lines = list(read_statement_file(write(tmp_path, doc)))
    assert [(line.external_id, line.amount) for line in lines] == [
        ("D1", Decimal("-6.00")),
        ("E", Decimal("-4.00")),
    ]
    assert lines[0].remittance == "INV-D1"


def test_details_without_amounts_are_read_as_one_line(tmp_path: Path) -> None:
    # Issue 13, item 2: the entry is one line; the details' texts and references are its evidence.
    doc = camt053(
        entry("10.00", ref="E", details=detail(ref="X") + detail(ref="Y")), closing="10.00"
    )
    for verify in (True, False):
        (line,) = read_statement_file(write(tmp_path, doc), verify=verify)
        assert (line.external_id, line.amount) == ("E", Decimal("10.00"))
        assert line.remittance == "INV-X INV-Y"


def test_reversal_is_booked_in_the_direction_of_its_indicator(tmp_path: Path) -> None:
    # ISO 20022: CRDT + RvslInd undoes a debit (money comes back); DBIT + RvslInd undoes a credit.
    doc = camt053(entry("25.00", ref="R", reversal=True), opening="100", closing="125.00")
    (line,) = read_statement_file(write(tmp_path, doc))
    assert line.amount == Decimal("25.00")
    doc = camt053(entry("-25.00", ref="R", reversal=True), opening="100", closing="75.00")
    (line,) = read_statement_file(write(tmp_path, doc))
    assert line.amount == Decimal("-25.00")


def test_pending_entries_are_skipped_and_status_code_of_version_08(tmp_path: Path) -> None:
    entries = entry("5.00", ref="P", status="<Sts><Cd>PDNG</Cd></Sts>") + entry(
        "7.00", ref="B", status="<Sts><Cd>BOOK</Cd></Sts>"
    )
    doc = camt053(entries, closing="7.00", version="08")
    assert [line.external_id for line in read_statement_file(write(tmp_path, doc))] == ["B"]


def test_reference_fallbacks(tmp_path: Path) -> None:
    details = detail("1.00", e2e="E2E-1") + detail("1.00", e2e="NOTPROVIDED")
    entries = entry("2.00", details=details) + entry("1.00") + entry("1.00")
    lines = list(read_statement_file(write(tmp_path, camt053(entries, closing="4.00"))))
    assert lines[0].external_id == "E2E-1"
    assert lines[1].end_to_end_id is None
    hashed = [line.external_id for line in lines[1:]]
    assert all(h.startswith("H") for h in hashed)
    # Identical entries on one day are two transactions: their position keeps them apart.
    assert len(set(hashed)) == 3


def test_camt052_and_054_without_closing_balance(tmp_path: Path) -> None:
    for kind in ("052", "054"):
        doc = camt053(entry("3.00", ref="K"), opening=None, closing=None, kind=kind)
        (header,) = read_statements(write(tmp_path, doc, f"{kind}.xml"))
        assert (header.format, header.line_count, header.total) == (
            f"camt.{kind}",
            1,
            Decimal("3.00"),
        )


def test_bad_amount_names_the_place(tmp_path: Path) -> None:
    doc = camt053(entry("1.00", ref="A").replace(">1.00<", ">1,00<"), closing="1.00")
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(write(tmp_path, doc)))
    assert caught.value.place.startswith("Stmt[1] Id S1/Ntry[1] (line ")
    assert caught.value.place.endswith("/Amt")


def test_unknown_namespace_is_refused(tmp_path: Path) -> None:
    doc = camt053(entry("1.00")).replace(b"camt.053.001.04", b"pain.001.001.03")
    with pytest.raises(FeedFormatError, match="unrecognised format"):
        read_statement_file(write(tmp_path, doc))


amounts = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2),
        st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(amounts, st.sampled_from(["02", "04", "08"]))
def test_parsed_sum_equals_generated_sum(rows: list[tuple[Decimal, bool]], version: str) -> None:
    signed = [amount if credit else -amount for amount, credit in rows]
    total = sum(signed, Decimal(0))
    entries = "".join(entry(str(value), ref=f"R{n}") for n, value in enumerate(signed))
    doc = camt053(
        entries, opening="1000.00", closing=str(Decimal("1000.00") + total), version=version
    )
    with tempfile.TemporaryDirectory() as folder:
        lines = list(read_statement_file(write(Path(folder), doc)))
    assert len(lines) == len(rows)
    assert sum((line.amount for line in lines), Decimal(0)) == total
