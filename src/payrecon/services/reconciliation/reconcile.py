"""Reconcile pending statement lines: match them by the declared rules, record payments,
allocations, settlements and reversals, and mark the lines (unmatched ones with their reason and
suggestions, for the review queue).

Work goes in chunks, one transaction each: read a chunk of pending lines (booking date, file,
sequence), then everything they could need with a few set-based queries (the invoices they
reference by normalised number, the customers behind their mandates, accounts, account numbers
and links with those customers' open invoices, earlier payments their debits may undo, the
provider payouts their texts quote or their amounts fit); let the domain matcher decide; write
the outcome in bulk. A line that settles a payout makes no payment: the payout is tied to it.
On PostgreSQL a transaction-scoped advisory lock serialises reconcilers, so any number of
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
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, text, update

from payrecon.domain.matching import (
    InvoiceBook,
    LineDecision,
    LineToMatch,
    MatchContext,
    MatchResult,
    PayerNameIndex,
    PaymentHistory,
    PayoutBook,
    ProblemKind,
    Reversal,
    Settlement,
    candidate_numbers,
    match_lines,
    payout_reference_candidates,
    referenced_keys,
    suggest_payers,
)
from payrecon.domain.rules import RuleBook, RuleSetError
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.operations import progress
from payrecon.store import ledger_tables as lt
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
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
_RECONCILE_LOCK = 7_402_113_001  # pg_advisory_xact_lock key of the reconciler


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


def default_rules_dir() -> Path:
    """The rule sets: packaged inside the wheel, or at the repository root in a checkout."""
    packaged = Path(str(resources.files("payrecon"))) / "_rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[4] / "rules"


@lru_cache(maxsize=4)
def load_rule_book(rules_dir: Path | None = None) -> RuleBook:
    """`default.yaml` and `owners/<owner id>.yaml`, validated once per process (call it at
    start-up to fail early); a bad file raises `RuleSetError` naming the file and the field."""
    directory = rules_dir or default_rules_dir()
    default = directory / "default.yaml"
    if not default.is_file():
        raise RuleSetError(f"{default}: the default rule set is missing")
    owners = sorted((directory / "owners").glob("*.yaml"))
    book = RuleBook.from_documents(
        (str(default), default.read_text(encoding="utf-8")),
        [(str(p), p.read_text(encoding="utf-8")) for p in owners],
    )
    log.info("match.rules.loaded", directory=str(directory), owners=sorted(book.owners))
    return book


def lock_reconciliation(conn: Connection) -> None:
    """Serialise with every reconciler and manual correction (PostgreSQL; SQLite has one
    writer at a time anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RECONCILE_LOCK})


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
    with engine.begin() as conn:
        lock_reconciliation(conn)
        renumbered = sync_invoice_keys(conn)
    names: PayerNameIndex | None = None
    pending = _pending_count(engine) if progress.watched() else None
    while True:
        with engine.begin() as conn:
            lock_reconciliation(conn)
            lines = pending_lines(conn, chunk_size)
            if not lines:
                break
            result = _match_chunk(conn, lines, rules, clock)
            if any(p.kind is ProblemKind.NO_REFERENCE for p in result.problems):
                names = names or PayerNameIndex(customer_names(conn))
                suggest_payers(result, lines, names, rules)
            _write(conn, result, {line.id: line for line in lines})
        _tally(total, lines, result)
        progress.report("reconciling", total.lines, pending)
    log.info("match.run.done", invoice_keys_refreshed=renumbered, **total.as_dict())
    return total


def _pending_count(engine: Engine) -> int:
    sl = t.statement_lines
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(sl.c.status == "pending")).scalar_one())


def _match_chunk(
    conn: Connection,
    lines: list[LineToMatch],
    rules: RuleBook,
    clock: Callable[[], float],
) -> MatchResult:
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
        return match_lines(lines, book, context)


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


def _write(conn: Connection, result: MatchResult, lines: dict[int, LineToMatch]) -> None:
    now = utcnow()
    payment_ids = _write_payments(conn, result.decisions, lines, now)
    allocation_rows = [
        {
            "payment_id": payment_ids[a.line_id],
            "invoice_id": a.invoice_id,
            "amount": a.amount,
            "currency": lines[a.line_id].currency,
            "rule": a.rule,
            "confidence": a.confidence,
            "evidence": dict(a.evidence),
            "created_at": now,
        }
        for a in result.allocations
    ]
    if allocation_rows:
        conn.execute(t.allocations.insert(), allocation_rows)
    for decision in result.decisions:
        for settlement in decision.settlements:
            _write_settlement(conn, settlement, payment_ids[decision.line_id], decision, lines, now)
    _write_reversals(conn, result.reversals, now)
    settle_payouts(conn, result.payouts, now)
    _write_statuses(conn, result, now)


def bank_payment(
    line: LineToMatch, customer_id: int, now: datetime, bank_charges: Decimal = Decimal(0)
) -> dict[str, Any]:
    """The payments row of a statement line paid by `customer_id` (here and by hand)."""
    return {
        "customer_id": customer_id,
        "statement_line_id": line.id,
        "source": "bank",
        "external_id": line.bank_reference,
        "payment_mode": "BankTransfer",
        "date": line.booking_date,
        "amount": line.amount,
        "currency": line.currency,
        "exchange_rate": Decimal(1),
        "bank_charges": bank_charges,
        "tax_amount_withheld": Decimal(0),
        "reference_number": line.bank_reference,
        "description": line.remittance,
        "status": "active",
        "created_at": now,
    }


def _write_payments(
    conn: Connection, decisions: list[LineDecision], lines: dict[int, LineToMatch], now: datetime
) -> dict[int, int]:
    rows = [bank_payment(lines[d.line_id], d.customer_id, now, d.bank_charges) for d in decisions]
    if not rows:
        return {}
    inserted = conn.execute(
        t.payments.insert().returning(
            t.payments.c.id, t.payments.c.statement_line_id, sort_by_parameter_order=True
        ),
        rows,
    )
    return {row.statement_line_id: row.id for row in inserted}


def _write_settlement(
    conn: Connection,
    settlement: Settlement,
    payment_id: int,
    decision: LineDecision,
    lines: dict[int, LineToMatch],
    now: datetime,
) -> None:
    """A tolerated shortfall becomes a collected credit note on the invoice, so that the
    invoice's open amount and the customer's balance agree everywhere in the ledger."""
    line = lines[decision.line_id]
    what = "bank charges" if settlement.kind == "bank_charges" else "write-off"
    note_id = conn.execute(
        lt.credit_notes.insert()
        .values(
            customer_id=decision.customer_id,
            date=line.booking_date,
            currency=line.currency,
            amount=settlement.amount,
            memo=f"{what} of {settlement.amount:f} accepted by the owner's tolerance "
            f"(payment {payment_id}, bank reference {line.bank_reference})",
            collection_status="collected",
            created_at=now,
            updated_at=now,
        )
        .returning(lt.credit_notes.c.id)
    ).scalar_one()
    conn.execute(
        lt.credit_note_allocations.insert().values(
            credit_note_id=note_id,
            invoice_id=settlement.invoice_id,
            amount=settlement.amount,
            currency=line.currency,
            created_at=now,
        )
    )
    conn.execute(
        mt.payment_settlements.insert().values(
            payment_id=payment_id,
            invoice_id=settlement.invoice_id,
            credit_note_id=note_id,
            kind=settlement.kind,
            amount=settlement.amount,
            currency=line.currency,
            created_at=now,
        )
    )


def _write_reversals(conn: Connection, reversals: list[Reversal], now: datetime) -> None:
    if not reversals:
        return
    originals = dict(
        conn.execute(
            select(t.payments.c.statement_line_id, t.payments.c.id).where(
                t.payments.c.statement_line_id.in_(sorted({r.original_line_id for r in reversals}))
            )
        ).all()
    )
    undone = sorted(originals[r.original_line_id] for r in reversals if r.reverse_payment)
    if undone:
        reverse_payments(conn, undone)
    conn.execute(
        mt.payment_reversals.insert(),
        [
            {
                "payment_id": originals[r.original_line_id],
                "statement_line_id": r.line_id,
                "kind": str(r.kind),
                "reason_code": r.reason_code,
                "reverses_payment": r.reverse_payment,
                "evidence": dict(r.evidence),
                "created_at": now,
            }
            for r in reversals
        ],
    )


def reverse_payments(conn: Connection, payment_ids: list[int]) -> None:
    """Mark the payments reversed: their allocations stop counting and their invoices reopen,
    and so do the credit notes that settled shortfalls alongside them."""
    conn.execute(
        update(t.payments).where(t.payments.c.id.in_(payment_ids)).values(status="reversed")
    )
    notes = select(mt.payment_settlements.c.credit_note_id).where(
        mt.payment_settlements.c.payment_id.in_(payment_ids)
    )
    conn.execute(
        update(lt.credit_notes)
        .where(lt.credit_notes.c.id.in_(notes))
        .values(collection_status="failed", updated_at=utcnow())
    )


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
