"""`POST /v1/feeds` and `GET /v1/feeds` (in-process worker: the upload is ingested and reconciled
before the response)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from payrecon.api.app import create_app
from payrecon.bootstrap import Container
from payrecon.config import Settings
from payrecon.store import tables as t
from tests.integration.test_api_balances import SECRET, bearer
from tests.integration.test_pipeline_services import DATA, count, load_ledger


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    load_ledger(engine)
    settings = Settings(
        api_token_secret=SECRET,
        feed_store_dir=tmp_path / "store",
        environment="test",
        max_upload_bytes=20_000,
    )
    return TestClient(create_app(Container(settings=settings, engine=engine)))


def upload(client: TestClient, name: str, content: bytes, scope: str = "write") -> object:
    return client.post(
        "/v1/feeds", files={"file": (name, content, "application/xml")}, headers=bearer(scope)
    )


def test_upload_is_accepted_ingested_and_listed(client: TestClient, engine: Engine) -> None:
    content = (DATA / "statement.camt053.xml").read_bytes()
    response = upload(client, "../../etc/statement.xml", content)
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["filename"] == "statement.xml"
    assert (body["status"], body["lineCount"], body["source"], body["duplicate"]) == (
        "processed",
        4,
        "api",
        False,
    )
    assert count(engine, t.payments) == 3

    again = upload(client, "again.xml", content)
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert again.json()["duplicate"] is True  # type: ignore[attr-defined]
    assert again.json()["id"] == body["id"]  # type: ignore[attr-defined]
    assert count(engine, t.statement_lines) == 4

    listed = client.get(
        "/v1/feeds?status=processed&fields=id,filename,lineCount", headers=bearer("read")
    )
    assert listed.json() == [{"id": body["id"], "filename": "statement.xml", "lineCount": 4}]
    assert listed.headers["X-Total-Count"] == "1"
    assert client.head("/v1/feeds", headers=bearer("read")).headers["X-Total-Count"] == "1"


def test_bad_uploads(client: TestClient, engine: Engine) -> None:
    assert upload(client, "big.xml", b"x" * 20_001).status_code == 413  # type: ignore[attr-defined]
    assert upload(client, "empty.xml", b"").status_code == 422  # type: ignore[attr-defined]
    assert upload(client, "s.xml", b"<x/>", scope="read").status_code == 403  # type: ignore[attr-defined]
    broken = upload(client, "broken.xml", (DATA / "statement.camt053.xml").read_bytes()[:1500])
    assert broken.status_code == 202  # type: ignore[attr-defined]
    assert broken.json()["status"] == "quarantined"  # type: ignore[attr-defined]
    assert broken.json()["error"].startswith("broken.xml: line ")  # type: ignore[attr-defined]
    assert count(engine, t.statement_lines) == 0
    assert (
        client.get("/v1/feeds?status=quarantined", headers=bearer("read")).headers["X-Total-Count"]
        == "1"
    )


def test_reconciliation_summary(client: TestClient) -> None:
    content = (DATA / "statement.camt053.xml").read_bytes()
    assert upload(client, "statement.xml", content).status_code == 202  # type: ignore[attr-defined]
    body = json.loads(
        client.get("/v1/reconciliation/summary", headers=bearer("read")).text, parse_float=Decimal
    )
    assert (body["files"], body["lines"], body["linesMatched"], body["linesUnmatched"]) == (
        1,
        4,
        3,
        1,
    )
    assert body["amountReceived"] == Decimal("333.33")
    assert body["amountAllocated"] == Decimal("210.00")  # 16.34 + 40.00 + 136.66 + 17.00
    assert [d["externalId"] for d in body["mostIndebted"]] == ["C003", "C002"]
