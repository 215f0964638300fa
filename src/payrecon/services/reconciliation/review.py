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
from dataclasses import replace
from datetime import UTC
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from payrecon.domain.allocation import RULE_MANUAL
from payrecon.domain.errors import Conflict, CurrencyMismatch, InvalidInput, NotFound
from payrecon.domain.ledger import base_currency_amount
from payrecon.domain.matching import normalise_account
from payrecon.domain.matching.manual import ManualAllocation, ManualMatch, judge_manual_match
from payrecon.domain.matching.rules import RuleBook
from payrecon.domain.money import RATE_GIVEN, RecordedRate
from payrecon.services.admin.resources import Json, Page, row_json
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.operations.audit_log import record_audit
from payrecon.services.reconciliation.reconcile import bank_payment
from payrecon.services.rules import load_rule_book
from payrecon.store import ledger_tables as lt
from payrecon.store import matching_tables as mt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.bulk import insert_ignoring_conflicts
from payrecon.store.ledger_writes import Held, LedgerWrites, NewPayment, ledger_writes
from payrecon.store.listing import ListQueryLike, apply_list_query
from payrecon.store.queries import line_suggestions, line_to_match
from payrecon.store.rate_reads import table_rate

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


def list_statement_lines(engine: Engine, q: ListQueryLike, *, ignore: Sequence[str] = ()) -> Page:
    """Statement lines with the list conventions (`?status=unmatched`: the bank lines of the
    review queue, `services.reconciliation.review_queue` has every source)."""
    stmt = select(*(column.label(name) for name, column in LINE_FIELDS.items()))
    page, count = apply_list_query(stmt, LINE_FIELDS, q, ignore=ignore)
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
    rules: RuleBook | None = None,
    exchange_rate: Decimal | None = None,
) -> Json:
    """Assign a credit line to a customer and allocate it to the given invoices (possibly none:
    the money then waits unused on the customer's account). The payer's account is learned.
    A line in another currency than the customer's is counted in the customer's at
    `exchange_rate`, else at the rate table's for its booking date (none: 422)."""
    now = utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            _match(
                conn, ledger, line_id, customer_id, allocations, reason, actor, rules, exchange_rate
            )
        recompute_customers(conn, ledger.customers, now, cause=f"statement line {line_id} matched")
    with engine.connect() as conn:
        return _line_view(conn, line_id)


def _match(
    conn: Connection,
    ledger: LedgerWrites,
    line_id: int,
    customer_id: int,
    allocations: Sequence[ManualAllocation],
    reason: str,
    actor: str,
    rules: RuleBook | None,
    exchange_rate: Decimal | None = None,
) -> None:
    """`match_by_hand` inside its unit of work."""
    ledger.lock(customers=[customer_id])
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
    owner, places = _owner_of(conn, customer_id)
    paid = conn.execute(
        select(_p.id, _p.customer_id, _p.status).where(_p.statement_line_id == line_id)
    ).first()
    if paid is not None and (paid.status != "active" or paid.customer_id != customer_id):
        raise Conflict(
            f"statement line {line_id} is already the {paid.status} payment "
            f"{paid.id} of customer {paid.customer_id}; delete its allocations first",
            details={"paymentId": paid.id, "customerId": paid.customer_id},
        )
    held = ledger.payment(paid.id) if paid is not None else None
    new = None
    if held is None:
        new = _converted(conn, bank_payment(line_to_match(line), customer_id), exchange_rate)
        available = new.ledger_amount
        currency = new.funds().ledger_currency
    else:
        available = held.funds.available - held.allocated
        currency = held.funds.ledger_currency
    confidence = (rules or load_rule_book()).for_owner(owner).confidence.allocation[RULE_MANUAL]
    match = ManualMatch(
        line_id,
        customer_id,
        currency,
        available,
        places,
        actor,
        reason,
        confidence,
    )
    wanted = ledger.invoices([a.invoice_id for a in allocations])
    judged = judge_manual_match(match, allocations, wanted)
    if held is None:
        assert new is not None
        held = ledger.add_payment(new)
    ledger.add_allocations(held, judged)
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
            "paymentId": held.id,
            "allocations": [{"invoiceId": a.invoice_id, "amount": f"{a.amount:f}"} for a in judged],
            "learnedAccount": learned,
        },
    )


def _converted(conn: Connection, payment: NewPayment, given: Decimal | None) -> NewPayment:
    """A bank payment in another currency than its customer's, counted in the customer's at
    the rate given or the table's for its date; refused without one."""
    terms = lt.customer_terms(conn, payment.customer_id)
    assert terms is not None  # the customer was checked by the caller
    if payment.currency == terms.currency:
        if given is not None and given != 1:
            raise InvalidInput(
                "exchangeRate converts money in another currency than the customer's"
            )
        return payment
    rate = (
        RecordedRate(payment.currency, terms.currency, given, payment.date, RATE_GIVEN)
        if given is not None
        else table_rate(conn, payment.currency, terms.currency, payment.date)
    )
    if rate is None:
        raise CurrencyMismatch(
            f"the line is in {payment.currency}, customer {terms.id}'s balance in "
            f"{terms.currency}: give exchangeRate or record a rate for {payment.date}",
            details={"currencyCode": payment.currency, "customerCurrency": terms.currency},
        )
    converted = base_currency_amount(payment.amount, rate.rate, terms.rounding)
    return replace(payment, rate=rate, bcy_amount=converted)


def delete_allocation(
    engine: Engine, allocation_id: int, *, actor: str, reason: str | None
) -> Json:
    """Remove one allocation (its invoice reopens); see the module text for the line's fate."""
    now = utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            allocation, returned = _delete(conn, ledger, allocation_id, actor, reason)
        recompute_customers(
            conn, ledger.customers, now, cause=f"allocation {allocation_id} deleted"
        )
    return {**allocation, "lineReturnedToReview": returned}


def _delete(
    conn: Connection, ledger: LedgerWrites, allocation_id: int, actor: str, reason: str | None
) -> tuple[Json, bool]:
    """`delete_allocation` inside its unit of work: the allocation, and whether its line went
    back to the review queue."""
    ledger.lock()
    found = _allocations(conn, _a.id == allocation_id)
    if not found:
        raise NotFound(f"allocation {allocation_id} does not exist")
    allocation = found[0]
    if allocation["paymentStatus"] != "active":
        raise Conflict(f"allocation {allocation_id} belongs to a reversed payment; it is history")
    held = ledger.payment(allocation["paymentId"])
    ledger.remove_allocation(held, allocation_id)
    line_id = allocation["statementLineId"]
    returned = len(held.allocations) == 1 and line_id is not None
    if returned:
        _return_to_review(conn, ledger, held, line_id, actor, reason)
    record_audit(
        conn,
        actor=actor,
        action="allocation.deleted",
        entity="allocation",
        entity_id=allocation_id,
        reason=reason,
        details={
            "paymentId": held.id,
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
    return allocation, returned


def _return_to_review(
    conn: Connection,
    ledger: LedgerWrites,
    held: Held,
    line_id: int,
    actor: str,
    reason: str | None,
) -> None:
    held_by = [
        name
        for name, table, column in (
            ("refunds", lt.refunds, lt.refunds.c.payment_id),
            ("refunds or returns", mt.payment_reversals, mt.payment_reversals.c.payment_id),
        )
        if conn.execute(
            select(func.count()).select_from(table).where(column == held.id)
        ).scalar_one()
    ]
    if held_by:
        raise Conflict(
            f"payment {held.id} has {held_by[0]} recorded against it: it cannot go back to review"
        )
    ledger.delete_payment(replace(held, allocations={}))
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


def _owner_of(conn: Connection, customer_id: int) -> tuple[int, int]:
    """The customer's contract owner and the owner's decimal places."""
    row = conn.execute(
        select(t.contract_owners.c.id, t.contract_owners.c.price_decimal_places)
        .join(t.customers, t.customers.c.contract_owner_id == t.contract_owners.c.id)
        .where(t.customers.c.id == customer_id)
    ).first()
    if row is None:
        raise InvalidInput(
            f"customer {customer_id} does not exist", details={"customerId": customer_id}
        )
    return int(row.id), int(row.price_decimal_places)


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
        counted = payment.bcy_amount if payment.bcy_amount is not None else payment.amount
        item["payment"] = {
            "id": payment.id,
            "customerId": payment.customer_id,
            "status": payment.status,
            "amount": payment.amount,
            "currency": payment.currency,
            "exchangeRate": payment.exchange_rate,
            "bcyAmount": counted,
            "bankCharges": payment.bank_charges,
            "unusedAmount": counted - used,
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
