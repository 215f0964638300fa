"""The nightly audit of the ledger's invariants (DESIGN.md, "Data and invariants"), and of the
amounts the ledger write path keeps (each invoice's open amount, each payment's and credit note's
unused amount), recomputed here from the rows.

A breach is reported (returned, logged, recorded with the task run), never silently fixed:
fixing money needs a person who knows why it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, func, or_, select

from payrecon.logging import get_logger
from payrecon.services.operations.task_runs import BREACHED, OUTCOME
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.ledger_reads import (
    credit_note_unused_from_rows,
    open_amount_from_rows,
    payment_ledger_amount,
    payment_unused_from_rows,
)
from payrecon.store.matching_tables import payment_reversals
from payrecon.store.provider_tables import payouts

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Breach:
    invariant: str
    entity: str
    entity_id: int
    detail: str


@dataclass(slots=True)
class AuditReport:
    checked: dict[str, int] = field(default_factory=dict)
    breaches: list[Breach] = field(default_factory=list)

    def as_counts(self) -> dict[str, object]:
        """The run's counts; with a breach, `outcome: breached` makes the task run end
        `breached` (`services.operations.task_runs`), and `breachList` lists the first 50."""
        counts: dict[str, object] = {
            "checked": self.checked,
            "breaches": len(self.breaches),
            "breached": [
                f"{b.invariant} {b.entity} {b.entity_id}: {b.detail}" for b in self.breaches[:50]
            ],
            "breachList": [
                {
                    "invariant": b.invariant,
                    "entity": b.entity,
                    "entityId": b.entity_id,
                    "detail": b.detail,
                }
                for b in self.breaches[:50]
            ],
        }
        if self.breaches:
            counts[OUTCOME] = BREACHED
        return counts


def audit_ledger(engine: Engine) -> AuditReport:
    report = AuditReport()
    open_amount = open_amount_from_rows()
    ledger_amount = payment_ledger_amount()
    by_note = (
        select(
            lt.credit_note_allocations.c.credit_note_id,
            func.sum(lt.credit_note_allocations.c.amount).label("allocated"),
        )
        .group_by(lt.credit_note_allocations.c.credit_note_id)
        .subquery()
    )
    by_payment = (
        select(t.allocations.c.payment_id, func.sum(t.allocations.c.amount).label("allocated"))
        .group_by(t.allocations.c.payment_id)
        .subquery()
    )
    with engine.connect() as conn:
        report.checked["invoices"] = conn.execute(
            select(func.count()).select_from(t.invoices)
        ).scalar_one()
        report.checked["payments"] = conn.execute(
            select(func.count()).select_from(t.payments)
        ).scalar_one()
        # Payments' and collected credit notes' allocations together never exceed the total.
        for row in conn.execute(
            select(t.invoices.c.id, t.invoices.c.total, open_amount.label("open_amount")).where(
                open_amount < 0
            )
        ):
            report.breaches.append(
                Breach(
                    "invoice_over_allocated",
                    "invoice",
                    row.id,
                    f"open amount {row.open_amount:f} below zero (total {row.total:f})",
                )
            )
        for row in conn.execute(
            select(lt.credit_notes.c.id, lt.credit_notes.c.amount, by_note.c.allocated)
            .join(by_note, by_note.c.credit_note_id == lt.credit_notes.c.id)
            .where(by_note.c.allocated > lt.credit_notes.c.amount)
        ):
            report.breaches.append(
                Breach(
                    "credit_note_over_applied",
                    "credit_note",
                    row.id,
                    f"{row.allocated:f} > amount {row.amount:f}",
                )
            )
        for row in conn.execute(
            select(t.payments.c.id, ledger_amount.label("amount"), by_payment.c.allocated)
            .join(by_payment, by_payment.c.payment_id == t.payments.c.id)
            .where(t.payments.c.status == "active", by_payment.c.allocated > ledger_amount)
        ):
            report.breaches.append(
                Breach(
                    "payment_over_applied",
                    "payment",
                    row.id,
                    f"{row.allocated:f} > amount {row.amount:f}",
                )
            )
        # No allocation crosses currencies without a recorded rate: an allocation is in its
        # invoice's currency, and a payment in another one was converted at a rate that the
        # allocation records.
        a, p, i = t.allocations.c, t.payments.c, t.invoices.c
        for row in conn.execute(
            select(a.id, a.currency, p.currency.label("paid_in"), i.currency.label("invoice_in"))
            .join(t.invoices, i.id == a.invoice_id)
            .join(t.payments, p.id == a.payment_id)
            .where(
                or_(
                    a.currency != i.currency,
                    and_(
                        p.currency != i.currency,
                        or_(p.bcy_amount.is_(None), a.exchange_rate.is_(None)),
                    ),
                )
            )
            .order_by(a.id)
        ):
            report.breaches.append(
                Breach(
                    "cross_currency_without_rate",
                    "allocation",
                    row.id,
                    f"a {row.paid_in} payment allocated {row.currency} to a {row.invoice_in} "
                    "invoice without a recorded exchange rate",
                )
            )
        # The kept amounts equal what the rows give: any drift is a breach.
        for invariant, table, kept, from_rows, entity in (
            ("open_amount_drift", t.invoices, t.invoices.c.open_amount, open_amount, "invoice"),
            (
                "unused_amount_drift",
                t.payments,
                t.payments.c.unused_amount,
                payment_unused_from_rows(),
                "payment",
            ),
            (
                "unused_amount_drift",
                lt.credit_notes,
                lt.credit_notes.c.unused_amount,
                credit_note_unused_from_rows(),
                "credit_note",
            ),
        ):
            for row in conn.execute(
                select(table.c.id, kept.label("kept"), from_rows.label("computed")).where(
                    kept != from_rows
                )
            ):
                report.breaches.append(
                    Breach(
                        invariant,
                        entity,
                        row.id,
                        f"kept {row.kept:f}, the rows give {row.computed:f}",
                    )
                )
        # A matched line made a payment, or (a debit) reversed one, or settled a provider payout
        # (whose payments the ledger recorded when the provider confirmed them).
        for row in conn.execute(
            select(t.statement_lines.c.id)
            .outerjoin(t.payments, t.payments.c.statement_line_id == t.statement_lines.c.id)
            .outerjoin(
                payment_reversals, payment_reversals.c.statement_line_id == t.statement_lines.c.id
            )
            .outerjoin(payouts, payouts.c.statement_line_id == t.statement_lines.c.id)
            .where(
                t.statement_lines.c.status == "matched",
                t.payments.c.id.is_(None),
                payment_reversals.c.id.is_(None),
                payouts.c.id.is_(None),
            )
        ):
            report.breaches.append(
                Breach(
                    "matched_line_without_payment",
                    "statement_line",
                    row.id,
                    "no payment, reversal or payout",
                )
            )
    for breach in report.breaches:
        log.error(
            "audit.invariant.breached",
            invariant=breach.invariant,
            entity=breach.entity,
            entity_id=breach.entity_id,
            detail=breach.detail,
        )
    return report
