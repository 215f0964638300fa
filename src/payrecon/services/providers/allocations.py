"""What a provider payment's money goes to in the ledger: its refunds and its allocations.

A live provider refund becomes a ledger refund on the payment; if the payment's allocations and
refunds would then exceed it, allocations are taken back first from the invoice due last (the money
went back to the customer, so that invoice is open again). What is unused on an active payment is
allocated by the owner's rule book for provider payments (`allocate_by_source.provider_payment`:
the invoice its reference names, then the customer's open invoices oldest due first), with the
rule book's confidences, only in the payment's currency; every allocation's evidence also names the
provider, the provider payment and the mandate. Every write goes through the ledger write path,
which judges the complete allocation list before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from payrecon.domain.allocation import Funds, ProposedAllocation
from payrecon.domain.ledger import base_currency_amount
from payrecon.domain.matching import (
    InvoiceBook,
    LineToMatch,
    MatchContext,
    allocate_known,
)
from payrecon.domain.matching.rules import Source
from payrecon.domain.money import ZERO
from payrecon.services.rules import load_rule_book
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store.ledger_writes import Held, LedgerWrites, NewRefund
from payrecon.store.queries import invoice_formats


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their (UTC) zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ProviderRef:
    """Which configured provider the objects came from: its row id and its kind."""

    id: int
    kind: str


def record_refund(ledger: LedgerWrites, refund: Any, held: Held) -> bool:
    """Record the provider refund (a `provider_refunds` row) as a ledger refund of the payment,
    first taking back allocations if they would leave too little; False (with the reason kept on
    the row, for review) if the refund cannot be the payment's."""
    pr = pt.provider_refunds
    funds = held.funds
    refundable = funds.ledger_amount - funds.refunded
    converted = _converted_refund(ledger, funds, refund.amount)
    reason = None
    if refund.currency != funds.currency:
        reason = f"refund in {refund.currency}, payment {held.id} in {funds.currency}"
    elif (converted if converted is not None else refund.amount) > refundable:
        reason = (
            f"refund of {refund.amount:f} {refund.currency} exceeds the {refundable:f} "
            f"{funds.ledger_currency} not yet refunded of payment {held.id}"
        )
    if reason is not None:
        ledger.conn.execute(update(pr).where(pr.c.id == refund.id).values(review_reason=reason))
        return False
    if held.live:
        taken = converted if converted is not None else refund.amount
        _trim_allocations(ledger, held, keep=refundable - taken)
        held = ledger.payment(held.id)
    refund_id = ledger.add_refund(
        held,
        NewRefund(
            date=aware(refund.provider_created_at).date(),
            amount=refund.amount,
            reference_number=refund.external_id,
            description=refund.reference or f"{held.row.source} refund {refund.external_id}",
            converted=converted,
        ),
    )
    ledger.conn.execute(
        update(pr).where(pr.c.id == refund.id).values(refund_id=refund_id, review_reason=None)
    )
    return True


def _converted_refund(ledger: LedgerWrites, funds: Funds, amount: Decimal) -> Decimal | None:
    """A refund of a payment counted through a rate, in the customer's currency: at the
    payment's own rate, so that refunding it all gives back exactly what it counted."""
    if funds.rate is None or funds.converted is None:
        return None
    if amount == funds.amount:
        return funds.converted
    terms = lt.customer_terms(ledger.conn, funds.customer_id)
    assert terms is not None  # the payment's customer exists (foreign key)
    return base_currency_amount(amount, funds.rate.rate, terms.rounding)


def _trim_allocations(ledger: LedgerWrites, held: Held, *, keep: Decimal) -> None:
    """Reduce the payment's allocations to `keep` in all, taking back from the invoice due last."""
    excess = held.allocated - keep
    if excess <= 0:
        return
    due = {
        i.id: i.due_date
        for i in ledger.invoices(a.invoice_id for a in held.allocations.values()).values()
    }
    kept: dict[int, ProposedAllocation] = {}
    for allocation_id, a in sorted(
        held.allocations.items(), key=lambda item: (due[item[1].invoice_id], item[0]), reverse=True
    ):
        taken = min(excess, a.amount) if excess > 0 else ZERO
        excess -= taken
        if taken == a.amount:
            continue
        evidence = {**a.evidence, "reduced_by_refund": f"{taken:f}"} if taken else a.evidence
        kept[allocation_id] = ProposedAllocation(
            a.invoice_id, a.amount - taken, a.rule, a.confidence, evidence
        )
    ledger.set_allocations(held, [], keep=kept)


def allocate_unused(ledger: LedgerWrites, provider: ProviderRef, row: Any, held: Held) -> int:
    """Allocate what is unused on the payment by the owner's rules for provider payments;
    returns how many invoices it newly paid."""
    unused = held.funds.available - held.allocated
    if unused <= 0:
        return 0
    conn = ledger.conn
    terms = lt.customer_terms(conn, held.funds.customer_id)
    assert terms is not None  # the payment's customer exists (foreign key)
    book = InvoiceBook(ledger.invoices(customer_id=terms.id).values())
    line = LineToMatch(
        id=held.id,
        booking_date=held.row.date,
        amount=unused,
        currency=held.funds.ledger_currency,
        structured_reference=row.reference,
        mandate_id=row.mandate_external_id,
        provider_customer_id=row.provider_customer_id,
        contract_owner_id=terms.owner_id,
        source=Source.PROVIDER_PAYMENT,
    )
    context = MatchContext(rules=load_rule_book(), invoice_formats=invoice_formats(conn))
    decided = allocate_known(line, terms.id, _basis(provider, row), book, context)
    if not decided.allocations:
        return 0
    keep = {
        i: ProposedAllocation(a.invoice_id, a.amount, a.rule, a.confidence, a.evidence)
        for i, a in held.allocations.items()
    }
    by_invoice = {a.invoice_id: i for i, a in held.allocations.items()}
    added: list[ProposedAllocation] = []
    for new in decided.allocations:
        evidence = {**new.evidence, **_evidence(provider, row)}
        if new.invoice_id in by_invoice:  # more of an invoice the payment already pays
            old = keep[by_invoice[new.invoice_id]]
            old.amount += new.amount
            continue
        added.append(
            ProposedAllocation(new.invoice_id, new.amount, new.rule, new.confidence, evidence)
        )
    ledger.set_allocations(held, added, keep=keep)
    return len(added)


def _basis(provider: ProviderRef, row: Any) -> str:
    if row.mandate_external_id:
        return f"{provider.kind} mandate {row.mandate_external_id} is the customer's"
    return f"{provider.kind} customer {row.provider_customer_id} is the customer's"


def _evidence(provider: ProviderRef, row: Any) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "provider": provider.kind,
        "provider_id": provider.id,
        "provider_payment": row.external_id,
    }
    if row.mandate_external_id:
        evidence["mandate"] = row.mandate_external_id
    if row.provider_customer_id:
        evidence["provider_customer"] = row.provider_customer_id
    if row.reference:
        evidence["invoice_reference"] = row.reference
    return evidence
