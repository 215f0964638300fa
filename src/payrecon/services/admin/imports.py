"""Import customers and invoices from CSV (the column contracts of DESIGN.md).

A file is read and validated whole before anything is written; a bad cell names its line and
column. Rows are upserted by their external id, so importing a file twice adds nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.exc import DBAPIError

from payrecon.domain.errors import Conflict, FeedFormatError, InvalidInput, PayreconError
from payrecon.domain.matching.references import invoice_key, normalise_account
from payrecon.domain.money import RoundingMode, parse_amount
from payrecon.services.admin.bank_accounts import valid_bic, valid_iban
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.operations import progress
from payrecon.store import ledger_tables as lt
from payrecon.store import staged_imports as staged
from payrecon.store import tables as t
from payrecon.store.bulk import (
    advance_id_sequence,
    analyze_after_load,
    batched,
    dialect_insert,
    insert_ignoring_conflicts,
    upsert,
)

CUSTOMER_COLUMNS = (
    "customer_id",
    "name",
    "contract_owner_id",
    "currency",
    "credit_threshold",
    "account_number",
    "iban",
    "mandate_id",
)
OWNER_COLUMNS = ("contract_owner_id", "name")
OWNER_OPTIONAL = (
    "price_rounding_mode",
    "price_decimal_places",
    "bank_account_name",
    "bank_iban",
    "bank_account_number",
    "bank_sort_code",
    "bank_swift_code",
    "invoice_number_format",
)
INVOICE_COLUMNS = (
    "invoice_id",
    "invoice_number",
    "customer_id",
    "kind",
    "issue_date",
    "due_date",
    "currency",
    "total",
)


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    created: int
    updated: int


def _upsert_in_batches(
    conn: Connection, table: Table, rows: list[dict[str, Any]], columns: list[str], stage: str
) -> None:
    """Upsert `rows` by external id, 5,000 at a time, reporting the progress as `stage`."""
    done = 0
    for batch in batched(rows, 5000):
        upsert(conn, table, batch, ["external_id"], columns)
        done += len(batch)
        progress.report(stage, done, len(rows))


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise FeedFormatError(str(path), "line 1", f"missing columns: {', '.join(missing)}")
        for row in reader:
            if None in row:  # DictReader files surplus cells under the key None
                raise FeedFormatError(
                    str(path), f"line {reader.line_num}", "more cells than the header has columns"
                )
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def _cell(path: Path, line: int, column: str, parse: Callable[[str], Any], raw: str) -> Any:
    try:
        return parse(raw)
    except (ValueError, PayreconError) as exc:
        message = exc.message if isinstance(exc, PayreconError) else str(exc)
        raise FeedFormatError(str(path), f"line {line}, column {column}", message) from None


def _required(raw: str) -> str:
    if not raw:
        raise InvalidInput("required, but empty")
    return raw


def _currency(raw: str) -> str:
    if len(raw) != 3 or not raw.isalpha():
        raise InvalidInput(f"not a currency code: {raw!r}")
    return raw.upper()


def _optional_int(raw: str) -> int | None:
    return int(raw) if raw else None


def _rounding_mode(raw: str) -> str:
    return RoundingMode(raw or "HALF_UP").value


def _places(raw: str) -> int:
    places = int(raw or "2")
    if not 0 <= places <= 6:
        raise InvalidInput(f"decimal places must be between 0 and 6, got {places}")
    return places


_OWNER_CHECKS: dict[str, Callable[[str], str]] = {
    "bank_iban": valid_iban,
    "bank_swift_code": valid_bic,
}


def import_contract_owners(engine: Engine, path: Path) -> ImportResult:
    """Columns contract_owner_id, name, and optionally price_rounding_mode, price_decimal_places,
    bank_account_name, bank_iban, bank_account_number, bank_sort_code, bank_swift_code,
    invoice_number_format. The bank account decides which statements belong to the owner."""
    now = utcnow()
    owners: list[dict[str, Any]] = []
    for line, row in _rows(path, OWNER_COLUMNS):
        owner: dict[str, Any] = {
            "id": _cell(path, line, "contract_owner_id", int, row["contract_owner_id"]),
            "name": _cell(path, line, "name", _required, row["name"]),
            "price_rounding_mode": _cell(
                path,
                line,
                "price_rounding_mode",
                _rounding_mode,
                row.get("price_rounding_mode", ""),
            ),
            "price_decimal_places": _cell(
                path, line, "price_decimal_places", _places, row.get("price_decimal_places", "")
            ),
            "created_at": now,
            "updated_at": now,
        }
        for column in OWNER_OPTIONAL[2:]:
            value = row.get(column) or None
            check = _OWNER_CHECKS.get(column)
            owner[column] = _cell(path, line, column, check, value) if value and check else value
        owners.append(owner)
    with engine.begin() as conn:
        existing = set(conn.execute(select(t.contract_owners.c.id)).scalars())
        update_columns = [c for c in owners[0] if c not in ("id", "created_at")] if owners else []
        upsert(conn, t.contract_owners, owners, ["id"], update_columns)
        advance_id_sequence(conn, t.contract_owners)
    created = sum(1 for o in owners if o["id"] not in existing)
    return ImportResult(rows=len(owners), created=created, updated=len(owners) - created)


# SQLSTATEs of a merge that met a key twice: cardinality_violation (ON CONFLICT DO UPDATE would
# touch a row a second time), unique_violation.
_REPEATED = ("21000", "23505")

# One validated customer row: line, customer_id (external), name, contract_owner_id, currency,
# credit_threshold, account_number, billing_cycle_id, IBANs (normalised), mandate_id.
CustomerRow = tuple[int, str, str, int, str, Decimal, str | None, int | None, list[str], str]


def _customer_rows(path: Path) -> Iterator[CustomerRow]:
    for line, row in _rows(path, CUSTOMER_COLUMNS):
        yield (
            line,
            _cell(path, line, "customer_id", _required, row["customer_id"]),
            _cell(path, line, "name", _required, row["name"]),
            _cell(path, line, "contract_owner_id", int, row["contract_owner_id"]),
            _cell(path, line, "currency", _currency, row["currency"]),
            _cell(path, line, "credit_threshold", parse_amount, row["credit_threshold"] or "0"),
            row["account_number"] or None,
            # Optional beyond DESIGN.md's columns: the customer's billing cycle.
            _cell(path, line, "billing_cycle_id", _optional_int, row.get("billing_cycle_id", "")),
            [normalise_account(i) for i in row["iban"].split(";") if i.strip()],
            row["mandate_id"],
        )


def import_customers(engine: Engine, path: Path) -> ImportResult:
    """Columns customer_id, name, contract_owner_id, currency, credit_threshold, account_number,
    iban (several `;`-separated), mandate_id. PostgreSQL: COPY into staging tables and merged
    set-based; SQLite: upserted. One transaction; a second run adds nothing."""
    if engine.dialect.name == "postgresql":
        return _import_customers_by_copy(engine, path)
    now = utcnow()
    parsed = list(_customer_rows(path))
    seen: dict[str, int] = {}
    for row in parsed:
        if seen.setdefault(row[1], row[0]) != row[0]:
            _repeated(path, "customer_id", row[1], seen[row[1]], row[0])
    customers = [
        {
            "external_id": external_id,
            "name": name,
            "contract_owner_id": owner_id,
            "currency": currency,
            "credit_threshold": threshold,
            "account_number": account,
            "billing_cycle_id": cycle,
            "created_at": now,
        }
        for _, external_id, name, owner_id, currency, threshold, account, cycle, _, _ in parsed
    ]
    accounts = [(r[1], iban) for r in parsed for iban in r[8]]
    mandates = [(r[1], r[9]) for r in parsed if r[9]]
    owners = {r[3] for r in parsed}

    with engine.begin() as conn:
        known_owners = set(conn.execute(select(t.contract_owners.c.id)).scalars())
        # An owner named by id but not yet configured is created with the seed's defaults
        # (HALF_UP, 2 places); the admin API edits it later.
        insert_ignoring_conflicts(
            conn,
            t.contract_owners,
            [
                {"id": o, "name": f"Contract owner {o}", "created_at": now, "updated_at": now}
                for o in sorted(owners - known_owners)
            ],
            ["id"],
        )
        advance_id_sequence(conn, t.contract_owners)
        existing = set(conn.execute(select(t.customers.c.external_id)).scalars())
        _upsert_in_batches(
            conn,
            t.customers,
            customers,
            ["name", "contract_owner_id", "currency", "credit_threshold", "account_number",
             "billing_cycle_id"],
            "importing customers",
        )  # fmt: skip
        ids = dict(conn.execute(select(t.customers.c.external_id, t.customers.c.id)).all())
        insert_ignoring_conflicts(
            conn,
            t.customer_bank_accounts,
            [
                {"customer_id": ids[c], "iban": iban, "source": "import", "created_at": now}
                for c, iban in accounts
            ],
            ["customer_id", "iban"],
        )
        insert_ignoring_conflicts(
            conn,
            t.mandates,
            [
                {"customer_id": ids[c], "reference": m, "status": "active", "created_at": now}
                for c, m in mandates
            ],
            ["reference"],
        )
        # A new customer owes nothing yet, a changed threshold may change the credit status.
        recompute_customers(
            conn, {ids[c["external_id"]] for c in customers}, now, cause="customers imported"
        )
    _analyze_customers(engine, len(customers), len(accounts), len(mandates))
    created = sum(1 for c in customers if c["external_id"] not in existing)
    return ImportResult(rows=len(customers), created=created, updated=len(customers) - created)


def _import_customers_by_copy(engine: Engine, path: Path) -> ImportResult:
    now = utcnow()
    rows = 0
    accounts: list[tuple[str, str]] = []
    mandates: list[tuple[str, str]] = []
    with engine.begin() as conn:
        with staged.staging(conn, staged.CUSTOMERS) as copy:
            for row in _customer_rows(path):
                copy.write_row(row[:8])
                accounts.extend((row[1], iban) for iban in row[8])
                if row[9]:
                    mandates.append((row[1], row[9]))
                rows += 1
        with staged.staging(conn, staged.CUSTOMER_ACCOUNTS) as copy:
            for account in accounts:
                copy.write_row(account)
        with staged.staging(conn, staged.CUSTOMER_MANDATES) as copy:
            for mandate in mandates:
                copy.write_row(mandate)
        try:
            with conn.begin_nested():
                created = staged.merge_customers(conn, now)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _REPEATED:
                raise
            twice = staged.repeated(conn, staged.CUSTOMERS, "external_id")
            if twice is not None:
                _repeated(path, "customer_id", *twice)
            raise
        advance_id_sequence(conn, t.contract_owners)
        progress.report("importing customers", rows, rows)
        # A new customer owes nothing yet, a changed threshold may change the credit status.
        customers = staged.staged_customer_ids(conn, staged.CUSTOMERS, "external_id")
        recompute_customers(conn, customers, now, cause="customers imported")
    _analyze_customers(engine, rows, len(accounts), len(mandates))
    return ImportResult(rows=rows, created=created, updated=rows - created)


def _analyze_customers(engine: Engine, customers: int, accounts: int, mandates: int) -> None:
    analyze_after_load(
        engine,
        {
            t.customers: customers,
            t.customer_bank_accounts: accounts,
            t.mandates: mandates,
            t.customer_balances: customers,
            lt.credit_status: customers,
        },
    )


# numeric(19, 4): at most 15 digits before the point (PostgreSQL would refuse more, without a line).
_AMOUNT_LIMIT = Decimal(10) ** 15

# One validated invoice row: line, invoice_id, invoice_number, customer_id (external), kind,
# issue_date, due_date, currency, total, normalised number key.
InvoiceRow = tuple[int, str, str, str, str, date, date, str, Decimal, str]


def _invoice_rows(path: Path) -> Iterator[InvoiceRow]:
    """Every invoice of the file, each cell checked (the first bad one named by line and column).
    Written for a million rows: one csv.reader, cells by position, dates and currencies parsed
    once per distinct text, no dict per row."""
    source = str(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        at = {name: i for i, name in enumerate(header)}  # a repeated name: the last one counts
        missing = [c for c in INVOICE_COLUMNS if c not in at]
        if missing:
            raise FeedFormatError(source, "line 1", f"missing columns: {', '.join(missing)}")
        i_id, i_number, i_customer, i_kind, i_issue, i_due, i_currency, i_total = (
            at[c] for c in INVOICE_COLUMNS
        )
        width = len(header)
        dates: dict[str, date] = {}
        currencies: dict[str, str] = {}
        for row in reader:
            if not row:
                continue  # csv.DictReader skips empty lines too
            line = reader.line_num
            if len(row) != width:
                if len(row) > width:
                    raise FeedFormatError(
                        source, f"line {line}", "more cells than the header has columns"
                    )
                row += [""] * (width - len(row))
            kind = row[i_kind].strip() or "standard"
            if kind != "standard" and kind != "adhoc":
                raise FeedFormatError(source, f"line {line}, column kind", f"unknown kind {kind!r}")
            try:
                total = parse_amount(row[i_total].strip())
            except PayreconError as exc:
                raise FeedFormatError(source, f"line {line}, column total", exc.message) from None
            if total < 0:
                raise FeedFormatError(source, f"line {line}, column total", "must not be negative")
            if total >= _AMOUNT_LIMIT:
                raise FeedFormatError(
                    source, f"line {line}, column total", "more than 15 digits before the point"
                )
            external_id = row[i_id].strip()
            if not external_id:
                raise FeedFormatError(
                    source, f"line {line}, column invoice_id", "required, but empty"
                )
            number = row[i_number].strip()
            if not number:
                raise FeedFormatError(
                    source, f"line {line}, column invoice_number", "required, but empty"
                )
            raw = row[i_issue].strip()
            issue = dates.get(raw) or dates.setdefault(
                raw, _cell(path, line, "issue_date", date.fromisoformat, raw)
            )
            raw = row[i_due].strip()
            due = dates.get(raw) or dates.setdefault(
                raw, _cell(path, line, "due_date", date.fromisoformat, raw)
            )
            raw = row[i_currency].strip()
            currency = currencies.get(raw) or currencies.setdefault(
                raw, _cell(path, line, "currency", _currency, raw)
            )
            yield (
                line,
                external_id,
                number,
                row[i_customer].strip(),
                kind,
                issue,
                due,
                currency,
                total,
                invoice_key(number),
            )


def _first_repeat(path: Path, rows: list[InvoiceRow]) -> None:
    """Refuse an invoice id or number given twice in one file (which line would win is not the
    importer's guess to make)."""
    for column, values in (
        ("invoice_id", [(r[1], r[0]) for r in rows]),
        ("invoice_number", [(r[2], r[0]) for r in rows]),
    ):
        seen: dict[str, int] = {}
        for value, line in values:
            first = seen.setdefault(value, line)
            if first != line:
                _repeated(path, column, value, first, line)


def _repeated(path: Path, column: str, value: str, first: int, line: int) -> None:
    raise FeedFormatError(
        str(path), f"line {line}, column {column}", f"{value!r} is on line {first} already"
    )


def import_invoices(engine: Engine, path: Path) -> ImportResult:
    """Columns invoice_id, invoice_number, customer_id, kind, issue_date, due_date, currency,
    total. PostgreSQL: streamed by COPY into a staging table and merged set-based; SQLite:
    upserted 5,000 rows a statement. Either way one transaction, and a second run adds nothing."""
    if engine.dialect.name == "postgresql":
        return _import_invoices_by_copy(engine, path)
    now = utcnow()
    parsed = list(_invoice_rows(path))
    _first_repeat(path, parsed)
    with engine.begin() as conn:
        ids = dict(conn.execute(select(t.customers.c.external_id, t.customers.c.id)).all())
        existing = set(conn.execute(select(t.invoices.c.external_id)).scalars())
        rows: list[dict[str, Any]] = []
        for line, external_id, number, customer, kind, issue, due, currency, total, key in parsed:
            if customer not in ids:
                raise FeedFormatError(
                    str(path), f"line {line}, column customer_id", f"unknown customer {customer!r}"
                )
            rows.append(
                {
                    "external_id": external_id,
                    "invoice_number": number,
                    "customer_id": ids[customer],
                    "kind": kind,
                    "issue_date": issue,
                    "due_date": due,
                    "currency": currency,
                    "total": total,
                    "open_amount": total,
                    "created_at": now,
                    "number_key": key,
                }
            )
        _refuse_over_allocated(conn, rows)
        done = 0
        for batch in batched(rows, 5000):
            _upsert_invoices(conn, batch)
            done += len(batch)
            progress.report("importing invoices", done, len(rows))
        # What the customers owe moved: their cached balances follow in the same transaction.
        recompute_customers(conn, {r["customer_id"] for r in rows}, now, cause="invoices imported")
    _analyze_invoices(engine, len(rows))
    created = sum(1 for r in rows if r["external_id"] not in existing)
    return ImportResult(rows=len(rows), created=created, updated=len(rows) - created)


def _import_invoices_by_copy(engine: Engine, path: Path) -> ImportResult:
    now = utcnow()
    rows = 0
    with engine.begin() as conn:
        with staged.staging(conn, staged.INVOICES) as copy:
            for row in _invoice_rows(path):
                copy.write_row(row)
                rows += 1
                if rows % 50_000 == 0:
                    progress.report("importing invoices", rows)
        unknown = staged.unknown_customer(conn)
        if unknown is not None:
            line, customer = unknown
            raise FeedFormatError(
                str(path), f"line {line}, column customer_id", f"unknown customer {customer!r}"
            )
        over = staged.over_allocated(conn)
        if over:
            raise Conflict(
                f"total below the amount already allocated for invoices: {', '.join(over)}",
                details={"invoices": over},
            )
        try:
            with conn.begin_nested():
                created, moved = staged.merge_invoices(conn, now)
        except DBAPIError as exc:
            # An id given twice (the merge would update its row twice) or a number given twice:
            # looked for only now, so a good file pays nothing for the check.
            if getattr(exc.orig, "sqlstate", None) not in _REPEATED:
                raise
            for column in ("external_id", "invoice_number"):
                twice = staged.repeated(conn, staged.INVOICES, column)
                if twice is not None:
                    name = "invoice_id" if column == "external_id" else column
                    _repeated(path, name, *twice)
            raise
        progress.report("importing invoices", rows, rows)
        # What the customers owe moved: their cached balances follow in the same transaction
        # (none when the file changed nothing, as on a second run).
        recompute_customers(conn, moved, now, cause="invoices imported")
    _analyze_invoices(engine, rows if moved else 0)  # a file that changed nothing wrote nothing
    return ImportResult(rows=rows, created=created, updated=rows - created)


def _analyze_invoices(engine: Engine, rows: int) -> None:
    analyze_after_load(
        engine,
        {
            t.invoices: rows,
            t.customer_balances: rows,
            lt.credit_status: rows,
        },
    )


def _refuse_over_allocated(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """A re-import may not lower an invoice's total below what is already allocated to it."""
    totals = {r["external_id"]: r["total"] for r in rows}
    over: list[str] = []
    i = t.invoices.c
    for batch in batched(sorted(totals), 900):
        for row in conn.execute(
            select(i.external_id, i.invoice_number, i.total, i.open_amount).where(
                i.external_id.in_(batch)
            )
        ):
            if row.total - row.open_amount > totals[row.external_id]:
                over.append(row.invoice_number)
    if over:
        raise Conflict(
            f"total below the amount already allocated for invoices: {', '.join(sorted(over))}",
            details={"invoices": sorted(over)},
        )


def _upsert_invoices(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new invoices (open for their whole total); on a re-import, a changed total moves
    the kept open amount by the difference, so what is allocated stays allocated."""
    stmt = dialect_insert(conn, t.invoices)
    changed = ("invoice_number", "kind", "issue_date", "due_date", "currency", "total",
               "number_key")  # fmt: skip
    stmt = stmt.on_conflict_do_update(
        index_elements=["external_id"],
        set_={
            **{c: stmt.excluded[c] for c in changed},
            "open_amount": t.invoices.c.open_amount + stmt.excluded.total - t.invoices.c.total,
        },
    )
    conn.execute(stmt, rows)
