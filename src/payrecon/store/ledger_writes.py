"""The one ledger write path: every insert into payments, allocations, credit-note allocations,
settlements and reversals, and every change of what they take from invoices, goes through
`LedgerWrites`, one unit of work over the caller's transaction.

It owns
- the locks: the customers are partitioned (`partition_of`), and a writer takes the PostgreSQL
  advisory locks of the partitions it writes (a reconciler: its own; a single write: its
  customer's, or all), in ascending order, so writers of different partitions run side by side
  and never deadlock (SQLite has one writer at a time anyway); the rows a write reads are locked
  FOR UPDATE;
- the row shapes of payments, allocations, credit notes and their allocations, refunds,
  settlements and reversals;
- the invariant check: before any allocation is written, `domain.allocation.allocation_problems`
  judges the complete allocation list of its payment or credit note against the invoices' open
  amounts as they stand in this unit of work (never more than the funds, never more than an
  invoice's open amount, one currency), and refuses the whole write on any problem;
- the kept amounts: `invoices.open_amount` moves by exactly what each write takes or gives back,
  accumulated here and written once when the unit of work ends; `payments.unused_amount` and
  `credit_notes.unused_amount` of the funds it touched are set from their own rows then;
- the currencies: a payment in another currency than its customer's carries the rate recorded
  for it (`NewPayment.rate`) and its amount converted with it (`bcy_amount`); its allocations,
  refunds and unused amount are then counted in the customer's currency, and each allocation
  also records the rate and the payment's own amount and currency. Without a rate it can pay no
  invoice in another currency (`allocation_problems` says CURRENCY_MISMATCH);
- the payment numbers (seed 001's `payment_number`): from a sequence of their own (PostgreSQL),
  so that reconcilers of different partitions never take the same.

The definitions these amounts follow are the domain's (`domain.allocation.unused_amount`, and an
invoice's open amount = total - live payment allocations - collected credit-note allocations);
`store.ledger_reads` computes them from the rows for the nightly audit, which reports any drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, select, text, update

from payrecon.domain.allocation import (
    TOLERANCE_CONFIDENCE,
    Funds,
    OpenInvoice,
    ProposedAllocation,
    allocation_problems,
    check_refund,
    over_allocated,
    raise_for_problems,
)
from payrecon.domain.errors import NotFound
from payrecon.domain.ledger import Rounding, original_currency_amount
from payrecon.domain.money import ZERO, RecordedRate
from payrecon.store import ledger_reads as reads
from payrecon.store import ledger_tables as lt
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import batched
from payrecon.store.copy import insert_rows, reserve_ids, update_from_rows

LEDGER_LOCK = 7_402_113_000  # + the partition: the pg_advisory_xact_lock keys of the writers
PARTITIONS = 16  # customers are partitioned by id (`partition_of`); reconcilers take one each
PAYOUT_PARTITION = PARTITIONS  # the lines that settle provider payouts, whose customer is none
EVERY_PARTITION = frozenset(range(PARTITIONS + 1))
_BATCH = 900
_BULK_FROM = 200  # rows from which an UPDATE goes through COPY and a temporary table


def partition_of(customer_id: int) -> int:
    """The partition of a customer: its payments, allocations and invoices are written under
    this partition's lock, and its lines are reconciled by this partition's reconciler."""
    return customer_id % PARTITIONS


@dataclass(frozen=True, slots=True)
class NewPayment:
    """The row of a payment, whichever way it came in."""

    customer_id: int
    source: str  # bank, manual, gocardless, stripe
    date: date
    amount: Decimal
    currency: str
    payment_mode: str = "BankTransfer"
    statement_line_id: int | None = None
    external_id: str | None = None
    exchange_rate: Decimal = Decimal(1)
    bank_charges: Decimal = ZERO
    tax_amount_withheld: Decimal = ZERO
    reference_number: str | None = None
    description: str | None = None
    # In another currency than the customer's: the rate recorded for it, and the amount in the
    # customer's currency (rounded by the owner's rule) that the ledger counts.
    rate: RecordedRate | None = None
    bcy_amount: Decimal | None = None

    @property
    def ledger_amount(self) -> Decimal:
        return self.bcy_amount if self.bcy_amount is not None else self.amount

    @property
    def ledger_currency(self) -> str:
        return self.rate.quote if self.rate is not None else self.currency

    def funds(self) -> Funds:
        return Funds(
            "payment",
            self.customer_id,
            self.currency,
            self.amount,
            rate=self.rate,
            converted=self.bcy_amount,
        )

    def values(self, now: datetime, unused: Decimal) -> tuple[Any, ...]:
        """The row's values in `_PAYMENT_COLUMNS` order (the bulk path)."""
        row = self.row(now, unused)
        return tuple(row[c] for c in _PAYMENT_COLUMNS)

    def row(self, now: datetime, unused: Decimal) -> dict[str, Any]:
        rate = self.rate
        return {
            "customer_id": self.customer_id,
            "statement_line_id": self.statement_line_id,
            "source": self.source,
            "external_id": self.external_id,
            "payment_mode": self.payment_mode,
            "date": self.date,
            "amount": self.amount,
            "currency": self.currency,
            "exchange_rate": rate.rate if rate is not None else self.exchange_rate,
            "bcy_amount": self.bcy_amount,
            "rate_source": rate.source if rate is not None else None,
            "rate_date": rate.as_of if rate is not None else None,
            "bank_charges": self.bank_charges,
            "tax_amount_withheld": self.tax_amount_withheld,
            "reference_number": self.reference_number,
            "description": self.description,
            "status": "active",
            "unused_amount": unused,
            "created_at": now,
        }


_PAYMENT_COLUMNS = (
    "customer_id",
    "statement_line_id",
    "source",
    "external_id",
    "payment_mode",
    "date",
    "amount",
    "currency",
    "exchange_rate",
    "bcy_amount",
    "rate_source",
    "rate_date",
    "bank_charges",
    "tax_amount_withheld",
    "reference_number",
    "description",
    "status",
    "unused_amount",
    "created_at",
)
_ALLOCATION_COLUMNS = (
    "payment_id",
    "invoice_id",
    "amount",
    "currency",
    "rule",
    "confidence",
    "evidence",
    "created_at",
    "exchange_rate",
    "original_amount",
    "original_currency",
)


@dataclass(frozen=True, slots=True)
class NewCreditNote:
    customer_id: int
    date: date
    currency: str
    amount: Decimal
    collection_status: str = "collected"
    card_last_four: str | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class NewRefund:
    date: date
    amount: Decimal  # in the currency of the payment or credit note
    reference_number: str | None = None
    description: str | None = None
    converted: Decimal | None = None  # in the customer's, when the payment was converted

    @property
    def ledger_amount(self) -> Decimal:
        return self.converted if self.converted is not None else self.amount


@dataclass(frozen=True, slots=True)
class NewReversal:
    """A debit line undoing (or, `reverses_payment` false, only settled against) a payment."""

    payment_id: int
    statement_line_id: int
    kind: str
    reason_code: str | None
    reverses_payment: bool
    evidence: Mapping[str, Any]


@dataclass(slots=True)
class Held:
    """A payment or credit note as this unit of work holds it: locked, with its allocations."""

    kind: str  # "payment" or "credit note"
    id: int
    row: Any
    funds: Funds
    allocations: dict[int, Any] = field(default_factory=dict)  # by allocation id

    @property
    def allocated(self) -> Decimal:
        return sum((a.amount for a in self.allocations.values()), ZERO)

    @property
    def live(self) -> bool:
        return self.funds.collected


class LedgerWrites:
    """A unit of work over `conn` (see the module text); use `ledger_writes(conn, now)`."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.customers: set[int] = set()  # whose balances moved
        self._locked: frozenset[int] = frozenset()
        self._open_delta: dict[int, Decimal] = defaultdict(Decimal)
        self._known: dict[int, OpenInvoice] = {}  # loaded in this transaction, under the lock
        self._touched: dict[str, set[int]] = {"payment": set(), "credit note": set()}
        self._next_number: int | None = None

    # The lock and locked reads ----------------------------------------------------------------

    def lock(
        self, *, customers: Iterable[int] | None = None, partitions: Iterable[int] | None = None
    ) -> None:
        """Take the partitions' locks (those of `customers`, and `partitions`; every partition
        when neither is given), once per unit of work and in ascending order, so that writers
        never deadlock. A writer may then touch only those partitions' customers."""
        wanted = frozenset(partitions or ()) | {partition_of(c) for c in customers or ()}
        if customers is None and partitions is None:
            wanted = EVERY_PARTITION
        if self._locked:
            if not wanted <= self._locked:
                raise RuntimeError("a unit of work takes its locks once, before it writes")
            return
        if self.conn.dialect.name == "postgresql":
            for partition in sorted(wanted):
                self.conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK + partition}
                )
        self._locked = wanted

    def _covers(self, customer_ids: Iterable[int]) -> None:
        """A programming error if a write reaches a customer whose partition it did not lock."""
        if not self._locked:
            self.lock()
        if self._locked != EVERY_PARTITION:
            stray = sorted(c for c in set(customer_ids) if partition_of(c) not in self._locked)
            if stray:
                raise RuntimeError(f"customers {stray[:5]} are outside the partitions locked")

    def know(self, invoices: Iterable[OpenInvoice]) -> None:
        """Invoices the caller loaded in this transaction, under the lock (a reconcile chunk's
        book), so that writes judge against them without reading them again."""
        for invoice in invoices:
            self._known.setdefault(invoice.id, invoice)

    def invoices(
        self, ids: Iterable[int] = (), *, customer_id: int | None = None
    ) -> dict[int, OpenInvoice]:
        """The invoices named (or all of a customer's), locked, with their open amounts as they
        stand in this unit of work."""
        if not self._locked:
            self.lock()
        # Reading another partition's invoice is harmless: an allocation to it is refused as
        # another customer's by the check, and every write covers its own customer.
        found = reads.invoices(self.conn, ids=ids, customer_id=customer_id, for_update=True)
        for invoice in found.values():
            self._known[invoice.id] = invoice
        return {i: self._current(inv) for i, inv in found.items()}

    def _current(self, invoice: OpenInvoice) -> OpenInvoice:
        delta = self._open_delta.get(invoice.id)
        return replace(invoice, open_amount=invoice.open_amount + delta) if delta else invoice

    def payment(self, payment_id: int) -> Held:
        if not self._locked:
            self.lock()
        _lock_rows(self.conn, t.payments, [payment_id])
        row = self.conn.execute(
            select(t.payments, t.customers.c.currency.label("customer_currency"))
            .join(t.customers, t.customers.c.id == t.payments.c.customer_id)
            .where(t.payments.c.id == payment_id)
        ).first()
        if row is None:
            raise NotFound(f"customer payment {payment_id} does not exist")
        self._covers([row.customer_id])
        refunded = reads.refunded(self.conn, payment_id=payment_id)
        rate = None
        if row.bcy_amount is not None:
            rate = RecordedRate(
                row.currency,
                row.customer_currency,
                row.exchange_rate,
                row.rate_date or row.date,
                row.rate_source or "given",
            )
        funds = Funds(
            "payment",
            row.customer_id,
            row.currency,
            row.amount,
            refunded,
            row.status == "active",
            rate=rate,
            converted=row.bcy_amount,
        )
        allocations = self.conn.execute(
            select(t.allocations)
            .where(t.allocations.c.payment_id == payment_id)
            .order_by(t.allocations.c.id)
        ).all()
        return Held("payment", payment_id, row, funds, {a.id: a for a in allocations})

    def credit_note(self, note_id: int) -> Held:
        if not self._locked:
            self.lock()
        notes, applied = lt.credit_notes, lt.credit_note_allocations
        _lock_rows(self.conn, notes, [note_id])
        row = self.conn.execute(select(notes).where(notes.c.id == note_id)).first()
        if row is None:
            raise NotFound(f"credit note {note_id} does not exist")
        self._covers([row.customer_id])
        refunded = reads.refunded(self.conn, credit_note_id=note_id)
        collected = row.collection_status == "collected"
        funds = Funds("credit note", row.customer_id, row.currency, row.amount, refunded, collected)
        allocations = self.conn.execute(
            select(applied).where(applied.c.credit_note_id == note_id).order_by(applied.c.id)
        ).all()
        return Held("credit note", note_id, row, funds, {a.id: a for a in allocations})

    # Payments -----------------------------------------------------------------------------------

    def add_payment(self, payment: NewPayment) -> Held:
        self._covers([payment.customer_id])
        row = payment.row(self.now, payment.ledger_amount)
        row["payment_number"] = self.payment_numbers(1)[0]
        payment_id = int(
            self.conn.execute(
                t.payments.insert().values(row).returning(t.payments.c.id)
            ).scalar_one()
        )
        self._touch("payment", payment_id, payment.customer_id)
        return Held("payment", payment_id, _Row({**row, "id": payment_id}), payment.funds())

    def payment_numbers(self, count: int) -> list[int]:
        """The next `count` payment numbers (seed 001's own sequence). PostgreSQL: from the
        sequence `payment_number_seq`, so reconcilers of different partitions never take the
        same; SQLite (one writer at a time): after the highest in use."""
        if count <= 0:
            return []
        if self.conn.dialect.name == "postgresql":
            rows = self.conn.execute(
                text("SELECT nextval('payment_number_seq') FROM generate_series(1, :n)"),
                {"n": count},
            )
            return [int(r[0]) for r in rows]
        if self._next_number is None:
            last = self.conn.execute(select(func.max(t.payments.c.payment_number))).scalar()
            self._next_number = int(last or 0) + 1
        first = self._next_number
        self._next_number += count
        return list(range(first, first + count))

    def change_payment(self, held: Held, **values: Any) -> Held:
        """Change a live payment's own columns (amount, customer, date...); its allocations are
        judged again against the new amount and customer by the next `set_allocations`. A
        `rate` (a `RecordedRate`, or None for a payment in its customer's currency) goes with
        `bcy_amount`, the amount it converts to."""
        rate_given = "rate" in values
        rate: RecordedRate | None = values.pop("rate", None)
        if rate_given:
            values["exchange_rate"] = rate.rate if rate is not None else Decimal(1)
            values["rate_source"] = rate.source if rate is not None else None
            values["rate_date"] = rate.as_of if rate is not None else None
            values.setdefault("bcy_amount", None)
        self.conn.execute(
            update(t.payments)
            .where(t.payments.c.id == held.id)
            .values(**values, unused_amount=_provisional_unused(held, values))
        )
        self.customers.add(held.funds.customer_id)
        row = _Row({**held.row._asdict(), **values})
        funds = replace(
            held.funds,
            customer_id=row.customer_id,
            amount=row.amount,
            currency=row.currency,
            rate=rate if rate_given else held.funds.rate,
            converted=row.bcy_amount if rate_given else held.funds.converted,
        )
        self._touch("payment", held.id, funds.customer_id)
        return replace(held, row=row, funds=funds)

    def delete_payment(self, held: Held) -> None:
        self.set_allocations(held, [])
        self.conn.execute(delete(t.payments).where(t.payments.c.id == held.id))
        self._touched["payment"].discard(held.id)
        self.customers.add(held.funds.customer_id)

    def reverse_payments(self, payment_ids: Sequence[int]) -> None:
        """Mark the payments reversed: their allocations stop counting, their invoices reopen,
        and so do the credit notes that settled shortfalls alongside them."""
        ids = sorted(set(payment_ids))
        if not ids:
            return
        if not self._locked:
            self.lock()
        rows: list[Any] = []
        for batch in batched(ids, _BATCH):
            rows += self.conn.execute(
                select(t.allocations.c.invoice_id, t.allocations.c.amount, t.payments.c.customer_id)
                .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
                .where(t.payments.c.id.in_(batch), t.payments.c.status == "active")
            ).all()
        self._covers(customer_id for _, _, customer_id in rows)
        for invoice_id, amount, customer_id in rows:
            self._give_back(invoice_id, amount)
            self.customers.add(customer_id)
        for batch in batched(ids, _BATCH):
            self.conn.execute(
                update(t.payments)
                .where(t.payments.c.id.in_(batch))
                .values(status="reversed", unused_amount=ZERO)
            )
            notes = select(mt.payment_settlements.c.credit_note_id).where(
                mt.payment_settlements.c.payment_id.in_(batch)
            )
            self._fail_credit_notes(notes)
        self.customers.update(
            self.conn.execute(
                select(t.payments.c.customer_id).where(t.payments.c.id.in_(ids)).distinct()
            ).scalars()
        )

    def reinstate_payment(self, held: Held) -> Held:
        """A reversed payment counts again (a provider's later word): its old allocations, which
        no longer counted, are dropped; the money is unused until allocated again."""
        self.conn.execute(delete(t.allocations).where(t.allocations.c.payment_id == held.id))
        self.conn.execute(
            update(t.payments).where(t.payments.c.id == held.id).values(status="active")
        )
        self._touch("payment", held.id, held.funds.customer_id)
        funds = replace(held.funds, collected=True)
        return replace(held, funds=funds, row=_Row({**held.row._asdict(), "status": "active"}))

    # Allocations, of a payment or a credit note ------------------------------------------------

    def set_allocations(
        self,
        held: Held,
        wanted: Sequence[ProposedAllocation],
        *,
        keep: Mapping[int, ProposedAllocation] | None = None,
    ) -> None:
        """Make `wanted` the complete allocation list of `held`: allocations given in `keep`
        (by allocation id) are edited in place, those left out are deleted, the rest added.
        The whole list is judged first; any problem refuses the write."""
        keep = dict(keep or {})
        final = [*keep.values(), *wanted]
        ids = {a.invoice_id for a in final} | {a.invoice_id for a in held.allocations.values()}
        invoices = self.invoices(ids)
        own: dict[int, Decimal] = defaultdict(Decimal)
        if held.live:
            for a in held.allocations.values():
                own[a.invoice_id] += a.amount
        open_to_funds = {
            i: replace(inv, open_amount=inv.open_amount + own[i]) if own[i] else inv
            for i, inv in invoices.items()
        }
        raise_for_problems(allocation_problems(held.funds, final, open_to_funds))
        table = _allocation_table(held)
        gone = [i for i in held.allocations if i not in keep]
        for batch in batched(sorted({*gone, *keep}), _BATCH):
            self.conn.execute(delete(table).where(table.c.id.in_(batch)))
        converting = self._converting(held)
        rows = [
            self._allocation_row(held, a, allocation_id=i, converting=converting)
            for i, a in keep.items()
        ]
        rows += [self._allocation_row(held, a, converting=converting) for a in wanted]
        if rows:
            with_id = [r for r in rows if "id" in r]
            if with_id:
                self.conn.execute(table.insert(), with_id)
            new = [r for r in rows if "id" not in r]
            if new:
                self.conn.execute(table.insert(), new)
        if held.live:
            for invoice_id, amount in own.items():
                self._give_back(invoice_id, amount)
            for a in final:
                self._take(a.invoice_id, a.amount)
        self._touch(held.kind, held.id, held.funds.customer_id)

    def add_allocations(self, held: Held, wanted: Sequence[ProposedAllocation]) -> None:
        """Allocate more of `held`, keeping what it allocates already."""
        keep = {
            i: ProposedAllocation(a.invoice_id, a.amount, a.rule, a.confidence, a.evidence)
            for i, a in held.allocations.items()
        }
        self.set_allocations(held, wanted, keep=keep)

    def _converting(self, held: Held) -> Rounding | None:
        """For funds counted through a rate: the owner's rule for their own currency."""
        if held.funds.rate is None:
            return None
        terms = lt.customer_terms(self.conn, held.funds.customer_id)
        assert terms is not None  # the funds' customer exists (foreign key)
        return terms.rounding_for(held.funds.currency)

    def _allocation_row(
        self,
        held: Held,
        a: ProposedAllocation,
        *,
        allocation_id: int | None = None,
        converting: Rounding | None = None,
    ) -> dict[str, Any]:
        old = held.allocations.get(allocation_id) if allocation_id is not None else None
        row: dict[str, Any] = {
            "invoice_id": a.invoice_id,
            "amount": a.amount,
            "currency": held.funds.ledger_currency,
            "rule": a.rule,
            "confidence": a.confidence,
            "evidence": dict(a.evidence),
            "created_at": old.created_at if old is not None else self.now,
        }
        if held.kind == "payment":
            row["payment_id"] = held.id
            row.update(_original_columns(held.funds, a.amount, converting))
        else:
            row["credit_note_id"] = held.id
        if allocation_id is not None:
            row["id"] = allocation_id
        return row

    def remove_allocation(self, held: Held, allocation_id: int) -> None:
        """Delete one allocation of `held`; a shortfall settled beside it goes with it."""
        keep = {
            i: ProposedAllocation(a.invoice_id, a.amount, a.rule, a.confidence, a.evidence)
            for i, a in held.allocations.items()
            if i != allocation_id
        }
        removed = held.allocations[allocation_id]
        self.set_allocations(held, [], keep=keep)
        if held.kind == "payment":
            settled = mt.payment_settlements
            where = (settled.c.payment_id == held.id) & (settled.c.invoice_id == removed.invoice_id)
            self._fail_credit_notes(select(settled.c.credit_note_id).where(where))
            self.conn.execute(delete(settled).where(where))

    # Credit notes and refunds --------------------------------------------------------------------

    def add_credit_note(self, note: NewCreditNote) -> Held:
        self._covers([note.customer_id])
        values = {
            "customer_id": note.customer_id,
            "date": note.date,
            "currency": note.currency,
            "amount": note.amount,
            "card_last_four": note.card_last_four,
            "memo": note.memo,
            "collection_status": note.collection_status,
            "unused_amount": note.amount if note.collection_status == "collected" else ZERO,
            "created_at": self.now,
            "updated_at": self.now,
        }
        notes = lt.credit_notes
        note_id = int(
            self.conn.execute(notes.insert().values(values).returning(notes.c.id)).scalar_one()
        )
        self._touch("credit note", note_id, note.customer_id)
        collected = note.collection_status == "collected"
        funds = Funds("credit note", note.customer_id, note.currency, note.amount, ZERO, collected)
        return Held("credit note", note_id, _Row({**values, "id": note_id}), funds)

    def change_credit_note(self, held: Held, **values: Any) -> Held:
        """Change a credit note's own columns. If it stops (or starts) being collected, what its
        allocations take from invoices stops (or starts) counting."""
        row = _Row({**held.row._asdict(), **values, "updated_at": self.now})
        collected = row.collection_status == "collected"
        if held.live and not collected:
            for a in held.allocations.values():
                self._give_back(a.invoice_id, a.amount)
        elif collected and not held.live:
            for a in held.allocations.values():
                self._take(a.invoice_id, a.amount)
        self.conn.execute(
            update(lt.credit_notes)
            .where(lt.credit_notes.c.id == held.id)
            .values(**values, updated_at=self.now, unused_amount=_provisional_unused(held, values))
        )
        funds = replace(
            held.funds,
            customer_id=row.customer_id,
            amount=row.amount,
            currency=row.currency,
            collected=collected,
        )
        self._touch("credit note", held.id, held.funds.customer_id)
        self._touch("credit note", held.id, funds.customer_id)
        return replace(held, row=row, funds=funds)

    def delete_credit_note(self, held: Held) -> None:
        self.set_allocations(held, [])
        self.conn.execute(delete(lt.credit_notes).where(lt.credit_notes.c.id == held.id))
        self._touched["credit note"].discard(held.id)
        self.customers.add(held.funds.customer_id)

    def add_refund(self, held: Held, refund: NewRefund) -> int:
        """Refund money of `held` that no invoice uses, never more (`check_refund`)."""
        check_refund(held.funds, held.allocated if held.live else ZERO, refund.ledger_amount)
        row = {
            "customer_id": held.funds.customer_id,
            "payment_id": held.id if held.kind == "payment" else None,
            "credit_note_id": held.id if held.kind == "credit note" else None,
            "date": refund.date,
            "amount": refund.amount,
            "currency": held.funds.currency,
            "bcy_amount": refund.converted,
            "reference_number": refund.reference_number,
            "description": refund.description,
            "created_at": self.now,
        }
        refund_id = int(
            self.conn.execute(
                lt.refunds.insert().values(row).returning(lt.refunds.c.id)
            ).scalar_one()
        )
        self._touch(held.kind, held.id, held.funds.customer_id)
        return refund_id

    def delete_refund(self, refund_id: int) -> int:
        """Void a refund; its money is back on its payment or credit note. Returns the customer."""
        if not self._locked:
            self.lock()
        refunds = lt.refunds
        _lock_rows(self.conn, refunds, [refund_id])
        row = self.conn.execute(select(refunds).where(refunds.c.id == refund_id)).first()
        if row is None:
            raise NotFound(f"refund {refund_id} does not exist")
        self._covers([row.customer_id])
        self.conn.execute(delete(refunds).where(refunds.c.id == refund_id))
        if row.payment_id is not None:
            self._touch("payment", row.payment_id, row.customer_id)
        else:
            self._touch("credit note", row.credit_note_id, row.customer_id)
        return int(row.customer_id)

    # Bank lines, in bulk -------------------------------------------------------------------------

    def record_payments(
        self,
        payments: Sequence[NewPayment],
        allocations: Sequence[Sequence[ProposedAllocation]],
    ) -> list[int]:
        """New payments, each with its allocations (`allocations[k]` belongs to `payments[k]`);
        returns their ids in order. Each payment's list is judged on its own; what the batch
        takes from each invoice is judged when the unit of work ends (`flush`), so that a
        reversal in the same batch may give back what a later payment takes. Rows go in bulk
        (COPY on PostgreSQL), with ids taken from the sequences beforehand."""
        if not payments:
            return []
        self._covers(p.customer_id for p in payments)
        wanted = {a.invoice_id for allocs in allocations for a in allocs}
        unknown = wanted - set(self._known)
        if unknown:
            self.invoices(unknown)
        problems = []
        for payment, allocs in zip(payments, allocations, strict=True):
            problems += allocation_problems(
                payment.funds(), allocs, self._known, open_amounts=False
            )
        raise_for_problems(problems)
        ids = reserve_ids(self.conn, t.payments, len(payments))
        numbers = self.payment_numbers(len(payments))
        now = self.now
        insert_rows(
            self.conn,
            t.payments,
            ("id", *_PAYMENT_COLUMNS, "payment_number"),
            [
                (
                    payment_id,
                    *p.values(now, p.ledger_amount - sum((a.amount for a in allocs), ZERO)),
                    number,
                )
                for payment_id, p, allocs, number in zip(
                    ids, payments, allocations, numbers, strict=True
                )
            ],
        )
        allocation_rows = [
            (
                payment_id, a.invoice_id, a.amount, p.ledger_currency, a.rule, a.confidence,
                a.evidence, now,
                *((None, None, None) if p.rate is None else _converted_values(p, a)),
            )
            for payment_id, p, allocs in zip(ids, payments, allocations, strict=True)
            for a in allocs
        ]  # fmt: skip
        insert_rows(self.conn, t.allocations, _ALLOCATION_COLUMNS, allocation_rows)
        take = self._take
        for payment, allocs in zip(payments, allocations, strict=True):
            self.customers.add(payment.customer_id)
            for a in allocs:
                take(a.invoice_id, a.amount)
        return ids

    def settle_shortfall(
        self, payment_id: int, payment: NewPayment, invoice_id: int, amount: Decimal, kind: str
    ) -> None:
        """A shortfall the owner's tolerance accepts (`write_off`, `bank_charges`) becomes a
        collected credit note on the invoice, so its open amount and the balance agree."""
        what = "bank charges" if kind == "bank_charges" else "write-off"
        note = self.add_credit_note(
            NewCreditNote(
                customer_id=payment.customer_id,
                date=payment.date,
                currency=payment.currency,
                amount=amount,
                memo=f"{what} of {amount:f} accepted by the owner's tolerance "
                f"(payment {payment_id}, bank reference {payment.external_id})",
            )
        )
        evidence = {"settlement": kind, "payment_id": str(payment_id)}
        allocation = ProposedAllocation(invoice_id, amount, kind, TOLERANCE_CONFIDENCE, evidence)
        self.set_allocations(note, [allocation])
        self.conn.execute(
            mt.payment_settlements.insert().values(
                payment_id=payment_id,
                invoice_id=invoice_id,
                credit_note_id=note.id,
                kind=kind,
                amount=amount,
                currency=payment.currency,
                created_at=self.now,
            )
        )

    def record_reversals(self, reversals: Sequence[NewReversal]) -> None:
        """Debit lines against payments: the payments they undo are reversed first."""
        if not reversals:
            return
        self.reverse_payments([r.payment_id for r in reversals if r.reverses_payment])
        self.conn.execute(
            mt.payment_reversals.insert(),
            [
                {
                    "payment_id": r.payment_id,
                    "statement_line_id": r.statement_line_id,
                    "kind": r.kind,
                    "reason_code": r.reason_code,
                    "reverses_payment": r.reverses_payment,
                    "evidence": dict(r.evidence),
                    "created_at": self.now,
                }
                for r in reversals
            ],
        )

    # The kept amounts ---------------------------------------------------------------------------

    def _take(self, invoice_id: int, amount: Decimal) -> None:
        self._open_delta[invoice_id] -= amount

    def _give_back(self, invoice_id: int, amount: Decimal) -> None:
        self._open_delta[invoice_id] += amount

    def _touch(self, kind: str, record_id: int, customer_id: int) -> None:
        self._touched[kind].add(record_id)
        self.customers.add(customer_id)

    def _fail_credit_notes(self, note_ids: Any) -> None:
        """Credit notes (named by a subquery) stop counting: their allocations give back."""
        notes, applied = lt.credit_notes, lt.credit_note_allocations
        rows = self.conn.execute(
            select(applied.c.invoice_id, applied.c.amount, notes.c.customer_id)
            .join(notes, notes.c.id == applied.c.credit_note_id)
            .where(notes.c.id.in_(note_ids), notes.c.collection_status == "collected")
        ).all()
        for invoice_id, amount, customer_id in rows:
            self._give_back(invoice_id, amount)
            self.customers.add(customer_id)
        self.conn.execute(
            update(notes)
            .where(notes.c.id.in_(note_ids))
            .values(collection_status="failed", unused_amount=ZERO, updated_at=self.now)
        )

    def flush(self) -> None:
        """Judge what this unit of work takes from each invoice in all, then write the kept
        amounts: each invoice's open amount moves by the net delta; the unused amount of each
        payment and credit note touched is set from its rows."""
        deltas = [(i, d) for i, d in sorted(self._open_delta.items()) if d]
        taken = {i: -d for i, d in deltas if d < 0}
        if taken:  # every invoice taken from was read (and locked) before it was
            raise_for_problems(over_allocated(self._known, taken))
        if len(deltas) > _BULK_FROM:
            update_from_rows(
                self.conn, t.invoices, "id", ["open_amount"], deltas, add=["open_amount"]
            )
        elif deltas:
            self.conn.execute(
                update(t.invoices)
                .where(t.invoices.c.id == bindparam("b_id"))
                .values(open_amount=t.invoices.c.open_amount + bindparam("b_delta")),
                [{"b_id": i, "b_delta": d} for i, d in deltas],
            )
        self._open_delta.clear()
        for kind, ids in self._touched.items():
            for batch in batched(sorted(ids), _BATCH):
                reads.refresh_unused(self.conn, kind, batch)
            ids.clear()


@contextmanager
def ledger_writes(conn: Connection, now: datetime) -> Iterator[LedgerWrites]:
    """The ledger write path over the caller's transaction; the kept amounts are written when
    the block ends without an error (with one, the transaction is rolled back anyway)."""
    writes = LedgerWrites(conn, now)
    yield writes
    writes.flush()


_SAME_CURRENCY: dict[str, Any] = {
    "exchange_rate": None,
    "original_amount": None,
    "original_currency": None,
}


def _converted_values(payment: NewPayment, a: ProposedAllocation) -> tuple[Any, ...]:
    """A converted bank payment's allocation: the rate, its own amount and currency."""
    columns = _original_columns(payment.funds(), a.amount, None)
    return (columns["exchange_rate"], columns["original_amount"], columns["original_currency"])


def _original_columns(funds: Funds, amount: Decimal, rounding: Rounding | None) -> dict[str, Any]:
    """An allocation of converted funds records the rate and the funds' own amount and
    currency (`amount` is in the invoice's); same-currency funds leave them NULL."""
    if funds.rate is None or funds.converted is None:
        return dict(_SAME_CURRENCY)
    own = original_currency_amount(
        amount, funds.amount, funds.converted, rounding or Rounding().in_currency(funds.currency)
    )
    return {
        "exchange_rate": funds.rate.rate,
        "original_amount": own,
        "original_currency": funds.currency,
    }


def _provisional_unused(held: Held, values: Mapping[str, Any]) -> Decimal:
    """An unused amount the row's constraints accept while its own columns change; `flush` sets
    the exact one once its allocations are final."""
    if "bcy_amount" in values or "amount" in values:
        amount = Decimal(values.get("bcy_amount") or values.get("amount") or held.funds.amount)
    else:
        amount = held.funds.ledger_amount
    return max(ZERO, min(amount, amount - held.funds.refunded - held.allocated))


def _allocation_table(held: Held) -> Table:
    return t.allocations if held.kind == "payment" else lt.credit_note_allocations


def _lock_rows(conn: Connection, table: Table, ids: Iterable[int]) -> None:
    """On PostgreSQL, SELECT ... FOR UPDATE the rows in id order (no deadlock between writers
    that lock overlapping sets). SQLite has one writer at a time and needs nothing."""
    wanted = sorted(set(ids))
    if wanted and conn.dialect.name == "postgresql":
        for batch in batched(wanted, _BATCH):
            conn.execute(
                select(table.c.id)
                .where(table.c.id.in_(batch))
                .order_by(table.c.id)
                .with_for_update()
            )


class _Row(dict[str, Any]):
    """A row written in this unit of work, read like a fetched one (`row.amount`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _asdict(self) -> dict[str, Any]:
        return dict(self)
