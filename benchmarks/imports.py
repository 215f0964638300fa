"""Import and recompute at the scale of issue 11: 200,000 customers and 1,000,000 invoices.

    .venv/bin/python -m benchmarks.imports                                  # 200k / 1M
    .venv/bin/python -m benchmarks.imports --customers 20000 --invoices 100000 --json out.json

Generates the three CSVs (contract owners, customers, invoices; the column contracts of DESIGN.md)
line by line with f-strings, on a fresh PostgreSQL database of its own imports them through the
services (`import_contract_owners`, `import_customers`, `import_invoices`, timed one by one), then
loads one active payment for every other invoice by a bare INSERT ... SELECT (not timed, so the
recompute has payments to sum) and times the balance and credit-status recompute of every
customer (`recompute_customers(conn, None, ...)`, one transaction) twice: first, when every
customer's credit status is new, and again over the same rows (the steady state). The import is
then run a second time over the same files (re-import: nothing added, every row compared).

Same-run baselines: a bare COPY of the same invoice and customer rows (already parsed, straight
from the CSV's cells) into an empty copy of the table with its indexes (`CREATE TABLE ... (LIKE
... INCLUDING ALL)`), one transaction each; "x COPY" is the import's seconds over the bare
COPY's. `tests/integration/test_imports_benchmark.py` runs it at a few thousand rows and checks
the counts and sums, never a time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from tests.services import pg_url, scratch_database

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.store.db import make_engine, upgrade_schema

OWNERS = 4
CURRENCY = "GBP"
INVOICE_COLUMNS = ["invoice_id", "invoice_number", "customer_id", "kind", "issue_date", "due_date",
                   "currency", "total"]  # fmt: skip
INVOICE_TARGETS = ["external_id", "invoice_number", "customer_id", "kind", "issue_date", "due_date",
                   "currency", "total"]  # fmt: skip
CUSTOMER_COLUMNS = ["customer_id", "name", "contract_owner_id", "currency", "credit_threshold",
                    "account_number"]  # fmt: skip
CUSTOMER_TARGETS = ["external_id", "name", "contract_owner_id", "currency", "credit_threshold",
                    "account_number"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Truth:
    """What the generated files add up to, for the correctness check."""

    customers: int
    invoices: int
    invoiced: Decimal
    paid: Decimal


def write_files(folder: Path, customers: int, invoices: int) -> Truth:
    """The three CSVs in `folder`; invoices spread round-robin over the customers."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contract_owners.csv").open("w", encoding="utf-8") as out:
        out.write("contract_owner_id,name,price_rounding_mode,price_decimal_places\n")
        out.writelines(f"{o},Owner {o} Ltd,HALF_UP,2\n" for o in range(1, OWNERS + 1))
    with (folder / "customers.csv").open("w", encoding="utf-8") as out:
        out.write(
            "customer_id,name,contract_owner_id,currency,credit_threshold,account_number,iban,"
            "mandate_id\n"
        )
        out.writelines(
            f"C{c:07d},Customer {c} Ltd,{c % OWNERS + 1},{CURRENCY},{(c % 5) * 250}.00,"
            f"AC{c:08d},,{f'MD{c:07d}' if c % 3 == 0 else ''}\n"
            for c in range(1, customers + 1)
        )
    day0 = date(2026, 1, 1)
    dates = [(day0 + timedelta(days=d)).isoformat() for d in range(400)]
    invoiced = 0  # in pence
    paid = 0
    with (folder / "invoices.csv").open("w", encoding="utf-8") as out:
        out.write("invoice_id,invoice_number,customer_id,kind,issue_date,due_date,currency,total\n")
        lines = []
        for i in range(1, invoices + 1):
            pence = 1000 + (i * 7919) % 90000
            invoiced += pence
            if i % 2 == 0:
                paid += pence
            day = i % 365
            lines.append(
                f"I{i:08d},INV-{i:08d},C{(i - 1) % customers + 1:07d},"
                f"{'adhoc' if i % 10 == 0 else 'standard'},{dates[day]},{dates[day + 30]},"
                f"{CURRENCY},{pence // 100}.{pence % 100:02d}\n"
            )
            if len(lines) == 10000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    return Truth(customers, invoices, Decimal(invoiced) / 100, Decimal(paid) / 100)


def bare_copy_seconds(database: str, table: str, path: Path, columns: list[str]) -> float:
    """The floor: the file's cells (read by csv, not validated) COPY'd into an empty copy of
    `table` with its indexes, constraints and defaults, in one transaction. The invoices'
    customer stays the external id of the file (text), and their open amount is their total."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        picks = [header.index(c) for c in columns]
        now = utcnow().isoformat()
        if table == "invoices":
            total = header.index("total")
            rows = [[*(row[p] for p in picks), row[total], now] for row in reader]
            names = ", ".join([*INVOICE_TARGETS, "open_amount", "created_at"])
        else:
            rows = [[*(row[p] for p in picks), now] for row in reader]
            names = ", ".join([*CUSTOMER_TARGETS, "created_at"])
    with psycopg.connect(pg_url(database).replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(f"CREATE TEMPORARY TABLE bare (LIKE {table} INCLUDING ALL)")
        if table == "invoices":
            conn.execute("ALTER TABLE bare ALTER COLUMN customer_id TYPE text")
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(f"COPY bare ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def load_payments(engine: Engine) -> int:
    """One active payment (the whole total) for every other invoice, set-based and untimed."""
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "INSERT INTO payments (customer_id, source, date, amount, currency,"
                " exchange_rate, bank_charges, tax_amount_withheld, status, created_at,"
                " unused_amount)"
                " SELECT customer_id, 'bank', issue_date + 5, total, currency, 1, 0, 0,"
                " 'active', now(), total FROM invoices"
                " WHERE CAST(substr(external_id, 2) AS bigint) % 2 = 0 AND total > 0"
            )
        )
        conn.execute(text("ANALYZE payments"))
        return int(result.rowcount or 0)


def recompute_seconds(engine: Engine) -> float:
    """Every customer's balance and credit status recomputed, in one transaction."""
    started = time.perf_counter()
    with engine.begin() as conn:
        recompute_customers(conn, None, utcnow(), cause="benchmark recompute")
    return time.perf_counter() - started


def _timed(step: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def run(customers: int, invoices: int, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    truth = write_files(folder, customers, invoices)
    generated = time.perf_counter() - started
    with scratch_database("payrecon_bench") as database:
        engine = make_engine(pg_url(database))
        try:
            upgrade_schema(pg_url(database))
            owners_s, _ = _timed(
                lambda: import_contract_owners(engine, folder / "contract_owners.csv")
            )
            customers_s, customers_result = _timed(
                lambda: import_customers(engine, folder / "customers.csv")
            )
            invoices_s, invoices_result = _timed(
                lambda: import_invoices(engine, folder / "invoices.csv")
            )
            payments = load_payments(engine)
            first_s = recompute_seconds(engine)
            steady_s = recompute_seconds(engine)
            again_s, again = _timed(lambda: import_invoices(engine, folder / "invoices.csv"))
            with engine.connect() as conn:
                counts = conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM customers),"
                        " (SELECT count(*) FROM invoices),"
                        " (SELECT count(number_key) FROM invoices),"
                        " (SELECT COALESCE(sum(total), 0) FROM invoices),"
                        " (SELECT count(*) FROM customer_balances),"
                        " (SELECT count(*) FROM credit_status),"
                        " (SELECT COALESCE(sum(balance), 0) FROM customer_balances),"
                        " (SELECT COALESCE(sum(total_payments), 0) FROM customer_balances)"
                    )
                ).one()
        finally:
            engine.dispose()
        bare_invoices = bare_copy_seconds(
            database, "invoices", folder / "invoices.csv", INVOICE_COLUMNS
        )
        bare_customers = bare_copy_seconds(
            database, "customers", folder / "customers.csv", CUSTOMER_COLUMNS
        )
    return {
        "customers": customers,
        "invoices": invoices,
        "generate_seconds": round(generated, 3),
        "import_owners_seconds": round(owners_s, 3),
        "import_customers_seconds": round(customers_s, 3),
        "import_customers_created": customers_result.created,
        "import_invoices_seconds": round(invoices_s, 3),
        "import_invoices_created": invoices_result.created,
        "reimport_invoices_seconds": round(again_s, 3),
        "reimport_invoices_created": again.created,
        "bare_copy_invoices_seconds": round(bare_invoices, 3),
        "bare_copy_customers_seconds": round(bare_customers, 3),
        "invoices_x_copy": round(invoices_s / bare_invoices, 2),
        "customers_x_copy": round(customers_s / bare_customers, 2),
        "payments_loaded": payments,
        "recompute_customers": counts[4],
        "recompute_first_seconds": round(first_s, 3),
        "recompute_steady_seconds": round(steady_s, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "check": {
            "customers": counts[0],
            "invoices": counts[1],
            "invoice_keys": counts[2],
            "invoiced": str(counts[3]),
            "balances": counts[4],
            "credit_status": counts[5],
            "balance_sum": str(counts[6]),
            "payments_sum": str(counts[7]),
            "expected_invoiced": str(truth.invoiced),
            "expected_paid": str(truth.paid),
        },
    }


def _table(r: dict[str, Any]) -> str:
    rows = [
        ("step", "rows", "seconds", "rows/s", "bare COPY s", "x COPY"),
        (
            "import customers",
            f"{r['customers']:,}",
            f"{r['import_customers_seconds']:.2f}",
            f"{r['customers'] / r['import_customers_seconds']:,.0f}",
            f"{r['bare_copy_customers_seconds']:.2f}",
            f"{r['customers_x_copy']:.2f}",
        ),
        (
            "import invoices",
            f"{r['invoices']:,}",
            f"{r['import_invoices_seconds']:.2f}",
            f"{r['invoices'] / r['import_invoices_seconds']:,.0f}",
            f"{r['bare_copy_invoices_seconds']:.2f}",
            f"{r['invoices_x_copy']:.2f}",
        ),
        (
            "re-import invoices (same file)",
            f"{r['invoices']:,}",
            f"{r['reimport_invoices_seconds']:.2f}",
            f"{r['invoices'] / r['reimport_invoices_seconds']:,.0f}",
            "",
            "",
        ),
        (
            "recompute, first (every status new)",
            f"{r['recompute_customers']:,}",
            f"{r['recompute_first_seconds']:.2f}",
            "",
            "",
            "",
        ),
        (
            "recompute, steady",
            f"{r['recompute_customers']:,}",
            f"{r['recompute_steady_seconds']:.2f}",
            "",
            "",
            "",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"load average at the end: {r['load_average']}; check: {r['check']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("var/bench/imports"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"load average at the start: {[round(x, 2) for x in os.getloadavg()]}")
    result = run(args.customers, args.invoices, args.folder)
    print(_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
