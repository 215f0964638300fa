"""The `payrecon` commands. Each parses its input, calls services, prints the result: a summary
as text, `--json` or nothing (`--quiet`); progress bars on a terminal's standard error.

Exit codes: 0 done; 1 input refused (a bad file, an unknown account, a service that does not
answer for `status`); 2 usage (an unknown command or option, a missing argument).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from payrecon.bootstrap import Container, get_container
from payrecon.cli import readable
from payrecon.cli.output import EXIT_REFUSED, AsJson, Output, Quiet, err, fail_usage, out
from payrecon.domain.errors import PayreconError

readable.install()

EXIT_CODES = (
    "Exit codes: 0 done; 1 input refused (a bad file, an unknown account; for `status`, a "
    "service that does not answer); 2 usage (unknown command or option, missing argument)."
)


def _examples(*lines: str) -> str:
    """An epilog of examples, one a line."""
    return "**Examples**\n\n" + "\n".join(f"* `$ {line}`" for line in lines)


app = typer.Typer(
    help=(
        "payrecon: match bank and provider payments to invoices.\n\n"
        "Shell completion: `payrecon --install-completion` (bash, zsh, fish, PowerShell).\n\n"
        + EXIT_CODES
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
import_app = typer.Typer(
    help="Load contract owners, customers and invoices from CSV (validated whole, then upserted"
    " by their ids: importing a file twice adds nothing).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")

WaitTimeout = Annotated[float, typer.Option(help="Seconds to wait with --wait.", metavar="SECONDS")]
CsvFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE.csv")]


def _container() -> Container:
    return get_container()


@db_app.command("upgrade", epilog=_examples("payrecon db upgrade", "payrecon db upgrade --quiet"))
def db_upgrade(quiet: Quiet = False, as_json: AsJson = False) -> None:
    """Create or migrate the schema to the newest revision."""
    from payrecon.store.db import upgrade_schema

    output = Output(quiet=quiet, as_json=as_json)
    settings = _container().settings
    upgrade_schema(settings.database_url, secrets_keys=settings.secrets_keys)
    output.line("schema is up to date")
    output.document({"schema": "up to date"})


secrets_app = typer.Typer(
    help="Provider secrets at rest (PAYRECON_SECRETS_KEY).", no_args_is_help=True
)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("new-key", epilog=_examples("payrecon secrets new-key"))
def secrets_new_key() -> None:
    """Print a new key for PAYRECON_SECRETS_KEY, alone, on stdout."""
    from cryptography.fernet import Fernet

    sys.stdout.write(Fernet.generate_key().decode("ascii") + "\n")


@secrets_app.command("rotate", epilog=_examples("payrecon secrets rotate"))
def secrets_rotate(quiet: Quiet = False, as_json: AsJson = False) -> None:
    """Seal every stored provider secret with the first key of PAYRECON_SECRETS_KEY (after a
    new key was put in front of the old ones); then the old keys can be dropped."""
    from payrecon.services.providers.credentials import reseal_provider_secrets

    output = Output(quiet=quiet, as_json=as_json)
    container = _container()
    try:
        count = reseal_provider_secrets(container.engine, container.credentials.box)
    except PayreconError as exc:
        raise output.fail(exc) from None
    output.line(f"provider secrets sealed with the newest key: {count}")
    output.document({"resealed": count})


def _run_import(kind: str, file: Path, quiet: bool, as_json: bool) -> None:
    from payrecon.services.admin import imports

    run = {
        "contract owners": imports.import_contract_owners,
        "customers": imports.import_customers,
        "invoices": imports.import_invoices,
    }[kind]
    output = Output(quiet=quiet, as_json=as_json)
    try:
        with output.progress():
            result = run(_container().engine, file)
    except PayreconError as exc:
        raise output.fail(exc) from None
    output.line(f"{kind}: {result.rows} rows, {result.created} created, {result.updated} updated")
    output.document(
        {
            "kind": kind.replace(" ", "_"),
            "file": str(file),
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
        }
    )


@import_app.command(
    "contract-owners",
    epilog=_examples(
        "payrecon import contract-owners owners.csv",
        "payrecon import contract-owners owners.csv --json",
    ),
)
def import_contract_owners(file: CsvFile, quiet: Quiet = False, as_json: AsJson = False) -> None:
    """Contract owners. Columns: contract_owner_id, name, and optionally price_rounding_mode,
    price_decimal_places, bank_account_name, bank_iban, bank_account_number, bank_sort_code,
    bank_swift_code, invoice_number_format. An owner's bank account (IBAN, or sort code and
    account number) selects the statements that are its own; IBAN and BIC are checked."""
    _run_import("contract owners", file, quiet, as_json)


@import_app.command(
    "customers", epilog=_examples("payrecon import customers customers.csv --quiet")
)
def import_customers(file: CsvFile, quiet: Quiet = False, as_json: AsJson = False) -> None:
    """Customers. Columns: customer_id, name, contract_owner_id, currency, credit_threshold,
    account_number, iban (several `;`-separated), mandate_id."""
    _run_import("customers", file, quiet, as_json)


@import_app.command("invoices", epilog=_examples("payrecon import invoices invoices.csv"))
def import_invoices(file: CsvFile, quiet: Quiet = False, as_json: AsJson = False) -> None:
    """Invoices. Columns: invoice_id, invoice_number, customer_id, kind (standard or adhoc),
    issue_date, due_date, currency, total."""
    _run_import("invoices", file, quiet, as_json)


@app.command(
    epilog=_examples(
        "payrecon ingest statement.xml",
        "payrecon ingest *.sta statement.csv --wait   # with a real broker: wait for the workers",
        "payrecon ingest statement.xml --json | jq .files",
    )
)
def ingest(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, metavar="FILE...")],
    wait: Annotated[
        bool, typer.Option("--wait", help="With a real broker: wait until reconciled.")
    ] = False,
    timeout: WaitTimeout = 3600.0,
    retry: Annotated[
        bool,
        typer.Option(
            "--retry",
            help="Hand files received before to the pipeline again (it stores nothing twice and"
            " reconciles what is still pending); a file whose ingest never finished is retried"
            " without it.",
        ),
    ] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Ingest bank files (format detected from content), then reconcile and recompute balances.
    A statement of an account no contract owner has is quarantined (exit code 1); with --wait, a
    pipeline that fails (a step dead-lettered, or out of retries) exits 1 and says why."""
    from payrecon.bootstrap import pipeline
    from payrecon.services.reconciliation.ingest import receive_file

    output = Output(quiet=quiet, as_json=as_json)
    container = _container()
    store = container.settings.feed_store_dir
    received = [receive_file(container.engine, store, f, retry=retry) for f in files]
    summary: dict[str, Any] = {"files": [], "enqueued": None}
    for item in received:
        if item.duplicate:
            output.line(
                f"{item.filename}: already received (feed {item.feed_file_id},"
                f" {item.status}); nothing added"
            )
            summary["files"].append(
                {"filename": item.filename, "feed_id": item.feed_file_id, "duplicate": True}
            )
    new_ids = [r.feed_file_id for r in received if not r.duplicate]
    if new_ids:
        port = pipeline(container)
        try:
            with output.progress():
                run = port.files_received(new_ids)
                if not container.settings.in_process_worker and wait:
                    port.wait(run, timeout)
        except Exception as exc:  # the pipeline's own failure, as the worker raised it
            output.problem(f"the pipeline did not finish: {type(exc).__name__}: {exc}")
            _report_feeds(container, new_ids, output, summary)
            summary["failed"] = f"{type(exc).__name__}: {exc}"
            output.document(summary)
            raise typer.Exit(EXIT_REFUSED) from None
        if not container.settings.in_process_worker and not wait:
            output.line(f"enqueued {len(new_ids)} file(s); pipeline task {run.task_id}")
            summary["enqueued"] = {"feed_ids": new_ids, "task_id": run.task_id}
            output.document(summary)
            return
    quarantined = _report_feeds(container, new_ids, output, summary)
    output.document(summary)
    if quarantined:
        raise typer.Exit(EXIT_REFUSED)


def _report_feeds(
    container: Container, feed_ids: list[int], output: Output, summary: dict[str, Any]
) -> bool:
    from payrecon.services.reconciliation.feeds import feed_statuses

    quarantined = False
    for feed in feed_statuses(container.engine, feed_ids) if feed_ids else []:
        summary["files"].append(
            {
                "filename": feed.filename,
                "feed_id": feed.id,
                "duplicate": False,
                "status": feed.status,
                "format": feed.format,
                "lines": feed.line_count,
                "new_lines": feed.new_line_count,
                "error": feed.error,
            }
        )
        if feed.status == "quarantined":
            quarantined = True
            err.print(f"[red]quarantined:[/red] {feed.error}", highlight=False, soft_wrap=True)
        else:
            output.line(
                f"{feed.filename}: {feed.status} ({feed.format}), {feed.line_count} lines,"
                f" {feed.new_line_count} new"
            )
    return quarantined


@app.command(
    epilog=_examples(
        "payrecon parse statement.xml | head -3", "payrecon parse export.sta --no-verify"
    )
)
def parse(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE")],
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip balance and total checks.")
    ] = False,
) -> None:
    """Print the normalised lines of a bank file as JSON lines (one object a line); writes
    nothing. Notices (entries not booked and skipped, fields cut, parts of the file set aside)
    go to standard error, so that a file that gives fewer lines than expected says why."""
    from payrecon.domain.lines import StatementLine
    from payrecon.feeds import FeedNotice, read_feed

    try:
        for item in read_feed(file, verify=not no_verify):
            if isinstance(item, StatementLine):
                sys.stdout.write(json.dumps(item.as_json_dict()) + "\n")
            elif isinstance(item, FeedNotice):
                err.print(f"[yellow]note:[/yellow] {escape(str(item))}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    except PayreconError as exc:
        raise Output().fail(exc) from None


class ExportKind(StrEnum):
    allocations = "allocations"
    unmatched = "unmatched"
    review = "review"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@app.command(
    epilog=_examples(
        "payrecon export allocations --format csv > allocations.csv",
        "payrecon export unmatched --format csv",
        "payrecon export review --format xlsx --output review.xlsx",
    )
)
def export(
    what: Annotated[ExportKind, typer.Argument(metavar="allocations|unmatched|review")],
    format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (xlsx needs it).")
    ] = None,
) -> None:
    """Write allocations (external_id, invoice_number, amount_applied, currency, rule,
    confidence) or unmatched lines (external_id, amount, currency, reason) as CSV, or the review
    queue (every source, with reasons and suggestions) as CSV or XLSX, to stdout or --output."""
    engine = _container().engine
    if what is not ExportKind.review:
        if format is not ExportFormat.csv:
            raise fail_usage(f"{what.value} exports as csv only")
        from payrecon.services.reconciliation.reports import export_csv

        if output is None:
            export_csv(engine, what.value, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as file:
                export_csv(engine, what.value, file)
        return
    from payrecon.services.reconciliation.review_export import COLUMNS, everything, review_rows
    from payrecon.services.reconciliation.tabular import to_csv, to_xlsx

    rows = review_rows(engine, everything())
    if format is ExportFormat.csv:
        text = to_csv(rows, COLUMNS)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
        return
    if output is None:
        raise fail_usage("--format xlsx needs --output FILE")
    output.write_bytes(to_xlsx(rows, COLUMNS, title="review queue"))


providers_app = typer.Typer(help="Payment providers' feeds.", no_args_is_help=True)
app.add_typer(providers_app, name="providers")


@providers_app.command(
    "add-account", epilog=_examples("payrecon providers add-account 3 7f1c2d9e-acc")
)
def providers_add_account(
    provider_id: Annotated[int, typer.Argument(help="The open-banking provider's id.")],
    account_id: Annotated[str, typer.Argument(help="The Bank Account Data account id.")],
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Register an open-banking account for polling (the next poll_provider reads it)."""
    from payrecon.services.providers.openbanking import register_openbanking_account

    output = Output(quiet=quiet, as_json=as_json)
    try:
        created = register_openbanking_account(_container().engine, provider_id, account_id)
    except PayreconError as exc:
        raise output.fail(exc) from None
    output.line(f"account {account_id} {'registered' if created else 'already registered'}")
    output.document({"account": account_id, "created": created})


users_app = typer.Typer(help="The console's users (sign-in at /console).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command(
    "add",
    epilog=_examples(
        "payrecon users add alice --scope read,write",
        "printf '%s\\n' \"$PASSWORD\" | payrecon users add ops --scope admin --password-stdin",
    ),
)
def users_add(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    scope: Annotated[
        str, typer.Option(help="Comma-separated: read,write,admin.", metavar="SCOPES")
    ] = "read",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Create a console user with a password (kept as an argon2id hash) and the API's scopes;
    the password is asked twice on a terminal, or read from standard input."""
    from payrecon.services.operations.console_users import add_user

    output = Output(quiet=quiet, as_json=as_json)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = add_user(_container().engine, name, password, scope.split(","))
    except PayreconError as exc:
        raise output.fail(exc) from None
    output.line(f"user {user.name} added with scopes {', '.join(sorted(user.scopes))}")
    output.document({"name": user.name, "scopes": sorted(user.scopes)})


@users_app.command("list", epilog=_examples("payrecon users list", "payrecon users list --json"))
def users_list(as_json: AsJson = False) -> None:
    """The console's users with their scopes."""
    from payrecon.services.operations.console_users import list_users

    output = Output(quiet=False, as_json=as_json)
    users = list_users(_container().engine)
    for name, scopes, disabled in users:
        output.line(f"{name}  {scopes}{'  (disabled)' if disabled else ''}")
    output.document([{"name": n, "scopes": s.split(), "disabled": d} for n, s, d in users])


@app.command(epilog=_examples("payrecon demo", "payrecon demo --json | jq .most_indebted"))
def demo(quiet: Quiet = False, as_json: AsJson = False) -> None:
    """Run the whole pipeline on bundled sample data (SQLite, in-process worker by default) and
    print what was matched, what waits for review and the most indebted customers (a negative
    balance means the customer owes)."""
    from payrecon.demo import run_demo, summary_json
    from payrecon.logging import configure_logging

    configure_logging("console", "WARNING")  # the progress bar and summary are the demo's output
    output = Output(quiet=quiet, as_json=as_json)
    try:
        with output.progress():
            summary = run_demo(_container(), out if output.text else None)
    except PayreconError as exc:
        raise output.fail(exc) from None
    output.document(summary_json(summary))


@app.command(
    epilog=_examples(
        "payrecon status", "payrecon status --json | jq .services", "payrecon status --quiet"
    )
)
def status(quiet: Quiet = False, as_json: AsJson = False) -> None:
    """What is configured (database, broker, the contract owners and their accounts), what is
    waiting (pending lines, the review queue, the last task runs), and whether the database,
    broker and workers answer. Exit code 1 when one of them does not."""
    from payrecon.cli.status import gather_status, print_status

    output = Output(quiet=quiet, as_json=as_json)
    report = gather_status(_container())
    if output.text:
        print_status(out, report)
    output.document(report)
    problems = [f"{name}: {state}" for name, state in report["services"].items() if state != "ok"]
    for problem in problems if quiet else ():
        output.problem(problem)
    if problems:
        raise typer.Exit(EXIT_REFUSED)


@app.command(
    epilog=_examples(
        "payrecon token --scope read",
        'curl -H "Authorization: Bearer $(payrecon token --scope admin --hours 1)" ...',
    )
)
def token(
    scope: Annotated[
        str, typer.Option(help="Comma-separated: read,write,admin.", metavar="SCOPES")
    ] = "read",
    hours: Annotated[float, typer.Option(help="Lifetime in hours.", metavar="HOURS")] = 12.0,
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
        raise fail_usage(str(exc)) from None
    sys.stdout.write(value + "\n")


@app.command(epilog=_examples("payrecon api --port 8000", "payrecon api --host 0.0.0.0"))
def api(
    host: Annotated[str, typer.Option(metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT")] = 8000,
) -> None:
    """Serve the HTTP API with uvicorn (OpenAPI at /docs)."""
    import uvicorn

    uvicorn.run("payrecon.api.app:create_app", factory=True, host=host, port=port, log_config=None)


@app.command(
    epilog=_examples("payrecon worker", "payrecon worker --queues ingest,match --concurrency 4")
)
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues.", metavar="QUEUES")
    ] = "ingest,match,balances",
    concurrency: Annotated[int, typer.Option(min=1, metavar="N")] = 2,
    loglevel: Annotated[str, typer.Option(metavar="LEVEL")] = "INFO",
    hostname: Annotated[
        str | None,
        typer.Option(help="The worker's node name (default celery@host).", metavar="NAME"),
    ] = None,
) -> None:
    """Run a Celery worker process. It reconnects to a broker that went away, for as long as it
    takes, and puts back the messages of workers that died (`worker.recovery`)."""
    from payrecon.worker.app import app as celery_app

    argv = ["worker", "-Q", queues, "-c", str(concurrency), "--loglevel", loglevel, "-E"]
    # Gossip and mingle only chat between workers; their reconnect path is where a restarted
    # broker made workers exit (`'NoneType' object has no attribute 'hostname'`).
    argv += ["--without-gossip", "--without-mingle"]
    if hostname:
        argv += ["--hostname", hostname]
    celery_app.worker_main(argv)


SchedulesDir = Annotated[
    Path | None, typer.Option(help="Directory of schedule YAML files.", metavar="DIR")
]


@app.command(epilog=_examples("payrecon beat", "payrecon beat --schedules-dir ./schedules"))
def beat(
    schedules_dir: SchedulesDir = None,
    loglevel: Annotated[str, typer.Option(metavar="LEVEL")] = "INFO",
) -> None:
    """Run Celery beat with the validated schedules. Run exactly one beat per deployment."""
    from payrecon.worker.app import app as celery_app
    from payrecon.worker.schedules import beat_schedule, default_schedules_dir, load_schedules

    directory = schedules_dir or _container().settings.schedules_dir or default_schedules_dir()
    try:
        celery_app.conf.beat_schedule = beat_schedule(load_schedules(directory))
    except PayreconError as exc:
        raise Output().fail(exc) from None
    celery_app.start(["beat", "--loglevel", loglevel])


@app.command(epilog=_examples("payrecon schedules", "payrecon schedules --json"))
def schedules(schedules_dir: SchedulesDir = None, as_json: AsJson = False) -> None:
    """List the validated schedules with their next run time."""
    from payrecon.worker.schedules import default_schedules_dir, describe_schedules, load_schedules

    output = Output(as_json=as_json)
    directory = schedules_dir or _container().settings.schedules_dir or default_schedules_dir()
    try:
        entries = load_schedules(directory)
    except PayreconError as exc:
        raise output.fail(exc) from None
    described = describe_schedules(entries)
    for line in described:
        output.line(line)
    output.document({"schedules": described})


@app.command(
    epilog=_examples(
        "payrecon trigger reconcile_pending --wait",
        "payrecon trigger recompute_balances --param customer_ids=1,2 --json",
        "payrecon trigger poll_provider --param provider_id=3 --idempotency-key nightly-0601",
    )
)
def trigger(
    task: Annotated[
        str,
        typer.Argument(
            help="Short name: ingest_file, reconcile_pending, recompute_balances,"
            " update_credit_status, poll_provider, scan_inbox, audit_ledger.",
            metavar="TASK",
        ),
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="key=value; repeatable.", metavar="K=V")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the task's result.")] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Run at most once per key.", metavar="KEY")
    ] = None,
    timeout: WaitTimeout = 3600.0,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Enqueue a task by its short name (recorded and audited as triggered by `cli`)."""
    from payrecon.bootstrap import pipeline
    from payrecon.worker.registry import parse_cli_params

    output = Output(quiet=quiet, as_json=as_json)
    port = pipeline(_container())
    try:
        triggered = port.trigger(
            task,
            parse_cli_params(param or []),
            actor="cli",
            idempotency_key=idempotency_key,
        )
    except PayreconError as exc:
        raise output.fail(exc) from None
    document: dict[str, Any] = {"task": task, "task_id": triggered.task_id}
    document["created"] = triggered.created
    if not triggered.created:
        output.line(
            f"{task}: already triggered with this key as task {triggered.task_id}; not run again"
        )
        output.document(document)
        return
    output.line(f"{task}: task {triggered.task_id}")
    if wait:
        with output.progress():
            document["result"] = port.wait(triggered.task_id, timeout)
        if output.text:
            sys.stdout.write(json.dumps(document["result"], default=str) + "\n")
    output.document(document)


@app.command(
    epilog=_examples("payrecon sandbox --port 8765", "payrecon sandbox --rate-limit-every 5")
)
def sandbox(
    host: Annotated[str, typer.Option(metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT")] = 8765,
    seed: Annotated[
        int, typer.Option(help="Seed of the generated provider data.", metavar="N")
    ] = 1,
    customers: Annotated[int, typer.Option(min=1, metavar="N")] = 25,
    rate_limit_every: Annotated[
        int, typer.Option(help="Every Nth request answers 429; 0: never.", metavar="N")
    ] = 0,
    fail_every: Annotated[
        int, typer.Option(help="Every Nth request answers 500; 0: never.", metavar="N")
    ] = 0,
    slow_ms: Annotated[int, typer.Option(help="Delay added to every answer.", metavar="MS")] = 0,
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
