"""Reconcile pending statement lines, one partition at a time: match them by the declared rules,
record payments, allocations, settlements and reversals, and mark the lines (unmatched ones with
their reason and suggestions, for the review queue).

Lines were routed to partitions when stored (`routing`): a customer's lines all sit in the
customer's partition, the lines that settle provider payouts in theirs. A partition's reconciler
holds that partition's lock and takes its lines in booking-date, file and sequence order, in
chunks of one transaction each: read the chunk and what it needs (`context.load_context`), let
the domain matcher decide, write the outcome through the ledger write path (which judges it
again and keeps the open amounts), set the lines' statuses in bulk, and recompute the balances
of the customers it touched. Partitions share no customer, so they run side by side, on any
number of workers, and give the allocations one worker would. An outcome that belongs to another
partition (reference data changed between routing and now) is not written: the line moves to
that partition and waits there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, func, select

from payrecon.domain.matching import (
    InvoiceBook,
    LineDecision,
    LineToMatch,
    MatchResult,
    ProblemKind,
    Reversal,
    match_lines,
    suggest_payers,
)
from payrecon.domain.matching.rules import RuleBook
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.operations import progress
from payrecon.services.reconciliation.context import collector_paused, load_context, payer_names
from payrecon.services.reconciliation.routing import route_pending
from payrecon.services.rules import stored_rule_book
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import analyze_after_load, batched
from payrecon.store.copy import insert_rows, update_from_rows
from payrecon.store.ledger_writes import (
    PARTITIONS,
    PAYOUT_PARTITION,
    LedgerWrites,
    NewPayment,
    NewReversal,
    ledger_writes,
    partition_of,
)
from payrecon.store.payout_queries import settle_payouts
from payrecon.store.queries import pending_lines, sync_invoice_keys

log = get_logger(__name__)
# The payouts' partition first: a line it finds to be a customer's after all moves to that
# customer's partition in time to be reconciled there in the same run.
PARTITION_ORDER = (PAYOUT_PARTITION, *range(PARTITIONS))
Clock = Callable[[], float]
# The lines pending when a run started (only while someone watches its progress).
_run_pending: ContextVar[int | None] = ContextVar("payrecon_run_pending", default=None)


class ChunkTime(NamedTuple):
    """One reconciled chunk: its partition, how many pending lines it read, its seconds."""

    partition: int
    lines: int
    seconds: float


@dataclass(slots=True)
class ReconcileResult:
    lines: int = 0
    matched: int = 0
    unmatched: int = 0
    reversals: int = 0
    allocations: int = 0
    moved: int = 0
    amount_allocated: Decimal = Decimal(0)
    customer_ids: set[int] = field(default_factory=set)
    chunks: list[ChunkTime] = field(default_factory=list)

    def add(self, other: ReconcileResult) -> None:
        for name in ("lines", "matched", "unmatched", "reversals", "allocations", "moved"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.amount_allocated += other.amount_allocated
        self.customer_ids |= other.customer_ids
        self.chunks += other.chunks

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "reversals": self.reversals,
            "allocations": self.allocations,
            "moved": self.moved,
            "amount_allocated": f"{self.amount_allocated:f}",
            "customers": len(self.customer_ids),
            "chunks": len(self.chunks),
        }


def reconcile_pending(
    engine: Engine,
    *,
    chunk_size: int = 5000,
    rules: RuleBook | None = None,
    clock: Clock = time.monotonic,
) -> ReconcileResult:
    """Route what is not routed yet, then reconcile every partition in turn (what the pipeline's
    workers do side by side); returns the totals of this run."""
    rules = rules or stored_rule_book(engine)
    prepare_reconcile(engine, rules=rules)
    total = ReconcileResult()
    for partition in PARTITION_ORDER:
        total.add(
            reconcile_partition(engine, partition, chunk_size=chunk_size, rules=rules, clock=clock)
        )
    log.info("match.run.done", **total.as_dict())
    return total


def _pending_count(engine: Engine) -> int:
    sl = t.statement_lines
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(sl).where(sl.c.status == "pending")
            ).scalar_one()
        )


def prepare_reconcile(engine: Engine, *, rules: RuleBook | None = None) -> dict[str, int]:
    """Once per run, before the partitions: every invoice's normalised number is known, and
    every pending line has a partition."""
    with engine.begin() as conn:
        renumbered = sync_invoice_keys(conn)
    routed = route_pending(engine, rules=rules)
    if progress.watched():  # the run's lines, for the progress of the partitions that follow
        _run_pending.set(_pending_count(engine))
        progress.report("reconciling", 0, _run_pending.get())
    return {"invoice_keys_refreshed": renumbered, "lines_routed": routed}


def reconcile_partition(
    engine: Engine,
    partition: int,
    *,
    chunk_size: int = 5000,
    rules: RuleBook | None = None,
    clock: Clock = time.monotonic,
) -> ReconcileResult:
    """Reconcile one partition's pending lines, chunk by chunk, under its lock."""
    rules = rules or stored_rule_book(engine)
    total = ReconcileResult()
    while True:
        started = time.perf_counter()
        now = utcnow()
        with engine.begin() as conn:
            with ledger_writes(conn, now) as ledger:
                ledger.lock(partitions=[partition])
                lines = pending_lines(conn, chunk_size, partition=partition)
                if not lines:
                    break
                context, book = load_context(conn, lines, rules, clock)
                with collector_paused():
                    result = match_lines(lines, book, context)
                if any(p.kind is ProblemKind.NO_REFERENCE for p in result.problems):
                    suggest_payers(result, lines, payer_names(conn), rules)
                moved = _moved_elsewhere(result, partition)
                _write(ledger, result, {line.id: line for line in lines}, book, moved)
            recompute_customers(
                conn, ledger.customers, now, cause=f"reconciled (partition {partition})"
            )
        total.chunks.append(ChunkTime(partition, len(lines), time.perf_counter() - started))
        before = total.allocations
        _tally(total, lines, result, moved, partition)
        # The allocations and payments COPY wrote (about one payment per matched line).
        analyze_after_load(
            engine,
            {
                t.allocations: total.allocations - before,
                t.payments: len(result.decisions),
                t.statement_lines: len(lines),
            },
        )
        if progress.watched() and (run := _run_pending.get()) is not None:
            progress.report("reconciling", run - _pending_count(engine), run)
    return total


def _moved_elsewhere(result: MatchResult, partition: int) -> dict[int, int]:
    """The lines whose outcome belongs to another partition (line id -> that partition)."""
    moved: dict[int, int] = {}
    decided: list[tuple[int, int]] = [(d.line_id, d.customer_id) for d in result.decisions]
    decided += [(r.line_id, r.customer_id) for r in result.reversals]
    for line_id, customer_id in decided:
        home = partition_of(customer_id)
        if home != partition:
            moved[line_id] = home
    if partition != PAYOUT_PARTITION:
        moved.update({s.line_id: PAYOUT_PARTITION for s in result.payouts})
    return moved


def _tally(
    total: ReconcileResult,
    lines: list[LineToMatch],
    result: MatchResult,
    moved: dict[int, int],
    partition: int,
) -> None:
    decisions = [d for d in result.decisions if d.line_id not in moved]
    reversals = [r for r in result.reversals if r.line_id not in moved]
    allocations = [a for d in decisions for a in d.allocations]
    total.lines += len(lines) - len(moved)
    total.moved += len(moved)
    total.matched += len(decisions) + len(reversals)
    total.matched += sum(1 for s in result.payouts if s.line_id not in moved)
    total.unmatched += sum(1 for p in result.problems if p.kind is not ProblemKind.IGNORED)
    total.reversals += sum(1 for r in reversals if r.reverse_payment)
    total.allocations += len(allocations)
    total.amount_allocated += sum((a.amount for a in allocations), Decimal(0))
    total.customer_ids.update(d.customer_id for d in decisions)
    total.customer_ids.update(r.customer_id for r in reversals)
    log.info(
        "match.chunk.done",
        partition=partition,
        lines=len(lines),
        matched=len(decisions),
        reversals=len(reversals),
        payouts=len(result.payouts),
        problems=len(result.problems),
        moved=len(moved),
        seconds=round(total.chunks[-1].seconds, 3),
    )


def _write(
    ledger: LedgerWrites,
    result: MatchResult,
    lines: dict[int, LineToMatch],
    book: InvoiceBook,
    moved: dict[int, int],
) -> None:
    """The chunk's outcome through the ledger write path (which judges it again), then the
    lines' statuses and the payouts they settle."""
    conn, now = ledger.conn, ledger.now
    ledger.know(book.loaded())
    decisions = [d for d in result.decisions if d.line_id not in moved]
    payments = [bank_payment(lines[d.line_id], d.customer_id, d.bank_charges) for d in decisions]
    ids = ledger.record_payments(payments, [d.allocations for d in decisions])
    for payment_id, payment, decision in zip(ids, payments, decisions, strict=True):
        for s in decision.settlements:
            ledger.settle_shortfall(payment_id, payment, s.invoice_id, s.amount, s.kind)
    reversals = [r for r in result.reversals if r.line_id not in moved]
    ledger.record_reversals(_reversals(conn, reversals))
    settle_payouts(conn, [s for s in result.payouts if s.line_id not in moved], now)
    _write_statuses(conn, result, decisions, reversals, moved, now)


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
    wanted = sorted({r.original_line_id for r in reversals})
    originals: dict[int, int] = {}
    for batch in batched(wanted, 900):
        originals.update(
            conn.execute(
                select(t.payments.c.statement_line_id, t.payments.c.id).where(
                    t.payments.c.statement_line_id.in_(batch)
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


def _write_statuses(
    conn: Connection,
    result: MatchResult,
    decisions: Iterable[LineDecision],
    reversals: Iterable[Reversal],
    moved: dict[int, int],
    now: datetime,
) -> None:
    """Every line's outcome in one bulk update: matched, unmatched or ignored with its reason,
    or (moved) pending in the partition its outcome belongs to; then the review queue's
    suggestions, today's only."""
    rows: list[tuple[Any, ...]] = [
        (d.line_id, "matched", d.note, d.customer_id, partition_of(d.customer_id))
        for d in decisions
    ]
    rows += [
        (r.line_id, "matched", None, r.customer_id, partition_of(r.customer_id)) for r in reversals
    ]
    rows += [
        (s.line_id, "matched", s.summary, None, PAYOUT_PARTITION)
        for s in result.payouts
        if s.line_id not in moved
    ]
    rows += [
        (
            p.line_id,
            "ignored" if p.kind is ProblemKind.IGNORED else "unmatched",
            f"{p.kind}: {p.reason}",
            p.customer_id,
            None,
        )
        for p in result.problems
    ]
    rows += [(line_id, "pending", None, None, partition) for line_id, partition in moved.items()]
    columns = ["status", "reason", "customer_id", "partition"]
    update_from_rows(conn, t.statement_lines, "id", columns, rows)
    problem_lines = [p.line_id for p in result.problems]
    for batch in batched(problem_lines, 900):  # a line matched again keeps today's suggestions
        conn.execute(
            delete(mt.line_suggestions).where(mt.line_suggestions.c.statement_line_id.in_(batch))
        )
    insert_rows(
        conn,
        mt.line_suggestions,
        ("statement_line_id", "customer_id", "score", "basis", "created_at"),
        [
            (p.line_id, s.customer_id, s.score, s.basis, now)
            for p in result.problems
            for s in p.suggestions
        ],
    )
