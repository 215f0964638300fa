"""A credit-status change through the real stack: a bank payment brings a customer under its
threshold, the bank's return of it (a reversal) pushes it over again, and both changes are in the
status history, with their time and cause, after the scheduled run."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import select

from payrecon.api.auth import issue_token
from payrecon.store import tables as t
from payrecon.store.db import make_engine
from tests.e2e.conftest import API_SECRET, BIN, Stack, wait_until

DATA = Path(__file__).resolve().parents[1] / "data"
READ = {"Authorization": f"Bearer {issue_token(API_SECRET, ['read'])}"}


def statement(name: str, opening: str, closing: str, entry: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>{name}</MsgId><CreDtTm>2026-11-02T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>{name}</Id><CreDtTm>2026-11-02T18:00:00</CreDtTm>
<Acct><Id><IBAN>GB33BUKB20201555555555</IBAN></Id><Ccy>GBP</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-02</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-02</Dt></Dt></Bal>
{entry}</Stmt></BkToCstmrStmt></Document>
"""


def entry(ref: str, amount: str, cd: str, day: str, extra: str) -> str:
    return f"""<Ntry><Amt Ccy="GBP">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef><EndToEndId>E2E-OPS-0001</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="GBP">{amount}</Amt></TxAmt></AmtDtls>{extra}</TxDtls></NtryDtls></Ntry>
"""


def history(stack: Stack, customer: int) -> list[dict[str, object]]:
    response = httpx.get(
        f"{stack.api_url}/v1/customer-credit-status/history",
        params={"customer_id": customer, "sort": "id"},
        headers=READ,
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def test_payment_then_its_return_move_the_credit_status(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        "customer_id,name,contract_owner_id,currency,credit_threshold,account_number,iban,mandate_id\n"
        "OPS-C1,Ops Credit Ltd,1,GBP,100.00,OPS0001,GB82WEST12345698765432,\n"
    )
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,invoice_number,customer_id,kind,issue_date,due_date,currency,total\n"
        "OPS-I1,INV-77001,OPS-C1,standard,2026-10-01,2026-10-31,GBP,300.00\n"
    )
    for what, path in (
        ("contract-owners", DATA / "contract_owners.csv"),
        ("customers", tmp_path / "customers.csv"),
        ("invoices", tmp_path / "invoices.csv"),
    ):
        result = stack.payrecon("import", what, str(path))
        assert result.returncode == 0, result.stderr
    # Before any payment: the customer owes 300.00 against a threshold of 100.00.
    first = stack.payrecon("trigger", "update_credit_status", "--wait")
    assert first.returncode == 0, first.stderr
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        customer = conn.execute(
            select(t.customers.c.id).where(t.customers.c.external_id == "OPS-C1")
        ).scalar_one()

    paid = tmp_path / "paid.xml"
    paid.write_text(
        statement(
            "OPS-1",
            "1000.00",
            "1250.00",
            entry(
                "OPS-BR-1",
                "250.00",
                "CRDT",
                "2026-11-02",
                "<RltdPties><Dbtr><Nm>Ops Credit Ltd</Nm></Dbtr></RltdPties>"
                "<RmtInf><Ustrd>INV-77001 part payment</Ustrd></RmtInf>",
            ),
        )
    )
    assert stack.payrecon("ingest", str(paid), "--wait").returncode == 0
    returned = tmp_path / "returned.xml"
    returned.write_text(
        statement(
            "OPS-2",
            "1250.00",
            "1000.00",
            entry(
                "OPS-BR-2",
                "250.00",
                "DBIT",
                "2026-11-03",
                "<RmtInf><Ustrd>RETURN OPS-BR-1</Ustrd></RmtInf><RtrInf><Rsn><Cd>AM04</Cd></Rsn></RtrInf>",
            ),
        )
    )
    result = stack.payrecon("ingest", str(returned), "--wait")
    assert result.returncode == 0, result.stderr

    with engine.connect() as conn:
        payment = conn.execute(
            select(t.payments.c.status).where(t.payments.c.external_id == "OPS-BR-1")
        ).scalar_one()
    engine.dispose()
    assert payment == "reversed"

    # The scheduled run (a real beat, every second) sees the current state; the history holds
    # the path there, each change with its time and cause.
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "credit.yaml").write_text(
        "- {name: credit-fast, task: update_credit_status, every: 1, expires: 30}\n"
    )
    log = (tmp_path / "beat.log").open("wb")
    beat = subprocess.Popen(
        [str(BIN / "payrecon"), "beat", "--schedules-dir", str(schedules)],
        env=stack.env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        admin = {"Authorization": f"Bearer {issue_token(API_SECRET, ['admin'])}"}
        wait_until(
            lambda: any(
                r["status"] == "succeeded"
                for r in httpx.get(
                    f"{stack.api_url}/v1/task-runs",
                    params={"name": "update_credit_status"},
                    headers=admin,
                ).json()
            ),
            "a scheduled update_credit_status run",
        )
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        log.close()

    changes = history(stack, customer)
    # Known from the customers' import (owing nothing), over once its invoices are imported.
    assert [(c["fromStatus"], c["status"]) for c in changes] == [
        (None, "WITHIN_THRESHOLD"),
        ("WITHIN_THRESHOLD", "OVER_THRESHOLD"),
        ("OVER_THRESHOLD", "WITHIN_THRESHOLD"),
        ("WITHIN_THRESHOLD", "OVER_THRESHOLD"),
    ]
    assert all(c["changedAt"] and c["cause"] for c in changes)
    assert [c["cause"] for c in changes[:2]] == ["customers imported", "invoices imported"]
    assert [Decimal(str(c["balance"])) for c in changes] == [
        Decimal(0),
        Decimal(-300),
        Decimal(-50),
        Decimal(-300),
    ]
    status = httpx.get(
        f"{stack.api_url}/v1/customer-credit-status", params={"customer_id": customer}, headers=READ
    ).json()
    assert status["status"] == "OVER_THRESHOLD"
