"""The review queue and its corrections: statement lines with their reason and suggestions,
allocations explained in words, a manual match and the deletion of an allocation.

Every correction runs under the reconciler's lock, checks the ledger's invariants (a payment
never allocates more than its amount, an invoice never more than its open amount, one currency),
and writes its audit entry in the same transaction.

Deleting the last allocation of a bank payment sends its line back to the review queue: the
payment (which then allocates nothing) is removed and the line becomes `unmatched` with the
deletion as its reason, because a match wrong on every invoice is most likely wrong on the
customer too. A payment with allocations left stays, its freed amount unused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from payrecon.domain.errors import Conflict, InvalidInput, NotFound
from payrecon.domain.matching import OpenInvoice, normalise_account
from payrecon.domain.matching.manual import ManualAllocation, ManualMatch, judge_manual_match
from payrecon.services.admin.resources import Json, Page, row_json
from payrecon.services.clock import utcnow
from payrecon.services.operations.audit_log import record_audit
from payrecon.services.reconciliation.reconcile import bank_payment, lock_reconciliation
from payrecon.store import ledger_tables as lt
from payrecon.store import matching_tables as mt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.bulk import insert_ignoring_conflicts
from payrecon.store.listing import ListQueryLike, apply_list_query
from payrecon.store.queries import invoices_by_ids, line_suggestions, line_to_match

_sl, _a, _p = t.statement_lines.c, t.allocations.c, t.payments.c


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


# Every column of the line, camelCase (`createdDate` as the Admin API seeds name it).
LINE_FIELDS: dict[str, Any] = {
    ("createdDate" if c.name == "created_at" else _camel(c.name)): c for c in t.statement_lines.c
}
LINE_KNOWN_FIELDS = [*LINE_FIELDS, "suggestions"]

ALLOCATION_FIELDS: dict[str, Any] = {
    "id": _a.id,
    "paymentId": _a.payment_id,
    "paymentStatus": _p.status,
    "statementLineId": _p.statement_line_id,
    "customerId": _p.customer_id,
    "invoiceId": _a.invoice_id,
    "invoiceNumber": t.invoices.c.invoice_number,
    "amount": _a.amount,
    "currency": _a.currency,
    "rule": _a.rule,
    "confidence": _a.confidence,
    "evidence": _a.evidence,
    "createdDate": _a.created_at,
}


def list_statement_lines(engine: Engine, q: ListQueryLike) -> Page:
    """Statement lines with the list conventions (`?status=unmatched` is the review queue)."""
    stmt = select(*(column.label(name) for name, column in LINE_FIELDS.items()))
    page, count = apply_list_query(stmt, LINE_FIELDS, q)
    with engine.connect() as conn:
        items = [row_json(row) for row in conn.execute(page)]
        _add_suggestions(conn, items)
        return Page(items, conn.execute(count).scalar_one())


def get_statement_line(engine: Engine, line_id: int) -> Json:
    """One line with its suggestions, its payment and allocations, and what a debit undid."""
    with engine.connect() as conn:
        return _line_view(conn, line_id)


def get_allocation(engine: Engine, allocation_id: int) -> Json:
    with engine.connect() as conn:
        found = _allocations(conn, _a.id == allocation_id)
    if not found:
        raise NotFound(f"allocation {allocation_id} does not exist")
    return found[0]


def match_by_hand(
    engine: Engine,
    line_id: int,
    *,
    customer_id: int,
    allocations: Sequence[ManualAllocation],
    reason: str,
    actor: str,
) -> Json:
    """Assign a credit line to a customer and allocate it to the given invoices (possibly none:
    the money then waits unused on the customer's account). The payer's account is learned."""
    with engine.begin() as conn:
        lock_reconciliation(conn)
        line = conn.execute(select(t.statement_lines).where(_sl.id == line_id)).first()
        if line is None:
            raise NotFound(f"statement line {line_id} does not exist")
        if line.amount <= 0:
            raise Conflict(f"statement line {line_id} is a debit: only credits pay invoices")
        # A line that settles a provider payout carries money the ledger already has (the
        # payout's payments): paying invoices with it again would count it twice.
        payout = conn.execute(
            select(pt.payouts.c.external_id).where(pt.payouts.c.statement_line_id == line_id)
        ).scalar()
        if payout is not None:
            raise Conflict(
                f"statement line {line_id} settles payout {payout}: its payments are recorded",
                details={"payout": payout},
            )
        places = _decimal_places(conn, customer_id)
        payment = conn.execute(select(t.payments).where(_p.statement_line_id == line_id)).first()
        if payment is not None and (
            payment.status != "active" or payment.customer_id != customer_id
        ):
            raise Conflict(
                f"statement line {line_id} is already the {payment.status} payment "
                f"{payment.id} of customer {payment.customer_id}; delete its allocations first",
                details={"paymentId": payment.id, "customerId": payment.customer_id},
            )
        used = Decimal(0)
        if payment is not None:
            used = conn.execute(
                select(func.coalesce(func.sum(_a.amount), 0)).where(_a.payment_id == payment.id)
            ).scalar_one()
        match = ManualMatch(
            line_id, customer_id, line.currency, line.amount - used, places, actor, reason
        )
        wanted = _invoices_of(conn, [a.invoice_id for a in allocations])
        judged = judge_manual_match(match, allocations, wanted)
        now = utcnow()
        payment_id = payment.id if payment is not None else _new_payment(conn, line, customer_id)
        if judged:
            conn.execute(
                t.allocations.insert(),
                [
                    {
                        "payment_id": payment_id,
                        "invoice_id": a.invoice_id,
                        "amount": a.amount,
                        "currency": line.currency,
                        "rule": a.rule,
                        "confidence": a.confidence,
                        "evidence": dict(a.evidence),
                        "created_at": now,
                    }
                    for a in judged
                ],
            )
        conn.execute(
            update(t.statement_lines)
            .where(_sl.id == line_id)
            .values(status="matched", reason=None, customer_id=customer_id)
        )
        conn.execute(
            delete(mt.line_suggestions).where(mt.line_suggestions.c.statement_line_id == line_id)
        )
        learned = _learn_account(conn, customer_id, line.counterparty_account)
        record_audit(
            conn,
            actor=actor,
            action="statement_line.matched",
            entity="statement_line",
            entity_id=line_id,
            reason=reason,
            details={
                "customerId": customer_id,
                "paymentId": payment_id,
                "allocations": [
                    {"invoiceId": a.invoice_id, "amount": f"{a.amount:f}"} for a in judged
                ],
                "learnedAccount": learned,
            },
        )
        return _line_view(conn, line_id)


def delete_allocation(
    engine: Engine, allocation_id: int, *, actor: str, reason: str | None
) -> Json:
    """Remove one allocation (its invoice reopens); see the module text for the line's fate."""
    with engine.begin() as conn:
        lock_reconciliation(conn)
        found = _allocations(conn, _a.id == allocation_id)
        if not found:
            raise NotFound(f"allocation {allocation_id} does not exist")
        allocation = found[0]
        if allocation["paymentStatus"] != "active":
            raise Conflict(
                f"allocation {allocation_id} belongs to a reversed payment; it is history"
            )
        payment_id = allocation["paymentId"]
        conn.execute(delete(t.allocations).where(_a.id == allocation_id))
        _void_settlements(conn, payment_id, allocation["invoiceId"])
        left = conn.execute(
            select(func.count()).select_from(t.allocations).where(_a.payment_id == payment_id)
        ).scalar_one()
        line_id = allocation["statementLineId"]
        returned = left == 0 and line_id is not None
        if returned:
            _return_to_review(conn, payment_id, line_id, actor, reason)
        record_audit(
            conn,
            actor=actor,
            action="allocation.deleted",
            entity="allocation",
            entity_id=allocation_id,
            reason=reason,
            details={
                "paymentId": payment_id,
                "statementLineId": line_id,
                "invoiceId": allocation["invoiceId"],
                "invoiceNumber": allocation["invoiceNumber"],
                "amount": f"{allocation['amount']:f}",
                "rule": allocation["rule"],
                "confidence": f"{allocation['confidence']:f}",
                "evidence": allocation["evidence"],
                "lineReturnedToReview": returned,
            },
        )
    return {**allocation, "lineReturnedToReview": returned}


def _return_to_review(
    conn: Connection, payment_id: int, line_id: int, actor: str, reason: str | None
) -> None:
    held = [
        name
        for name, table, column in (
            ("refunds", lt.refunds, lt.refunds.c.payment_id),
            ("refunds or returns", mt.payment_reversals, mt.payment_reversals.c.payment_id),
        )
        if conn.execute(
            select(func.count()).select_from(table).where(column == payment_id)
        ).scalar_one()
    ]
    if held:
        raise Conflict(
            f"payment {payment_id} has {held[0]} recorded against it: it cannot go back to review"
        )
    conn.execute(delete(t.payments).where(_p.id == payment_id))
    note = f": {reason}" if reason else ""
    conn.execute(
        update(t.statement_lines)
        .where(_sl.id == line_id)
        .values(
            status="unmatched",
            customer_id=None,
            reason=f"manual: its allocations were removed by {actor}{note}",
        )
    )


def _void_settlements(conn: Connection, payment_id: int, invoice_id: int) -> None:
    """A shortfall settled alongside an allocation goes with it: its credit note stops counting."""
    settlements = mt.payment_settlements
    where = (settlements.c.payment_id == payment_id) & (settlements.c.invoice_id == invoice_id)
    notes = [
        r.credit_note_id for r in conn.execute(select(settlements.c.credit_note_id).where(where))
    ]
    if notes:
        conn.execute(
            update(lt.credit_notes)
            .where(lt.credit_notes.c.id.in_(notes))
            .values(collection_status="failed", updated_at=utcnow())
        )
        conn.execute(delete(settlements).where(where))


def _invoices_of(conn: Connection, ids: list[int]) -> dict[int, OpenInvoice]:
    """The named invoices, locked against concurrent writers, with their open amounts."""
    lt.lock_rows(conn, t.invoices, ids)
    return {i.id: i for i in invoices_by_ids(conn, ids)}


def _decimal_places(conn: Connection, customer_id: int) -> int:
    places = conn.execute(
        select(t.contract_owners.c.price_decimal_places)
        .join(t.customers, t.customers.c.contract_owner_id == t.contract_owners.c.id)
        .where(t.customers.c.id == customer_id)
    ).scalar()
    if places is None:
        raise InvalidInput(
            f"customer {customer_id} does not exist", details={"customerId": customer_id}
        )
    return int(places)


def _new_payment(conn: Connection, line: Any, customer_id: int) -> int:
    values = bank_payment(line_to_match(line), customer_id, utcnow())
    return int(conn.execute(t.payments.insert().values(values).returning(_p.id)).scalar_one())


def _learn_account(conn: Connection, customer_id: int, account: str | None) -> str | None:
    """A confirmed match teaches the payer's account to the customer (source `learned`)."""
    if not account:
        return None
    iban = normalise_account(account)
    insert_ignoring_conflicts(
        conn,
        t.customer_bank_accounts,
        [{"customer_id": customer_id, "iban": iban, "source": "learned", "created_at": utcnow()}],
        ["customer_id", "iban"],
    )
    return iban


def _allocations(conn: Connection, condition: Any) -> list[Json]:
    stmt = (
        select(*(column.label(name) for name, column in ALLOCATION_FIELDS.items()))
        .join(t.payments, _p.id == _a.payment_id)
        .join(t.invoices, t.invoices.c.id == _a.invoice_id)
        .where(condition)
        .order_by(_a.id)
    )
    items = [row_json(row) for row in conn.execute(stmt)]
    for item in items:
        evidence = item["evidence"] or {}
        item["explanation"] = evidence.get("explanation") or f"applied by rule {item['rule']}"
    return items


def _line_view(conn: Connection, line_id: int) -> Json:
    row = conn.execute(
        select(*(column.label(name) for name, column in LINE_FIELDS.items())).where(
            _sl.id == line_id
        )
    ).first()
    if row is None:
        raise NotFound(f"statement line {line_id} does not exist")
    item = row_json(row)
    _add_suggestions(conn, [item])
    payment = conn.execute(select(t.payments).where(_p.statement_line_id == line_id)).first()
    item["payment"] = None
    if payment is not None:
        allocations = _allocations(conn, _a.payment_id == payment.id)
        used = sum((a["amount"] for a in allocations), Decimal(0))
        item["payment"] = {
            "id": payment.id,
            "customerId": payment.customer_id,
            "status": payment.status,
            "amount": payment.amount,
            "bankCharges": payment.bank_charges,
            "unusedAmount": payment.amount - used,
            "allocations": allocations,
        }
    undone = conn.execute(
        select(mt.payment_reversals).where(mt.payment_reversals.c.statement_line_id == line_id)
    ).first()
    item["reversal"] = (
        None
        if undone is None
        else {
            "paymentId": undone.payment_id,
            "kind": undone.kind,
            "reasonCode": undone.reason_code,
            "reversesPayment": undone.reverses_payment,
            "explanation": undone.evidence.get("explanation"),
        }
    )
    item["payout"] = _payout_view(conn, line_id)
    return item


def _payout_view(conn: Connection, line_id: int) -> Json | None:
    """The provider payout the line settles (no payment: its payments are the provider's)."""
    po = pt.payouts.c
    payout = conn.execute(select(pt.payouts).where(po.statement_line_id == line_id)).first()
    if payout is None:
        return None
    evidence = payout.settlement_evidence or {}
    at = payout.reconciled_at
    return {
        "id": payout.id,
        "externalId": payout.external_id,
        "providerId": payout.provider_id,
        "status": "reconciled",
        "amount": payout.amount,
        "currency": payout.currency,
        "arrivalDate": payout.arrival_date,
        "reference": payout.reference,
        "fees": payout.settled_fees,
        "payments": int(evidence.get("payments", 0)),
        "items": int(evidence.get("items", 0)),
        "reconciledAt": at.replace(tzinfo=UTC) if at is not None and not at.tzinfo else at,
        "explanation": evidence.get("explanation"),
    }


def _add_suggestions(conn: Connection, items: list[Json]) -> None:
    found = line_suggestions(conn, [item["id"] for item in items])
    for item in items:
        item["suggestions"] = [
            {
                "customerId": r.customer_id,
                "customerName": r.name,
                "score": r.score,
                "basis": r.basis,
            }
            for r in found[item["id"]]
        ]
