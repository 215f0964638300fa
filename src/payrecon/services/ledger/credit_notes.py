"""Credit notes (seed 004): money credited to a customer and allocated to their invoices.

Create with `autoApply` (the earliest due invoices first) or with allocations naming an invoice by
id or by number (the id wins). Update replaces the allocation list: an entry without an
allocation id adds, with one edits, and a stored allocation left out is deleted. The status is
derived from the collection and the allocations, never stored. Of the card number only the last
four characters are kept; it is never logged.

Each write is one transaction: on PostgreSQL it takes the reconciler's lock and locks the credit
note and the invoices it touches; it judges the complete allocation list with the domain's rules,
writes, and recomputes the cached balance of the customers touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    case,
    func,
    select,
    type_coerce,
)

from payrecon.domain.allocation import MANUAL_CONFIDENCE, RULE_MANUAL, ProposedAllocation
from payrecon.domain.errors import Conflict, InvalidInput, NotFound
from payrecon.domain.ledger import (
    AllocationEdit,
    Collection,
    CreditNoteStatus,
    card_last_four,
    credit_note_status,
    number_of_bare,
    plan_allocation_edits,
)
from payrecon.domain.matching import (
    InvoiceBook,
    LineToMatch,
    MatchContext,
    allocate_known,
)
from payrecon.domain.matching.rules import Source
from payrecon.domain.money import ZERO, money_text
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.rules import load_rule_book
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.ledger_tables import CustomerTerms
from payrecon.store.ledger_writes import Held, LedgerWrites, NewCreditNote, ledger_writes
from payrecon.store.listing import ListQueryLike, apply_list_query

notes, applied = lt.credit_notes, lt.credit_note_allocations


@dataclass(frozen=True, slots=True)
class CreditAllocationInput:
    amount_applied: Decimal
    invoice_id: int | None = None
    invoice_number: str | None = None
    allocation_id: int | None = None


@dataclass(frozen=True, slots=True)
class CreditNoteInput:
    customer_id: int
    date: dt.date
    currency: str
    amount: Decimal
    credit_number: str | None = None
    memo: str | None = None
    auto_apply: bool = False
    allocations: Sequence[CreditAllocationInput] | None = None
    collection: Collection = Collection.COLLECTED


@dataclass(frozen=True, slots=True)
class CreditAllocationView:
    allocation_id: int
    invoice_id: int
    invoice_number: str
    amount_applied: Decimal


@dataclass(frozen=True, slots=True)
class CreditNoteView:
    id: int
    customer_id: int
    status: CreditNoteStatus
    date: dt.date
    currency: str
    amount: Decimal
    credit_number: str | None  # the last four characters only
    memo: str | None
    allocations: tuple[CreditAllocationView, ...]


@dataclass(frozen=True, slots=True)
class CreditNotePage:
    items: list[CreditNoteView]
    total: int


def create_credit_note(
    engine: Engine, data: CreditNoteInput, *, now: datetime | None = None
) -> CreditNoteView:
    if not data.auto_apply and data.allocations is None:
        raise InvalidInput("allocations are required unless autoApply is true")
    if data.credit_number is None:
        raise InvalidInput("creditNumber is required")
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            ledger.lock(customers=[data.customer_id])
            terms, values = _values(conn, data)
            held = ledger.add_credit_note(NewCreditNote(**values))
            _write_allocations(ledger, held, terms, data)
        recompute_customers(conn, ledger.customers, now, cause=f"credit note {held.id} created")
        return credit_note_views(conn, [held.id])[0]


def update_credit_note(
    engine: Engine, note_id: int, data: CreditNoteInput, *, now: datetime | None = None
) -> CreditNoteView:
    if not data.auto_apply and data.allocations is None:
        raise InvalidInput("allocations are required unless autoApply is true")
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            held = ledger.credit_note(note_id)
            terms, values = _values(conn, data)
            if data.credit_number is None:
                values["card_last_four"] = held.row.card_last_four
            if held.funds.refunded > 0 and data.customer_id != held.funds.customer_id:
                raise Conflict(f"credit note {note_id} has refunds; its customer cannot change")
            held = ledger.change_credit_note(held, **values)
            _write_allocations(ledger, held, terms, data)
        recompute_customers(conn, ledger.customers, now, cause=f"credit note {note_id} updated")
        return credit_note_views(conn, [note_id])[0]


def delete_credit_note(engine: Engine, note_id: int, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            held = ledger.credit_note(note_id)
            if held.funds.refunded > 0:
                raise Conflict(f"credit note {note_id} has refunds; delete them first")
            ledger.delete_credit_note(held)
        recompute_customers(conn, ledger.customers, now, cause=f"credit note {note_id} deleted")


def get_credit_note(engine: Engine, note_id: int) -> CreditNoteView:
    with engine.connect() as conn:
        views = credit_note_views(conn, [note_id])
    if not views:
        raise NotFound(f"credit note {note_id} does not exist")
    return views[0]


def list_credit_notes(
    engine: Engine, q: ListQueryLike, *, customer_id: int | None = None
) -> CreditNotePage:
    allocated = _sum_by(applied.c.credit_note_id, applied.c.amount, "allocated")
    refunded = _sum_by(lt.refunds.c.credit_note_id, lt.refunds.c.amount, "refunded")
    columns: dict[str, ColumnElement[Any]] = {
        "id": notes.c.id,
        "customerId": notes.c.customer_id,
        "status": _status_expression(allocated.c.total, refunded.c.total),
        "date": notes.c.date,
        "currencyCode": notes.c.currency,
        "amount": notes.c.amount,
        "creditNumber": notes.c.card_last_four,
        "memo": notes.c.memo,
    }
    stmt = (
        select(notes.c.id)
        .outerjoin(allocated, allocated.c.key == notes.c.id)
        .outerjoin(refunded, refunded.c.key == notes.c.id)
    )
    with engine.connect() as conn:
        if customer_id is not None:
            if lt.customer_terms(conn, customer_id) is None:
                raise NotFound(f"customer {customer_id} does not exist")
            stmt = stmt.where(notes.c.customer_id == customer_id)
        page, count = apply_list_query(stmt, columns, q)
        total = int(conn.execute(count).scalar_one())
        ids = list(conn.execute(page).scalars())
        return CreditNotePage(credit_note_views(conn, ids), total)


def credit_note_views(conn: Connection, note_ids: Sequence[int]) -> list[CreditNoteView]:
    """The credit notes named, in the order named (unknown ids are left out)."""
    if not note_ids:
        return []
    rows = conn.execute(
        select(
            notes,
            lt.refunded(lt.refunds.c.credit_note_id == notes.c.id)
            .scalar_subquery()
            .label("refunded"),
        ).where(notes.c.id.in_(note_ids))
    ).all()
    allocations: dict[int, list[CreditAllocationView]] = {i: [] for i in note_ids}
    for a in conn.execute(
        select(applied, t.invoices.c.invoice_number)
        .join(t.invoices, t.invoices.c.id == applied.c.invoice_id)
        .where(applied.c.credit_note_id.in_(note_ids))
        .order_by(applied.c.id)
    ):
        allocations[a.credit_note_id].append(
            CreditAllocationView(a.id, a.invoice_id, a.invoice_number, a.amount)
        )
    by_id = {}
    for r in rows:
        items = tuple(allocations[r.id])
        used = sum((a.amount_applied for a in items), ZERO)
        status = credit_note_status(Collection(r.collection_status), r.amount, used, r.refunded)
        by_id[r.id] = CreditNoteView(
            id=r.id,
            customer_id=r.customer_id,
            status=status,
            date=r.date,
            currency=r.currency,
            amount=r.amount,
            credit_number=r.card_last_four,
            memo=r.memo,
            allocations=items,
        )
    return [by_id[i] for i in note_ids if i in by_id]


def _values(conn: Connection, data: CreditNoteInput) -> tuple[CustomerTerms, dict[str, Any]]:
    terms = lt.customer_terms(conn, data.customer_id)
    if terms is None:
        raise InvalidInput(f"customer {data.customer_id} does not exist")
    currency = data.currency.upper()
    if currency != terms.currency:
        raise InvalidInput(
            f"currencyCode {currency} is not the customer's currency {terms.currency}"
        )
    amount = terms.rounding.apply(data.amount)
    if amount <= 0:
        raise InvalidInput(f"amount must be positive, got {money_text(amount)}")
    values: dict[str, Any] = {
        "customer_id": terms.id,
        "date": data.date,
        "currency": currency,
        "amount": amount,
        "memo": data.memo,
        "collection_status": data.collection.value,
    }
    if data.credit_number is not None:
        values["card_last_four"] = card_last_four(data.credit_number)
    return terms, values


def _write_allocations(
    ledger: LedgerWrites, held: Held, terms: CustomerTerms, data: CreditNoteInput
) -> None:
    """The new allocation list: `autoApply` by the owner's rules for credit notes (the earliest
    due invoices first, by default), else as given; the write path judges it whole."""
    if data.auto_apply:
        wanted = _auto_applied(ledger, held, terms)
        ledger.set_allocations(held, wanted)
        return
    existing = {i: ProposedAllocation(a.invoice_id, a.amount) for i, a in held.allocations.items()}
    plan = plan_allocation_edits(
        existing, _edits(ledger.conn, data.allocations or (), terms.rounding.apply, terms.id)
    )
    keep = {i: _as_given(held.allocations[i], w, ledger.now) for i, w in plan.update.items()}
    ledger.set_allocations(held, [_as_given(None, w, ledger.now) for w in plan.add], keep=keep)


def _as_given(old: Any, wanted: ProposedAllocation, now: datetime) -> ProposedAllocation:
    """An allocation the request names: unchanged, it keeps its rule; else it is `manual`."""
    if old is not None and (old.invoice_id, old.amount) == (wanted.invoice_id, wanted.amount):
        return ProposedAllocation(
            old.invoice_id, old.amount, old.rule, old.confidence, old.evidence
        )
    evidence = {"source": "api", "explanation": "allocated as the request names it"}
    return ProposedAllocation(
        wanted.invoice_id, wanted.amount, RULE_MANUAL, MANUAL_CONFIDENCE, evidence
    )


def _auto_applied(
    ledger: LedgerWrites, held: Held, terms: CustomerTerms
) -> list[ProposedAllocation]:
    if not held.live:
        return []
    invoices = ledger.invoices(customer_id=terms.id)
    own = {a.invoice_id: a.amount for a in held.allocations.values()}
    book = InvoiceBook(
        replace(i, open_amount=i.open_amount + own.get(i.id, ZERO)) for i in invoices.values()
    )
    funds = LineToMatch(
        id=held.id,
        booking_date=held.row.date,
        amount=held.funds.available,
        currency=held.funds.currency,
        contract_owner_id=terms.owner_id,
        source=Source.CREDIT_NOTE,
    )
    context = MatchContext(rules=load_rule_book())
    decided = allocate_known(
        funds, terms.id, f"credit note {held.id} of the customer", book, context
    )
    return list(decided.allocations)


def _edits(
    conn: Connection,
    entries: Sequence[CreditAllocationInput],
    rounded: Callable[[Decimal], Decimal],
    customer_id: int,
) -> list[AllocationEdit]:
    """Name each invoice by id, or by number when no id is given (seed 004: the id wins). A
    bare number (`957`) that is no invoice's number names the customer's invoice ending in those
    digits (`INV-00957`), when exactly one does."""
    numbers = [e.invoice_number for e in entries if e.invoice_id is None and e.invoice_number]
    ids = lt.invoice_ids_by_number(conn, numbers)
    bare = [n for n in numbers if n not in ids and n.strip().isdigit()]
    if bare:
        own = dict(
            conn.execute(
                select(t.invoices.c.invoice_number, t.invoices.c.id).where(
                    t.invoices.c.customer_id == customer_id
                )
            ).all()
        )
        for number in bare:
            found = number_of_bare(number, own)
            if found is not None:
                ids[number] = found
    edits = []
    for entry in entries:
        invoice_id = entry.invoice_id
        if invoice_id is None:
            if not entry.invoice_number:
                raise InvalidInput("an allocation needs invoiceId or invoiceNumber")
            if entry.invoice_number not in ids:
                raise InvalidInput(f"invoice number {entry.invoice_number} does not exist")
            invoice_id = ids[entry.invoice_number]
        edits.append(AllocationEdit(entry.allocation_id, invoice_id, rounded(entry.amount_applied)))
    return edits


def _sum_by(key: Any, amount: Any, name: str) -> Any:
    return (
        select(key.label("key"), func.sum(amount).label("total"))
        .where(key.is_not(None))
        .group_by(key)
        .subquery(name)
    )


def _status_expression(allocated: Any, refunded: Any) -> ColumnElement[Any]:
    """`credit_note_status` in SQL, so that lists filter and sort by it."""
    used = func.coalesce(allocated, 0)
    returned = func.coalesce(refunded, 0)
    return type_coerce(
        case(
            (notes.c.collection_status == "failed", CreditNoteStatus.FAILED.value),
            (notes.c.collection_status == "pending", CreditNoteStatus.PENDING.value),
            (notes.c.amount - returned - used <= 0, CreditNoteStatus.ALLOCATED.value),
            (and_(used == 0, returned == 0), CreditNoteStatus.UNALLOCATED.value),
            else_=CreditNoteStatus.PARTIAL.value,
        ),
        String(),
    )
