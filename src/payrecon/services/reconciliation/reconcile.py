"""Reconcile pending statement lines: match them by the declared rules, record payments,
allocations, settlements and reversals, and mark the lines (unmatched ones with their reason and
suggestions, for the review queue).

Work goes in chunks, one transaction each: read a chunk of pending lines (booking date, file,
sequence), then everything they could need with a few set-based queries (the invoices they
reference by normalised number, the customers behind their mandates, accounts, account numbers
and links with those customers' open invoices, earlier payments their debits may undo, the
provider payouts their texts quote or their amounts fit); let the domain matcher decide; write
the outcome in bulk. A line that settles a payout makes no payment: the payout is tied to it.
Every write goes through the ledger write path (`store.ledger_writes`), which takes the ledger's
lock, judges the chunk's allocations again and keeps the invoices' open amounts, so any number of
workers gives the allocations one worker would.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select, update

from payrecon.domain.matching import (
    InvoiceBook,
    LineToMatch,
    MatchContext,
    MatchResult,
    PayerNameIndex,
    PaymentHistory,
    PayoutBook,
    ProblemKind,
    Reversal,
    candidate_numbers,
    match_lines,
    payout_reference_candidates,
    referenced_keys,
    suggest_payers,
)
from payrecon.domain.matching.rules import RuleBook
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.rules import load_rule_book
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.ledger_writes import LedgerWrites, NewPayment, NewReversal, ledger_writes
from payrecon.store.payout_queries import payouts_for_lines, settle_payouts
from payrecon.store.queries import (
    customer_directory,
    customer_names,
    earlier_payments,
    invoice_formats,
    invoices_by_keys,
    open_invoices_of_customers,
    pending_lines,
    sync_invoice_keys,
)

log = get_logger(__name__)


@dataclass(slots=True)
class ReconcileResult:
    lines: int = 0
    matched: int = 0
    unmatched: int = 0
    reversals: int = 0
    allocations: int = 0
    amount_allocated: Decimal = Decimal(0)
    customer_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "reversals": self.reversals,
            "allocations": self.allocations,
            "amount_allocated": f"{self.amount_allocated:f}",
            "customers": len(self.customer_ids),
        }


def reconcile_pending(
    engine: Engine,
    *,
    chunk_size: int = 5000,
    rules: RuleBook | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ReconcileResult:
    """Match every pending line; returns the totals of this run."""
    rules = rules or load_rule_book()
    total = ReconcileResult()
    with engine.begin() as conn, ledger_writes(conn, utcnow()) as ledger:
        ledger.lock()
        renumbered = sync_invoice_keys(conn)
    names: PayerNameIndex | None = None
    while True:
        with engine.begin() as conn, ledger_writes(conn, utcnow()) as ledger:
            ledger.lock()
            lines = pending_lines(conn, chunk_size)
            if not lines:
                break
            result, book = _match_chunk(conn, lines, rules, clock)
            if any(p.kind is ProblemKind.NO_REFERENCE for p in result.problems):
                names = names or PayerNameIndex(customer_names(conn))
                suggest_payers(result, lines, names, rules)
            _write(ledger, result, {line.id: line for line in lines}, book)
        _tally(total, lines, result)
    log.info("match.run.done", invoice_keys_refreshed=renumbered, **total.as_dict())
    return total


def _match_chunk(
    conn: Connection,
    lines: list[LineToMatch],
    rules: RuleBook,
    clock: Callable[[], float],
) -> tuple[MatchResult, InvoiceBook]:
    context = MatchContext(rules=rules, invoice_formats=invoice_formats(conn), clock=clock)
    tokens = candidate_numbers(lines)
    referenced = invoices_by_keys(conn, referenced_keys(lines, context))
    context.directory = customer_directory(conn, lines, tokens, {i.customer_id for i in referenced})
    book = InvoiceBook(referenced + open_invoices_of_customers(conn, context.directory.owners))
    debits = [line for line in lines if line.amount < 0]
    if debits:
        context.history = PaymentHistory(earlier_payments(conn, debits, candidate_numbers(debits)))
    window = max(r.payouts.arrival_window_days for r in (rules.default, *rules.owners.values()))
    keys = payout_reference_candidates(lines)
    context.payouts = PayoutBook(payouts_for_lines(conn, keys, lines, window))
    with collector_paused():
        return match_lines(lines, book, context), book


@contextmanager
def collector_paused() -> Iterator[None]:
    """The matcher makes many short-lived objects without cycles, which reference counting
    frees; pausing the cyclic collector for one batch saves about a quarter of its time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _tally(total: ReconcileResult, lines: list[LineToMatch], result: MatchResult) -> None:
    total.lines += len(lines)
    total.matched += len(result.decisions) + len(result.reversals) + len(result.payouts)
    total.unmatched += sum(1 for p in result.problems if p.kind is not ProblemKind.IGNORED)
    total.reversals += sum(1 for r in result.reversals if r.reverse_payment)
    total.allocations += len(result.allocations)
    total.amount_allocated += sum((a.amount for a in result.allocations), Decimal(0))
    total.customer_ids.update(d.customer_id for d in result.decisions)
    total.customer_ids.update(r.customer_id for r in result.reversals)
    log.info(
        "match.chunk.done",
        lines=len(lines),
        matched=len(result.decisions),
        reversals=len(result.reversals),
        payouts=len(result.payouts),
        problems=len(result.problems),
    )


def _write(
    ledger: LedgerWrites, result: MatchResult, lines: dict[int, LineToMatch], book: InvoiceBook
) -> None:
    """The chunk's outcome through the ledger write path (which judges it again), then the
    lines' statuses and the payouts they settle."""
    conn, now = ledger.conn, ledger.now
    ledger.know(book.loaded())
    payments = [
        bank_payment(lines[d.line_id], d.customer_id, d.bank_charges) for d in result.decisions
    ]
    ids = ledger.record_payments(payments, [d.allocations for d in result.decisions])
    for payment_id, payment, decision in zip(ids, payments, result.decisions, strict=True):
        for s in decision.settlements:
            ledger.settle_shortfall(payment_id, payment, s.invoice_id, s.amount, s.kind)
    ledger.record_reversals(_reversals(conn, result.reversals))
    settle_payouts(conn, result.payouts, now)
    _write_statuses(conn, result, now)


def bank_payment(
    line: LineToMatch, customer_id: int, bank_charges: Decimal = Decimal(0)
) -> NewPayment:
    """The payment of a statement line paid by `customer_id` (here and by hand)."""
    return NewPayment(
        customer_id=customer_id,
        source="bank",
        date=line.booking_date,
        amount=line.amount,
        currency=line.currency,
        payment_mode="BankTransfer",
        statement_line_id=line.id,
        external_id=line.bank_reference,
        bank_charges=bank_charges,
        reference_number=line.bank_reference,
        description=line.remittance,
    )


def _reversals(conn: Connection, reversals: list[Reversal]) -> list[NewReversal]:
    """The reversals with the payments of the lines they undo."""
    if not reversals:
        return []
    originals = dict(
        conn.execute(
            select(t.payments.c.statement_line_id, t.payments.c.id).where(
                t.payments.c.statement_line_id.in_(sorted({r.original_line_id for r in reversals}))
            )
        ).all()
    )
    return [
        NewReversal(
            payment_id=originals[r.original_line_id],
            statement_line_id=r.line_id,
            kind=str(r.kind),
            reason_code=r.reason_code,
            reverses_payment=r.reverse_payment,
            evidence=r.evidence,
        )
        for r in reversals
    ]


def _write_statuses(conn: Connection, result: MatchResult, now: datetime) -> None:
    rows = [
        {"b_id": d.line_id, "b_status": "matched", "b_reason": d.note, "b_customer": d.customer_id}
        for d in result.decisions
    ]
    rows += [
        {"b_id": r.line_id, "b_status": "matched", "b_reason": None, "b_customer": r.customer_id}
        for r in result.reversals
    ]
    rows += [
        {"b_id": s.line_id, "b_status": "matched", "b_reason": s.summary, "b_customer": None}
        for s in result.payouts
    ]
    rows += [
        {
            "b_id": p.line_id,
            "b_status": "ignored" if p.kind is ProblemKind.IGNORED else "unmatched",
            "b_reason": f"{p.kind}: {p.reason}",
            "b_customer": p.customer_id,
        }
        for p in result.problems
    ]
    if rows:
        conn.execute(
            update(t.statement_lines)
            .where(t.statement_lines.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                reason=bindparam("b_reason"),
                customer_id=bindparam("b_customer"),
            ),
            rows,
        )
    conn.execute(
        delete(mt.line_suggestions).where(
            mt.line_suggestions.c.statement_line_id.in_([p.line_id for p in result.problems])
        )
    )  # a line matched again (say, after a re-import) keeps only today's suggestions
    suggested = [
        {
            "statement_line_id": p.line_id,
            "customer_id": s.customer_id,
            "score": s.score,
            "basis": s.basis,
            "created_at": now,
        }
        for p in result.problems
        for s in p.suggestions
    ]
    if suggested:
        conn.execute(mt.line_suggestions.insert(), suggested)
