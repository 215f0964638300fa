"""Reconcile pending statement lines: match them, record payments and allocations, mark the lines.

Work goes in chunks, one transaction each: read a chunk of pending lines and every invoice they
could reference (two set-based queries), let the domain matcher decide, then write the payments,
allocations and line statuses in bulk. On PostgreSQL a transaction-scoped advisory lock serialises
reconcilers, so two workers never allocate the same open amount twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text, update

from payrecon.domain.matching import InvoiceBook, MatchResult, candidate_numbers, match_lines
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.store import tables as t
from payrecon.store.queries import open_invoices_by_number, pending_lines

log = get_logger(__name__)
_RECONCILE_LOCK = 7_402_113_001  # pg_advisory_xact_lock key of the reconciler


@dataclass(slots=True)
class ReconcileResult:
    lines: int = 0
    matched: int = 0
    unmatched: int = 0
    allocations: int = 0
    amount_allocated: Decimal = Decimal(0)
    customer_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "allocations": self.allocations,
            "amount_allocated": f"{self.amount_allocated:f}",
            "customers": len(self.customer_ids),
        }


def reconcile_pending(engine: Engine, *, chunk_size: int = 5000) -> ReconcileResult:
    """Match every pending line; returns the totals of this run."""
    total = ReconcileResult()
    while True:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RECONCILE_LOCK})
            lines = pending_lines(conn, chunk_size)
            if not lines:
                break
            book = InvoiceBook(open_invoices_by_number(conn, candidate_numbers(lines)))
            result = match_lines(lines, book)
            _write(conn, result, {line.id: line for line in lines})
        total.lines += len(lines)
        total.matched += len(result.decisions)
        total.unmatched += len(result.problems)
        total.allocations += len(result.allocations)
        total.amount_allocated += sum((a.amount for a in result.allocations), Decimal(0))
        total.customer_ids.update(d.customer_id for d in result.decisions)
        log.info(
            "match.chunk.done",
            lines=len(lines),
            matched=len(result.decisions),
            unmatched=len(result.problems),
        )
    return total


def _write(conn: Connection, result: MatchResult, lines: dict[int, Any]) -> None:
    now = utcnow()
    line_rows = {
        r.id: r
        for r in conn.execute(
            t.statement_lines.select().where(t.statement_lines.c.id.in_(list(lines)))
        )
    }
    payment_rows = []
    for decision in result.decisions:
        line = line_rows[decision.line_id]
        payment_rows.append(
            {
                "customer_id": decision.customer_id,
                "statement_line_id": line.id,
                "source": "bank",
                "external_id": line.external_id,
                "payment_mode": "BankTransfer",
                "date": line.booking_date,
                "amount": line.amount,
                "currency": line.currency,
                "exchange_rate": Decimal(1),
                "bank_charges": Decimal(0),
                "tax_amount_withheld": Decimal(0),
                "reference_number": line.external_id,
                "description": line.remittance,
                "status": "active",
                "created_at": now,
            }
        )
    payment_ids: dict[int, int] = {}
    if payment_rows:
        inserted = conn.execute(
            t.payments.insert().returning(
                t.payments.c.id, t.payments.c.statement_line_id, sort_by_parameter_order=True
            ),
            payment_rows,
        )
        payment_ids = {row.statement_line_id: row.id for row in inserted}
    allocation_rows = [
        {
            "payment_id": payment_ids[a.line_id],
            "invoice_id": a.invoice_id,
            "amount": a.amount,
            "currency": line_rows[a.line_id].currency,
            "rule": a.rule,
            "confidence": a.confidence,
            "evidence": json.loads(json.dumps(dict(a.evidence))),
            "created_at": now,
        }
        for a in result.allocations
    ]
    if allocation_rows:
        conn.execute(t.allocations.insert(), allocation_rows)
    status_rows = [
        {"b_id": d.line_id, "b_status": "matched", "b_reason": None, "b_customer": d.customer_id}
        for d in result.decisions
    ] + [
        {
            "b_id": p.line_id,
            "b_status": "unmatched",
            "b_reason": f"{p.kind}: {p.reason}",
            "b_customer": None,
        }
        for p in result.problems
    ]
    if status_rows:
        conn.execute(
            update(t.statement_lines)
            .where(t.statement_lines.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                reason=bindparam("b_reason"),
                customer_id=bindparam("b_customer"),
            ),
            status_rows,
        )
