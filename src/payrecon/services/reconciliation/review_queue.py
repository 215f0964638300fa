"""The review queue: one list of everything that waits for a person, whatever road the money
took, and one call that matches an item by hand.

    source bank         a statement line left `unmatched` by the matcher (its reason, suggested
                        customers)
    source gocardless,  a collected provider payment the ledger has not recorded: no customer
    stripe              is known for its mandate, or it is in another currency than its
                        customer's and no rate is recorded (its `review_reason`)

An item's `id` is `line-<statement line id>` or `provider-<provider payment id>`. A manual match
(`match_item`) of a line is `review.match_by_hand`; of a provider payment it records the
payment for the customer named, through the ledger write path (converted at the rate given, or
the one on record, when its currency is not the customer's), allocated to the invoices named,
audited, and tells the provider sync that the payment's customer is now known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)

from payrecon.domain.allocation import RULE_MANUAL
from payrecon.domain.errors import Conflict, CurrencyMismatch, InvalidInput, NotFound
from payrecon.domain.ledger import base_currency_amount
from payrecon.domain.matching.manual import ManualAllocation, ManualMatch, judge_manual_match
from payrecon.domain.matching.rules import RuleBook
from payrecon.domain.money import RATE_GIVEN, RecordedRate
from payrecon.services.admin.resources import Json, Page, row_json
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.ledger.payments import get_payment
from payrecon.services.operations.audit_log import record_audit
from payrecon.services.providers.ledger import COLLECTED, PAYMENT_MODES
from payrecon.services.reconciliation import review
from payrecon.services.rules import load_rule_book
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.admin_tables import payment_providers
from payrecon.store.ledger_writes import LedgerWrites, NewPayment, ledger_writes
from payrecon.store.listing import ListQueryLike, apply_list_query
from payrecon.store.queries import line_suggestions
from payrecon.store.rate_reads import rate_for_payment

LINE, PROVIDER = "line-", "provider-"
FIELDS = (
    "id",
    "source",
    "sourceId",
    "providerId",
    "externalId",
    "account",
    "date",
    "amount",
    "currency",
    "counterpartyName",
    "reference",
    "reason",
    "customerId",
    "status",
    "createdDate",
)
KNOWN_FIELDS = [*FIELDS, "suggestions"]


def _queue() -> Any:
    sl, pp, pr = t.statement_lines.c, pt.provider_payments.c, payment_providers.c
    lines = select(
        (literal(LINE, String) + cast(sl.id, String)).label("id"),
        literal("bank", String).label("source"),
        sl.id.label("sourceId"),
        cast(null(), sl.id.type).label("providerId"),
        sl.external_id.label("externalId"),
        sl.account.label("account"),
        sl.booking_date.label("date"),
        sl.amount.label("amount"),
        sl.currency.label("currency"),
        sl.counterparty_name.label("counterpartyName"),
        sl.remittance.label("reference"),
        sl.reason.label("reason"),
        sl.customer_id.label("customerId"),
        sl.status.label("status"),
        sl.created_at.label("createdDate"),
        sl.contract_owner_id.label("contractOwnerId"),
    ).where(sl.status == "unmatched")
    provider = (
        select(
            (literal(PROVIDER, String) + cast(pp.id, String)).label("id"),
            pr.kind.label("source"),
            pp.id.label("sourceId"),
            pp.provider_id.label("providerId"),
            pp.external_id.label("externalId"),
            cast(null(), String).label("account"),
            pp.charge_date.label("date"),
            pp.amount.label("amount"),
            pp.currency.label("currency"),
            cast(null(), String).label("counterpartyName"),
            pp.reference.label("reference"),
            pp.review_reason.label("reason"),
            pp.customer_id.label("customerId"),
            literal("awaiting_review", String).label("status"),
            pp.fetched_at.label("createdDate"),
            # a provider payment's owner is its customer's, when the customer is known
            select(t.customers.c.contract_owner_id)
            .where(t.customers.c.id == pp.customer_id)
            .scalar_subquery()
            .label("contractOwnerId"),
        )
        .join(payment_providers, pr.id == pp.provider_id)
        .where(pp.payment_id.is_(None), pp.status.in_(COLLECTED))
    )
    return union_all(lines, provider).subquery("review_queue")


def list_review_queue(
    engine: Engine,
    q: ListQueryLike,
    *,
    ignore: Sequence[str] = (),
    owner_id: int | None = None,
    dated_from: date | None = None,
    dated_to: date | None = None,
) -> Page:
    """The queue with the list conventions (`?source=bank`, `?reason=like:currency`, ...);
    `ignore` names parameters the caller handles (`format`). `owner_id` keeps the items of one
    contract owner (the account a line was booked on; a provider payment's customer's owner);
    `dated_from` and `dated_to` (inclusive) keep the items dated in that period (the console's
    age buckets)."""
    queue = _queue()
    columns: dict[str, ColumnElement[Any]] = {name: queue.c[name] for name in FIELDS}
    stmt = select(*columns.values())
    if owner_id is not None:
        stmt = stmt.where(queue.c.contractOwnerId == owner_id)
    if dated_from is not None:
        stmt = stmt.where(queue.c.date >= dated_from)
    if dated_to is not None:
        stmt = stmt.where(queue.c.date <= dated_to)
    page, count = apply_list_query(
        stmt,
        columns,
        q,
        ignore=ignore,
        default_sort=[("date", False)],  # oldest money first
    )
    with engine.connect() as conn:
        items = [row_json(r) for r in conn.execute(page)]
        _add_suggestions(conn, items)
        return Page(items, int(conn.execute(count).scalar_one()))


def queue_count(engine: Engine) -> int:
    """How many items wait in the review queue, of every source."""
    queue = _queue()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(queue)).scalar_one())


def _add_suggestions(conn: Connection, items: list[Json]) -> None:
    lines = [i["sourceId"] for i in items if i["source"] == "bank"]
    found = line_suggestions(conn, lines)
    for item in items:
        rows = found.get(item["sourceId"], []) if item["source"] == "bank" else []
        item["suggestions"] = [
            {
                "customerId": r.customer_id,
                "customerName": r.name,
                "score": r.score,
                "basis": r.basis,
            }
            for r in rows
        ]


def parse_item_id(item_id: str) -> tuple[str, int]:
    for prefix in (LINE, PROVIDER):
        if item_id.startswith(prefix) and item_id[len(prefix) :].isdigit():
            return prefix, int(item_id[len(prefix) :])
    raise NotFound(f"review-queue item {item_id!r} does not exist (ids are line-N or provider-N)")


def match_item(
    engine: Engine,
    item_id: str,
    *,
    customer_id: int,
    allocations: Sequence[ManualAllocation],
    reason: str,
    actor: str,
    exchange_rate: Decimal | None = None,
    rules: RuleBook | None = None,
) -> Json:
    """Match one item of the queue by hand (see the module text); answers the item's money as
    it now stands in the ledger."""
    kind, source_id = parse_item_id(item_id)
    if kind == LINE:
        line = review.match_by_hand(
            engine,
            source_id,
            customer_id=customer_id,
            allocations=allocations,
            reason=reason,
            actor=actor,
            rules=rules,
            exchange_rate=exchange_rate,
        )
        return {"id": item_id, "source": "bank", "line": line}
    now = utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            payment_id = _match_provider_payment(
                conn,
                ledger,
                source_id,
                customer_id,
                allocations,
                reason,
                actor,
                exchange_rate,
                rules,
                now,
            )
        recompute_customers(
            conn, ledger.customers, now, cause=f"provider payment {source_id} matched by hand"
        )
    view = get_payment(engine, payment_id)
    return {
        "id": item_id,
        "source": view.payment_mode,
        "paymentId": payment_id,
        "customerId": view.customer_id,
        "currencyCode": view.currency,
        "amount": view.amount,
        "exchangeRate": view.exchange_rate,
        "bcyAmount": view.bcy_amount,
        "bcyUnusedAmount": view.bcy_unused_amount,
        "invoices": [
            {
                "invoiceId": i.invoice_id,
                "invoiceNumber": i.invoice_number,
                "amount": i.amount_applied,
            }
            for i in view.invoices
        ],
    }


def _match_provider_payment(
    conn: Connection,
    ledger: LedgerWrites,
    provider_payment_id: int,
    customer_id: int,
    allocations: Sequence[ManualAllocation],
    reason: str,
    actor: str,
    exchange_rate: Decimal | None,
    rules: RuleBook | None,
    now: datetime,
) -> int:
    ledger.lock()
    pp = pt.provider_payments
    # Under the ledger's lock, which the provider sync's settling takes too.
    row = conn.execute(
        select(pp, payment_providers.c.kind)
        .join(payment_providers, payment_providers.c.id == pp.c.provider_id)
        .where(pp.c.id == provider_payment_id)
    ).first()
    if row is None:
        raise NotFound(f"review-queue item provider-{provider_payment_id} does not exist")
    if row.payment_id is not None or row.status not in COLLECTED:
        raise Conflict(
            f"provider payment {row.external_id} is not waiting for review "
            f"(status {row.status}, payment {row.payment_id})"
        )
    terms = lt.customer_terms(conn, customer_id)
    if terms is None:
        raise InvalidInput(f"customer {customer_id} does not exist", details={"customerId": None})
    on = row.charge_date or now.date()
    rate: RecordedRate | None = None
    converted: Decimal | None = None
    if row.currency != terms.currency:
        if exchange_rate is not None:
            rate = RecordedRate(row.currency, terms.currency, exchange_rate, on, RATE_GIVEN)
        else:
            rate = rate_for_payment(
                conn,
                provider_id=row.provider_id,
                payout_external_id=row.payout_external_id,
                base=row.currency,
                quote=terms.currency,
                on=on,
            )
        if rate is None:
            raise CurrencyMismatch(
                f"provider payment {row.external_id} is in {row.currency}, customer "
                f"{customer_id}'s balance in {terms.currency}: give exchangeRate or record a rate",
                details={"currencyCode": row.currency, "customerCurrency": terms.currency},
            )
        converted = base_currency_amount(row.amount, rate.rate, terms.rounding)
    elif exchange_rate is not None and exchange_rate != 1:
        raise InvalidInput("exchangeRate converts money in another currency than the customer's")
    held = ledger.add_payment(
        NewPayment(
            customer_id=customer_id,
            source=row.kind,
            external_id=row.external_id,
            payment_mode=PAYMENT_MODES.get(row.kind, "BankTransfer"),
            date=on,
            amount=row.amount,
            currency=row.currency,
            reference_number=row.reference,
            description=row.description,
            rate=rate,
            bcy_amount=converted,
        )
    )
    owner = terms.owner_id
    confidence = (rules or load_rule_book()).for_owner(owner).confidence.allocation[RULE_MANUAL]
    match = ManualMatch(
        provider_payment_id,
        customer_id,
        held.funds.ledger_currency,
        held.funds.available,
        terms.rounding.places,
        actor,
        reason,
        confidence,
    )
    judged = judge_manual_match(
        match, allocations, ledger.invoices([a.invoice_id for a in allocations])
    )
    judged = [replace(a, line_id=None) for a in judged]
    ledger.add_allocations(held, judged)
    conn.execute(
        update(pp)
        .where(pp.c.id == provider_payment_id)
        .values(payment_id=held.id, customer_id=customer_id, review_reason=None)
    )
    record_audit(
        conn,
        actor=actor,
        action="provider_payment.matched",
        entity="provider_payment",
        entity_id=provider_payment_id,
        reason=reason,
        details={
            "customerId": customer_id,
            "paymentId": held.id,
            "exchangeRate": f"{rate.rate:f}" if rate is not None else None,
            "allocations": [{"invoiceId": a.invoice_id, "amount": f"{a.amount:f}"} for a in judged],
        },
    )
    return int(held.id)
