"""benchmarks/imports.py at a CI scale: the counts and sums come out right (never a time)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from benchmarks.imports import run


def test_the_import_benchmark_loads_and_recomputes_what_it_generated(tmp_path: Path) -> None:
    result = run(customers=500, invoices=3000, folder=tmp_path)
    check = result["check"]
    assert (check["customers"], check["invoices"], check["invoice_keys"]) == (500, 3000, 3000)
    assert (result["import_customers_created"], result["import_invoices_created"]) == (500, 3000)
    assert result["reimport_invoices_created"] == 0
    assert (check["balances"], check["credit_status"]) == (500, 500)
    assert Decimal(check["invoiced"]) == Decimal(check["expected_invoiced"])
    assert Decimal(check["payments_sum"]) == Decimal(check["expected_paid"])
    # No credit notes, adjustments or refunds: what is owed is what was invoiced and not paid.
    assert Decimal(check["balance_sum"]) == Decimal(check["expected_paid"]) - Decimal(
        check["expected_invoiced"]
    )
    assert result["payments_loaded"] == 1500
    assert result["bare_copy_invoices_seconds"] > 0
