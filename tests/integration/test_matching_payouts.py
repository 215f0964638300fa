"""A bank line carrying a provider payout settles it, end to end on SQLite and PostgreSQL: the payout
and its items are stored by the provider sync's own functions (items over a mocked GoCardless API),
a camt.053 on the contract owner's account is ingested and reconciled; the payout is reconciled
with its fees, the ledger gains no payment or allocation, balances stay, the audit is clean, and
doing it all again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from payrecon.domain.errors import Conflict
from payrecon.domain.matching.model import LineToMatch
from payrecon.domain.providers import PayoutStatus, Provider, ProviderPayout
from payrecon.feeds.gocardless import GoCardlessClient
from payrecon.feeds.http import RetryPolicy
from payrecon.services.ledger.audit import audit_ledger
from payrecon.services.ledger.balances import recompute_balances
from payrecon.services.providers.payout_views import get_payout
from payrecon.services.providers.payouts import store_payouts, sync_payout_items
from payrecon.services.reconciliation.reconcile import reconcile_pending
from payrecon.services.reconciliation.review import get_statement_line, match_by_hand
from payrecon.store import ledger_tables as lt
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.payout_queries import payouts_for_lines, stored_payout_keys
from tests.integration.test_pipeline_services import DATA, customer_id, load_ledger, run_pipeline
from tests.integration.test_provider_sync import add_provider

D = Decimal
NOW = datetime(2026, 10, 21, 8, 0, tzinfo=UTC)
ACCOUNT = "GB33BUKB20201555555555"  # contract owner 1's account (tests/data/contract_owners.csv)
ITEMS = {  # GoCardless writes items in minor units to a tenth: 10000.0 = 100.000 GBP
    "PO000123": [
        ("payment_paid_out", "10000.0", "PM001"),
        ("gocardless_fee", "-120.0", "PM001"),
        ("payment_paid_out", "6300.0", "PM002"),
        ("gocardless_fee", "-83.5", "PM002"),
        ("payment_refunded", "-97.0", "PM002"),
    ],
    "PO000124": [("payment_paid_out", "5000.0", "PM003")],
}
COUNTED = (t.payments, t.allocations, lt.credit_notes, t.customer_balances, t.statement_lines)


def items_api(request: httpx.Request) -> httpx.Response:
    payout = request.url.params["payout"]
    return httpx.Response(
        200,
        json={
            "payout_items": [
                {"type": kind, "amount": amount, "links": {"payment": payment}}
                for kind, amount, payment in ITEMS[payout]
            ],
            "meta": {"cursors": {"after": None, "before": None}, "limit": 500},
        },
    )


def store_provider_payouts(engine: Engine, *, items: bool = True) -> int:
    provider = add_provider(engine, "gocardless", "https://gocardless.test")
    payouts = [
        ProviderPayout(Provider.GOCARDLESS, external_id, D(amount), "GBP", PayoutStatus.PAID,
                       NOW, date(2026, 10, 20), reference, D(fees))
        for external_id, amount, reference, fees in (
            ("PO000123", "160.00", "ACME-AB12C", "2.04"),
            ("PO000124", "50.00", "ACME-CD34E", "0"),
        )
    ]  # fmt: skip
    with engine.begin() as conn:
        store_payouts(conn, provider, payouts, NOW)
    if items:
        assert sync_items(engine, provider) == (6, 0)
    return provider


def sync_items(engine: Engine, provider: int) -> tuple[int, int]:
    """Store the payouts' items (from `items_api`): (items written, lines sent back to matching)."""
    with httpx.Client(transport=httpx.MockTransport(items_api)) as http:
        client = GoCardlessClient(
            http,
            access_token="test-token",
            base_url="https://gocardless.test",
            policy=RetryPolicy(sleep=lambda _s: None),
        )
        return sync_payout_items(engine, provider, client, NOW)


def _entry(ref: str, amount: str, text: str) -> str:
    return f"""<Ntry><Amt Ccy="GBP">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-10-21</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef></Refs>
<AmtDtls><TxAmt><Amt Ccy="GBP">{amount}</Amt></TxAmt></AmtDtls>
<RltdPties><Dbtr><Nm>GOCARDLESS LTD</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""


def payout_statement(path: Path) -> Path:
    """Two payout credits: PO000123 as it is (in lower case, spaced), PO000124 for 55.00, not 50."""
    entries = _entry("PO-BR-1", "160.00", "gocardless acme ab12c") + _entry(
        "PO-BR-2", "55.00", "GOCARDLESS ACME-CD34E"
    )
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>PAYOUTS-1</MsgId><CreDtTm>2026-10-21T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>PAYOUTS-STMT-1</Id><CreDtTm>2026-10-21T18:00:00</CreDtTm>
<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>GBP</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">1333.33</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-21</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">1548.33</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-21</Dt></Dt></Bal>
{entries}</Stmt></BkToCstmrStmt></Document>
""",
        encoding="utf-8",
    )
    return path


def ledger_state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        counts = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in COUNTED
        }
        balances = conn.execute(
            select(t.customer_balances.c.customer_id, t.customer_balances.c.balance).order_by(
                t.customer_balances.c.customer_id
            )
        ).all()
        payouts = conn.execute(
            select(
                pt.payouts.c.external_id,
                pt.payouts.c.statement_line_id,
                pt.payouts.c.settled_fees,
                pt.payouts.c.reconciled_at,
            ).order_by(pt.payouts.c.external_id)
        ).all()
    return {"counts": counts, "balances": [tuple(b) for b in balances], "payouts": payouts}


def line_by_reference(engine: Engine, reference: str) -> Any:
    sl = t.statement_lines.c
    with engine.connect() as conn:
        return conn.execute(select(t.statement_lines).where(sl.external_id == reference)).one()


def test_a_payout_line_settles_the_payout_and_leaves_the_ledger_alone(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    store = tmp_path / "store"
    run_pipeline(engine, store, DATA / "statement.camt053.xml")  # customer payments first
    store_provider_payouts(engine)
    before = ledger_state(engine)

    run_pipeline(engine, store, payout_statement(tmp_path / "payouts.camt053.xml"))

    settled, refused = line_by_reference(engine, "PO-BR-1"), line_by_reference(engine, "PO-BR-2")
    assert (settled.status, settled.customer_id) == ("matched", None)
    assert settled.reason == "payout PO000123: 2 payments, fees 2.035"
    assert refused.status == "unmatched"
    assert refused.reason.startswith("payout_amount_mismatch: payout PO000124 (gocardless)")
    after = ledger_state(engine)
    assert after["balances"] == before["balances"]
    grown = {name: after["counts"][name] - n for name, n in before["counts"].items()}
    assert grown == {name: 2 if name == "statement_lines" else 0 for name in grown}
    (po123, po124) = after["payouts"]
    assert (po123.statement_line_id, po123.settled_fees) == (settled.id, D("2.035"))
    assert po123.reconciled_at is not None
    assert po124.statement_line_id is None
    assert audit_ledger(engine).breaches == []

    view = get_statement_line(engine, settled.id)
    assert view["payment"] is None
    assert view["payout"]["externalId"] == "PO000123"
    assert view["payout"]["status"] == "reconciled"
    assert (view["payout"]["fees"], view["payout"]["payments"]) == (D("2.035"), 2)
    assert view["payout"]["explanation"].startswith("payout PO000123: 2 payments, fees 2.035")
    assert get_statement_line(engine, refused.id)["payout"] is None

    run_pipeline(engine, store, payout_statement(tmp_path / "again.camt053.xml"))
    reconcile_pending(engine)
    recompute_balances(engine)
    assert ledger_state(engine) == after


def test_a_line_that_settles_a_payout_cannot_be_matched_by_hand(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    store = tmp_path / "store"
    run_pipeline(engine, store, DATA / "statement.camt053.xml")
    store_provider_payouts(engine)
    run_pipeline(engine, store, payout_statement(tmp_path / "payouts.camt053.xml"))
    settled = line_by_reference(engine, "PO-BR-1")
    before = ledger_state(engine)
    with pytest.raises(Conflict, match="settles payout PO000123"):
        match_by_hand(
            engine,
            settled.id,
            customer_id=customer_id(engine, "C001"),
            allocations=[],
            reason="a second payment from the payout's money",
            actor="test",
        )
    assert ledger_state(engine) == before


def test_a_payout_line_that_waited_for_the_items_is_settled_when_they_arrive(
    engine: Engine, tmp_path: Path
) -> None:
    load_ledger(engine)
    store = tmp_path / "store"
    run_pipeline(engine, store, DATA / "statement.camt053.xml")
    provider = store_provider_payouts(engine, items=False)
    run_pipeline(engine, store, payout_statement(tmp_path / "payouts.camt053.xml"))
    waiting = line_by_reference(engine, "PO-BR-1")
    assert waiting.status == "unmatched"
    assert waiting.reason.startswith("payout_items_mismatch: payout PO000123 (gocardless)")

    assert sync_items(engine, provider) == (6, 1)  # the items arrive: the line goes back
    assert line_by_reference(engine, "PO-BR-1").status == "pending"
    reconcile_pending(engine)

    settled = line_by_reference(engine, "PO-BR-1")
    assert (settled.status, settled.reason) == (
        "matched",
        "payout PO000123: 2 payments, fees 2.035",
    )
    assert line_by_reference(engine, "PO-BR-2").status == "unmatched"  # another reason: stays
    assert audit_ledger(engine).breaches == []
    with engine.connect() as conn:
        payout_id = conn.execute(
            select(pt.payouts.c.id).where(pt.payouts.c.external_id == "PO000123")
        ).scalar_one()
    payout = get_payout(engine, payout_id)  # GET /v1/payouts/{id}: the bank line that settled it
    assert (payout["reconciled"], payout["statementLine"]["externalId"]) == (True, "PO-BR-1")
    assert payout["fees"]["settled"] == D("2.035")
    assert len(payout["items"]) == 5  # two payments with their fees, a refund


def test_the_amount_fallback_reads_only_the_payouts_of_the_credits_amounts(engine: Engine) -> None:
    """A chunk's fallback candidates are the unreconciled payouts in the window whose net amount
    some credit of the chunk has (`PayoutBook.fitting` wants no other), read with their items;
    a payout of another amount is not read, and one a reference names is read whatever it is."""
    load_ledger(engine)
    store_provider_payouts(engine)
    on = date(2026, 10, 21)

    def read(amounts: list[str], keys: tuple[str, ...] = ()) -> dict[str, int | None]:
        lines = [LineToMatch(n, on, D(a), "GBP") for n, a in enumerate(amounts, start=1)]
        with engine.connect() as conn:
            found = payouts_for_lines(conn, keys, lines, 3)
        return {p.external_id: None if p.items is None else len(p.items) for p in found}

    assert read(["50.00", "12.34"]) == {"PO000124": 1}
    assert read(["160.00", "50.00"]) == {"PO000123": 5, "PO000124": 1}
    assert read(["12.34"]) == {}
    assert read(["12.34"], keys=("ACMEAB12C",)) == {"PO000123": 5}
    assert read(["160.00"], keys=()) == {"PO000123": 5}
    far = [LineToMatch(1, date(2026, 11, 30), D("160.00"), "GBP")]
    with engine.connect() as conn:
        assert payouts_for_lines(conn, (), far, 3) == []


def test_the_stored_payout_keys_follow_every_change(engine: Engine) -> None:
    """The keys a chunk's texts are read against are kept between chunks only while they are
    the stored ones: a payout added, a reference changed (even by a bare UPDATE) or removed is
    seen by the next read."""

    def keys() -> set[str]:
        with engine.connect() as conn:
            return set(stored_payout_keys(conn).keys)

    assert keys() == set()
    provider = store_provider_payouts(engine, items=False)
    assert keys() == {"ACMEAB12C", "ACMECD34E"}
    assert keys() == {"ACMEAB12C", "ACMECD34E"}  # kept
    with engine.begin() as conn:
        conn.execute(
            update(pt.payouts)
            .where(pt.payouts.c.external_id == "PO000124")
            .values(reference_key="ACMEZZ99Z")
        )
    assert keys() == {"ACMEAB12C", "ACMEZZ99Z"}
    payouts = [
        ProviderPayout(Provider.GOCARDLESS, "PO000125", D("9.00"), "GBP", PayoutStatus.PAID,
                       NOW, date(2026, 10, 20), "NEW-REF-77", D("0"))
    ]  # fmt: skip
    with engine.begin() as conn:
        store_payouts(conn, provider, payouts, NOW)
        assert set(stored_payout_keys(conn).keys) == {"ACMEAB12C", "ACMEZZ99Z", "NEWREF77"}
        conn.execute(update(pt.payouts).values(reference_key=None))
        assert set(stored_payout_keys(conn).keys) == set()
    assert keys() == set()
