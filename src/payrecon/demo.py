"""`payrecon demo`: the whole pipeline over the bundled sample data, through the same tasks.

On the embedded default (SQLite, in-process worker) it needs nothing running. The summary is read
from the database, so a second run prints the same figures: nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from payrecon.bootstrap import Container, pipeline
from payrecon.domain.money import money_text
from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import receive_file
from payrecon.services.reconciliation.reports import Summary, reconciliation_summary
from payrecon.store.db import upgrade_schema

STATEMENTS = ("statement-2026-10.camt053.xml", "statement-2026-10.csv")


def demo_data_dir() -> Path:
    return Path(str(resources.files("payrecon"))) / "demo_data"


def run_demo(container: Container, console: Console | None, *, timeout: float = 600.0) -> Summary:
    """Import, ingest, reconcile and summarise; print the summary on `console` when given. The
    services report their progress (the command line shows it as bars on a terminal)."""
    data = demo_data_dir()
    engine = container.engine
    upgrade_schema(container.settings.database_url)
    import_contract_owners(engine, data / "contract_owners.csv")
    import_customers(engine, data / "customers.csv")
    import_invoices(engine, data / "invoices.csv")
    received = [
        receive_file(engine, container.settings.feed_store_dir, data / name, source="demo")
        for name in STATEMENTS
    ]
    new_ids = [r.feed_file_id for r in received if not r.duplicate]
    if new_ids:
        port = pipeline(container)
        run = port.files_received(new_ids)
        if not container.settings.in_process_worker:
            port.wait(run, timeout)
    summary = reconciliation_summary(engine)
    if console is not None:
        if not new_ids:
            console.print("The statements were ingested before: nothing was added this time.")
        print_summary(console, summary)
    return summary


def summary_json(summary: Summary) -> dict[str, Any]:
    """The summary as `payrecon demo --json` prints it (amounts as exact decimal strings)."""
    document = asdict(summary)
    document["most_indebted"] = [asdict(d) for d in summary.most_indebted]
    return document


def print_summary(console: Console, summary: Summary) -> None:
    table = Table(title="payrecon demo: reconciliation summary", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("files ingested", f"{summary.files} ({summary.files_quarantined} quarantined)")
    table.add_row("lines read", str(summary.lines))
    table.add_row("lines matched", str(summary.matched))
    table.add_row("lines unmatched (review queue)", str(summary.unmatched))
    table.add_row("amount received", money_text(summary.amount_in))
    table.add_row("amount allocated to invoices", money_text(summary.amount_allocated))
    table.add_row("amount unused (on account)", money_text(summary.amount_unused))
    table.add_row("amount unmatched", money_text(summary.amount_unmatched))
    console.print(table)
    debtors = Table(
        title="most indebted customers",
        caption="balance: negative means the customer owes, positive that it is in credit",
    )
    for name in ("customer", "name", "balance"):
        debtors.add_column(name, justify="right" if name == "balance" else "left")
    for d in summary.most_indebted:
        debtors.add_row(d.external_id, d.name, f"{money_text(d.balance)} {d.currency}")
    console.print(debtors)
