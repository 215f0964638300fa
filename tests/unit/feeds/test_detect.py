"""Format detection from content, whatever the file is called."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds import FORMATS, detect_format, read_statement_file

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
if not FIXTURES.is_dir():
    raise RuntimeError(f"the conformance fixtures are missing: {FIXTURES}")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("camt/*camt.052*", {"camt.052"}),
        ("camt/FI_camt_052*", {"camt.052"}),
        ("camt/*053*", {"camt.053"}),
        ("camt/*054*", {"camt.054"}),
        ("bai2/sample*", {"bai2"}),
        ("ofx/*.ofx", {"ofx"}),
        ("mt940/jejik-*.sta", {"mt940"}),
    ],
)
def test_fixture_folders(pattern: str, expected: set[str]) -> None:
    paths = list(FIXTURES.glob(pattern))
    assert paths
    assert {detect_format(p) for p in paths} == expected


def test_content_not_name_decides(tmp_path: Path) -> None:
    disguised = tmp_path / "statement.csv"
    shutil.copy(FIXTURES / "camt" / "FI_camt_053_sample.xml.xml", disguised)
    assert detect_format(disguised) == "camt.053"
    sta = tmp_path / "export.xml"
    shutil.copy(FIXTURES / "mt940" / "jejik-generic.sta", sta)
    assert detect_format(sta) == "mt940"
    assert len(list(read_statement_file(sta))) == 2


def test_every_answer_is_a_known_format() -> None:
    answers = set()
    for path in FIXTURES.glob("*/*"):
        try:
            answers.add(detect_format(path))
        except FeedFormatError:
            continue
    assert answers <= set(FORMATS)
    assert answers == set(FORMATS) - {"csv"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.txt", ""),
        ("blank.txt", "\n\n   \n"),
        ("numbers.txt", "1\n2\n3\n"),
        ("event.json", '{"events": [{"id": "EV1", "action": "paid"}]}\n'),
        (
            "pain.xml",
            '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>',
        ),
        ("broken.xml", "<Document><Stmt>"),
        ("binary.bin", "\x00\x01\x02PK\x03\x04"),
    ],
)
def test_unrecognised(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FeedFormatError) as caught:
        detect_format(path)
    assert caught.value.file == name
    assert caught.value.place == "start of file"
    assert caught.value.problem.startswith("unrecognised format")
    with pytest.raises(FeedFormatError):
        read_statement_file(path)


def test_gocardless_json_is_not_a_bank_file() -> None:
    for path in (FIXTURES / "gocardless").glob("*.json"):
        with pytest.raises(FeedFormatError, match="unrecognised format"):
            detect_format(path)


def test_csv_by_header_and_by_shape(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text(
        "date,amount,currency,reference,counterparty_name,counterparty_account,remittance,account\n"
    )
    assert detect_format(header_only) == "csv"
    assert list(read_statement_file(header_only)) == []
    tabular = tmp_path / "t.txt"
    tabular.write_text("when;what\n2024-01-01;1,00\n")
    assert detect_format(tabular) == "csv"


def test_swift_variants(tmp_path: Path) -> None:
    path = tmp_path / "swift.txt"
    path.write_text("{1:F01BANKBEBBAXXX0000000000}{2:O9421200240102BANKBEBBAXXX}{4:\n:20:X\n-}")
    assert detect_format(path) == "mt942"
