"""Hostile or broken XML is refused quickly, without entity expansion or external fetches."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds import detect_format, read_statement_file

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"

BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="{NS}"><BkToCstmrStmt><Stmt><Id>&lol9;</Id></Stmt></BkToCstmrStmt></Document>
"""

XXE = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="{NS}"><BkToCstmrStmt><Stmt><Id>&secret;</Id>
<Acct><Id><IBAN>FI7433010001222090</IBAN></Id></Acct></Stmt></BkToCstmrStmt></Document>
"""

PLAIN_DOCTYPE = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- a harmless-looking comment first -->
<!DOCTYPE Document SYSTEM "camt.053.001.02.dtd">
<Document xmlns="{NS}"><BkToCstmrStmt/></Document>
"""

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
if not (FIXTURES / "camt").is_dir():
    raise RuntimeError(f"the conformance fixtures are missing: {FIXTURES / 'camt'}")


@pytest.mark.parametrize(
    ("name", "content"),
    [("lolz.xml", BILLION_LAUGHS), ("xxe.xml", XXE), ("doctype.xml", PLAIN_DOCTYPE)],
)
def test_doctype_is_refused_fast(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    started = time.monotonic()
    for attempt in (detect_format, lambda p: list(read_statement_file(p))):
        with pytest.raises(FeedFormatError) as caught:
            attempt(path)
        assert caught.value.file == name
        assert caught.value.place == "XML prolog"
        assert "DOCTYPE" in caught.value.problem
        assert "root:" not in str(caught.value)
    assert time.monotonic() - started < 5


def test_camt_reader_refuses_doctype_on_its_own(tmp_path: Path) -> None:
    from payrecon.feeds.camt import read_camt

    path = tmp_path / "xxe.xml"
    path.write_text(XXE)
    with pytest.raises(FeedFormatError, match="DOCTYPE"):
        list(read_camt(path))


def test_truncated_camt_is_refused_with_its_line(tmp_path: Path) -> None:
    source = (FIXTURES / "camt" / "FI_camt_053_sample.xml.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(source[: len(source) * 2 // 3])
    started = time.monotonic()
    with pytest.raises(FeedFormatError) as caught:
        list(read_statement_file(path))
    assert caught.value.file == "cut.xml"
    assert caught.value.place.startswith("line ")
    assert "not well-formed" in caught.value.problem
    assert time.monotonic() - started < 5


def test_text_before_the_root_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.xml"
    path.write_text("<?xml version='1.0'?> junk <Document/>")
    with pytest.raises(FeedFormatError, match="not an XML document"):
        list(read_statement_file(path))


def test_utf16_without_byte_order_mark_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "utf16.xml"
    path.write_bytes(XXE.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"))
    with pytest.raises(FeedFormatError, match="DOCTYPE"):
        list(read_statement_file(path))


def test_parser_refuses_a_doctype_that_got_past_the_prolog_check() -> None:
    from io import BytesIO

    from payrecon.feeds.camt import _CamtReader, _iterparse, _walk

    reader = _CamtReader(Path("inner.xml"), verify=True)
    with pytest.raises(FeedFormatError) as caught:
        list(_walk(reader, _iterparse(BytesIO(XXE.encode()))))
    assert (caught.value.place, caught.value.problem) == (
        "XML prolog",
        "DOCTYPE declarations are refused",
    )
