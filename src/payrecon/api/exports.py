"""Spreadsheet answers at the API's edge: `?format=csv|xlsx` on the review queue, the statement
lines and a statement of account (`services.reconciliation.tabular` renders the rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request, Response

from payrecon.domain.errors import InvalidInput
from payrecon.services.reconciliation.tabular import to_csv, to_xlsx

FORMATS = ("csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_format(request: Request) -> str | None:
    """`csv` or `xlsx` when the request asks for a spreadsheet, None for JSON (or `json`)."""
    wanted = request.query_params.get("format")
    if wanted in (None, "json"):
        return None
    if wanted not in FORMATS:
        raise InvalidInput(
            f"format must be json, csv or xlsx, got {wanted!r}", details={"field": "format"}
        )
    return wanted


def export_response(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], wanted: str, *, name: str
) -> Response:
    if wanted == "csv":
        return Response(
            to_csv(rows, columns),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        to_xlsx(rows, columns, title=name),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
