"""The PostgreSQL side of the CSV imports: validated rows streamed by COPY into a temporary staging
table, checked there, and merged into the real tables by one set-based statement each.

    with staging(conn, INVOICES) as copy:        a temporary table (dropped at commit) and its COPY
        copy.write_row((line, ...))
    unknown_customer(conn)                       the first staged line naming no known customer
    over_allocated(conn)                         invoice numbers whose new total is below what is
                                                 allocated to them
    merge_invoices(conn, now)                    INSERT ... SELECT ... ON CONFLICT DO UPDATE;
                                                 returns how many were created, and the
                                                 customers whose invoices changed
    merge_customers(conn, now)                   likewise, with their owners, accounts, mandates
    repeated(conn, table, column)                the first staged value that repeats, and its lines

All of it runs in the caller's transaction, so a refused file writes nothing. Every staged row
keeps the line of the file it came from, so a check that fails in SQL still names it. Table and
column names below are ours, never input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

INVOICES = (
    "_import_invoices",
    # `id` is drawn from the invoices' sequence as each row arrives (see `staging`): a new
    # invoice is inserted with it, so nothing has to be joined back by external id.
    "id bigint DEFAULT nextval('invoices_id_seq'), line integer, external_id text,"
    " invoice_number text, customer text, kind text, issue_date date, due_date date,"
    " currency text, total numeric, number_key text",
)
CUSTOMERS = (
    "_import_customers",
    "line integer, external_id text, name text, contract_owner_id bigint, currency text,"
    " credit_threshold numeric, account_number text, billing_cycle_id bigint",
)
CUSTOMER_ACCOUNTS = ("_import_customer_accounts", "external_id text, iban text")
CUSTOMER_MANDATES = ("_import_customer_mandates", "external_id text, reference text")


@contextmanager
def staging(conn: Connection, table: tuple[str, str]) -> Iterator[Any]:
    """A temporary staging table (dropped at commit) and a psycopg COPY into it, in `conn`'s
    transaction; the table is analysed once filled, so the merges are planned for its size."""
    name, declared = table
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({declared}) ON COMMIT DROP"))
    columns = ", ".join(part.split()[0] for part in declared.split(",") if " DEFAULT " not in part)
    dbapi: Any = conn.connection.dbapi_connection  # psycopg's, in the transaction
    with dbapi.cursor() as cursor, cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
        yield copy
    conn.execute(text(f"ANALYZE {name}"))


def repeated(conn: Connection, table: tuple[str, str], column: str) -> tuple[str, int, int] | None:
    """The first value of `column` staged twice: (value, its first line, the line repeating it)."""
    row = conn.execute(
        text(
            f"SELECT {column}, min(line), (array_agg(line ORDER BY line))[2] FROM {table[0]}"  # noqa: S608
            f" GROUP BY {column} HAVING count(*) > 1 ORDER BY 3 LIMIT 1"
        )
    ).first()
    return None if row is None else (str(row[0]), int(row[1]), int(row[2]))


def unknown_customer(conn: Connection) -> tuple[int, str] | None:
    """The first staged invoice (line, customer) whose customer is not known."""
    row = conn.execute(
        text(
            "SELECT s.line, s.customer FROM _import_invoices s"
            " WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.external_id = s.customer)"
            " ORDER BY s.line LIMIT 1"
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def over_allocated(conn: Connection) -> list[str]:
    """Numbers of the invoices whose staged total is below what is already allocated to them."""
    return sorted(
        conn.execute(
            text(
                "SELECT i.invoice_number FROM _import_invoices s"
                " JOIN invoices i ON i.external_id = s.external_id"
                " WHERE i.total - i.open_amount > s.total"
            )
        ).scalars()
    )


def merge_invoices(conn: Connection, now: datetime) -> tuple[int, set[int]]:
    """Insert the staged invoices that are new (open for their whole total); for one that exists,
    take the file's number, kind, dates, currency and total, moving the kept open amount by the
    total's difference (what is allocated stays allocated); an unchanged row is not rewritten.
    Each carries its normalised number (`number_key`, staged beside it), so a renumbered
    invoice gets its new key in the same statement. Returns how many invoices were created,
    and the customers of those created or changed (whose balances moved)."""
    created = conn.execute(
        text(
            "WITH merged AS ("
            " INSERT INTO invoices AS i (id, external_id, invoice_number, customer_id, kind,"
            "  issue_date, due_date, currency, total, open_amount, created_at, number_key)"
            " SELECT s.id, s.external_id, s.invoice_number, c.id, s.kind, s.issue_date,"
            "  s.due_date, s.currency, s.total, s.total, :now, s.number_key"
            " FROM _import_invoices s JOIN customers c ON c.external_id = s.customer"
            " ON CONFLICT (external_id) DO UPDATE SET"
            "  invoice_number = excluded.invoice_number, kind = excluded.kind,"
            "  issue_date = excluded.issue_date, due_date = excluded.due_date,"
            "  currency = excluded.currency, total = excluded.total,"
            "  open_amount = i.open_amount + excluded.total - i.total,"
            "  number_key = excluded.number_key"
            " WHERE (i.invoice_number, i.kind, i.issue_date, i.due_date, i.currency, i.total,"
            "  i.number_key) IS DISTINCT FROM (excluded.invoice_number, excluded.kind,"
            "  excluded.issue_date, excluded.due_date, excluded.currency, excluded.total,"
            "  excluded.number_key)"
            " RETURNING i.customer_id, (i.xmax = 0) AS created"
            ") SELECT count(*) FILTER (WHERE created), array_agg(DISTINCT customer_id)"
            " FROM merged"
        ),
        {"now": now},
    ).one()
    return int(created[0]), set(created[1] or ())


def merge_customers(conn: Connection, now: datetime) -> int:
    """Create the contract owners the staged customers name and that are not configured yet (the
    seed's defaults), insert the new customers and update the changed ones (an unchanged row is
    not rewritten), then add their bank accounts and mandates that are not known yet. Returns how
    many customers were created."""
    conn.execute(
        text(
            "INSERT INTO contract_owners (id, name, created_at, updated_at)"
            " SELECT DISTINCT contract_owner_id, 'Contract owner ' || contract_owner_id, :now, :now"
            " FROM _import_customers ORDER BY 1 ON CONFLICT (id) DO NOTHING"
        ),
        {"now": now},
    )
    created = conn.execute(
        text(
            "WITH merged AS ("
            " INSERT INTO customers AS c (external_id, name, contract_owner_id, currency,"
            "  credit_threshold, account_number, billing_cycle_id, created_at)"
            " SELECT external_id, name, contract_owner_id, currency, credit_threshold,"
            "  account_number, billing_cycle_id, :now FROM _import_customers"
            " ON CONFLICT (external_id) DO UPDATE SET"
            "  name = excluded.name, contract_owner_id = excluded.contract_owner_id,"
            "  currency = excluded.currency, credit_threshold = excluded.credit_threshold,"
            "  account_number = excluded.account_number,"
            "  billing_cycle_id = excluded.billing_cycle_id"
            " WHERE (c.name, c.contract_owner_id, c.currency, c.credit_threshold,"
            "  c.account_number, c.billing_cycle_id) IS DISTINCT FROM (excluded.name,"
            "  excluded.contract_owner_id, excluded.currency, excluded.credit_threshold,"
            "  excluded.account_number, excluded.billing_cycle_id)"
            " RETURNING (c.xmax = 0) AS created"
            ") SELECT count(*) FILTER (WHERE created) FROM merged"
        ),
        {"now": now},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO customer_bank_accounts (customer_id, iban, source, created_at)"
            " SELECT c.id, a.iban, 'import', :now FROM _import_customer_accounts a"
            " JOIN customers c ON c.external_id = a.external_id"
            " ON CONFLICT (customer_id, iban) DO NOTHING"
        ),
        {"now": now},
    )
    conn.execute(
        text(
            "INSERT INTO mandates (customer_id, reference, status, created_at)"
            " SELECT c.id, m.reference, 'active', :now FROM _import_customer_mandates m"
            " JOIN customers c ON c.external_id = m.external_id"
            " ON CONFLICT (reference) DO NOTHING"
        ),
        {"now": now},
    )
    return int(created)


def staged_customer_ids(conn: Connection, table: tuple[str, str], column: str) -> list[int]:
    """The ids of the customers the staged rows name by external id in `column`."""
    return list(
        conn.execute(
            text(
                f"SELECT DISTINCT c.id FROM {table[0]} s"  # noqa: S608
                f" JOIN customers c ON c.external_id = s.{column}"
            )
        ).scalars()
    )


__all__ = [
    "CUSTOMERS",
    "CUSTOMER_ACCOUNTS",
    "CUSTOMER_MANDATES",
    "INVOICES",
    "merge_customers",
    "merge_invoices",
    "over_allocated",
    "repeated",
    "staged_customer_ids",
    "staging",
    "unknown_customer",
]
