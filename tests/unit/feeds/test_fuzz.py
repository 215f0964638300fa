"""Fuzzing every bank-file reader: mutated real fixtures and generated structure.

Each reader may only read a file or refuse it with the documented error, `FeedFormatError`
naming the file and the place; any other exception is a bug. What it reads must fit the ledger
(amounts within NUMERIC(19,4), texts within their columns). Inputs stay small, so a reader that
hangs shows as a test that does not end. 2,000 cases a reader; seeds are the shared fixtures and
the issue-13 variants of that format.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import AMOUNT_DECIMALS, AMOUNT_INTEGER_DIGITS, TEXT_WIDTHS, StatementLine
from payrecon.feeds import read_feed
from payrecon.feeds.bai2 import read_bai2
from payrecon.feeds.camt import read_camt
from payrecon.feeds.csvprofile import read_csv
from payrecon.feeds.mt940 import read_mt940
from payrecon.feeds.ofx import read_ofx
from payrecon.feeds.statement import FeedStream

TESTS = Path(__file__).resolve().parents[2]
SHARED = TESTS.parent.parent / "shared" / "fixtures"
VARIANTS = TESTS / "fixtures" / "bank-variants"
# PAYRECON_FUZZ_CASES=50000 fuzzes deeper on a developer's machine; CI runs the 2,000.
EXAMPLES = int(os.environ.get("PAYRECON_FUZZ_CASES", "2000"))
LIMIT = Decimal(10) ** AMOUNT_INTEGER_DIGITS

CSV_SEEDS = [
    b"date,amount,currency,reference,counterparty_name,counterparty_account,remittance,account\n"
    b"2024-01-02,100.50,EUR,REF-1,ACME GmbH,DE89370400440532013000,INV-0001234,DE02120300000000202051\n"
    b'2024-01-03,-20,EUR,,Bank,,"fees, monthly",DE02120300000000202051\n',
    b"Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,"
    b"Debit Amount,Credit Amount,Balance\n"
    b"03/01/2024,DD,'30-94-57,12345678,BRITISH GAS,45.10,,1204.90\n"
    b"04/01/2024,FPI,'30-94-57,12345678,ACME INV-0001234,,250.00,1454.90\n",
    "Auftragskonto;Buchungstag;Valutadatum;Buchungstext;Verwendungszweck;Glaeubiger ID;"
    "Mandatsreferenz;Kundenreferenz (End-to-End);Sammlerreferenz;Lastschrift Ursprungsbetrag;"
    "Auslagenersatz Ruecklastschrift;Beguenstigter/Zahlungspflichtiger;Kontonummer/IBAN;"
    "BIC (SWIFT-Code);Betrag;Waehrung;Info\n"
    '"DE02120300000000202051";"02.01.24";"02.01.24";"GUTSCHR. UEBERW.";"RG-004711 Müller";"";'
    '"";"E2E-1";"";"";"";"Müller GmbH";"DE89370400440532013000";"COBADEFFXXX";"1.234,56";'
    '"EUR";"Umsatz gebucht"\n'.encode("cp1252"),
]


def seeds(folder: str, *patterns: str) -> list[bytes]:
    found = [p for pattern in patterns for p in sorted((SHARED / folder).glob(pattern))]
    found += [p for pattern in patterns for p in sorted(VARIANTS.glob(pattern))]
    return [p.read_bytes() for p in found if not p.name.startswith("LICENSE")]


_DIGITS = re.compile(rb"\d+")
_MUTATIONS = ("flip", "cut", "dup", "drop", "blowup", "insert", "swap")


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """`data` with one to four mutations (byte flips, cuts, duplicated, dropped or swapped
    lines, numbers blown up past the ledger's bounds, inserted bytes) and what they were."""
    out = bytearray(data)
    done: list[str] = []
    for _ in range(rng.randint(1, 4)):
        if not out:
            break
        kind, at = rng.choice(_MUTATIONS), rng.randrange(len(out))
        if kind == "flip":
            out[at] = rng.randrange(256)
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = rng.randbytes(rng.randint(1, 12))
        elif kind == "blowup":
            runs = list(_DIGITS.finditer(out))
            if runs:
                run_ = rng.choice(runs)
                tail = rng.choice([b"", b".", b",", b"." + b"7" * 100, b",5"])
                out[run_.start() : run_.end()] = b"9" * rng.randint(16, 120) + tail
                at = run_.start()
        else:
            lines = bytes(out).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == "dup":
                lines[i:i] = lines[i : i + rng.randint(1, 3)]
            elif kind == "drop":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            out, at = bytearray(b"\n".join(lines)), i
        done.append(f"{kind}@{at}")
    return bytes(out), done


def fits_the_ledger(line: StatementLine) -> None:
    assert -LIMIT < line.amount < LIMIT
    assert line.amount == line.amount.quantize(Decimal(1).scaleb(-AMOUNT_DECIMALS))
    for field, width in TEXT_WIDTHS.items():
        value = getattr(line, field)
        assert value is None or len(value) <= width, (field, value)
    assert len(line.currency) == 3
    assert line.currency.isalpha()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "fuzzed.dat"


def run(reader: Callable[[Path], FeedStream], path: Path, data: bytes) -> None:
    """Read `data`: every line must fit the ledger, and only the documented error may stop it."""
    path.write_bytes(data)
    refused: FeedFormatError | None = None
    try:
        for item in reader(path):
            if isinstance(item, StatementLine):
                fits_the_ledger(item)
    except FeedFormatError as exc:
        refused = exc
    if refused is not None:
        assert refused.file == path.name
        assert refused.place
        assert refused.problem


CAMT = seeds("camt", "*.xml")
MT940 = seeds("mt940", "*.sta")
BAI2 = seeds("bai2", "sample*", "*.bai")
OFX = seeds("ofx", "*.ofx")
READERS: dict[str, tuple[Callable[[Path, bool], FeedStream], list[bytes]]] = {
    "camt": (lambda p, v: read_camt(p, verify=v), CAMT),
    "mt940": (lambda p, v: read_mt940(p, verify=v), MT940),
    "bai2": (lambda p, v: read_bai2(p, verify=v), BAI2),
    "ofx": (lambda p, v: read_ofx(p, verify=v), OFX),
    "csv": (lambda p, v: read_csv(p, verify=v), CSV_SEEDS),
    "detection": (
        lambda p, v: read_feed(p, verify=v),
        [s[:4096] for s in (*CAMT[:4], *MT940[:8], *BAI2[:3], *OFX[:4], *CSV_SEEDS)],
    ),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_mutated_fixtures(scratch: Path, name: str) -> None:
    """A seeded loop (the same cases on every run, so a failure can be replayed by its number)."""
    reader, corpus = READERS[name]
    rng = random.Random(f"payrecon-fuzz-{name}-{os.environ.get('PAYRECON_FUZZ_SEED', '')}")
    for case in range(EXAMPLES):
        seed = rng.randrange(len(corpus))
        data, done = mutate(corpus[seed], rng)
        verify = case % 2 == 0
        try:
            run(lambda p, verify=verify: reader(p, verify), scratch, data)  # type: ignore[misc]
        except Exception as exc:
            raise AssertionError(f"{name} case {case}: seed {seed}, {done}") from exc


# Generated structure: statements built from random field values, read through detection.
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_NUMBER = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: f"{d:f}"),
    st.from_regex(r"[0-9]{1,20}[.,][0-9]{0,8}", fullmatch=True),
    _TEXT,
)
_DATE = st.one_of(
    st.dates().map(lambda d: d.isoformat()), st.from_regex(r"[0-9]{6,8}", fullmatch=True), _TEXT
)


def _xml(text: str) -> str:
    return "".join(c for c in escape(text) if c.isprintable() or c in "\t\n")


@st.composite
def camt_documents(draw: st.DrawFn) -> bytes:
    entries = ""
    for _ in range(draw(st.integers(0, 3))):
        details = "".join(
            f"<TxDtls><Refs><EndToEndId>{_xml(draw(_TEXT))}</EndToEndId></Refs>"
            f'<Amt Ccy="{_xml(draw(_TEXT))}">{_xml(draw(_NUMBER))}</Amt>'
            f"<RltdPties><Dbtr><Nm>{_xml(draw(_TEXT))}</Nm></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>{_xml(draw(_TEXT))}</Ustrd></RmtInf></TxDtls>"
            for _ in range(draw(st.integers(0, 3)))
        )
        status = draw(st.sampled_from(["BOOK", "PDNG", "INFO", ""]))
        entries += (
            f'<Ntry><Amt Ccy="{_xml(draw(_TEXT))}">{_xml(draw(_NUMBER))}</Amt>'
            f"<CdtDbtInd>{draw(st.sampled_from(['CRDT', 'DBIT', 'X']))}</CdtDbtInd>"
            f"<Sts>{status}</Sts><BookgDt><Dt>{_xml(draw(_DATE))}</Dt></BookgDt>"
            f"<AcctSvcrRef>{_xml(draw(_TEXT))}</AcctSvcrRef>"
            f"<NtryDtls>{details}</NtryDtls></Ntry>"
        )
    version = draw(st.sampled_from(["01", "02", "04", "08"]))
    return (
        f'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr><Stmt><Id>{_xml(draw(_TEXT))}</Id>"
        f"<Acct><Id><IBAN>{_xml(draw(_TEXT))}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


@st.composite
def mt940_statements(draw: st.DrawFn) -> bytes:
    text = st.text(st.characters(min_codepoint=32, max_codepoint=0x17F), max_size=80)
    lines = [":20:" + draw(text), ":25:" + draw(text), ":60F:C240101EUR" + draw(_NUMBER)]
    for _ in range(draw(st.integers(0, 4))):
        lines.append(f":61:{draw(st.from_regex(r'[0-9]{6,10}', fullmatch=True))}"
                     f"{draw(st.sampled_from(['C', 'D', 'RC', 'RD', 'X']))}{draw(_NUMBER)}"
                     f"NTRF{draw(text)}")  # fmt: skip
        lines.append(":86:" + draw(text).replace("\n", " "))
        lines += [draw(text) for _ in range(draw(st.integers(0, 3)))]
    lines += [":62F:C240101EUR" + draw(_NUMBER), draw(st.sampled_from(["-", "", ":61:1"]))]
    return "\n".join(lines).encode("utf-8", "replace")


@st.composite
def bai2_files(draw: st.DrawFn) -> bytes:
    field = st.from_regex(r"[0-9A-Z+\- ]{0,12}", fullmatch=True)
    records = ["01,S,R,240102,0800,1,,,2/", f"02,R,S,1,{draw(field)},,{draw(field)},2/"]
    records.append("03," + ",".join(draw(field) for _ in range(draw(st.integers(1, 12)))) + "/")
    for _ in range(draw(st.integers(0, 4))):
        code = draw(st.sampled_from(["16", "88", "49", "03", "98"]))
        records.append(
            code
            + ","
            + ",".join(draw(field) for _ in range(draw(st.integers(0, 8))))
            + draw(st.sampled_from(["/", ""]))
        )
    records += ["49,0,2/", "98,0,1,4/", "99,0,1,6/"]
    return "\n".join(records).encode()


@st.composite
def ofx_files(draw: st.DrawFn) -> bytes:
    value = st.text(
        st.characters(min_codepoint=32, max_codepoint=0x7E, exclude_characters="<>"), max_size=30
    )
    body = "".join(
        f"<STMTTRN><TRNTYPE>{draw(value)}<DTPOSTED>{draw(value)}<TRNAMT>{draw(_NUMBER).replace('<', '')}"
        f"<FITID>{draw(value)}<NAME>{draw(value)}</STMTTRN>"
        for _ in range(draw(st.integers(0, 3)))
    )
    status = f"<STATUS><CODE>{draw(value)}<SEVERITY>{draw(value)}</STATUS>"
    return (
        "OFXHEADER:100\n\n<OFX><BANKMSGSRSV1><STMTTRNRS>"
        f"{status}<STMTRS><CURDEF>{draw(value)}<BANKACCTFROM><ACCTID>{draw(value)}</BANKACCTFROM>"
        f"<BANKTRANLIST>{body}</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    ).encode("utf-8", "replace")


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    cell = st.text(st.characters(min_codepoint=32, max_codepoint=0x17F), max_size=20)
    rows = [
        ",".join(['"' + draw(cell).replace('"', '""') + '"' for _ in range(8)])
        for _ in range(draw(st.integers(0, 4)))
    ]
    return ("\n".join([CSV_SEEDS[0].decode().splitlines()[0], *rows]) + "\n").encode()


@settings(
    max_examples=max(150, EXAMPLES // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.one_of(camt_documents(), mt940_statements(), bai2_files(), ofx_files(), csv_files()),
    verify=st.booleans(),
)
def test_generated_statements(scratch: Path, data: bytes, verify: bool) -> None:
    run(lambda p: read_feed(p, verify=verify), scratch, data)
