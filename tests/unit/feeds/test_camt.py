"""camt.052/053/054: the conformance fixtures, the checks, and documents built to break them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from payrecon.feeds import read_statement_file, read_statements

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
if not (FIXTURES / "camt").is_dir():
    raise RuntimeError(f"the conformance fixtures are missing: {FIXTURES / 'camt'}")

# Worked out from the files: one line per TxDtls of each booked (Sts BOOK) entry, the entry itself
# when it has at most one TxDtls, credit positive, RvslInd inverting CdtDbtInd.
CAMT_FIXTURES = {
    "200519_camt.052_P_CH2909000000250094239_1110092686_0_2019042416072347.xml": (2, "-1016.00"),
    "200519_camt.054-Credit_P_CH2909000000250094239_1110092691_0_2019042421291293.xml": (
        1,
        "1500.00",
    ),
    "200519_camt.054-Debit_P_CH2909000000250094239_1110092692_0_2019042401501580.xml": (
        1,
        "-913.00",
    ),
    "200519_camt.054_P_CH2909000000250094239_1111091335_0_2020061900081727.xml": (2, "1692.22"),
    "200519_camt054-ESR-ASR_P_CH2909000000250094239_1110092704_0_2019042500372179.xml": (
        6,
        "1390.00",
    ),
    "200519_camt054-chdd_p_ch2909000000250094239_1110097484_0_20190520700381159.xml": (2, "4.50"),
    "200519_camt054-epo_p_ch5109000000250092291_1110097605_0_2019052003522556.xml": (3, "-750.00"),
    "200519_camt054-epo_p_ch5109000000250092291_1110097605_0_2019052103322231.xml": (3, "-750.00"),
    "200519_camt054-returns_p_ch2909000000250094239_1109800798_0_2019052023472022.xml": (
        1,
        "400.00",
    ),
    "200924_camt.054_P_CH2909000000250094239_1110092703_0_2019042423412214.xml": (6, "1500.00"),
    "200924_camt.054_P_CH2909000000250094239_1111091335_0_2020061900081727.xml": (2, "1692.22"),
    "FI_camt_052_sample.xml.xml": (1, "100.00"),
    "FI_camt_053_sample.xml.xml": (13, "13644.83"),
    "FI_camt_054_sample.xml.xml": (11, "269.95"),
    "camt.053_P_CH2909000000250094239_1110092698_0_2020112503071366.xml": (5, "4656.02"),
    "camt054-returns_p_ch5109000000250092291_1110097606_0_2020112500512470.xml": (1, "500.00"),
}


def test_every_camt_fixture_is_listed() -> None:
    on_disk = {p.name for p in (FIXTURES / "camt").glob("*.xml")}
    assert on_disk == set(CAMT_FIXTURES)


@pytest.mark.parametrize(("name", "expected"), sorted(CAMT_FIXTURES.items()))
def test_camt_fixture_lines_and_sum(name: str, expected: tuple[int, str]) -> None:
    lines = list(read_statement_file(FIXTURES / "camt" / name))
    assert len(lines) == expected[0]
    assert sum((line.amount for line in lines), Decimal(0)) == Decimal(expected[1])
    assert all(isinstance(line.amount, Decimal) for line in lines)
    assert len({(line.account, line.external_id) for line in lines}) == len(lines)


def test_finnish_camt053_fields_and_balances() -> None:
    path = FIXTURES / "camt" / "FI_camt_053_sample.xml.xml"
    lines = {line.external_id: line for line in read_statement_file(path)}
    batch = lines["091029ARCH03002"]
    assert batch.account == "FI7433010001222090"
    assert batch.amount == Decimal("-1000.01")
    assert batch.counterparty_name == "Creditor Company"
    assert batch.counterparty_account == "29501800020582"
    assert batch.remittance == "Invoices 123 and 321"
    assert batch.bank_transaction_code == "PMNT/ICDT/DMCT"
    assert lines["091029ARCH03001"].structured_reference == "3900"
    sct = lines["091029ACCTSTMTARCH08"]
    assert (sct.end_to_end_id, sct.structured_reference) == ("EndToEndIdSCT01", "RF98123456789012")
    assert sct.counterparty_name == "DEBTOR"
    assert str(sct.booking_date) == "2009-10-29"
    # Two TxDtls of one entry share the entry's reference; the second is kept apart, not lost.
    assert lines["091029ARCH09001~2"].amount == Decimal("-100.00")
    (header,) = read_statements(path)
    assert (header.opening_balance, header.closing_balance) == (
        Decimal("10000.00"),
        Decimal("23644.83"),
    )
    assert (header.format, header.statement_id, header.line_count) == (
        "camt.053",
        "BANKSTMTID0972009",
        13,
    )


def test_postfinance_camt053_reused_reference_and_forward_valued_entry() -> None:
    path = FIXTURES / "camt" / "camt.053_P_CH2909000000250094239_1110092698_0_2020112503071366.xml"
    ids = [line.external_id for line in read_statement_file(path)]
    assert ids[3:] == ["07582000303KBMSU", "07582000303KBMSU~2"]


def test_postfinance_returns_and_structured_references() -> None:
    path = (
        FIXTURES
        / "camt"
        / "camt054-returns_p_ch5109000000250092291_1110097606_0_2020112500512470.xml"
    )
    (line,) = read_statement_file(path)
    # PMNT/ICDT/RRTN, CRDT + RvslInd: our outgoing transfer came back, money in (ISO 20022).
    assert line.amount == Decimal("500.00")
    assert line.return_reason == "AC01"
    assert line.end_to_end_id == "EndToEndId-001-03-04"
    assert line.counterparty_name == "Robert Schneider SA"
    assert line.counterparty_account == "CH8709000000929471495"
    esr = (
        FIXTURES
        / "camt"
        / "200519_camt054-ESR-ASR_P_CH2909000000250094239_1110092704_0_2019042500372179.xml"
    )
    first = next(iter(read_statement_file(esr)))
    assert first.structured_reference == "120000000000234478943216899"
    assert first.external_id == "180315CH02ZX5RI3"


def test_pending_entry_is_not_a_line() -> None:
    path = FIXTURES / "camt" / "FI_camt_052_sample.xml.xml"
    headers = list(read_statements(path))
    assert [h.line_count for h in headers] == [0, 1]
