"""Rows the hot path turns into domain objects by position: their columns are the objects'
fields in order, so a column added to one and not the other fails here, not in a reconcile."""

from __future__ import annotations

from dataclasses import fields

from payrecon.domain.allocation import OpenInvoice
from payrecon.store.ledger_reads import _COLUMNS, _open_invoice


def test_open_invoice_columns_are_its_fields_in_order() -> None:
    names = [c.name.replace("invoice_number", "number") for c in _COLUMNS]
    assert names == [f.name for f in fields(OpenInvoice)]
    row = tuple(range(len(names)))
    assert [getattr(_open_invoice(row), n) for n in names] == list(row)
