"""Customer payments (seed 001): record a payment and apply it to invoices, partially or fully;
edit the applied amounts, add or drop invoices; delete it (its invoices reopen).

Each write is one transaction: on PostgreSQL it first takes the reconciler's lock (so no matching
chunk allocates from stale open amounts meanwhile), then locks the payment row and the invoices
it touches in id order; the domain's allocation rules judge the complete new allocation list, and
the cached balances of the customers touched are recomputed before commit.
Reads (the seed's payment with its invoices, and the list) are `services.ledger.payment_reads`.

A payment is in its customer's currency unless `currencyCode` names another; then it is counted
in the customer's currency at a recorded rate: the `exchangeRate` given (source `given`), else
the rate table's rate holding on the payment's date; without either it is refused (422
`currency_mismatch`), since a person is there to give one. `bcyAmount` = amount x rate, rounded
by the owner's rule; the balance moves by it. A payment in the customer's currency has rate 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from payrecon.domain.allocation import MANUAL_CONFIDENCE, RULE_MANUAL, ProposedAllocation
from payrecon.domain.errors import Conflict, CurrencyMismatch, InvalidInput, NotFound
from payrecon.domain.ledger import AllocationEdit, base_currency_amount, plan_allocation_edits
from payrecon.domain.money import RATE_GIVEN, RATE_PLACES, ZERO, RecordedRate, money_text
from payrecon.services.clock import utcnow
from payrecon.services.ledger.balances import recompute_customers
from payrecon.services.ledger.payment_reads import PaymentView, payment_views, tax_withheld
from payrecon.store import ledger_tables as lt
from payrecon.store.ledger_tables import CustomerTerms
from payrecon.store.ledger_writes import Held, LedgerWrites, NewPayment, ledger_writes
from payrecon.store.rate_reads import table_rate

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
    currency: str | None = None  # the payment's own currency; the customer's when None
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
        with ledger_writes(conn, now) as ledger:
            ledger.lock(customers=[data.customer_id])
            terms = _terms(conn, data.customer_id)
            values = _payment_values(terms, data, base=None)
            values.update(_conversion(conn, terms, data, values, base=None))
            held = ledger.add_payment(NewPayment(customer_id=terms.id, source="manual", **values))
            edits = [
                AllocationEdit(None, i.invoice_id, terms.rounding.apply(i.amount_applied))
                for i in data.invoices or ()
            ]
            _write_allocations(ledger, held, terms, edits, data)
        recompute_customers(conn, ledger.customers, now, cause=f"payment {held.id} created")
        return payment_views(conn, [held.id])[0]


def update_payment(
    engine: Engine, payment_id: int, data: PaymentInput, *, now: datetime | None = None
) -> PaymentView:
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            held = ledger.payment(payment_id)
            stored = held.row
            if not held.live:
                raise Conflict(f"payment {payment_id} is {stored.status}; it cannot be changed")
            terms = _terms(conn, data.customer_id or stored.customer_id)
            values = _payment_values(terms, data, base=stored)
            from_bank = stored.statement_line_id is not None
            values.update(_conversion(conn, terms, data, values, base=stored))
            if from_bank and values["amount"] != stored.amount:
                raise Conflict(
                    f"payment {payment_id} was recorded from a bank statement; "
                    "its amount is the bank's"
                )
            if held.funds.refunded > 0 and terms.id != stored.customer_id:
                raise Conflict(f"payment {payment_id} has refunds; its customer cannot change")
            if data.invoices is None:
                edits = [
                    AllocationEdit(i, a.invoice_id, a.amount) for i, a in held.allocations.items()
                ]
            else:
                edits = [
                    AllocationEdit(
                        i.invoice_payment_id, i.invoice_id, terms.rounding.apply(i.amount_applied)
                    )
                    for i in data.invoices
                ]
            held = ledger.change_payment(held, **values, customer_id=terms.id)
            _write_allocations(ledger, held, terms, edits, data)
        recompute_customers(conn, ledger.customers, now, cause=f"payment {payment_id} updated")
        return payment_views(conn, [payment_id])[0]


def delete_payment(engine: Engine, payment_id: int, *, now: datetime | None = None) -> None:
    """Delete a manual payment: its allocations go and its invoices reopen."""
    now = now or utcnow()
    with engine.begin() as conn:
        with ledger_writes(conn, now) as ledger:
            held = ledger.payment(payment_id)
            if not held.live:
                raise Conflict(f"payment {payment_id} is {held.row.status}; it cannot be changed")
            if held.row.statement_line_id is not None:
                raise Conflict(
                    f"payment {payment_id} was recorded from a bank statement; "
                    "remove its allocations instead"
                )
            if held.funds.refunded > 0:
                raise Conflict(f"payment {payment_id} has refunds; delete them first")
            ledger.delete_payment(held)
        recompute_customers(conn, ledger.customers, now, cause=f"payment {payment_id} deleted")


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


def _payment_values(terms: CustomerTerms, data: PaymentInput, base: Any) -> dict[str, Any]:
    """The payment's columns: given values rounded with the owner's rule, the rest kept."""

    def pick(given: Any, column: str, default: Any) -> Any:
        if given is not None:
            return given
        return getattr(base, column) if base is not None else default

    currency = pick(data.currency, "currency", terms.currency)
    rounding = terms.rounding_for(currency)
    amount = rounding.apply(data.amount)
    charges = rounding.apply(pick(data.bank_charges, "bank_charges", ZERO))
    if amount <= 0:
        raise InvalidInput(f"amount must be positive, got {money_text(amount)}")
    if not ZERO <= charges <= amount:
        raise InvalidInput("bankCharges must lie between 0 and the amount")
    return {
        "amount": amount,
        "currency": currency,
        "date": pick(data.date, "date", None),
        "payment_mode": pick(data.payment_mode, "payment_mode", DEFAULT_PAYMENT_MODE),
        "bank_charges": charges,
        "description": pick(data.description, "description", None),
        "reference_number": pick(data.reference_number, "reference_number", None),
    }


def _conversion(
    conn: Connection, terms: CustomerTerms, data: PaymentInput, values: dict[str, Any], base: Any
) -> dict[str, Any]:
    """The rate a payment is counted at in its customer's currency, and the amount it gives:
    none for a payment in that currency; else the rate given, the one it was recorded at (an
    update that changes neither rate nor currency), or the table's for its date."""
    rate = data.exchange_rate
    if rate is not None and rate <= 0:
        raise InvalidInput(f"exchangeRate must be positive, got {rate}")
    exponent = rate.as_tuple().exponent if rate is not None else 0
    if isinstance(exponent, int) and exponent < -RATE_PLACES:
        raise InvalidInput(f"exchangeRate has more than {RATE_PLACES} decimal places")
    currency, on = values["currency"], values["date"]
    if currency == terms.currency:
        if rate is not None and rate != 1:
            raise InvalidInput(
                f"exchangeRate converts a payment in another currency; this one is in "
                f"{currency}, its customer's, so its rate is 1",
                details={"field": "exchangeRate"},
            )
        return {"exchange_rate": Decimal(1), "rate": None, "bcy_amount": None}
    recorded: RecordedRate | None
    if rate is not None:
        recorded = RecordedRate(currency, terms.currency, rate, on, RATE_GIVEN)
    elif base is not None and base.bcy_amount is not None and base.currency == currency:
        source = base.rate_source or RATE_GIVEN
        as_of = base.rate_date or base.date
        recorded = RecordedRate(currency, terms.currency, base.exchange_rate, as_of, source)
    else:
        recorded = table_rate(conn, currency, terms.currency, on)
    if recorded is None:
        raise CurrencyMismatch(
            f"the payment is in {currency}, customer {terms.id}'s balance in {terms.currency}; "
            f"no {currency} to {terms.currency} rate is recorded for {on}: give exchangeRate or "
            "record one with POST /v1/exchange-rates",
            details={"currencyCode": currency, "customerCurrency": terms.currency},
        )
    converted = base_currency_amount(values["amount"], recorded.rate, terms.rounding)
    if converted <= 0:
        raise InvalidInput("the amount converts to nothing in the customer's currency")
    return {"exchange_rate": recorded.rate, "rate": recorded, "bcy_amount": converted}


def _write_allocations(
    ledger: LedgerWrites,
    held: Held,
    terms: CustomerTerms,
    edits: list[AllocationEdit],
    data: PaymentInput,
) -> None:
    """Make the edited list the payment's allocations (the write path judges it whole). An
    allocation left as it was keeps the rule and evidence the matcher gave it; an edited one
    becomes `manual`, remembering the rule it had."""
    existing = held.allocations
    plan = plan_allocation_edits(
        {i: ProposedAllocation(a.invoice_id, a.amount) for i, a in existing.items()}, edits
    )
    taxes = _taxes(data, existing)
    keep: dict[int, ProposedAllocation] = {}
    for allocation_id, wanted in plan.update.items():
        old = existing[allocation_id]
        evidence = {**old.evidence, **_evidence(taxes.get(wanted.invoice_id, ZERO))}
        if (old.invoice_id, old.amount, old.evidence) == (
            wanted.invoice_id,
            wanted.amount,
            evidence,
        ):  # unchanged: the matcher's rule and evidence stay as they were
            keep[allocation_id] = ProposedAllocation(
                old.invoice_id, old.amount, old.rule, old.confidence, old.evidence
            )
            continue
        if old.rule != RULE_MANUAL:
            evidence["previous_rule"] = old.rule
        keep[allocation_id] = ProposedAllocation(
            wanted.invoice_id, wanted.amount, RULE_MANUAL, old.confidence, evidence
        )
    added = [
        ProposedAllocation(
            w.invoice_id,
            w.amount,
            RULE_MANUAL,
            MANUAL_CONFIDENCE,
            _evidence(taxes.get(w.invoice_id, ZERO)),
        )
        for w in plan.add
    ]
    ledger.set_allocations(held, added, keep=keep)
    total_tax = sum(taxes.values(), ZERO) if taxes else (data.tax_amount_withheld or ZERO)
    if total_tax < 0:
        raise InvalidInput("taxAmountWithheld must not be negative")
    ledger.change_payment(held, tax_amount_withheld=terms.rounding.apply(total_tax))


def _taxes(data: PaymentInput, existing: dict[int, Any]) -> dict[int, Decimal]:
    """Tax withheld per invoice: as given, or as stored when the invoices were not given."""
    if data.invoices is None:
        return {a.invoice_id: tax_withheld(a.evidence) for a in existing.values()}
    return {i.invoice_id: i.tax_amount_withheld for i in data.invoices}


def _evidence(tax: Decimal) -> dict[str, str]:
    return {"source": "api", "tax_amount_withheld": f"{tax:f}"}
