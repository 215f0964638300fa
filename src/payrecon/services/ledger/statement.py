"""A customer's statement of account, and the balance as it stood on a date.

The statement lists, in date order, every invoice (a debit), active payment (a credit, in the
customer's currency: a payment in another currency at its recorded rate, with its own amount
and currency beside it), collected credit note (a credit), refund (a debit) and balance
adjustment (either) dated within [from, to] (both inclusive, as a printed statement reads), each
with the running balance after it; the opening balance is everything dated before `from`, the
closing balance everything up to `to`. Same sign as the balance (seed 000): negative = owes.
Reversed payments and credit notes not collected are left out, as the balance leaves them out.

Ageing buckets sort what is open on the invoices issued up to `to`, as of `to` (counting only
the payments and credit notes dated up to then), by days past due: current (not past due),
1-30, 31-60, 61-90, 90+.

`balance_as_of` computes the balance on a date from the same rows with the domain's one formula
(`domain.balances.customer_balance`), summed in SQL: the statement's running balance on each
date equals it. Every figure shown is rounded by the owner's rule for the customer's currency
(`CustomerTerms.rounding`), at this edge only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select, type_coerce

from payrecon.domain.balances import AGEING_BUCKETS, ageing_bucket, customer_balance
from payrecon.domain.errors import InvalidInput, NotFound
from payrecon.domain.ledger import Rounding
from payrecon.domain.money import ZERO
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.ledger_reads import payment_ledger_amount
from payrecon.store.types import Amount


@dataclass(frozen=True, slots=True)
class StatementEntry:
    date: date
    kind: str  # invoice, payment, credit_note, refund, adjustment
    id: int
    reference: str | None
    description: str | None
    amount: Decimal  # signed as the balance moves: invoices and refunds negative
    balance: Decimal  # the running balance after this entry
    original_amount: Decimal | None = None  # a payment in another currency: its own amount
    original_currency: str | None = None
    exchange_rate: Decimal | None = None


@dataclass(slots=True)
class Statement:
    customer_id: int
    customer_name: str
    currency: str
    date_from: date | None
    date_to: date
    opening_balance: Decimal
    closing_balance: Decimal
    entries: list[StatementEntry] = field(default_factory=list)
    ageing: dict[str, Decimal] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "customerId": self.customer_id,
            "customerName": self.customer_name,
            "currency": self.currency,
            "from": self.date_from,
            "to": self.date_to,
            "openingBalance": self.opening_balance,
            "closingBalance": self.closing_balance,
            "entries": [
                {
                    "date": e.date,
                    "type": e.kind,
                    "id": e.id,
                    "reference": e.reference,
                    "description": e.description,
                    "amount": e.amount,
                    "balance": e.balance,
                    "originalAmount": e.original_amount,
                    "originalCurrency": e.original_currency,
                    "exchangeRate": e.exchange_rate,
                }
                for e in self.entries
            ],
            "ageing": dict(self.ageing),
        }

    def rows(self) -> list[dict[str, Any]]:
        """The statement as table rows (CSV, XLSX): opening, the entries, closing, ageing."""
        first = self.date_from or (self.entries[0].date if self.entries else self.date_to)
        out: list[dict[str, Any]] = [
            {"date": first, "type": "opening_balance", "balance": self.opening_balance}
        ]
        for e in self.entries:
            out.append(
                {
                    "date": e.date,
                    "type": e.kind,
                    "id": e.id,
                    "reference": e.reference,
                    "description": e.description,
                    "amount": e.amount,
                    "balance": e.balance,
                    "original_amount": e.original_amount,
                    "original_currency": e.original_currency,
                    "exchange_rate": e.exchange_rate,
                }
            )
        out.append(
            {"date": self.date_to, "type": "closing_balance", "balance": self.closing_balance}
        )
        for bucket, amount in self.ageing.items():
            out.append({"date": self.date_to, "type": f"ageing {bucket}", "amount": amount})
        return out


STATEMENT_COLUMNS = (
    "date",
    "type",
    "id",
    "reference",
    "description",
    "amount",
    "balance",
    "original_amount",
    "original_currency",
    "exchange_rate",
)


def _terms(conn: Connection, customer_id: int) -> lt.CustomerTerms:
    terms = lt.customer_terms(conn, customer_id)
    if terms is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return terms


def _end_of(day: date) -> datetime:
    """The first instant after `day` (UTC): timestamps before it are dated up to `day`."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def balance_as_of(conn: Connection, customer_id: int, as_of: date) -> Decimal:
    """The customer's balance counting every row dated up to `as_of` (exact, not rounded)."""

    def total(table: Any, amount: Any, dated: Any, *where: Any) -> Any:
        return (
            select(func.coalesce(func.sum(amount), 0))
            .where(table.c.customer_id == customer_id, dated, *where)
            .scalar_subquery()
        )

    p, n, r, a, i = t.payments, lt.credit_notes, lt.refunds, lt.balance_adjustments, t.invoices
    balance = customer_balance(
        payments=total(p, payment_ledger_amount(), p.c.date <= as_of, p.c.status == "active"),
        invoices=total(i, i.c.total, i.c.issue_date <= as_of),
        credit_notes=total(n, n.c.amount, n.c.date <= as_of, n.c.collection_status == "collected"),
        adjustments=total(a, a.c.amount, a.c.created_at < _end_of(as_of)),
        refunds=total(r, lt.refund_ledger_amount(), r.c.date <= as_of),
    )
    value = conn.execute(select(type_coerce(balance, Amount()))).scalar()
    return Decimal(value or 0)


def customer_balance_on(engine: Engine, customer_id: int, as_of: date) -> Decimal:
    """`balance_as_of`, rounded by the owner's rule: the balance the API reports for a date."""
    with engine.connect() as conn:
        terms = _terms(conn, customer_id)
        return terms.rounding.apply(balance_as_of(conn, customer_id, as_of))


def statement_of_account(
    engine: Engine, customer_id: int, *, date_from: date | None, date_to: date
) -> Statement:
    if date_from is not None and date_from > date_to:
        raise InvalidInput("from must not be after to", details={"field": "from"})
    with engine.connect() as conn:
        terms = _terms(conn, customer_id)
        entries = _entries(conn, customer_id, date_to)
        ageing = _ageing(conn, customer_id, date_to)
    rounding = terms.rounding
    opening = sum((e.amount for e in entries if date_from and e.date < date_from), ZERO)
    shown: list[StatementEntry] = []
    running = opening
    for e in entries:
        if date_from is not None and e.date < date_from:
            continue
        running += e.amount
        shown.append(_rounded(e, running, rounding))
    return Statement(
        customer_id=terms.id,
        customer_name=terms.name,
        currency=terms.currency,
        date_from=date_from,
        date_to=date_to,
        opening_balance=rounding.apply(opening),
        closing_balance=rounding.apply(running),
        entries=shown,
        ageing={k: rounding.apply(v) for k, v in ageing.items()},
    )


def _rounded(e: StatementEntry, running: Decimal, rounding: Rounding) -> StatementEntry:
    return StatementEntry(
        e.date,
        e.kind,
        e.id,
        e.reference,
        e.description,
        rounding.apply(e.amount),
        rounding.apply(running),
        e.original_amount,
        e.original_currency,
        e.exchange_rate,
    )


_ORDER = {"invoice": 0, "adjustment": 1, "credit_note": 2, "payment": 3, "refund": 4}


def _entries(conn: Connection, customer_id: int, date_to: date) -> list[StatementEntry]:
    """Every row that moves the balance, dated up to `date_to`, in date order (on one date:
    invoices, adjustments, credit notes, payments, refunds; then by id)."""
    found: list[StatementEntry] = []
    i = t.invoices.c
    for inv in conn.execute(
        select(i.id, i.issue_date, i.invoice_number, i.total).where(
            i.customer_id == customer_id, i.issue_date <= date_to
        )
    ):
        found.append(
            StatementEntry(
                inv.issue_date, "invoice", inv.id, inv.invoice_number, None, -inv.total, ZERO
            )
        )
    p = t.payments.c
    for pay in conn.execute(
        select(
            p.id, p.date, p.reference_number, p.description, p.amount, p.currency,
            p.bcy_amount, p.exchange_rate, p.payment_number,
        ).where(p.customer_id == customer_id, p.status == "active", p.date <= date_to)
    ):  # fmt: skip
        converted = pay.bcy_amount is not None
        found.append(
            StatementEntry(
                pay.date,
                "payment",
                pay.id,
                pay.reference_number or f"payment {pay.payment_number or pay.id}",
                pay.description,
                pay.bcy_amount if converted else pay.amount,
                ZERO,
                pay.amount if converted else None,
                pay.currency if converted else None,
                pay.exchange_rate if converted else None,
            )
        )
    n = lt.credit_notes.c
    for note in conn.execute(
        select(n.id, n.date, n.memo, n.amount).where(
            n.customer_id == customer_id, n.collection_status == "collected", n.date <= date_to
        )
    ):
        found.append(
            StatementEntry(
                note.date,
                "credit_note",
                note.id,
                f"credit note {note.id}",
                note.memo,
                note.amount,
                ZERO,
            )
        )
    f = lt.refunds.c
    for ref in conn.execute(
        select(
            f.id, f.date, f.reference_number, f.description, f.amount, f.bcy_amount, f.currency
        ).where(f.customer_id == customer_id, f.date <= date_to)
    ):
        converted = ref.bcy_amount is not None
        found.append(
            StatementEntry(
                ref.date,
                "refund",
                ref.id,
                ref.reference_number,
                ref.description,
                -(ref.bcy_amount if converted else ref.amount),
                ZERO,
                ref.amount if converted else None,
                ref.currency if converted else None,
            )
        )
    a = lt.balance_adjustments.c
    for adj in conn.execute(
        select(a.id, a.created_at, a.description, a.amount).where(
            a.customer_id == customer_id, a.created_at < _end_of(date_to)
        )
    ):
        at = adj.created_at if adj.created_at.tzinfo else adj.created_at.replace(tzinfo=UTC)
        found.append(
            StatementEntry(
                at.astimezone(UTC).date(),
                "adjustment",
                adj.id,
                f"adjustment {adj.id}",
                adj.description,
                adj.amount,
                ZERO,
            )
        )
    found.sort(key=lambda e: (e.date, _ORDER[e.kind], e.id))
    return found


def _ageing(conn: Connection, customer_id: int, as_of: date) -> dict[str, Decimal]:
    """What is open on each invoice issued up to `as_of`, as of then, by days past due."""
    i, a, p = t.invoices.c, t.allocations.c, t.payments.c
    cna, n = lt.credit_note_allocations.c, lt.credit_notes.c
    invoices = conn.execute(
        select(i.id, i.total, i.due_date).where(i.customer_id == customer_id, i.issue_date <= as_of)
    ).all()
    taken: dict[int, Decimal] = defaultdict(Decimal)
    for invoice_id, amount in conn.execute(
        select(a.invoice_id, a.amount)
        .join(t.payments, p.id == a.payment_id)
        .where(p.customer_id == customer_id, p.status == "active", p.date <= as_of)
    ):
        taken[invoice_id] += amount
    for invoice_id, amount in conn.execute(
        select(cna.invoice_id, cna.amount)
        .join(lt.credit_notes, n.id == cna.credit_note_id)
        .where(n.customer_id == customer_id, n.collection_status == "collected", n.date <= as_of)
    ):
        taken[invoice_id] += amount
    buckets = dict.fromkeys(AGEING_BUCKETS, ZERO)
    for invoice in invoices:
        open_amount = invoice.total - taken[invoice.id]
        if open_amount <= 0:
            continue
        buckets[ageing_bucket((as_of - invoice.due_date).days)] += open_amount
    return buckets
