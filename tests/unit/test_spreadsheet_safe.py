"""OWASP's CSV-injection rule: a text cell that a spreadsheet would evaluate gets a leading quote;
signed amounts stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from payrecon.services.spreadsheet import SpreadsheetSafeWriter, spreadsheet_safe


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.test","x")', '\'=HYPERLINK("http://evil.test","x")'),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-", "'-"),
        ("-12.50", "-12.50"),
        ("+3", "+3"),
        ("-.5", "-.5"),
        ("12.50", "12.50"),
        ("BR-0001", "BR-0001"),
        ("Bowman & Co", "Bowman & Co"),
        (" =1+1", " =1+1"),
        ("", ""),
        (None, ""),
    ],
)
def test_cells(cell: object, written: str) -> None:
    assert spreadsheet_safe(cell) == written


def test_the_writer_escapes_every_cell_and_still_quotes() -> None:
    out = io.StringIO()
    SpreadsheetSafeWriter(out).writerows([["=1+1", "-7.25", 'a,"b"'], ["@x", "ok", None]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["'=1+1", "-7.25", 'a,"b"'],
        ["'@x", "ok", ""],
    ]
