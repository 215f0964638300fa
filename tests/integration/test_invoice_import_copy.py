"""The invoice import on both databases (PostgreSQL: COPY into a staging table, then one merge;
SQLite: the upsert): a bad file names its line and column and writes nothing, a second run adds
nothing, a re-import moves the open amounts and renumbers the keys."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from payrecon.domain.errors import FeedFormatError
from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.store import tables as t
from tests.integration.test_pipeline_services import DATA

HEADER = "invoice_id,invoice_number,customer_id,kind,issue_date,due_date,currency,total\n"
GOOD = (
    "I1,INV-1,C001,standard,2026-09-01,2026-10-01,GBP,10.00\n"
    "I2,INV-2,C002,adhoc,2026-09-02,2026-10-02,gbp,20.50\n"
    "I3,INV 3,C003,,2026-09-03,2026-10-03,GBP,0\n"
)


@pytest.fixture
def customers(engine: Engine) -> Engine:
    import_contract_owners(engine, DATA / "contract_owners.csv")
    import_customers(engine, DATA / "customers.csv")
    return engine


def _invoices(engine: Engine) -> list[tuple[str, str, str, Decimal, Decimal]]:
    i = t.invoices.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(i.external_id, i.invoice_number, i.kind, i.total, i.open_amount).order_by(
                i.external_id
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _keys(engine: Engine) -> list[tuple[str, str]]:
    i = t.invoices.c
    with engine.connect() as conn:
        rows = conn.execute(select(i.invoice_number, i.number_key))
        return sorted((r.invoice_number, r.number_key) for r in rows)


def _count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_second_run_adds_nothing_and_a_change_moves_the_open_amount(
    customers: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + GOOD)
    first = import_invoices(customers, path)
    assert (first.rows, first.created, first.updated) == (3, 3, 0)
    before = _invoices(customers)
    assert before == [
        ("I1", "INV-1", "standard", Decimal("10.00"), Decimal("10.00")),
        ("I2", "INV-2", "adhoc", Decimal("20.50"), Decimal("20.50")),
        ("I3", "INV 3", "standard", Decimal("0"), Decimal("0")),
    ]
    assert _keys(customers) == [("INV 3", "INV3"), ("INV-1", "INV1"), ("INV-2", "INV2")]
    again = import_invoices(customers, path)
    assert (again.rows, again.created, again.updated) == (3, 0, 3)
    assert _invoices(customers) == before
    assert len(_keys(customers)) == 3

    with customers.begin() as conn:  # 4.00 of I1 is allocated: its open amount is 6.00
        conn.execute(
            t.invoices.update().where(t.invoices.c.external_id == "I1").values(open_amount=6)
        )
    path.write_text(HEADER + GOOD.replace("GBP,10.00", "GBP,15.00").replace("INV-2", "INV-22"))
    changed = import_invoices(customers, path)
    assert (changed.created, changed.updated) == (0, 3)
    after = _invoices(customers)
    assert after[0][3:] == (Decimal("15.00"), Decimal("11.00"))  # still 4.00 allocated
    assert after[1][1] == "INV-22"
    assert _keys(customers) == [("INV 3", "INV3"), ("INV-1", "INV1"), ("INV-22", "INV22")]


@pytest.mark.parametrize(
    ("rows", "place", "problem"),
    [
        (
            "I4,INV-4,C001,standard,2026-13-01,2026-10-01,GBP,1\n",
            "line 5, column issue_date",
            "month must be in 1..12",
        ),
        ("I4,INV-4,C001,standard,2026-09-01,2026-10-01,GBP,-1\n", "line 5, column total", "must"),
        ("I4,INV-4,C001,standard,2026-09-01,2026-10-01,GBP,1e99\n", "line 5, column total", "15"),
        ("I4,INV-4,C001,standard,2026-09-01,2026-10-01,GB,1\n", "line 5, column currency", "GB"),
        ("I4,INV-4,C001,weekly,2026-09-01,2026-10-01,GBP,1\n", "line 5, column kind", "weekly"),
        (",INV-4,C001,standard,2026-09-01,2026-10-01,GBP,1\n", "line 5, column invoice_id", "empty"),
        ("I4,INV-4,C999,standard,2026-09-01,2026-10-01,GBP,1\n", "line 5, column customer_id", "C999"),
        ("I1,INV-4,C001,standard,2026-09-01,2026-10-01,GBP,1\n", "line 5, column invoice_id", "line 2"),
        ("I4,INV-2,C001,standard,2026-09-01,2026-10-01,GBP,1\n", "line 5, column invoice_number", "line 3"),
        ("I4,INV-4,C001,standard,2026-09-01,2026-10-01,GBP,1,2\n", "line 5", "more cells"),
    ],
)  # fmt: skip
def test_a_bad_row_names_its_line_and_column_and_writes_nothing(
    customers: Engine, tmp_path: Path, rows: str, place: str, problem: str
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + GOOD + rows)
    with pytest.raises(FeedFormatError) as raised:
        import_invoices(customers, path)
    assert raised.value.file == str(path)
    assert raised.value.place == place
    assert problem in raised.value.problem
    assert _count(customers, t.invoices) == 0
    assert _count(customers, t.customer_balances) == 3  # the customers' own, untouched


def test_a_missing_column_is_named(customers: Engine, tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER.replace(",total", "") + "I1,INV-1,C001,standard,2026-09-01,x,GBP\n")
    with pytest.raises(FeedFormatError, match="line 1: missing columns: total"):
        import_invoices(customers, path)


def test_the_balances_of_the_customers_follow(customers: Engine, tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + GOOD)
    import_invoices(customers, path)
    b = t.customer_balances.c
    with customers.connect() as conn:
        invoiced = dict(conn.execute(select(b.customer_id, b.total_invoiced)).all())
    assert sorted(invoiced.values()) == [Decimal("0"), Decimal("10.00"), Decimal("20.50")]


CUSTOMERS = (
    "customer_id,name,contract_owner_id,currency,credit_threshold,account_number,iban,mandate_id\n"
    "C1,One Ltd,7,GBP,100,AC1,GB29 NWBK 6016 1331 9268 19;GB94BARC10201530093459,MD1\n"
    "C2,Two Ltd,7,eur,,,,\n"
)


def test_customers_a_second_run_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS)
    first = import_customers(engine, path)
    second = import_customers(engine, path)
    assert (first.created, second.created, second.updated) == (2, 0, 2)
    c = t.customers.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.external_id, c.contract_owner_id, c.currency, c.credit_threshold)
            .order_by(c.external_id)
        ).all()  # fmt: skip
        owner = conn.execute(select(t.contract_owners.c.name)).scalar_one()
        ibans = sorted(conn.execute(select(t.customer_bank_accounts.c.iban)).scalars())
    assert [tuple(r) for r in rows] == [("C1", 7, "GBP", Decimal(100)), ("C2", 7, "EUR", 0)]
    assert owner == "Contract owner 7"
    assert ibans == ["GB29NWBK60161331926819", "GB94BARC10201530093459"]
    assert (_count(engine, t.mandates), _count(engine, t.customer_balances)) == (1, 2)
    path.write_text(CUSTOMERS.replace("C2,Two Ltd,7,eur,,", "C2,Two Ltd,7,eur,50,"))
    assert import_customers(engine, path).created == 0
    with engine.connect() as conn:
        threshold = conn.execute(
            select(c.credit_threshold).where(c.external_id == "C2")
        ).scalar_one()
    assert threshold == 50


@pytest.mark.parametrize(
    ("row", "place", "problem"),
    [
        ("C1,Again,7,GBP,0,,,\n", "line 4, column customer_id", "line 2"),
        ("C3,Three,x,GBP,0,,,\n", "line 4, column contract_owner_id", "invalid literal"),
        ("C3,Three,7,GBP,1.2.3,,,\n", "line 4, column credit_threshold", "not a decimal"),
        ("C3,,7,GBP,0,,,\n", "line 4, column name", "empty"),
    ],
)
def test_customers_a_bad_row_names_its_line_and_writes_nothing(
    engine: Engine, tmp_path: Path, row: str, place: str, problem: str
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS + row)
    with pytest.raises(FeedFormatError) as raised:
        import_customers(engine, path)
    assert (raised.value.place, problem in raised.value.problem) == (place, True)
    assert _count(engine, t.customers) == 0
    assert _count(engine, t.contract_owners) == 0


def test_a_recompute_of_every_customer_by_ids_is_the_recompute_of_all(
    customers: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payrecon.services.clock import utcnow
    from payrecon.services.ledger import balances

    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + GOOD)
    import_invoices(customers, path)
    monkeypatch.setattr(balances, "_EVERYONE_CHECKED_FROM", 0)
    b = t.customer_balances.c
    with customers.begin() as conn:
        ids = list(conn.execute(select(t.customers.c.id)).scalars())
        assert balances._everyone(conn, ids)
        assert not balances._everyone(conn, ids[1:])
        before = conn.execute(select(b.customer_id, b.balance).order_by(b.customer_id)).all()
        # the count of customers recomputed (SQLAlchemy keeps an INSERT's rowcount only if asked)
        assert balances.recompute_customers(conn, ids[1:], utcnow()) == len(ids) - 1
        assert balances.recompute_customers(conn, ids, utcnow()) == len(ids)
        assert balances.recompute_customers(conn, None, utcnow()) == len(ids)
        after = conn.execute(select(b.customer_id, b.balance).order_by(b.customer_id)).all()
    assert after == before
