"""Routing: where each statement line goes before anything is allocated, decided as the line is
stored, so that reconcilers can work one partition each, side by side.

    a credit identified to a customer   pending, in the customer's partition (`partition_of`)
    a credit that carries a payout      pending, in the payouts' partition
    a debit                             pending; its partition is the one of the payment it
                                        undoes, found once every line of the batch is stored
    a line no one can be identified to  unmatched, with its reason and suggestions (final)
    a zero amount                       ignored (final)

Only what no earlier line can change decides a route (the customer directory, the invoices'
numbers, the payouts' references), so routing a batch in any number of chunks, on any number of
workers, gives the routes of one; the reconciler then decides each partition's lines in
booking-date and file order, as one worker would have decided them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from payrecon.domain.allocation import ProblemKind, Suggestion
from payrecon.domain.matching import LineRoute, LineToMatch, normalise_account, route_lines
from payrecon.domain.matching.customers import suggest_by_name
from payrecon.domain.matching.references import reference_tokens
from payrecon.domain.matching.rules import RuleBook
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.reconciliation.context import collector_paused, load_context, payer_names
from payrecon.services.rules import load_rule_book
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import among, analyze_after_load
from payrecon.store.copy import insert_rows, update_from_rows
from payrecon.store.ledger_writes import PAYOUT_PARTITION, partition_of
from payrecon.store.queries import line_to_match

log = get_logger(__name__)
DEBIT_FALLBACK_PARTITION = 0  # a debit whose payment is nowhere: its partition reports it
_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class Routed:
    """A line's outcome as stored: `pending` in a partition, or final."""

    status: str  # pending, unmatched, ignored
    partition: int | None
    reason: str | None = None
    customer_id: int | None = None
    suggestions: tuple[Suggestion, ...] = ()


def route_batch(conn: Connection, lines: Sequence[LineToMatch], rules: RuleBook) -> list[Routed]:
    """The route of each line, in the order given (`LineToMatch.id` may be any key)."""
    if not lines:
        return []
    batch = list(lines)
    context, book = load_context(conn, batch, rules, allocating=False)
    with collector_paused():
        routes = route_lines(batch, book, context)
    unknown_payers = [
        r for r in routes if r.problem is not None and r.problem.kind is ProblemKind.NO_REFERENCE
    ]
    names = payer_names(conn) if unknown_payers else None
    return [_routed(line, route, names, rules) for line, route in zip(batch, routes, strict=True)]


def _routed(line: LineToMatch, route: LineRoute, names: Any, rules: RuleBook) -> Routed:
    problem = route.problem
    if problem is not None:
        if names is not None and problem.kind is ProblemKind.NO_REFERENCE:
            problem = suggest_by_name(problem, line, names, rules.for_owner(line.contract_owner_id))
        status = "ignored" if problem.kind is ProblemKind.IGNORED else "unmatched"
        return Routed(
            status, None, f"{problem.kind}: {problem.reason}", problem.customer_id,
            problem.suggestions,
        )  # fmt: skip
    if route.payout:
        return Routed("pending", PAYOUT_PARTITION)
    if route.debit:
        return Routed("pending", None)
    assert route.customer_id is not None
    return Routed("pending", partition_of(route.customer_id))


def store_suggestions(conn: Connection, suggested: Sequence[tuple[int, Routed]]) -> None:
    """The suggested payers of lines that wait for a person (line id, its route)."""
    now = utcnow()
    rows = [
        (line_id, s.customer_id, s.score, s.basis, now)
        for line_id, routed in suggested
        for s in routed.suggestions
    ]
    insert_rows(
        conn,
        mt.line_suggestions,
        ("statement_line_id", "customer_id", "score", "basis", "created_at"),
        rows,
    )


def route_pending(engine: Engine, *, rules: RuleBook | None = None) -> int:
    """Route the pending lines that have no partition yet: lines stored before routing existed
    or by a path that does not route (an open-banking page), and every debit, by the payment it
    undoes. Run once all lines of a batch are stored; returns how many were routed."""
    rules = rules or load_rule_book()
    routed = 0
    after = 0
    sl = t.statement_lines
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(sl)
                .where(sl.c.status == "pending", sl.c.partition.is_(None), sl.c.id > after)
                .order_by(sl.c.id)
                .limit(_CHUNK)
            ).all()
            if not rows:
                break
            after = rows[-1].id
            lines = [line_to_match(r) for r in rows]
            credits = [line for line in lines if line.amount >= 0]
            debits = [line for line in lines if line.amount < 0]
            updates: list[tuple[Any, ...]] = []
            suggested: list[tuple[int, Routed]] = []
            for line, outcome in zip(credits, route_batch(conn, credits, rules), strict=True):
                updates.append(
                    (
                        line.id,
                        outcome.status,
                        outcome.partition,
                        outcome.reason,
                        outcome.customer_id,
                    )
                )
                if outcome.suggestions:
                    suggested.append((line.id, outcome))
            for line_id, partition in debit_partitions(conn, debits).items():
                updates.append((line_id, "pending", partition, None, None))
            update_from_rows(
                conn, sl, "id", ["status", "partition", "reason", "customer_id"], updates
            )
            store_suggestions(conn, suggested)
            routed += len(updates)
    analyze_after_load(engine, {sl: routed})  # partition and status set in bulk
    if routed:
        log.info("match.lines.routed", lines=routed)
    return routed


def debit_partitions(conn: Connection, debits: Sequence[LineToMatch]) -> dict[int, int]:
    """The partition of each debit: that of the payment it most likely undoes (the credit that
    shares its end-to-end id, then one whose bank reference its text quotes, then its mandate,
    then its payer account), whether that credit is already paid or still pending in its own
    partition. A debit that finds none, or credits of several partitions, goes to a fallback
    partition, whose reconciler reports it to a person if it cannot find its payment either."""
    if not debits:
        return {}
    sl, p = t.statement_lines, t.payments
    keys: dict[str, dict[str, set[int]]] = {
        "e2e": {},
        "reference": {},
        "mandate": {},
        "account": {},
    }
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
    tokens = sorted(
        {token.upper() for d in debits for _, text in d.texts for token in reference_tokens(text)}
    )
    conditions = []
    for column, values in (
        (sl.c.end_to_end_id, e2e),
        (sl.c.mandate_id, mandates),
        (sl.c.counterparty_account, accounts),
        (func.upper(sl.c.external_id), tokens),
    ):
        conditions += list(among(conn, column, values))
    for condition in conditions:
        rows = conn.execute(
            select(
                sl.c.end_to_end_id,
                sl.c.mandate_id,
                sl.c.counterparty_account,
                sl.c.external_id,
                sl.c.partition,
                p.c.customer_id,
            )
            .outerjoin(p, and_(p.c.statement_line_id == sl.c.id, p.c.status == "active"))
            .where(
                condition,
                sl.c.amount > 0,
                or_(p.c.id.is_not(None), sl.c.partition.is_not(None)),
            )
        )
        for row in rows:
            partition = partition_of(row.customer_id) if row.customer_id else row.partition
            if partition is None or partition == PAYOUT_PARTITION:
                continue
            for kind, value in (
                ("e2e", row.end_to_end_id),
                ("mandate", row.mandate_id),
                ("reference", row.external_id.upper() if row.external_id else None),
                ("account", normalise_account(row.counterparty_account)
                 if row.counterparty_account else None),
            ):  # fmt: skip
                if value:
                    keys[kind].setdefault(value, set()).add(partition)
    found: dict[int, int] = {}
    for debit in debits:
        quoted = {
            "e2e": [debit.end_to_end_id] if debit.end_to_end_id else [],
            "reference": [
                token.upper() for _, text in debit.texts for token in reference_tokens(text)
            ],
            "mandate": [debit.mandate_id] if debit.mandate_id else [],
            "account": [normalise_account(debit.counterparty_account)]
            if debit.counterparty_account
            else [],
        }
        found[debit.id] = DEBIT_FALLBACK_PARTITION
        for kind in ("e2e", "reference", "mandate", "account"):
            partitions = set().union(*(keys[kind].get(v, set()) for v in quoted[kind]))
            if partitions:
                if len(partitions) == 1:
                    found[debit.id] = next(iter(partitions))
                break
    return found
