"""CSV that a spreadsheet opens as data, never as formulas (OWASP, "CSV Injection").

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets; a bank reference or a payer's name is text the bank's customer
chose. So every text cell that begins with one of those is prefixed with a single quote, which a
spreadsheet shows as text and does not evaluate. A plain number (`-12.50`, `+3`) is left alone,
so signed amounts stay numbers. The csv module quotes cells with separators and doubles quotes.

Every CSV payrecon writes goes through `SpreadsheetSafeWriter` (or `spreadsheet_safe` per cell,
for a writer that must build its rows itself); an export added later must do the same, and so
must an xlsx writer (openpyxl stores a string that begins with `=` as a formula).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def spreadsheet_safe(cell: object) -> str:
    """The cell as text that no spreadsheet evaluates (see the module docstring)."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SpreadsheetSafeWriter:
    """`csv.writer` whose every cell passes through `spreadsheet_safe`."""

    def __init__(self, out: TextIO, **options: Any) -> None:
        options.setdefault("lineterminator", "\n")
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([spreadsheet_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
