"""Read models: the export files of DESIGN.md and the reconciliation summary.

The exports are written through `services.spreadsheet`, so a hostile bank reference or payer name
(`=HYPERLINK(...)`) opens in a spreadsheet as text, not as a formula.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TextIO

from sqlalchemy import Engine, case, func, select

from payrecon.domain.money import money_text
from payrecon.services.spreadsheet import SpreadsheetSafeWriter
from payrecon.store import tables as t
from payrecon.store.ledger_reads import payment_ledger_amount

ALLOCATION_COLUMNS = (
    "external_id",
    "invoice_number",
    "amount_applied",
    "currency",
    "rule",
    "confidence",
)
UNMATCHED_COLUMNS = ("external_id", "amount", "currency", "reason")


def _allocation_rows(engine: Engine) -> Iterator[tuple[str, ...]]:
    query = (
        select(
            func.coalesce(t.statement_lines.c.external_id, t.payments.c.external_id),
            t.invoices.c.invoice_number,
            t.allocations.c.amount,
            t.allocations.c.currency,
            t.allocations.c.rule,
            t.allocations.c.confidence,
        )
        .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
        .join(t.invoices, t.invoices.c.id == t.allocations.c.invoice_id)
        .outerjoin(t.statement_lines, t.statement_lines.c.id == t.payments.c.statement_line_id)
        .where(t.payments.c.status == "active")
        .order_by(t.allocations.c.id)
    )
    with engine.connect() as conn:
        for ext, number, amount, currency, rule, confidence in conn.execute(query):
            yield (ext, number, money_text(amount), currency, rule, f"{confidence:.3f}")


def _unmatched_rows(engine: Engine) -> Iterator[tuple[str, ...]]:
    query = (
        select(
            t.statement_lines.c.external_id,
            t.statement_lines.c.amount,
            t.statement_lines.c.currency,
            t.statement_lines.c.reason,
        )
        .where(t.statement_lines.c.status == "unmatched")
        .order_by(t.statement_lines.c.booking_date, t.statement_lines.c.id)
    )
    with engine.connect() as conn:
        for ext, amount, currency, reason in conn.execute(query):
            yield (ext, money_text(amount), currency, reason or "")


def export_csv(engine: Engine, what: str, out: TextIO) -> int:
    """Write `allocations` or `unmatched` as CSV; returns the number of data rows."""
    header, rows = (
        (ALLOCATION_COLUMNS, _allocation_rows(engine))
        if what == "allocations"
        else (UNMATCHED_COLUMNS, _unmatched_rows(engine))
    )
    writer = SpreadsheetSafeWriter(out)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class Debtor:
    customer_id: int
    external_id: str
    name: str
    balance: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Summary:
    files: int
    files_quarantined: int
    lines: int
    matched: int
    unmatched: int
    pending: int
    amount_in: Decimal
    amount_allocated: Decimal
    amount_unused: Decimal
    amount_unmatched: Decimal
    most_indebted: list[Debtor]


def reconciliation_summary(engine: Engine, *, top: int = 3) -> Summary:
    """Figures over everything stored, so a second run over the same data prints the same."""
    sl = t.statement_lines
    zero = Decimal(0)
    with engine.connect() as conn:
        files = conn.execute(
            select(
                func.count(),
                func.coalesce(
                    func.sum(case((t.feed_files.c.status == "quarantined", 1), else_=0)), 0
                ),
            )
        ).one()
        lines = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((sl.c.status == "matched", 1), else_=0)), 0),
                func.coalesce(func.sum(case((sl.c.status == "unmatched", 1), else_=0)), 0),
                func.coalesce(func.sum(case((sl.c.status == "pending", 1), else_=0)), 0),
            ).select_from(sl)
        ).one()
        amount_in = conn.execute(select(func.sum(sl.c.amount)).where(sl.c.amount > 0)).scalar()
        unmatched_amount = conn.execute(
            select(func.sum(sl.c.amount)).where(sl.c.status == "unmatched", sl.c.amount > 0)
        ).scalar()
        allocated = conn.execute(
            select(func.sum(t.allocations.c.amount))
            .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
            .where(t.payments.c.status == "active")
        ).scalar()
        paid = conn.execute(
            select(func.sum(payment_ledger_amount())).where(t.payments.c.status == "active")
        ).scalar()
        debtors = conn.execute(
            select(
                t.customers.c.id,
                t.customers.c.external_id,
                t.customers.c.name,
                t.customer_balances.c.balance,
                t.customer_balances.c.currency,
            )
            .join(t.customer_balances, t.customer_balances.c.customer_id == t.customers.c.id)
            .where(t.customer_balances.c.balance < 0)
            .order_by(t.customer_balances.c.balance, t.customers.c.id)
            .limit(top)
        ).all()
    return Summary(
        files=files[0],
        files_quarantined=files[1],
        lines=lines[0],
        matched=lines[1],
        unmatched=lines[2],
        pending=lines[3],
        amount_in=amount_in or zero,
        amount_allocated=allocated or zero,
        amount_unused=(paid or zero) - (allocated or zero),
        amount_unmatched=unmatched_amount or zero,
        most_indebted=[Debtor(r[0], r[1], r[2], r[3], r[4]) for r in debtors],
    )
