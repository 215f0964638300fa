"""The `payrecon` command line. Each command parses its input, calls services, prints the result."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from payrecon.bootstrap import Container, get_container
from payrecon.domain.errors import PayreconError

app = typer.Typer(
    help="payrecon: match bank and provider payments to invoices.", no_args_is_help=True
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
import_app = typer.Typer(help="Load customers and invoices from CSV.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")

err = Console(stderr=True)
out = Console()


def _fail(exc: PayreconError, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _container() -> Container:
    return get_container()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from payrecon.store.db import upgrade_schema

    settings = _container().settings
    upgrade_schema(settings.database_url, secrets_keys=settings.secrets_keys)
    out.print("schema is up to date")


secrets_app = typer.Typer(help="Provider secrets at rest (PAYRECON_SECRETS_KEY).")
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for PAYRECON_SECRETS_KEY, alone, on stdout."""
    from cryptography.fernet import Fernet

    sys.stdout.write(Fernet.generate_key().decode("ascii") + "\n")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Seal every stored provider secret with the first key of PAYRECON_SECRETS_KEY (after a
    new key was put in front of the old ones); then the old keys can be dropped."""
    from payrecon.services.providers.credentials import reseal_provider_secrets

    container = _container()
    try:
        count = reseal_provider_secrets(container.engine, container.credentials.box)
    except PayreconError as exc:
        raise _fail(exc, 1) from None
    out.print(f"provider secrets sealed with the newest key: {count}")


@import_app.command("contract-owners")
def import_contract_owners(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
) -> None:
    """Columns: contract_owner_id, name, and optionally price_rounding_mode, price_decimal_places,
    bank_account_name, bank_iban, bank_account_number, bank_sort_code, bank_swift_code,
    invoice_number_format. An owner's bank account decides which statements are its."""
    from payrecon.services.admin.imports import import_contract_owners as run

    try:
        result = run(_container().engine, file)
    except PayreconError as exc:
        raise _fail(exc) from None
    out.print(
        f"contract owners: {result.rows} rows, {result.created} created, {result.updated} updated"
    )


@import_app.command("customers")
def import_customers(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Columns: customer_id, name, contract_owner_id, currency, credit_threshold,
    account_number, iban (several `;`-separated), mandate_id."""
    from payrecon.services.admin.imports import import_customers as run

    try:
        result = run(_container().engine, file)
    except PayreconError as exc:
        raise _fail(exc) from None
    out.print(f"customers: {result.rows} rows, {result.created} created, {result.updated} updated")


@import_app.command("invoices")
def import_invoices(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Columns: invoice_id,invoice_number,customer_id,kind,issue_date,due_date,currency,total."""
    from payrecon.services.admin.imports import import_invoices as run

    try:
        result = run(_container().engine, file)
    except PayreconError as exc:
        raise _fail(exc) from None
    out.print(f"invoices: {result.rows} rows, {result.created} created, {result.updated} updated")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    wait: Annotated[bool, typer.Option(help="With a real broker: wait until reconciled.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 3600.0,
) -> None:
    """Ingest bank files (format detected from content), then reconcile and recompute balances."""
    from payrecon.bootstrap import pipeline
    from payrecon.services.reconciliation.ingest import receive_file

    container = _container()
    received = [receive_file(container.engine, container.settings.feed_store_dir, f) for f in files]
    for item in received:
        if item.duplicate:
            out.print(
                f"{item.filename}: already received (feed {item.feed_file_id},"
                f" {item.status}); nothing added"
            )
    new_ids = [r.feed_file_id for r in received if not r.duplicate]
    if not new_ids:
        return
    port = pipeline(container)
    run = port.files_received(new_ids)
    if not container.settings.in_process_worker:
        if not wait:
            out.print(f"enqueued {len(new_ids)} file(s); pipeline task {run.task_id}")
            return
        port.wait(run.task_id, timeout)
    _report_feeds(container, new_ids)


def _report_feeds(container: Container, feed_ids: list[int]) -> None:
    from payrecon.services.reconciliation.feeds import feed_statuses

    quarantined = False
    for feed in feed_statuses(container.engine, feed_ids):
        if feed.status == "quarantined":
            quarantined = True
            err.print(
                f"[red]quarantined:[/red] {feed.error}",
                highlight=False,
                soft_wrap=True,
            )
        else:
            out.print(
                f"{feed.filename}: {feed.status} ({feed.format}), {feed.line_count} lines,"
                f" {feed.new_line_count} new"
            )
    if quarantined:
        raise typer.Exit(1)


@app.command()
def parse(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip balance and total checks.")
    ] = False,
) -> None:
    """Print the normalised lines of a bank file as JSON lines; writes nothing."""
    from payrecon.feeds import read_statement_file

    try:
        for line in read_statement_file(file, verify=not no_verify):
            sys.stdout.write(json.dumps(line.as_json_dict()) + "\n")
    except PayreconError as exc:
        raise _fail(exc, 1) from None


class ExportKind(StrEnum):
    allocations = "allocations"
    unmatched = "unmatched"


class ExportFormat(StrEnum):
    csv = "csv"


@app.command()
def export(
    what: ExportKind,
    format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.csv,
) -> None:
    """Write allocations or unmatched lines as CSV to stdout."""
    from payrecon.services.reconciliation.reports import export_csv

    export_csv(_container().engine, what.value, sys.stdout)


@app.command()
def demo() -> None:
    """Run the whole pipeline on bundled sample data (SQLite, in-process worker by default)."""
    from payrecon.demo import run_demo
    from payrecon.logging import configure_logging

    configure_logging("console", "WARNING")  # the progress bar and summary are the demo's output
    try:
        run_demo(_container(), out)
    except PayreconError as exc:
        raise _fail(exc, 1) from None


@app.command()
def token(
    scope: Annotated[str, typer.Option(help="Comma-separated: read,write,admin.")] = "read",
    hours: Annotated[float, typer.Option(help="Lifetime in hours.")] = 12.0,
) -> None:
    """Print a signed API token, alone, on stdout."""
    from datetime import timedelta

    from payrecon.api.auth import issue_token

    secret = _container().settings.api_token_secret.get_secret_value()
    try:
        value = issue_token(
            secret, [s.strip() for s in scope.split(",") if s.strip()], ttl=timedelta(hours=hours)
        )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    sys.stdout.write(value + "\n")


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the status API with uvicorn."""
    import uvicorn

    uvicorn.run("payrecon.api.app:create_app", factory=True, host=host, port=port, log_config=None)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = "ingest,match,balances",
    concurrency: Annotated[int, typer.Option(min=1)] = 2,
    loglevel: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Run a Celery worker process."""
    from payrecon.worker.app import app as celery_app

    celery_app.worker_main(
        ["worker", "-Q", queues, "-c", str(concurrency), "--loglevel", loglevel, "-E"]
    )


@app.command()
def beat(
    schedules_dir: Annotated[
        Path | None, typer.Option(help="Directory of schedule YAML files.")
    ] = None,
    loglevel: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Run Celery beat with the validated schedules. Run exactly one beat per deployment."""
    from payrecon.worker.app import app as celery_app
    from payrecon.worker.schedules import beat_schedule, default_schedules_dir, load_schedules

    directory = schedules_dir or _container().settings.schedules_dir or default_schedules_dir()
    try:
        celery_app.conf.beat_schedule = beat_schedule(load_schedules(directory))
    except PayreconError as exc:
        raise _fail(exc) from None
    celery_app.start(["beat", "--loglevel", loglevel])


@app.command()
def schedules(
    schedules_dir: Annotated[
        Path | None, typer.Option(help="Directory of schedule YAML files.")
    ] = None,
) -> None:
    """List the validated schedules with their next run time."""
    from payrecon.worker.schedules import default_schedules_dir, describe_schedules, load_schedules

    directory = schedules_dir or _container().settings.schedules_dir or default_schedules_dir()
    try:
        entries = load_schedules(directory)
    except PayreconError as exc:
        raise _fail(exc) from None
    for line in describe_schedules(entries):
        out.print(line, highlight=False)


@app.command()
def trigger(
    task: Annotated[str, typer.Argument(help="Short name, e.g. reconcile_pending.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="key=value; repeatable.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the task's result.")] = False,
    idempotency_key: Annotated[str | None, typer.Option(help="Run at most once per key.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 3600.0,
) -> None:
    """Enqueue a task by its short name (recorded and audited as triggered by `cli`)."""
    from payrecon.bootstrap import pipeline
    from payrecon.worker.registry import parse_cli_params

    port = pipeline(_container())
    try:
        triggered = port.trigger(
            task,
            parse_cli_params(param or []),
            actor="cli",
            idempotency_key=idempotency_key,
        )
    except PayreconError as exc:
        raise _fail(exc) from None
    if not triggered.created:
        out.print(
            f"{task}: already triggered with this key as task {triggered.task_id}; not run again"
        )
        return
    out.print(f"{task}: task {triggered.task_id}")
    if wait:
        result = port.wait(triggered.task_id, timeout)
        sys.stdout.write(json.dumps(result, default=str) + "\n")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated provider data.")] = 1,
    customers: Annotated[int, typer.Option(min=1)] = 25,
    rate_limit_every: Annotated[
        int, typer.Option(help="Every Nth request answers 429; 0: never.")
    ] = 0,
    fail_every: Annotated[int, typer.Option(help="Every Nth request answers 500; 0: never.")] = 0,
    slow_ms: Annotated[int, typer.Option(help="Delay added to every answer.")] = 0,
    duplicate_page_boundary: Annotated[
        bool, typer.Option(help="Repeat an item across pages.")
    ] = False,
) -> None:
    """A local GoCardless/Stripe/open-banking look-alike for development and tests, never
    production: GET /_sandbox/truth lists what a full pull must return."""
    from payrecon.sandbox import SandboxConfig
    from payrecon.sandbox.server import run

    config = SandboxConfig(
        rate_limit_every=rate_limit_every,
        fail_every=fail_every,
        slow_ms=slow_ms,
        duplicate_page_boundary=duplicate_page_boundary,
    )
    run(host, port, seed=seed, customers=customers, config=config)


def main() -> None:
    app()
