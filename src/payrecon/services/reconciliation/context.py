"""What a batch of lines is matched against, read with a few set-based queries: the invoices they
reference by normalised number, the customers behind their mandates, accounts, account numbers
and links (with those customers' open invoices, when they are to be allocated), earlier payments
their debits may undo, the provider payouts their texts quote or their amounts fit. The same
reads serve routing (who paid) and reconciling (what is allocated), so both decide alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, func, select

from payrecon.domain.matching import (
    InvoiceBook,
    LineToMatch,
    MatchContext,
    PayerNameIndex,
    PaymentHistory,
    PayoutBook,
    candidate_numbers,
    payout_reference_candidates,
    referenced_keys,
)
from payrecon.domain.matching.rules import RuleBook
from payrecon.store import tables as t
from payrecon.store.payout_queries import payouts_for_lines, stored_payout_keys
from payrecon.store.queries import (
    customer_directory,
    customer_names,
    earlier_payments,
    invoice_formats,
    invoices_by_keys,
    open_invoices_of_customers,
)

Clock = Callable[[], float]


def load_context(
    conn: Connection,
    lines: list[LineToMatch],
    rules: RuleBook,
    clock: Clock = time.monotonic,
    *,
    allocating: bool = True,
) -> tuple[MatchContext, InvoiceBook]:
    """The context and invoice book of a batch. Routing (`allocating=False`) needs only the
    referenced invoices (which say who paid), not the customers' open ones nor earlier payments."""
    context = MatchContext(rules=rules, invoice_formats=invoice_formats(conn), clock=clock)
    tokens = candidate_numbers(lines)
    referenced = invoices_by_keys(conn, referenced_keys(lines, context))
    context.directory = customer_directory(conn, lines, tokens, {i.customer_id for i in referenced})
    invoices = list(referenced)
    if allocating:
        invoices += open_invoices_of_customers(conn, context.directory.owners)
        debits = [line for line in lines if line.amount < 0]
        if debits:
            originals = earlier_payments(conn, debits, candidate_numbers(debits))
            context.history = PaymentHistory(originals)
    window = max(r.payouts.arrival_window_days for r in (rules.default, *rules.owners.values()))
    stored = stored_payout_keys(conn)
    keys = payout_reference_candidates(lines, stored)
    found = payouts_for_lines(conn, keys, lines, window, itemised=allocating)
    context.payouts = PayoutBook(found, stored)
    return context, InvoiceBook(invoices)


_names: tuple[tuple[object, ...], float, PayerNameIndex] | None = None
_NAMES_FRESH_SECONDS = 300.0


def payer_names(conn: Connection) -> PayerNameIndex:
    """Every customer's name, for payer-name suggestions: built once and kept while no customer
    was added to the database (and for a few minutes at most, so a renamed customer is soon
    suggested by its new name), instead of reading 200,000 names for every chunk. Whether one
    was added is read from two indexes (the highest id, the latest `created_at`; customers are
    never deleted), not by counting them: a count was a scan, 150 ms a batch at 500,000."""
    global _names
    c = t.customers.c
    version = (
        str(conn.engine.url),
        *conn.execute(select(func.max(c.id), func.max(c.created_at))).one(),
    )
    now = time.monotonic()
    if _names is not None:
        known, built, index = _names
        if known == version and now - built < _NAMES_FRESH_SECONDS:
            return index
    index = PayerNameIndex(customer_names(conn))
    _names = (version, now, index)
    return index


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
