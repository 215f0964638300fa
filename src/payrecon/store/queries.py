"""Set-based reads shared by the services: each loads what a whole chunk of lines needs with a
few queries (`store.bulk.among`: one array parameter on PostgreSQL, IN lists on SQLite), never
one query per line."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select, text, type_coerce

from payrecon.domain.matching import (
    CustomerDirectory,
    LineToMatch,
    LinkTarget,
    OpenInvoice,
    OriginalPayment,
    invoice_key,
    normalise_account,
)
from payrecon.store import admin_tables as at
from payrecon.store import ledger_tables as lt
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import SQLITE_BATCH, among, batched
from payrecon.store.copy import update_from_rows
from payrecon.store.ledger_reads import invoices_where
from payrecon.store.types import Amount

_ZERO = Decimal(0)
# The pg_advisory_xact_lock key of `sync_invoice_keys` (the ledger's writers take 7_402_113_000+).
INVOICE_KEYS_LOCK = 7_402_112_000


def _invoices(conn: Connection, condition: Any, *, open_only: bool) -> list[OpenInvoice]:
    """The invoices `condition` selects, with their kept open amounts (an indexed read that
    costs the same on the first chunk and the thousandth)."""
    return invoices_where(conn, condition, open_only=open_only)


def invoices_by_keys(conn: Connection, keys: Iterable[str]) -> list[OpenInvoice]:
    """The invoices whose normalised numbers are among `keys`, settled ones too (a reference to
    a settled invoice still says who paid)."""
    found: list[OpenInvoice] = []
    for condition in among(conn, t.invoices.c.number_key, keys):
        found.extend(_invoices(conn, condition, open_only=False))
    return found


def invoices_by_ids(conn: Connection, ids: Iterable[int]) -> list[OpenInvoice]:
    found: list[OpenInvoice] = []
    for condition in among(conn, t.invoices.c.id, ids):
        found.extend(_invoices(conn, condition, open_only=False))
    return found


def open_invoices_of_customers(conn: Connection, customer_ids: Iterable[int]) -> list[OpenInvoice]:
    found: list[OpenInvoice] = []
    for condition in among(conn, t.invoices.c.customer_id, customer_ids):
        found.extend(_invoices(conn, condition, open_only=True))
    return found


def sync_invoice_keys(conn: Connection, *, batch_size: int = 5000) -> int:
    """Give every invoice without its normalised key one; returns how many. The imports write
    the key with the invoice (and a new one when they renumber it), so this finds only invoices
    written otherwise: an index read, nothing when there are none. On PostgreSQL one
    transaction at a time does it (a run's files are staged side by side, each syncing first):
    a second waits, then finds nothing left."""
    inv = t.invoices.c
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INVOICE_KEYS_LOCK})
    stale = conn.execute(
        select(inv.id, inv.invoice_number).where(inv.number_key.is_(None)).order_by(inv.id)
    ).all()
    for batch in batched(stale, batch_size):
        keys = [(r.id, invoice_key(r.invoice_number)) for r in batch]
        update_from_rows(conn, t.invoices, "id", ["number_key"], keys)
    return len(stale)


def invoice_formats(conn: Connection) -> dict[int, str | None]:
    """Each contract owner's invoice-number format (None: the rule set's default)."""
    rows = conn.execute(
        select(t.contract_owners.c.id, t.contract_owners.c.invoice_number_format)
    ).all()
    return {r.id: r.invoice_number_format for r in rows}


def pending_lines(conn: Connection, limit: int, *, partition: int) -> list[LineToMatch]:
    """The partition's next pending lines in booking-date order, then file order, each with the
    contract owner whose account it was booked on (whose rules match it). Lines of a file whose
    chunks are not all in (or not yet checked against its totals) wait."""
    sl, f = t.statement_lines, t.feed_files
    # The files not complete, read first and excluded by value: as a sub-select the planner
    # joins it, reads every pending line of the partition and sorts them (246 ms a chunk at
    # 53,000 pending lines, growing with the partition); as a filter the partial index
    # `ix_statement_lines_pending_by_partition` gives the lines in order and the scan stops at
    # `limit` (5 ms). Lines are written in the transaction that marks their file processed, so
    # the list is nearly always empty. Only files still `received` count: a quarantined file
    # never has lines, and counting those would make the list grow with the history.
    waiting = list(conn.execute(select(f.c.id).where(f.c.status == "received")).scalars())
    query = select(sl).where(sl.c.status == "pending", sl.c.partition == partition)
    if waiting:
        query = query.where(sl.c.feed_file_id.not_in(waiting))
    rows = conn.execute(
        query.order_by(sl.c.booking_date, sl.c.feed_file_id, sl.c.seq).limit(limit)
    ).all()
    return [line_to_match(r) for r in rows]


def line_to_match(r: Any) -> LineToMatch:
    """A statement_lines row as the matcher reads it."""
    return LineToMatch(
        id=r.id,
        booking_date=r.booking_date,
        amount=r.amount,
        currency=r.currency,
        remittance=r.remittance,
        structured_reference=r.structured_reference,
        counterparty_name=r.counterparty_name,
        counterparty_account=r.counterparty_account,
        end_to_end_id=r.end_to_end_id,
        mandate_id=r.mandate_id,
        bank_transaction_code=r.bank_transaction_code,
        return_reason=r.return_reason,
        bank_reference=r.external_id,
        account=r.account,
        contract_owner_id=r.contract_owner_id,
    )


def line_suggestions(conn: Connection, line_ids: Collection[int]) -> dict[int, list[Any]]:
    """The suggested customers of each line (with the customer's name), best first."""
    found: dict[int, list[Any]] = {i: [] for i in line_ids}
    s = mt.line_suggestions.c
    for condition in among(conn, s.statement_line_id, line_ids):
        rows = conn.execute(
            select(s.statement_line_id, s.customer_id, t.customers.c.name, s.score, s.basis)
            .join(t.customers, t.customers.c.id == s.customer_id)
            .where(condition)
            .order_by(s.statement_line_id, s.score.desc(), s.customer_id)
        ).all()
        for r in rows:
            found[r.statement_line_id].append(r)
    return found


def customer_directory(
    conn: Connection,
    lines: Collection[LineToMatch],
    tokens: Collection[str],
    invoice_customers: Collection[int],
) -> CustomerDirectory:
    """Who is behind the mandates, payer accounts, account numbers and links of `lines` (and
    `tokens` of their texts), with the contract owner of each customer named."""
    mandates = sorted({ln.mandate_id for ln in lines if ln.mandate_id})
    accounts = sorted(
        {normalise_account(ln.counterparty_account) for ln in lines if ln.counterparty_account}
    )
    numbers = sorted(set(accounts) | {token.upper() for token in tokens} | set(tokens))
    links = sorted({v for ln in lines for v in (ln.end_to_end_id, ln.structured_reference) if v})
    by_mandate: dict[str, int] = {}
    for condition in among(conn, t.mandates.c.reference, mandates):
        rows = conn.execute(
            select(t.mandates.c.reference, t.mandates.c.customer_id).where(condition)
        ).all()
        by_mandate.update({r.reference: r.customer_id for r in rows})
    by_account: dict[str, set[int]] = {}
    for condition in among(conn, t.customer_bank_accounts.c.iban, accounts):
        rows = conn.execute(
            select(t.customer_bank_accounts.c.iban, t.customer_bank_accounts.c.customer_id).where(
                condition
            )
        ).all()
        for r in rows:
            by_account.setdefault(normalise_account(r.iban), set()).add(r.customer_id)
    by_number: dict[str, set[int]] = {}
    for condition in among(conn, t.customers.c.account_number, numbers):
        rows = conn.execute(
            select(t.customers.c.account_number, t.customers.c.id).where(condition)
        ).all()
        for r in rows:
            by_number.setdefault(r.account_number.upper(), set()).add(r.id)
    by_link: dict[str, LinkTarget] = {}
    for condition in among(conn, at.payment_links.c.external_id, links):
        linked = conn.execute(
            select(
                at.payment_links.c.external_id,
                at.payment_links.c.customer_id,
                at.payment_links.c.invoice_id,
            ).where(condition)
        ).all()
        by_link.update({r.external_id: LinkTarget(r.customer_id, r.invoice_id) for r in linked})
    named = (
        set(by_mandate.values())
        | {c for cs in (*by_account.values(), *by_number.values()) for c in cs}
        | {target.customer_id for target in by_link.values()}
        | set(invoice_customers)
    )
    return CustomerDirectory(
        mandates=by_mandate,
        bank_accounts={k: tuple(sorted(v)) for k, v in by_account.items()},
        account_numbers={k: tuple(sorted(v)) for k, v in by_number.items()},
        payment_links=by_link,
        owners=customer_owners(conn, named),
    )


def customer_owners(conn: Connection, customer_ids: Iterable[int]) -> dict[int, int]:
    owners: dict[int, int] = {}
    for condition in among(conn, t.customers.c.id, customer_ids):
        rows = conn.execute(
            select(t.customers.c.id, t.customers.c.contract_owner_id).where(condition)
        ).all()
        owners.update({r.id: r.contract_owner_id for r in rows})
    return owners


def customer_names(conn: Connection) -> list[tuple[int, str, int | None]]:
    """(id, name, contract owner) of every customer, for payer-name suggestions."""
    rows = conn.execute(
        select(t.customers.c.id, t.customers.c.name, t.customers.c.contract_owner_id).order_by(
            t.customers.c.id
        )
    ).all()
    return [(r.id, r.name, r.contract_owner_id) for r in rows]


def earlier_payments(
    conn: Connection, debits: Collection[LineToMatch], tokens: Collection[str]
) -> list[OriginalPayment]:
    """Credits with live payments that the debits might undo: by end-to-end id, mandate, payer
    account, or a bank reference quoted in their texts (on the same account)."""
    sl, p = t.statement_lines, t.payments
    e2e = sorted({d.end_to_end_id for d in debits if d.end_to_end_id})
    mandates = sorted({d.mandate_id for d in debits if d.mandate_id})
    accounts = sorted(
        {
            form
            for d in debits
            if d.counterparty_account
            for form in (d.counterparty_account, normalise_account(d.counterparty_account))
        }
    )
    conditions: list[ColumnElement[bool]] = []
    for column, values in (
        (sl.c.end_to_end_id, e2e),
        (sl.c.mandate_id, mandates),
        (sl.c.counterparty_account, accounts),
    ):
        conditions.extend(among(conn, column, values))
    for account in sorted({d.account for d in debits if d.account}):
        for condition in among(conn, sl.c.external_id, tokens):
            conditions.append(and_(sl.c.account == account, condition))
    found: dict[int, Any] = {}
    for condition in conditions:
        rows = conn.execute(
            select(sl, p.c.id.label("payment_id"), p.c.customer_id.label("payer"))
            .join(p, p.c.statement_line_id == sl.c.id)
            .where(condition, p.c.status == "active", sl.c.amount > 0)
        ).all()
        found.update({r.id: r for r in rows})
    payment_ids = [r.payment_id for r in found.values()]
    refunded = _refunded(conn, payment_ids)
    takes = _takes(conn, payment_ids)
    return [
        OriginalPayment(
            line_id=r.id,
            customer_id=r.payer,
            amount=r.amount,
            currency=r.currency,
            booking_date=r.booking_date,
            end_to_end_id=r.end_to_end_id,
            mandate_id=r.mandate_id,
            bank_reference=r.external_id,
            counterparty_account=(
                normalise_account(r.counterparty_account) if r.counterparty_account else None
            ),
            refunded=refunded.get(r.payment_id, Decimal(0)),
            takes=tuple(takes.get(r.payment_id, ())),
        )
        for r in sorted(found.values(), key=lambda row: row.id)
    ]


def _takes(
    conn: Connection, payment_ids: Iterable[int]
) -> dict[int, list[tuple[OpenInvoice, Decimal]]]:
    """What each payment's allocations and settlements took from which invoice."""
    out: dict[int, list[tuple[OpenInvoice, Decimal]]] = {}
    settled = mt.payment_settlements
    for batch in batched(sorted(set(payment_ids)), SQLITE_BATCH):
        taken = [
            (r.payment_id, r.invoice_id, r.amount)
            for table in (t.allocations, settled)
            for condition in among(conn, table.c.payment_id, batch)
            for r in conn.execute(
                select(table.c.payment_id, table.c.invoice_id, table.c.amount).where(condition)
            ).all()
        ]
        invoices = {i.id: i for i in invoices_by_ids(conn, {i for _, i, _ in taken})}
        for payment_id, invoice_id, amount in sorted(taken):
            out.setdefault(payment_id, []).append((invoices[invoice_id], amount))
    return out


def _refunded(conn: Connection, payment_ids: Iterable[int]) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for condition in among(conn, lt.refunds.c.payment_id, payment_ids):
        rows = conn.execute(
            select(
                lt.refunds.c.payment_id,
                type_coerce(func.sum(lt.refunds.c.amount), Amount()).label("refunded"),
            )
            .where(condition)
            .group_by(lt.refunds.c.payment_id)
        ).all()
        out.update({r.payment_id: r.refunded for r in rows})
    return out
