"""Provider payments and refunds in the ledger. The provider's object, stored as last read, is the
desired state; `settle_payments` brings the ledger rows it produced to that state, so applying the
same state twice, or an old event after a new one, changes nothing.

    provider payment collected (confirmed, paid_out; no dispute withdrawing the funds)
        -> one active `payments` row (source = the provider's kind, external_id = its id), its
           customer from the mandate (`mandates.reference` = the provider's mandate id, or the
           Stripe customer id), allocated to the invoice its reference names (exact number), then
           to the customer's open invoices oldest due first; no known customer: kept for review;
           in another currency than the customer's: counted in the customer's through the
           provider's payout rate or the rate table's (`store.rate_reads`), and without either
           kept for review (`review_reason` starts `currency_mismatch:`) until a rate arrives
    provider payment failed or charged back (or a Stripe dispute withdrew the funds)
        -> the payment is `reversed`: its allocations stop counting and its invoices reopen
    provider refund live (created, submitted, paid)
        -> one ledger `refunds` row on the payment; allocations are trimmed (latest due first)
           so that allocations + refunds never exceed the payment
    provider refund failed, bounced, cancelled
        -> that ledger refund is deleted; the money goes back on the payment and is allocated

Every write runs in the caller's transaction, with the customer's cached balance recomputed in it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from payrecon.domain.ledger import base_currency_amount
from payrecon.domain.providers import (
    DisputeStatus,
    Effect,
    PaymentStatus,
    Provider,
    ProviderDispute,
    ProviderPayment,
    ProviderRefund,
    RefundStatus,
    dispute_effect,
)
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.operations.audit_log import record_audit
from payrecon.services.providers.allocations import (
    ProviderRef,
    allocate_unused,
    aware,
    record_refund,
)
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.admin_tables import payment_providers
from payrecon.store.bulk import dialect_insert
from payrecon.store.ledger_writes import Held, LedgerWrites, NewPayment, ledger_writes
from payrecon.store.rate_reads import rate_for_payment

PAYMENT_MODES = {"gocardless": "DirectDebit", "stripe": "Card"}
CURRENCY_WAIT = "currency_mismatch"  # how the reason of a payment waiting for a rate starts
COLLECTED = tuple(s.value for s in PaymentStatus if s.is_collected)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class LedgerCounts:
    recorded: int = 0
    reversed: int = 0
    reinstated: int = 0
    refunds_recorded: int = 0
    refunds_cancelled: int = 0
    awaiting_review: int = 0
    allocations: int = 0
    customers: set[int] = field(default_factory=set)

    def add(self, other: LedgerCounts) -> None:
        for name in self.as_counts():
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.customers |= other.customers

    def as_counts(self) -> dict[str, int]:
        return {
            "recorded": self.recorded,
            "reversed": self.reversed,
            "reinstated": self.reinstated,
            "refunds_recorded": self.refunds_recorded,
            "refunds_cancelled": self.refunds_cancelled,
            "awaiting_review": self.awaiting_review,
            "allocations": self.allocations,
        }


def store_payments(
    conn: Connection, provider: ProviderRef, payments: Sequence[ProviderPayment], now: datetime
) -> LedgerCounts:
    """Upsert the payments as read at `now` (an older read never overwrites a newer one), then
    settle the ledger to their state."""
    rows = list({p.external_id: _payment_row(provider.id, p, now) for p in payments}.values())
    if not rows:
        return LedgerCounts()
    mutable = (
        "amount", "status", "payout_external_id", "reference", "description", "charge_date",
        "mandate_external_id", "provider_customer_id", "fetched_at",
    )  # fmt: skip
    _upsert(conn, pt.provider_payments, rows, mutable)
    return settle_payments(conn, provider, _ids(conn, pt.provider_payments, provider.id, rows), now)


def store_refunds(
    conn: Connection, provider: ProviderRef, refunds: Sequence[ProviderRefund], now: datetime
) -> LedgerCounts:
    """Upsert the refunds, then settle the payments they belong to (a refund whose payment is not
    stored yet waits for it)."""
    rows = list({r.external_id: _refund_row(provider.id, r, now) for r in refunds}.values())
    if not rows:
        return LedgerCounts()
    _upsert(conn, pt.provider_refunds, rows, ("amount", "status", "reference", "fetched_at"))
    payments = {r["payment_external_id"] for r in rows if r["payment_external_id"]}
    wanted = [{"external_id": e} for e in sorted(payments)]
    return settle_payments(
        conn, provider, _ids(conn, pt.provider_payments, provider.id, wanted), now
    )


def store_dispute_statuses(
    conn: Connection,
    provider: ProviderRef,
    disputes: Sequence[tuple[str, str, datetime]],
    now: datetime,
) -> LedgerCounts:
    """(charge id, dispute status, when learnt): a later word on a charge's dispute replaces an
    earlier one; the charges must be stored already."""
    pp = pt.provider_payments
    for charge_id, status, seen_at in disputes:
        conn.execute(
            update(pp)
            .where(
                pp.c.provider_id == provider.id,
                pp.c.external_id == charge_id,
                (pp.c.dispute_seen_at.is_(None)) | (pp.c.dispute_seen_at <= seen_at),
            )
            .values(dispute_status=DisputeStatus(status).value, dispute_seen_at=seen_at)
        )
    wanted = [{"external_id": charge} for charge, _, _ in disputes]
    return settle_payments(conn, provider, _ids(conn, pp, provider.id, wanted), now)


def settle_awaiting_rate(conn: Connection, base: str, quote: str, now: datetime) -> int:
    """Settle the provider payments in `base` that wait for a rate to `quote` (a rate was just
    recorded); returns how many are now in the ledger."""
    pp, pr = pt.provider_payments, payment_providers
    waiting = conn.execute(
        select(pp.c.id, pp.c.provider_id, pr.c.kind)
        .join(pr, pr.c.id == pp.c.provider_id)
        .join(t.customers, t.customers.c.id == pp.c.customer_id)
        .where(
            pp.c.payment_id.is_(None),
            pp.c.currency == base,
            t.customers.c.currency == quote,
            pp.c.review_reason.like(f"{CURRENCY_WAIT}:%"),
            pp.c.status.in_(COLLECTED),
        )
        .order_by(pp.c.provider_id, pp.c.id)
    ).all()
    recorded = 0
    for provider_id in sorted({r.provider_id for r in waiting}):
        ids = [r.id for r in waiting if r.provider_id == provider_id]
        kind = next(r.kind for r in waiting if r.provider_id == provider_id)
        recorded += settle_payments(conn, ProviderRef(provider_id, kind), ids, now).recorded
    return recorded


def awaiting_ids(conn: Connection, provider_id: int, *, after_id: int, limit: int) -> list[int]:
    """Collected provider payments not in the ledger yet (their customer was unknown), by id."""
    pp = pt.provider_payments
    return list(
        conn.execute(
            select(pp.c.id)
            .where(
                pp.c.provider_id == provider_id,
                pp.c.id > after_id,
                pp.c.payment_id.is_(None),
                pp.c.status.in_(COLLECTED),
            )
            .order_by(pp.c.id)
            .limit(limit)
        ).scalars()
    )


def settle_payments(
    conn: Connection, provider: ProviderRef, ids: Collection[int], now: datetime
) -> LedgerCounts:
    """Bring the ledger to the stored state of these provider payments, in the caller's
    transaction (through the ledger write path, rows locked on PostgreSQL), and recompute the
    balances that moved."""
    counts = LedgerCounts()
    if not ids:
        return counts
    pp = pt.provider_payments
    with ledger_writes(conn, now) as ledger:
        ledger.lock()
        _lock_provider_rows(conn, ids)
        for row in conn.execute(select(pp).where(pp.c.id.in_(sorted(ids))).order_by(pp.c.id)):
            _settle(ledger, provider, row, counts)
    if counts.customers:
        recompute_customers(conn, counts.customers, now, cause="provider payments settled")
    return counts


def _lock_provider_rows(conn: Connection, ids: Collection[int]) -> None:
    if conn.dialect.name == "postgresql":
        pp = pt.provider_payments
        conn.execute(
            select(pp.c.id).where(pp.c.id.in_(sorted(ids))).order_by(pp.c.id).with_for_update()
        )


# Internals ---------------------------------------------------------------------------------


def _upsert(
    conn: Connection, table: Any, rows: list[dict[str, Any]], mutable: Sequence[str]
) -> None:
    stmt = dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["provider_id", "external_id"],
        set_={c: stmt.excluded[c] for c in mutable},
        where=table.c.fetched_at <= stmt.excluded.fetched_at,
    )
    conn.execute(stmt, rows)


def _ids(conn: Connection, table: Any, provider_id: int, rows: list[dict[str, Any]]) -> list[int]:
    keys = sorted({r["external_id"] for r in rows})
    if not keys:
        return []
    return list(
        conn.execute(
            select(table.c.id).where(
                table.c.provider_id == provider_id, table.c.external_id.in_(keys)
            )
        ).scalars()
    )


def _payment_row(provider_id: int, p: ProviderPayment, now: datetime) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "external_id": p.external_id,
        "amount": p.amount,
        "currency": p.currency,
        "status": p.status.value,
        "mandate_external_id": p.mandate_id,
        "provider_customer_id": p.provider_customer_id,
        "payout_external_id": p.payout_id,
        "reference": p.reference,
        "description": p.description,
        "charge_date": p.charge_date,
        "provider_created_at": p.created_at,
        "fetched_at": now,
    }


def _refund_row(provider_id: int, r: ProviderRefund, now: datetime) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "external_id": r.external_id,
        "payment_external_id": r.payment_external_id,
        "amount": r.amount,
        "currency": r.currency,
        "status": r.status.value,
        "reference": r.reference,
        "provider_created_at": r.created_at,
        "fetched_at": now,
    }


def _counts_in_ledger(row: Any) -> bool:
    if not PaymentStatus(row.status).is_collected:
        return False
    if row.dispute_status is None:
        return True
    probe = ProviderDispute(
        Provider.STRIPE, "", row.external_id, row.amount, row.currency,
        DisputeStatus(row.dispute_status), _EPOCH,
    )  # fmt: skip
    return dispute_effect(probe) is not Effect.REVERSE


def _settle(ledger: LedgerWrites, provider: ProviderRef, row: Any, counts: LedgerCounts) -> None:
    conn = ledger.conn
    pp = pt.provider_payments
    held = ledger.payment(row.payment_id) if row.payment_id is not None else None
    changed = False
    if _counts_in_ledger(row):
        if held is None:
            held = _record(ledger, provider, row, counts)
            if held is None:
                return
            changed = True
        elif not held.live:
            held = ledger.reinstate_payment(held)
            _audit(conn, provider, "payment.reinstated", held.id, row)
            counts.reinstated += 1
            changed = True
    else:
        if row.review_reason is not None:
            conn.execute(update(pp).where(pp.c.id == row.id).values(review_reason=None))
        if held is not None and held.live:
            ledger.reverse_payments([held.id])
            held = ledger.payment(held.id)
            _audit(conn, provider, "payment.reversed", held.id, row)
            counts.reversed += 1
            changed = True
    if held is None:
        return
    changed |= _settle_refunds(ledger, provider, row, held, counts)
    if held.live:
        added = allocate_unused(ledger, provider, row, ledger.payment(held.id))
        counts.allocations += added
        changed |= added > 0
    if changed:
        counts.customers.add(held.funds.customer_id)


def _customer_of(conn: Connection, provider_id: int, row: Any) -> int | None:
    """The customer a mandate names: the provider's mandate id, else its customer id (Stripe)."""
    m = t.mandates.c
    for reference in (row.mandate_external_id, row.provider_customer_id):
        if reference:
            found = conn.execute(
                select(m.customer_id).where(
                    m.reference == reference,
                    (m.provider_id.is_(None)) | (m.provider_id == provider_id),
                )
            ).scalar_one_or_none()
            if found is not None:
                return int(found)
    return None


def _record(
    ledger: LedgerWrites, provider: ProviderRef, row: Any, counts: LedgerCounts
) -> Held | None:
    conn = ledger.conn
    pp = pt.provider_payments
    customer_id = row.customer_id or _customer_of(conn, provider.id, row)
    if customer_id is None:
        names = row.mandate_external_id or row.provider_customer_id or "none"
        reason = f"no customer: no mandate of this provider has reference {names}"
        if row.review_reason != reason:
            conn.execute(update(pp).where(pp.c.id == row.id).values(review_reason=reason))
        counts.awaiting_review += 1
        return None
    terms = lt.customer_terms(conn, customer_id)
    assert terms is not None  # the mandate's customer exists (foreign key)
    on = row.charge_date or aware(row.provider_created_at).date()
    rate, converted = None, None
    if row.currency != terms.currency:
        rate = rate_for_payment(
            conn,
            provider_id=provider.id,
            payout_external_id=row.payout_external_id,
            base=row.currency,
            quote=terms.currency,
            on=on,
        )
        if rate is None:
            reason = (
                f"{CURRENCY_WAIT}: the payment is in {row.currency}, its customer's balance in "
                f"{terms.currency}; no {row.currency} to {terms.currency} rate is recorded for "
                f"{on.isoformat()} (record one with POST /v1/exchange-rates)"
            )
            if row.review_reason != reason or row.customer_id != customer_id:
                conn.execute(
                    update(pp)
                    .where(pp.c.id == row.id)
                    .values(review_reason=reason, customer_id=customer_id)
                )
            counts.awaiting_review += 1
            return None
        converted = base_currency_amount(row.amount, rate.rate, terms.rounding)
    held = ledger.add_payment(
        NewPayment(
            customer_id=customer_id,
            source=provider.kind,
            external_id=row.external_id,
            payment_mode=PAYMENT_MODES.get(provider.kind, "BankTransfer"),
            date=row.charge_date or aware(row.provider_created_at).date(),
            amount=row.amount,
            currency=row.currency,
            reference_number=row.reference,
            description=row.description,
            rate=rate,
            bcy_amount=converted,
        )
    )
    conn.execute(
        update(pp)
        .where(pp.c.id == row.id)
        .values(payment_id=held.id, customer_id=customer_id, review_reason=None)
    )
    counts.recorded += 1
    return held


def _audit(conn: Connection, provider: ProviderRef, action: str, payment_id: int, row: Any) -> None:
    record_audit(
        conn,
        actor=f"provider:{provider.id}",
        action=action,
        entity="payment",
        entity_id=payment_id,
        reason=f"{provider.kind} payment {row.external_id} is {row.status}"
        + (f", dispute {row.dispute_status}" if row.dispute_status else ""),
        details={"provider_id": provider.id, "external_id": row.external_id},
    )


def _settle_refunds(
    ledger: LedgerWrites, provider: ProviderRef, row: Any, held: Held, counts: LedgerCounts
) -> bool:
    """A ledger refund for each live provider refund of the payment, none for the others."""
    conn = ledger.conn
    pr = pt.provider_refunds
    refunds = conn.execute(
        select(pr)
        .where(pr.c.provider_id == provider.id, pr.c.payment_external_id == row.external_id)
        .order_by(pr.c.provider_created_at, pr.c.id)
    ).all()
    changed = False
    for refund in refunds:
        live = RefundStatus(refund.status).is_live
        if live and refund.refund_id is None:
            if record_refund(ledger, refund, ledger.payment(held.id)):
                counts.refunds_recorded += 1
                changed = True
        elif not live and refund.refund_id is not None:
            ledger.delete_refund(refund.refund_id)
            conn.execute(update(pr).where(pr.c.id == refund.id).values(refund_id=None))
            counts.refunds_cancelled += 1
            changed = True
    return changed
