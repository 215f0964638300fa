"""What a provider payment's money goes to in the ledger: its refunds and its allocations.

A live provider refund becomes a ledger refund on the payment; if the payment's allocations and
refunds would then exceed it, allocations are taken back first from the invoice due last (the money
went back to the customer, so that invoice is open again). What is unused on an active payment is
allocated to the invoice its reference names (the exact invoice number; rule
`provider_payment_reference`), then to the customer's open invoices oldest due first (rule
`provider_payment_fifo`, the seed's AutoApply), only in the payment's currency. Every allocation's
evidence names the provider, the provider payment and the mandate; the ledger's own rules
(`allocation_problems`) check the complete list before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, select, type_coerce, update

from payrecon.domain.ledger import (
    Funds,
    InvoiceOpen,
    WantedAllocation,
    allocate_oldest_first,
    allocation_problems,
    raise_for_problems,
)
from payrecon.domain.money import ZERO
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.types import Amount

RULE_REFERENCE = "provider_payment_reference"
RULE_FIFO = "provider_payment_fifo"
_CONFIDENCE = {RULE_REFERENCE: Decimal("1.000"), RULE_FIFO: Decimal("0.800")}


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their (UTC) zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ProviderRef:
    """Which configured provider the objects came from: its row id and its kind."""

    id: int
    kind: str


@dataclass(frozen=True, slots=True)
class LedgerPayment:
    """A ledger payment as the provider sync sees it."""

    id: int
    customer_id: int
    amount: Decimal
    currency: str
    active: bool


def _allocated(conn: Connection, payment_id: int) -> Decimal:
    a = t.allocations.c
    return Decimal(
        conn.execute(
            select(type_coerce(func.coalesce(func.sum(a.amount), 0), Amount())).where(
                a.payment_id == payment_id
            )
        ).scalar_one()
    )


def refunded_on(conn: Connection, payment_id: int) -> Decimal:
    """What the ledger's refunds have returned of the payment so far."""
    return Decimal(conn.execute(lt.refunded(lt.refunds.c.payment_id == payment_id)).scalar_one())


def record_refund(
    conn: Connection, provider: ProviderRef, refund: Any, payment: LedgerPayment, now: datetime
) -> bool:
    """Record the provider refund (a `provider_refunds` row) as a ledger refund of `payment`,
    first taking back allocations if they would leave too little; False (with the reason kept on
    the row, for review) if the refund cannot be the payment's."""
    pr = pt.provider_refunds
    refundable = payment.amount - refunded_on(conn, payment.id)
    reason = None
    if refund.currency != payment.currency:
        reason = f"refund in {refund.currency}, payment {payment.id} in {payment.currency}"
    elif refund.amount > refundable:
        reason = (
            f"refund of {refund.amount:f} exceeds the {refundable:f} {payment.currency} "
            f"not yet refunded of payment {payment.id}"
        )
    if reason is not None:
        conn.execute(update(pr).where(pr.c.id == refund.id).values(review_reason=reason))
        return False
    if payment.active:
        _trim_allocations(conn, payment.id, keep=refundable - refund.amount)
    refund_id = conn.execute(
        lt.refunds.insert()
        .values(
            customer_id=payment.customer_id,
            payment_id=payment.id,
            date=aware(refund.provider_created_at).date(),
            amount=refund.amount,
            currency=refund.currency,
            reference_number=refund.external_id,
            description=refund.reference or f"{provider.kind} refund {refund.external_id}",
            created_at=now,
        )
        .returning(lt.refunds.c.id)
    ).scalar_one()
    conn.execute(
        update(pr).where(pr.c.id == refund.id).values(refund_id=refund_id, review_reason=None)
    )
    return True


def _trim_allocations(conn: Connection, payment_id: int, *, keep: Decimal) -> None:
    """Reduce the payment's allocations to `keep` in all, taking back from the invoice due last."""
    a, i = t.allocations.c, t.invoices.c
    rows = conn.execute(
        select(a.id, a.amount, a.evidence)
        .join(t.invoices, i.id == a.invoice_id)
        .where(a.payment_id == payment_id)
        .order_by(i.due_date.desc(), a.id.desc())
    ).all()
    excess = sum((r.amount for r in rows), ZERO) - keep
    for allocation in rows:
        if excess <= 0:
            return
        taken = min(excess, allocation.amount)
        excess -= taken
        if taken == allocation.amount:
            conn.execute(delete(t.allocations).where(a.id == allocation.id))
        else:
            evidence = {**allocation.evidence, "reduced_by_refund": f"{taken:f}"}
            conn.execute(
                update(t.allocations)
                .where(a.id == allocation.id)
                .values(amount=allocation.amount - taken, evidence=evidence)
            )


def allocate_unused(
    conn: Connection, provider: ProviderRef, row: Any, payment: LedgerPayment, now: datetime
) -> int:
    """Allocate what is unused on the payment: the invoice its reference names, then FIFO."""
    refunded = refunded_on(conn, payment.id)
    unused = payment.amount - refunded - _allocated(conn, payment.id)
    if unused <= 0:
        return 0
    a = t.allocations.c
    own = {
        r.invoice_id: r
        for r in conn.execute(select(t.allocations).where(a.payment_id == payment.id))
    }
    invoices = lt.invoices_for_allocation(
        conn, customer_id=payment.customer_id, exclude_payment_id=payment.id
    )
    # What this payment already holds of an invoice is not open to it either.
    candidates = [
        replace(inv, allocated_elsewhere=inv.allocated_elsewhere + own[inv.id].amount)
        if inv.id in own
        else inv
        for inv in invoices.values()
        if inv.currency == payment.currency
    ]
    plan = _plan(row.reference, unused, [c for c in candidates if c.open_amount > 0])
    if not plan:
        return 0
    final: dict[int, Decimal] = {i: r.amount for i, r in own.items()}
    for invoice_id, amount, _rule in plan:
        final[invoice_id] = final.get(invoice_id, ZERO) + amount
    funds = Funds("payment", payment.customer_id, payment.currency, payment.amount, refunded)
    wanted = [WantedAllocation(i, amount) for i, amount in final.items()]
    raise_for_problems(allocation_problems(funds, wanted, invoices))
    for invoice_id, amount, rule in plan:
        if invoice_id in own:
            conn.execute(
                update(t.allocations)
                .where(a.id == own[invoice_id].id)
                .values(amount=final[invoice_id])
            )
            continue
        conn.execute(
            t.allocations.insert().values(
                payment_id=payment.id,
                invoice_id=invoice_id,
                amount=amount,
                currency=payment.currency,
                rule=rule,
                confidence=_CONFIDENCE[rule],
                evidence=_evidence(provider, row, rule),
                created_at=now,
            )
        )
    return len(plan)


def _plan(
    reference: str | None, unused: Decimal, candidates: list[InvoiceOpen]
) -> list[tuple[int, Decimal, str]]:
    """(invoice id, amount, rule): the invoice whose number is the reference first, then FIFO."""
    plan: list[tuple[int, Decimal, str]] = []
    named = next((c for c in candidates if reference and c.number == reference.strip()), None)
    if named is not None:
        taken = min(unused, named.open_amount)
        plan.append((named.id, taken, RULE_REFERENCE))
        unused -= taken
    rest = [c for c in candidates if c is not named]
    plan += [(w.invoice_id, w.amount, RULE_FIFO) for w in allocate_oldest_first(unused, rest)]
    return plan


def _evidence(provider: ProviderRef, row: Any, rule: str) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "provider": provider.kind,
        "provider_id": provider.id,
        "provider_payment": row.external_id,
    }
    if row.mandate_external_id:
        evidence["mandate"] = row.mandate_external_id
    if row.provider_customer_id:
        evidence["provider_customer"] = row.provider_customer_id
    if rule == RULE_REFERENCE:
        evidence["invoice_reference"] = row.reference
    return evidence
