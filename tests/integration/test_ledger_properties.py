"""Property tests: random sequences of ledger writes through every writer (API payments, credit
notes and refunds; bank lines reconciled, returned and matched by hand; allocations deleted from
the review queue; provider payments collected, failed, reinstated and refunded), and after every
step the ledger's invariants (DESIGN.md, Data and invariants):

- no invoice is over-allocated; no payment or credit note is over-applied (allocations + refunds);
- the kept amounts (each invoice's open amount, each payment's and credit note's unused amount)
  equal what the rows give, recomputed here independently;
- the cached balance and credit status equal what the rows give, recomputed independently;
- nothing is negative where the seeds forbid it (amounts, unused amounts, open amounts);
- a refused write (any PayreconError) changes nothing.

SQLite by default with a modest number of examples; once on PostgreSQL with fewer.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select, text

from payrecon.domain.allocation import Funds, unused_amount
from payrecon.domain.balances import customer_balance
from payrecon.domain.credit_status import credit_status
from payrecon.domain.errors import PayreconError
from payrecon.domain.ledger import Collection
from payrecon.domain.matching.manual import ManualAllocation
from payrecon.domain.providers import (
    PaymentStatus,
    Provider,
    ProviderPayment,
    ProviderRefund,
    RefundStatus,
)
from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.ledger import adjustments, credit_notes, payments, refunds
from payrecon.services.ledger.balances import recompute_balances
from payrecon.services.ledger.credit_notes import CreditAllocationInput, CreditNoteInput
from payrecon.services.ledger.payments import InvoicePaymentInput, PaymentInput
from payrecon.services.ledger.refunds import RefundInput
from payrecon.services.providers.allocations import ProviderRef
from payrecon.services.providers.ledger import store_payments, store_refunds
from payrecon.services.reconciliation import review
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.store import admin_tables as at
from payrecon.store import ledger_tables as lt
from payrecon.store import matching_tables as mt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.bulk import advance_id_sequence
from payrecon.store.db import make_engine, upgrade_schema
from payrecon.store.schema import metadata

D = Decimal
DATA = Path(__file__).resolve().parents[1] / "data"
DAY = date(2026, 11, 1)
LEDGER_TABLES = [
    t.invoices,
    t.statement_lines,
    t.payments,
    t.allocations,
    t.customer_balances,
    lt.credit_notes,
    lt.credit_note_allocations,
    lt.refunds,
    lt.balance_adjustments,
    lt.credit_status,
    lt.credit_status_history,
    mt.payment_reversals,
    mt.payment_settlements,
]
OWNER_ACCOUNT = "GB33BUKB20201555555555"  # tests/data/contract_owners.csv
INVOICE_NUMBERS = {1: "INV-00001", 2: "INV-00002", 3: "INV-00003", 4: "INV-00004"}
ACCOUNT_NUMBERS = {1: "AC000001", 2: "AC000002", 3: "AC000003"}
GOCARDLESS = ProviderRef(1, "gocardless")
T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)

money = st.decimals(min_value=D("0.01"), max_value=D("300"), places=2) | st.decimals(
    min_value=D("0.001"), max_value=D("50"), places=3
)  # three places exercise the owner's rounding at the edge
small = st.decimals(min_value=D("0.01"), max_value=D("60"), places=2)
customers = st.integers(min_value=1, max_value=3)
OWN_INVOICES = {1: [1, 2], 2: [3], 3: [4]}  # tests/data: C001 has INV-00001/2, C002 3, C003 4


def applications(customer: int) -> st.SearchStrategy[list[tuple[int, Decimal]]]:
    """Mostly the customer's own invoices (valid), now and then another's (refused)."""
    invoice = st.sampled_from(OWN_INVOICES[customer]) | st.integers(min_value=1, max_value=5)
    return st.lists(st.tuples(invoice, small), max_size=3, unique_by=lambda pair: pair[0])


class LedgerMachine(RuleBasedStateMachine):
    """Drives the ledger services; `make_engine` gives a loaded, empty-ledger database."""

    make_engine: Callable[[], Engine]

    payments = Bundle("payments")
    notes = Bundle("credit_notes")
    refunds = Bundle("refunds")
    credit_lines = Bundle("credit_lines")
    provider_payments = Bundle("provider_payments")

    def __init__(self) -> None:
        super().__init__()
        self.engine = type(self).make_engine()
        self.serial = 0

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:05d}"

    def teardown(self) -> None:
        self.engine.dispose()

    def attempt(self, write: Callable[[], Any]) -> Any:
        """Run a write; if it is refused, it must have written nothing."""
        before = snapshot(self.engine)
        kind = sys._getframe(1).f_code.co_name
        try:
            result = write()
        except PayreconError:
            TALLY[f"{kind} refused"] += 1
            assert snapshot(self.engine) == before
            return None
        TALLY[kind] += 1
        return result

    @rule(target=payments, customer=customers, amount=money, data=st.data())
    def create_payment(self, customer: int, amount: Decimal, data: st.DataObject) -> Any:
        applied = data.draw(applications(customer))
        if data.draw(st.booleans()):  # mostly enough to cover what is applied
            amount += sum((a for _, a in applied), D(0))
        request = PaymentInput(
            amount=amount,
            customer_id=customer,
            date=DAY,
            invoices=[InvoicePaymentInput(i, a) for i, a in applied],
        )
        view = self.attempt(lambda: payments.create_payment(self.engine, request))
        return view.id if view else multiple()

    @rule(payment=payments, amount=money, keep=st.booleans(), data=st.data())
    def update_payment(
        self, payment: int, amount: Decimal, keep: bool, data: st.DataObject
    ) -> None:
        current = payments.get_payment(self.engine, payment)
        edits = [InvoicePaymentInput(i, a) for i, a in data.draw(applications(current.customer_id))]
        if keep and current.invoices:
            first = current.invoices[0]
            edits = [e for e in edits if e.invoice_id != first.invoice_id]
            edits.append(
                InvoicePaymentInput(
                    first.invoice_id,
                    first.amount_applied / 2,
                    invoice_payment_id=first.invoice_payment_id,
                )
            )
        request = PaymentInput(amount=amount, invoices=edits)
        self.attempt(lambda: payments.update_payment(self.engine, payment, request))

    @rule(payment=consumes(payments))
    def delete_payment(self, payment: int) -> None:
        self.attempt(lambda: payments.delete_payment(self.engine, payment))

    @rule(
        target=notes,
        customer=customers,
        amount=money,
        auto=st.booleans(),
        collection=st.sampled_from(
            [Collection.COLLECTED] * 4 + [Collection.PENDING, Collection.FAILED]
        ),
        data=st.data(),
    )
    def create_credit_note(
        self,
        customer: int,
        amount: Decimal,
        auto: bool,
        collection: Collection,
        data: st.DataObject,
    ) -> Any:
        applied = (
            [] if collection is not Collection.COLLECTED else data.draw(applications(customer))
        )
        request = credit_note(customer, amount, applied, auto, collection)
        view = self.attempt(lambda: credit_notes.create_credit_note(self.engine, request))
        return view.id if view else multiple()

    @rule(note=notes, customer=customers, amount=money, auto=st.booleans(), data=st.data())
    def update_credit_note(
        self, note: int, customer: int, amount: Decimal, auto: bool, data: st.DataObject
    ) -> None:
        applied = data.draw(applications(customer))
        request = credit_note(customer, amount, applied, auto, Collection.COLLECTED)
        self.attempt(lambda: credit_notes.update_credit_note(self.engine, note, request))

    @rule(note=consumes(notes))
    def delete_credit_note(self, note: int) -> None:
        self.attempt(lambda: credit_notes.delete_credit_note(self.engine, note))

    @rule(target=refunds, payment=payments, amount=small)
    def refund_payment(self, payment: int, amount: Decimal) -> Any:
        data = RefundInput(amount=amount, date=DAY, payment_id=payment)
        view = self.attempt(lambda: refunds.create_refund(self.engine, data))
        return view.id if view else multiple()

    @rule(target=refunds, note=notes, amount=small)
    def refund_credit_note(self, note: int, amount: Decimal) -> Any:
        data = RefundInput(amount=amount, date=DAY, credit_note_id=note)
        view = self.attempt(lambda: refunds.create_refund(self.engine, data))
        return view.id if view else multiple()

    @rule(refund=consumes(refunds))
    def delete_refund(self, refund: int) -> None:
        self.attempt(lambda: refunds.delete_refund(self.engine, refund))

    @rule(customer=customers, amount=money, credit=st.booleans())
    def adjust_balance(self, customer: int, amount: Decimal, credit: bool) -> None:
        signed = amount if credit else -amount
        self.attempt(lambda: adjustments.create_adjustment(self.engine, customer, signed, "test"))

    @rule(
        target=credit_lines,
        customer=customers,
        amount=money,
        said=st.sampled_from(["invoice", "account", "nothing"]),
        data=st.data(),
    )
    def bank_credit(self, customer: int, amount: Decimal, said: str, data: st.DataObject) -> Any:
        """A credit on the owner's account, reconciled by the matcher: by an invoice reference,
        by the customer's account number, or (nothing said) left for review."""
        text = {
            "invoice": INVOICE_NUMBERS[data.draw(st.sampled_from(OWN_INVOICES[customer]))],
            "account": f"acct {ACCOUNT_NUMBERS[customer]}",
            "nothing": "thank you",
        }[said]
        reference = self.next_id("BK")
        add_line(
            self.engine, reference, round(amount, 2) or D("0.01"), text, e2e=f"E2E-{reference}"
        )
        self.attempt(self.reconcile)
        return reference

    @rule(line=consumes(credit_lines), partial=st.booleans())
    def bank_return(self, line: str, partial: bool) -> None:
        """The bank returns an earlier credit (AM04): its payment is reversed, if it has one."""
        credit = line_row(self.engine, line)
        amount = -credit.amount if not partial else -(credit.amount / 2).quantize(D("0.01"))
        if amount == 0:
            return
        add_line(
            self.engine,
            self.next_id("RT"),
            amount,
            "return",
            e2e=credit.end_to_end_id,
            reason="AM04",
        )
        self.attempt(self.reconcile)

    @rule(line=credit_lines, customer=customers, data=st.data())
    def match_by_hand(self, line: str, customer: int, data: st.DataObject) -> None:
        """A clerk matches a credit by hand. Mostly as a clerk would: to the customer who holds
        it already (if anyone does), with no more than it has left, on that customer's own
        invoices; now and then to anyone, for anything (refused: another's line or invoice,
        more than the line has)."""
        row = line_row(self.engine, line)
        if data.draw(st.integers(min_value=0, max_value=3)):
            held = held_by(self.engine, row.id)
            if held is not None:
                customer, left = held
            else:
                left = row.amount
            own = st.sampled_from(OWN_INVOICES[customer])
            wanted_amounts = st.lists(st.tuples(own, small), max_size=3, unique_by=lambda p: p[0])
            applied = within(data.draw(wanted_amounts), left)
        else:
            applied = data.draw(applications(customer))
        wanted = [ManualAllocation(i, a) for i, a in applied]
        self.attempt(
            lambda: review.match_by_hand(
                self.engine, row.id, customer_id=customer, allocations=wanted,
                reason="phoned", actor="ana",
            )
        )  # fmt: skip

    @rule(data=st.data())
    def delete_bank_allocation(self, data: st.DataObject) -> None:
        ids = bank_allocation_ids(self.engine)
        if not ids:
            return
        chosen = data.draw(st.sampled_from(ids))
        self.attempt(
            lambda: review.delete_allocation(self.engine, chosen, actor="ana", reason="wrong")
        )

    @rule(
        target=provider_payments,
        amount=money,
        status=st.sampled_from([PaymentStatus.CONFIRMED] * 3 + [PaymentStatus.PENDING_SUBMISSION]),
        reference=st.sampled_from([None, "INV-00001", "INV-00002"]),
    )
    def provider_payment(
        self, amount: Decimal, status: PaymentStatus, reference: str | None
    ) -> Any:
        external = self.next_id("PM")
        self.store_provider_payment(external, round(amount, 2) or D("0.01"), status, reference)
        return external

    @rule(
        payment=provider_payments,
        status=st.sampled_from(
            [PaymentStatus.FAILED, PaymentStatus.CHARGED_BACK, PaymentStatus.PAID_OUT]
        ),
    )
    def provider_payment_moves(self, payment: str, status: PaymentStatus) -> None:
        """A later word on the payment: it failed, was charged back, or (again) paid out."""
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(pt.provider_payments).where(pt.provider_payments.c.external_id == payment)
            ).one()
        self.store_provider_payment(payment, stored.amount, status, stored.reference)

    @rule(payment=provider_payments, amount=small, live=st.booleans())
    def provider_refund(self, payment: str, amount: Decimal, live: bool) -> None:
        status = RefundStatus.PAID if live else RefundStatus.CANCELLED
        refund = ProviderRefund(
            Provider.GOCARDLESS, f"RF-{payment}", payment, amount, "GBP", status, self.clock()
        )
        self.attempt(
            lambda: self.in_transaction(
                lambda conn: store_refunds(conn, GOCARDLESS, [refund], self.clock())
            )
        )

    def store_provider_payment(
        self, external: str, amount: Decimal, status: PaymentStatus, reference: str | None
    ) -> None:
        payment = ProviderPayment(
            Provider.GOCARDLESS, external, amount, "GBP", status, T0,
            charge_date=DAY, mandate_id="MD0001", reference=reference,
        )  # fmt: skip
        self.attempt(
            lambda: self.in_transaction(
                lambda conn: store_payments(conn, GOCARDLESS, [payment], self.clock())
            )
        )

    def reconcile(self) -> None:
        """The pipeline's steps after an ingest: reconcile, then the customers reconciled."""
        done = reconcile_pending(self.engine, chunk_size=3)
        recompute_balances(self.engine, customer_ids=done.customer_ids)

    def clock(self) -> datetime:
        self.serial += 1
        return T0 + timedelta(seconds=self.serial)

    def in_transaction(self, write: Callable[[Any], Any]) -> Any:
        with self.engine.begin() as conn:
            return write(conn)

    @invariant()
    def ledger_holds(self) -> None:
        check_ledger(self.engine)


def credit_note(
    customer: int, amount: Decimal, applied: list[Any], auto: bool, collection: Collection
) -> CreditNoteInput:
    return CreditNoteInput(
        customer_id=customer,
        date=DAY,
        currency="GBP",
        amount=amount,
        credit_number="4242424242424242",
        auto_apply=auto,
        allocations=[CreditAllocationInput(a, invoice_id=i) for i, a in applied],
        collection=collection,
    )


def snapshot(engine: Engine) -> list[list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return [
            [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in LEDGER_TABLES
        ]


def check_ledger(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = {
            table.name: conn.execute(select(table)).all()
            for table in [*LEDGER_TABLES, t.invoices, t.customers]
        }
    active = {p.id: p for p in rows["payments"] if p.status == "active"}
    collected = {n.id: n for n in rows["credit_notes"] if n.collection_status == "collected"}
    on_invoice: dict[int, Decimal] = {}
    used: dict[tuple[str, int], Decimal] = {}
    for a in rows["allocations"]:
        assert a.amount > 0
        used[("p", a.payment_id)] = used.get(("p", a.payment_id), D(0)) + a.amount
        if a.payment_id in active:
            on_invoice[a.invoice_id] = on_invoice.get(a.invoice_id, D(0)) + a.amount
    for a in rows["credit_note_allocations"]:
        assert a.amount > 0
        assert a.credit_note_id in collected, "only collected credit notes carry allocations"
        used[("n", a.credit_note_id)] = used.get(("n", a.credit_note_id), D(0)) + a.amount
        on_invoice[a.invoice_id] = on_invoice.get(a.invoice_id, D(0)) + a.amount
    for r in rows["refunds"]:
        assert r.amount > 0
        key = ("p", r.payment_id) if r.payment_id is not None else ("n", r.credit_note_id)
        used[key] = used.get(key, D(0)) + r.amount
    for invoice in rows["invoices"]:
        assert on_invoice.get(invoice.id, D(0)) <= invoice.total, (
            f"invoice {invoice.id} over-allocated"
        )
        kept = invoice.open_amount
        assert kept == invoice.total - on_invoice.get(invoice.id, D(0)), (
            f"invoice {invoice.id} kept"
        )
    refunded: dict[tuple[str, int], Decimal] = {}
    for r in rows["refunds"]:
        key = ("p", r.payment_id) if r.payment_id is not None else ("n", r.credit_note_id)
        refunded[key] = refunded.get(key, D(0)) + r.amount
    for p in rows["payments"]:
        funds = Funds(
            "payment",
            p.customer_id,
            p.currency,
            p.amount,
            refunded.get(("p", p.id), D(0)),
            p.status == "active",
        )
        allocated = used.get(("p", p.id), D(0)) - refunded.get(("p", p.id), D(0))
        assert p.unused_amount == unused_amount(funds, allocated), f"payment {p.id} kept"
    for n in rows["credit_notes"]:
        live = n.collection_status == "collected"
        funds = Funds(
            "credit note",
            n.customer_id,
            n.currency,
            n.amount,
            refunded.get(("n", n.id), D(0)),
            live,
        )
        allocated = used.get(("n", n.id), D(0)) - refunded.get(("n", n.id), D(0))
        assert n.unused_amount == unused_amount(funds, allocated), f"credit note {n.id} kept"
    for p in rows["payments"]:
        assert p.amount > 0
        assert used.get(("p", p.id), D(0)) <= p.amount, f"payment {p.id} over-applied"
    for n in rows["credit_notes"]:
        assert n.amount > 0
        limit = n.amount if n.id in collected else D(0)
        assert used.get(("n", n.id), D(0)) <= limit, f"credit note {n.id} over-applied"
        assert len(n.card_last_four) <= 4
    cached = {b.customer_id: b for b in rows["customer_balances"]}
    status = {s.customer_id: s for s in rows["credit_status"]}
    for customer in rows["customers"]:

        def total(items: list[Any], cid: int = customer.id) -> Decimal:
            return sum((i.amount for i in items if i.customer_id == cid), D(0))

        expected = customer_balance(
            payments=total(list(active.values())),
            invoices=sum((i.total for i in rows["invoices"] if i.customer_id == customer.id), D(0)),
            credit_notes=total(list(collected.values())),
            adjustments=total(rows["balance_adjustments"]),
            refunds=total(rows["refunds"]),
        )
        if customer.id in cached:
            assert cached[customer.id].balance == expected, f"customer {customer.id} balance"
            assert status[customer.id].status == credit_status(expected, customer.credit_threshold)
    with engine.connect() as conn:
        changes = conn.execute(
            select(func.count()).select_from(lt.credit_status_history)
        ).scalar_one()
    assert changes >= len(status)


TALLY: Counter[str] = Counter()


def load_ledger_world(engine: Engine) -> None:
    """tests/data's owner, customers and invoices; a statement file to add lines to; a
    GoCardless provider whose mandate MD0001 is customer C001's."""
    import_contract_owners(engine, DATA / "contract_owners.csv")
    import_customers(engine, DATA / "customers.csv")
    import_invoices(engine, DATA / "invoices.csv")
    with engine.begin() as conn:
        conn.execute(
            at.payment_providers.insert().values(
                id=1, name="gc", kind="gocardless", enabled=True, created_at=T0, updated_at=T0
            )
        )
        conn.execute(
            t.feed_files.insert().values(
                id=1, sha256="0" * 64, filename="lines.xml", status="processed", received_at=T0
            )
        )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            advance_id_sequence(conn, at.payment_providers)
            advance_id_sequence(conn, t.feed_files)


def add_line(
    engine: Engine,
    reference: str,
    amount: Decimal,
    remittance: str,
    *,
    e2e: str | None = None,
    reason: str | None = None,
) -> None:
    """A pending line on the owner's account, as ingest writes it."""
    with engine.begin() as conn:
        seq = conn.execute(select(func.count()).select_from(t.statement_lines)).scalar_one()
        conn.execute(
            t.statement_lines.insert().values(
                feed_file_id=1, seq=seq + 1, account=OWNER_ACCOUNT, external_id=reference,
                booking_date=DAY, amount=amount, currency="GBP", remittance=remittance,
                end_to_end_id=e2e, return_reason=reason, status="pending", created_at=T0,
                contract_owner_id=1,
            )
        )  # fmt: skip


def bank_allocation_ids(engine: Engine) -> list[int]:
    """The allocations of active bank payments, oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(t.allocations.c.id)
                .join(t.payments, t.payments.c.id == t.allocations.c.payment_id)
                .where(t.payments.c.source == "bank", t.payments.c.status == "active")
                .order_by(t.allocations.c.id)
            ).scalars()
        )


def held_by(engine: Engine, line_id: int) -> tuple[int, Decimal] | None:
    """The customer whose payment a statement line is, and what that payment has unused."""
    p = t.payments.c
    with engine.connect() as conn:
        row = conn.execute(
            select(p.customer_id, p.unused_amount).where(p.statement_line_id == line_id)
        ).first()
    return None if row is None else (row.customer_id, row.unused_amount)


def within(applied: list[tuple[int, Decimal]], left: Decimal) -> list[tuple[int, Decimal]]:
    """`applied`, each amount cut so that together they take no more than `left`."""
    fitted = []
    for invoice, amount in applied:
        amount = min(amount, left.quantize(D("0.01"), rounding=ROUND_DOWN))
        if amount > 0:
            fitted.append((invoice, amount))
            left -= amount
    return fitted


def line_row(engine: Engine, reference: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(t.statement_lines).where(t.statement_lines.c.external_id == reference)
        ).one()


def sqlite_ledger(tmp: Path) -> Callable[[], Engine]:
    """A migrated, loaded database file made once, copied for every example."""
    template = tmp / "template.db"
    url = f"sqlite:///{template}"
    upgrade_schema(url)
    engine = make_engine(url)
    load_ledger_world(engine)
    engine.dispose()
    counter = iter(range(10**6))

    def make() -> Engine:
        copy = tmp / f"example-{next(counter)}.db"
        shutil.copy(template, copy)
        return make_engine(f"sqlite:///{copy}")

    return make


FAMILIES = (
    "payment", "credit_note", "refund", "adjust_balance", "bank_credit", "bank_return",
    "match_by_hand", "delete_bank_allocation", "provider_payment", "provider_refund",
)  # fmt: skip


def machine_for(make: Callable[[], Engine]) -> type[LedgerMachine]:
    return type("Ledger", (LedgerMachine,), {"make_engine": staticmethod(make)})


def run(make: Callable[[], Engine], examples: int, steps: int, *, derandomize: bool) -> None:
    TALLY.clear()
    run_state_machine_as_test(
        machine_for(make),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=derandomize,
            database=None if derandomize else settings.default.database,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_ledger_invariants_hold_on_sqlite(tmp_path: Path) -> None:
    """Derandomized, yet what Hypothesis draws depends on the modules loaded before it (it
    mixes in constants found in the project's code), so the run differs between this file
    alone and the whole suite: what is asserted of it holds on any such draw. That each write
    can succeed is the scripted walk's below."""
    run(sqlite_ledger(tmp_path), examples=60, steps=20, derandomize=True)
    # Not vacuous: many writes succeeded, some were refused (and undone), every family was tried.
    succeeded = sum(n for kind, n in TALLY.items() if not kind.endswith("refused"))
    assert succeeded >= 200, TALLY
    for family in FAMILIES:
        assert any(n for kind, n in TALLY.items() if family in kind), (family, TALLY)
    assert sum(n for kind, n in TALLY.items() if kind.endswith("refused")) > 0, TALLY


class Drawn:
    """Hypothesis's `data` for a scripted step: hands out the given values, in order."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: st.SearchStrategy[Any], label: Any = None) -> Any:
        return self.values.pop(0)


def test_every_kind_of_write_succeeds_on_a_scripted_walk(tmp_path: Path) -> None:
    """One walk through the machine's rules with inputs a clerk would give: every write
    succeeds, and the ledger holds after each."""
    TALLY.clear()
    machine = machine_for(sqlite_ledger(tmp_path))()
    cash = machine.create_payment(customer=1, amount=D("10"), data=Drawn([(1, D("5"))], True))
    machine.update_payment(payment=cash, amount=D("20"), keep=False, data=Drawn([(1, D("4"))]))
    spare = machine.create_payment(customer=3, amount=D("5"), data=Drawn([], False))
    note = machine.create_credit_note(
        customer=2, amount=D("10"), auto=False, collection=Collection.COLLECTED,
        data=Drawn([(3, D("2"))]),
    )  # fmt: skip
    machine.update_credit_note(
        note=note, customer=2, amount=D("12"), auto=False, data=Drawn([(3, D("3"))])
    )
    spare_note = machine.create_credit_note(
        customer=1, amount=D("3"), auto=False, collection=Collection.PENDING, data=Drawn()
    )
    refund = machine.refund_payment(payment=cash, amount=D("1"))
    machine.refund_credit_note(note=note, amount=D("1"))
    machine.adjust_balance(customer=3, amount=D("5"), credit=True)
    paid = machine.bank_credit(customer=1, amount=D("30"), said="invoice", data=Drawn(2))
    unknown = machine.bank_credit(customer=2, amount=D("8"), said="nothing", data=Drawn(3))
    machine.match_by_hand(line=unknown, customer=2, data=Drawn(1, [(3, D("2"))]))
    machine.delete_bank_allocation(data=Drawn(bank_allocation_ids(machine.engine)[-1]))
    machine.bank_return(line=paid, partial=False)
    collected = machine.provider_payment(
        amount=D("7"), status=PaymentStatus.CONFIRMED, reference="INV-00001"
    )
    machine.provider_payment_moves(payment=collected, status=PaymentStatus.PAID_OUT)
    machine.provider_refund(payment=collected, amount=D("1"), live=True)
    machine.delete_refund(refund=refund)
    machine.delete_payment(payment=spare)
    machine.delete_credit_note(note=spare_note)
    machine.ledger_holds()
    machine.teardown()
    assert not [kind for kind in TALLY if kind.endswith("refused")], TALLY
    for family in FAMILIES:
        assert any(n for kind, n in TALLY.items() if family in kind), (family, TALLY)


def test_ledger_invariants_hold_on_postgresql(pg_database: str) -> None:
    names = ", ".join(f'"{table.name}"' for table in reversed(metadata.sorted_tables))

    def make() -> Engine:
        engine = make_engine(pg_database)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        load_ledger_world(engine)
        return engine

    run(make, examples=6, steps=12, derandomize=False)
