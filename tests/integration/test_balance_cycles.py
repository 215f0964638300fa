"""Balances by billing cycle, and for the customers touched since the last run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from payrecon.domain.balances import billing_period_start
from payrecon.services.ledger.balances import (
    customers_to_recompute,
    get_balance,
    recompute_balances,
)
from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.admin_tables import billing_cycles
from tests.integration.test_pipeline_services import customer_id, load_ledger


@pytest.mark.parametrize(
    ("as_of", "start_day", "expected"),
    [
        (date(2026, 10, 18), 10, date(2026, 10, 10)),
        (date(2026, 10, 10), 10, date(2026, 10, 10)),
        (date(2026, 10, 9), 10, date(2026, 9, 10)),
        (date(2026, 1, 3), 28, date(2025, 12, 28)),
    ],
)
def test_billing_period_start(as_of: date, start_day: int, expected: date) -> None:
    assert billing_period_start(as_of, start_day) == expected


def add_payment(engine: Engine, customer: int, day: date, amount: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            t.payments.insert().values(
                customer_id=customer,
                source="manual",
                payment_mode="Cash",
                date=day,
                amount=Decimal(amount),
                currency="GBP",
                exchange_rate=Decimal(1),
                bank_charges=Decimal(0),
                tax_amount_withheld=Decimal(0),
                status="active",
                unused_amount=Decimal(amount),
                created_at=datetime.now(UTC),
            )
        )


def test_payments_since_the_last_invoice_follow_the_billing_cycle(engine: Engine) -> None:
    load_ledger(engine)
    bowman, okafor = customer_id(engine, "C001"), customer_id(engine, "C002")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        cycle = conn.execute(
            billing_cycles.insert()
            .values(contract_owner_id=1, name="tenth", start_day=10, created_at=now, updated_at=now)
            .returning(billing_cycles.c.id)
        ).scalar_one()
        conn.execute(
            t.customers.update().where(t.customers.c.id == bowman).values(billing_cycle_id=cycle)
        )
    as_of = datetime(2026, 10, 18, 12, tzinfo=UTC)
    add_payment(engine, bowman, date(2026, 10, 9), "5.00")  # before this period began
    add_payment(engine, bowman, date(2026, 10, 12), "7.00")
    add_payment(engine, okafor, date(2026, 9, 20), "3.00")  # after Okafor's last invoice (09-15)
    recompute_balances(engine, now=as_of)
    assert get_balance(engine, bowman).total_payments_since_last_invoice == Decimal("7.00")
    assert get_balance(engine, bowman).total_payments == Decimal("12.00")
    assert get_balance(engine, okafor).total_payments_since_last_invoice == Decimal("3.00")
    assert customers_to_recompute(engine, billing_cycle_id=cycle) == [bowman]


def test_customers_touched_since(engine: Engine) -> None:
    load_ledger(engine)
    bowman = customer_id(engine, "C001")
    mark = datetime.now(UTC)
    assert customers_to_recompute(engine, touched_since=mark) == []
    add_payment(engine, bowman, date(2026, 10, 1), "1.00")
    assert customers_to_recompute(engine, touched_since=mark) == [bowman]
    assert customers_to_recompute(engine, touched_since=mark - timedelta(days=1)) == sorted(
        customer_id(engine, c) for c in ("C001", "C002", "C003")
    )
    assert customers_to_recompute(engine) is None
    with engine.connect() as conn:
        assert conn.execute(select(t.customers.c.billing_cycle_id)).scalars().all() == [None] * 3


def _written_at(engine: Engine) -> dict[int, tuple[datetime, datetime]]:
    """Each customer's (computed_at, checked_at): when its balance and its status were written."""
    b, s = t.customer_balances, lt.credit_status
    with engine.connect() as conn:
        rows = conn.execute(
            select(b.c.customer_id, b.c.computed_at, s.c.checked_at).join(
                s, s.c.customer_id == b.c.customer_id
            )
        ).all()
    return {customer: (_utc(computed), _utc(checked)) for customer, computed, checked in rows}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite keeps no time zone


def _history_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(lt.credit_status_history)).scalar_one()
        )


def test_a_recompute_writes_only_the_customers_whose_figures_moved(engine: Engine) -> None:
    load_ledger(engine)  # the import computed every balance and status
    bowman = customer_id(engine, "C001")
    imported = _written_at(engine)
    assert len(imported) == 3
    changes = _history_rows(engine)
    # Nothing moved: every customer is counted, none is rewritten, no status change is recorded.
    first = datetime.now(UTC) + timedelta(hours=1)
    assert recompute_balances(engine, now=first) == 3
    assert (_written_at(engine), _history_rows(engine)) == (imported, changes)
    # Bowman pays: only Bowman's balance and status rows are written again.
    add_payment(engine, bowman, date(2026, 10, 12), "7.00")
    later = first + timedelta(hours=1)
    assert recompute_balances(engine, now=later) == 3
    written = _written_at(engine)
    assert written.pop(bowman) == (later, later)
    assert written == {c: at for c, at in imported.items() if c != bowman}
    assert get_balance(engine, bowman).total_payments == Decimal("7.00")
    # A new threshold moves the status row, not the balance.
    with engine.begin() as conn:
        conn.execute(
            t.customers.update()
            .where(t.customers.c.id == bowman)
            .values(credit_threshold=Decimal("1.00"))
        )
    latest = later + timedelta(hours=1)
    assert recompute_balances(engine, customer_ids=[bowman], now=latest) == 1
    assert _written_at(engine)[bowman] == (later, latest)
    with engine.connect() as conn:
        threshold = conn.execute(
            select(lt.credit_status.c.credit_threshold).where(
                lt.credit_status.c.customer_id == bowman
            )
        ).scalar_one()
    assert threshold == Decimal("1.00")
