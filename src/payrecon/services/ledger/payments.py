"""Customer payments (seed 001): record a payment and apply it to invoices, partially or fully;
edit the applied amounts, add or drop invoices; delete it (its invoices reopen).

Each write is one transaction: on PostgreSQL it first takes the reconciler's lock (so no matching
chunk allocates from stale open amounts meanwhile), then locks the payment row and the invoices
it touches in id order; the domain's allocation rules judge the complete new allocation list, and
the cached balances of the customers touched are recomputed before commit.
Reads (the seed's payment with its invoices, and the list) are `services.ledger.payment_reads`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

from payrecon.domain.errors import Conflict, InvalidInput, NotFound
from payrecon.domain.ledger import (
    AllocationEdit,
    Funds,
    WantedAllocation,
    allocation_problems,
    plan_allocation_edits,
    raise_for_problems,
)
from payrecon.domain.money import ZERO, money_text
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.ledger.payment_reads import PaymentView, payment_views, tax_withheld
from payrecon.services.reconciliation.reconcile import lock_reconciliation
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.ledger_tables import CustomerTerms

MANUAL_RULE = "manual"
DEFAULT_PAYMENT_MODE = "Cash"


@dataclass(frozen=True, slots=True)
class InvoicePaymentInput:
    """One entry of a payment's `invoices`: with `invoice_payment_id` it edits that allocation,
    without it applies the payment to one more invoice."""

    invoice_id: int
    amount_applied: Decimal
    tax_amount_withheld: Decimal = ZERO
    invoice_payment_id: int | None = None


@dataclass(frozen=True, slots=True)
class PaymentInput:
    """A payment as a request gives it. On update, None means: keep what is stored."""

    amount: Decimal
    customer_id: int | None = None
    date: dt.date | None = None
    payment_mode: str | None = None
    exchange_rate: Decimal | None = None
    bank_charges: Decimal | None = None
    tax_amount_withheld: Decimal | None = None
    description: str | None = None
    reference_number: str | None = None
    invoices: Sequence[InvoicePaymentInput] | None = field(default=None)


def create_payment(
    engine: Engine, data: PaymentInput, *, now: datetime | None = None
) -> PaymentView:
    if data.customer_id is None or data.date is None:
        raise InvalidInput("customerId and date are required")
    now = now or utcnow()
    with engine.begin() as conn:
        lock_reconciliation(conn)
        terms = _terms(conn, data.customer_id)
        values = _payment_values(terms, data, base=None) | {"currency": terms.currency}
        payment_id = conn.execute(
            t.payments.insert()
            .values(
                **values,
                customer_id=terms.id,
                source="manual",
                tax_amount_withheld=ZERO,  # set with the allocations below
                status="active",
                created_at=now,
            )
            .returning(t.payments.c.id)
        ).scalar_one()
        edits = [
            AllocationEdit(None, i.invoice_id, terms.rounding.apply(i.amount_applied))
            for i in data.invoices or ()
        ]
        _write_allocations(conn, payment_id, terms, values, {}, edits, data, now)
        recompute_customers(conn, {terms.id}, now, cause=f"payment {payment_id} created")
        return payment_views(conn, [payment_id])[0]


def update_payment(
    engine: Engine, payment_id: int, data: PaymentInput, *, now: datetime | None = None
) -> PaymentView:
    now = now or utcnow()
    with engine.begin() as conn:
        lock_reconciliation(conn)
        stored = _locked_payment(conn, payment_id)
        terms = _terms(conn, data.customer_id or stored.customer_id)
        values = _payment_values(terms, data, base=stored)
        from_bank = stored.statement_line_id is not None
        # A manual payment is in its customer's currency; a bank payment in the line's.
        values["currency"] = stored.currency if from_bank else terms.currency
        if from_bank and values["amount"] != stored.amount:
            raise Conflict(
                f"payment {payment_id} was recorded from a bank statement; its amount is the bank's"
            )
        refunded = conn.execute(lt.refunded(lt.refunds.c.payment_id == payment_id)).scalar_one()
        if refunded > 0 and terms.id != stored.customer_id:
            raise Conflict(f"payment {payment_id} has refunds; its customer cannot change")
        existing = {
            r.id: r
            for r in conn.execute(
                select(t.allocations).where(t.allocations.c.payment_id == payment_id)
            )
        }
        if data.invoices is None:
            edits = [AllocationEdit(a.id, a.invoice_id, a.amount) for a in existing.values()]
        else:
            edits = [
                AllocationEdit(
                    i.invoice_payment_id, i.invoice_id, terms.rounding.apply(i.amount_applied)
                )
                for i in data.invoices
            ]
        conn.execute(
            update(t.payments)
            .where(t.payments.c.id == payment_id)
            .values(**values, customer_id=terms.id)
        )
        _write_allocations(conn, payment_id, terms, values, existing, edits, data, now)
        recompute_customers(
            conn, {stored.customer_id, terms.id}, now, cause=f"payment {payment_id} updated"
        )
        return payment_views(conn, [payment_id])[0]


def delete_payment(engine: Engine, payment_id: int, *, now: datetime | None = None) -> None:
    """Delete a manual payment: its allocations go and its invoices reopen."""
    with engine.begin() as conn:
        stored = _locked_payment(conn, payment_id)
        if stored.statement_line_id is not None:
            raise Conflict(
                f"payment {payment_id} was recorded from a bank statement; "
                "remove its allocations instead"
            )
        refunded = conn.execute(lt.refunded(lt.refunds.c.payment_id == payment_id)).scalar_one()
        if refunded > 0:
            raise Conflict(f"payment {payment_id} has refunds; delete them first")
        conn.execute(delete(t.allocations).where(t.allocations.c.payment_id == payment_id))
        conn.execute(delete(t.payments).where(t.payments.c.id == payment_id))
        recompute_customers(
            conn, {stored.customer_id}, now or utcnow(), cause=f"payment {payment_id} deleted"
        )


def get_payment(engine: Engine, payment_id: int) -> PaymentView:
    with engine.connect() as conn:
        views = payment_views(conn, [payment_id])
    if not views:
        raise NotFound(f"customer payment {payment_id} does not exist")
    return views[0]


def _terms(conn: Connection, customer_id: int) -> CustomerTerms:
    terms = lt.customer_terms(conn, customer_id)
    if terms is None:
        raise InvalidInput(f"customer {customer_id} does not exist", details={"customerId": None})
    return terms


def _locked_payment(conn: Connection, payment_id: int) -> Any:
    lt.lock_rows(conn, t.payments, [payment_id])
    stored = conn.execute(select(t.payments).where(t.payments.c.id == payment_id)).first()
    if stored is None:
        raise NotFound(f"customer payment {payment_id} does not exist")
    if stored.status != "active":
        raise Conflict(f"payment {payment_id} is {stored.status}; it cannot be changed")
    return stored


def _payment_values(terms: CustomerTerms, data: PaymentInput, base: Any) -> dict[str, Any]:
    """The payment's columns: given values rounded with the owner's rule, the rest kept."""

    def pick(given: Any, column: str, default: Any) -> Any:
        if given is not None:
            return given
        return getattr(base, column) if base is not None else default

    amount = terms.rounding.apply(data.amount)
    rate = pick(data.exchange_rate, "exchange_rate", Decimal(1))
    charges = terms.rounding.apply(pick(data.bank_charges, "bank_charges", ZERO))
    if amount <= 0:
        raise InvalidInput(f"amount must be positive, got {money_text(amount)}")
    if rate <= 0:
        raise InvalidInput(f"exchangeRate must be positive, got {rate}")
    if not ZERO <= charges <= amount:
        raise InvalidInput("bankCharges must lie between 0 and the amount")
    if rate.as_tuple().exponent < -8:
        raise InvalidInput("exchangeRate has more than 8 decimal places")
    return {
        "amount": amount,
        "date": pick(data.date, "date", None),
        "payment_mode": pick(data.payment_mode, "payment_mode", DEFAULT_PAYMENT_MODE),
        "exchange_rate": rate,
        "bank_charges": charges,
        "description": pick(data.description, "description", None),
        "reference_number": pick(data.reference_number, "reference_number", None),
    }


def _write_allocations(
    conn: Connection,
    payment_id: int,
    terms: CustomerTerms,
    values: dict[str, Any],
    existing: dict[int, Any],
    edits: list[AllocationEdit],
    data: PaymentInput,
    now: datetime,
) -> None:
    """Judge the complete new allocation list, then write the difference."""
    plan = plan_allocation_edits(
        {i: WantedAllocation(a.invoice_id, a.amount) for i, a in existing.items()}, edits
    )
    invoices = lt.invoices_for_allocation(
        conn,
        invoice_ids=[w.invoice_id for w in plan.final],
        exclude_payment_id=payment_id,
    )
    refunded = conn.execute(lt.refunded(lt.refunds.c.payment_id == payment_id)).scalar_one()
    funds = Funds("payment", terms.id, values["currency"], values["amount"], refunded)
    raise_for_problems(allocation_problems(funds, plan.final, invoices))
    taxes = _taxes(data, existing)
    if plan.delete:
        conn.execute(delete(t.allocations).where(t.allocations.c.id.in_(plan.delete)))
    for allocation_id, wanted in plan.update.items():
        old = existing[allocation_id]
        evidence = {**old.evidence, **_evidence(taxes.get(wanted.invoice_id, ZERO))}
        if (old.invoice_id, old.amount, old.evidence) == (
            wanted.invoice_id,
            wanted.amount,
            evidence,
        ):
            continue  # unchanged: the matcher's rule and evidence stay as they were
        if old.rule != MANUAL_RULE:
            evidence["previous_rule"] = old.rule
        conn.execute(
            update(t.allocations)
            .where(t.allocations.c.id == allocation_id)
            .values(
                invoice_id=wanted.invoice_id,
                amount=wanted.amount,
                rule=MANUAL_RULE,
                evidence=evidence,
            )
        )
    if plan.add:
        conn.execute(
            t.allocations.insert(),
            [
                {
                    "payment_id": payment_id,
                    "invoice_id": w.invoice_id,
                    "amount": w.amount,
                    "currency": invoices[w.invoice_id].currency,
                    "rule": MANUAL_RULE,
                    "confidence": Decimal("1.000"),
                    "evidence": _evidence(taxes.get(w.invoice_id, ZERO)),
                    "created_at": now,
                }
                for w in plan.add
            ],
        )
    total_tax = sum(taxes.values(), ZERO) if taxes else (data.tax_amount_withheld or ZERO)
    if total_tax < 0:
        raise InvalidInput("taxAmountWithheld must not be negative")
    conn.execute(
        update(t.payments)
        .where(t.payments.c.id == payment_id)
        .values(tax_amount_withheld=terms.rounding.apply(total_tax))
    )


def _taxes(data: PaymentInput, existing: dict[int, Any]) -> dict[int, Decimal]:
    """Tax withheld per invoice: as given, or as stored when the invoices were not given."""
    if data.invoices is None:
        return {a.invoice_id: tax_withheld(a.evidence) for a in existing.values()}
    return {i.invoice_id: i.tax_amount_withheld for i in data.invoices}


def _evidence(tax: Decimal) -> dict[str, str]:
    return {"source": "api", "tax_amount_withheld": f"{tax:f}"}
