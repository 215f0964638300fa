"""Rows rendered as CSV or XLSX for a person's spreadsheet: the review-queue export, the
statement of account. The services return rows as data; the API and the CLI call these at the
edge.

Text that a spreadsheet would run as a formula (a cell starting with `=`, `+`, `-`, `@`, a tab
or a carriage return) gets a leading `'` (OWASP "CSV injection"); numbers stay numbers:
decimals are written with their exact digits, in XLSX as numeric cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from payrecon.domain.money import money_text

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return escape_formula(str(value))


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header line of `columns`, then one line per row (missing keys are empty cells)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row.get(c)) for c in columns])
    return out.getvalue()


def to_xlsx(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, title: str) -> bytes:
    """One sheet named `title`: a header row, then the rows; decimals and integers are numeric
    cells (exact: written from their digits), dates are dates, text is escaped."""
    from openpyxl import Workbook  # imported here: only exports need it

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | Decimal):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value  # Excel has no zones
    if isinstance(value, date):
        return value
    return escape_formula(str(value))
