"""`payrecon status`: what is configured, what is waiting, and whether the services answer.

Each check is tried on its own, so a database that does not answer still leaves the broker's
answer to read; what does not answer is named with the error it gave."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from payrecon.bootstrap import Container


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _problem(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"does not answer ({type(exc).__name__}{': ' + first[:160] if first else ''})"


def gather_status(container: Container) -> dict[str, Any]:
    from payrecon.bootstrap import pipeline
    from payrecon.services.operations.status import database_answers, database_status

    port = pipeline(container)

    settings = container.settings
    report: dict[str, Any] = {
        "configured": {
            "environment": settings.environment,
            "database": make_url(settings.database_url).render_as_string(hide_password=True),
            "broker": _without_password(settings.broker_url),
            "in_process_worker": settings.in_process_worker,
        },
        "services": {},
        "owners": [],
        "waiting": None,
    }
    services = report["services"]
    try:
        database_answers(container.engine)
        services["database"] = "ok"
        found = database_status(container.engine)
        report["owners"] = found.as_json_dict()["owners"]
        report["waiting"] = {k: v for k, v in found.as_json_dict().items() if k != "owners"}
    except Exception as exc:  # status reports any failure as "does not answer"
        services["database"] = _problem(exc)
    try:
        port.broker_reachable()
        services["broker"] = "ok"
        report["queues"] = port.queue_depths()
    except Exception as exc:
        services["broker"] = _problem(exc)
    if settings.in_process_worker:
        report["workers"] = "in-process: tasks run inside the command that enqueues them"
    elif services["broker"] == "ok":
        try:
            names = port.workers_answering()
            report["workers"] = names
            services["workers"] = "ok" if names else "none answers a ping"
        except Exception as exc:
            services["workers"] = _problem(exc)
    return report


def print_status(console: Console, report: dict[str, Any]) -> None:
    configured = report["configured"]
    console.print("[bold]Configured[/bold]")
    console.print(f"  environment  {configured['environment']}", highlight=False)
    console.print(f"  database     {configured['database']}", highlight=False)
    console.print(f"  broker       {configured['broker']}", highlight=False)
    owners = Table(title="contract owners and the accounts that select their statements")
    for column in ("id", "name", "IBAN", "sort code", "account", "invoice numbers"):
        owners.add_column(column)
    for o in report["owners"]:
        owners.add_row(
            str(o["id"]),
            o["name"],
            *(o[k] or "" for k in ("iban", "sort_code", "account_number", "invoice_number_format")),
        )
    if report["owners"]:
        console.print(owners)
    elif report["services"].get("database") == "ok":
        console.print("  no contract owners yet: `payrecon import contract-owners FILE.csv`")
    waiting = report["waiting"]
    if waiting is not None:
        console.print("[bold]Waiting[/bold]")
        console.print(
            f"  pending lines {waiting['pending_lines']}, review queue {waiting['review_queue']},"
            f" customers {waiting['customers']}, invoices {waiting['invoices']}",
            highlight=False,
        )
        for queue, depth in (report.get("queues") or {}).items():
            console.print(f"  queue {queue}: {depth} message(s)", highlight=False)
        runs = Table(title="last task runs")
        for column in ("task", "status", "started", "seconds", "error"):
            runs.add_column(column)
        for run in waiting["last_runs"]:
            seconds = "" if run["duration_s"] is None else f"{run['duration_s']:.1f}"
            runs.add_row(run["name"], run["status"], run["started_at"], seconds, run["error"] or "")
        if waiting["last_runs"]:
            console.print(runs)
    console.print("[bold]Services[/bold]")
    for name, state in report["services"].items():
        colour = "green" if state == "ok" else "red"
        console.print(f"  {name:<9} [{colour}]{state}[/{colour}]", highlight=False)
    workers = report.get("workers")
    if isinstance(workers, str):
        console.print(f"  workers   {workers}", highlight=False)
    elif workers:
        console.print(f"  workers   {', '.join(workers)}", highlight=False)
