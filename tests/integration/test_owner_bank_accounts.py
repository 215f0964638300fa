"""An owner's bank account, as schwifty reads it: an owner known by sort code and account
number alone owns the statements that name its IBAN (and the other way round); the import
refuses an IBAN or BIC that is not one, naming the line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from payrecon.domain.errors import FeedFormatError
from payrecon.services.admin.imports import import_contract_owners
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file
from payrecon.services.reconciliation.owner_accounts import account_forms, owner_of_account
from payrecon.store import tables as t
from tests.integration.test_pipeline_services import DATA

HEADER = (
    "contract_owner_id,name,price_rounding_mode,price_decimal_places,bank_account_name,"
    "bank_iban,bank_account_number,bank_sort_code,bank_swift_code,invoice_number_format\n"
)


def owners_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "owners.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def test_an_owner_with_sort_code_and_account_number_only_selects_its_statements(
    engine: Engine, tmp_path: Path
) -> None:
    # The camt.053 names GB33BUKB20201555555555: sort code 202015, account 55555555.
    import_contract_owners(
        engine,
        owners_file(
            tmp_path,
            "7,Other Ltd,HALF_UP,2,,DE89370400440532013000,,,,",
            "8,Bowman Billing Ltd,HALF_UP,2,Bowman,,55555555,202015,,INV-#####",
        ),
    )
    store = tmp_path / "store"
    received = receive_file(engine, store, DATA / "statement.camt053.xml")
    result = ingest_feed_file(engine, store, received.feed_file_id)
    assert result.status == "processed", result.error
    with engine.connect() as conn:
        owners = set(conn.execute(select(t.statement_lines.c.contract_owner_id)).scalars())
    assert owners == {8}


def test_account_forms_of_an_owner() -> None:
    by_iban = account_forms("GB33 BUKB 2020 1555 5555 55", None, None)
    assert {"GB33BUKB20201555555555", "BUKB20201555555555", "20201555555555"} <= by_iban
    # Sort code, account number and the bank's BIC make the IBAN.
    assert "GB33BUKB20201555555555" in account_forms(None, "55555555", "202015", "BUKBGB22")
    # A BIC of another country does not make a UK IBAN.
    assert account_forms(None, "55555555", "202015", "DEUTDEFF") == {"55555555", "20201555555555"}


@pytest.mark.parametrize(
    ("account", "owner"),
    [
        ("GB33BUKB20201555555555", 8),  # the IBAN of an owner known by sort code and number
        ("gb33 bukb 2020 1555 5555 55", 8),
        ("20-20-15 55555555", 8),
        ("GB33BUKB20201555555555GBP", 8),  # MT940 :25: with the currency appended
        ("GB29NWBK60161331926819", None),  # another bank's account
        ("not an account", None),
    ],
)
def test_owner_of_a_statement_account(account: str, owner: int | None) -> None:
    accounts = dict.fromkeys(account_forms(None, "55555555", "202015"), 8)
    assert owner_of_account(accounts, account) == owner


@pytest.mark.parametrize(
    ("row", "place", "message"),
    [
        ("1,X,HALF_UP,2,,GB00NWBK60161331926819,,,,", "column bank_iban", "check digits"),
        ("1,X,HALF_UP,2,,GB29NWBK6016133192681,,,,", "column bank_iban", "not an IBAN"),
        ("1,X,HALF_UP,2,,,,,NOTASWIFT,", "column bank_swift_code", "not a BIC"),
    ],
)
def test_the_import_refuses_what_is_not_an_iban_or_bic(
    engine: Engine, tmp_path: Path, row: str, place: str, message: str
) -> None:
    with pytest.raises(FeedFormatError) as raised:
        import_contract_owners(engine, owners_file(tmp_path, row))
    assert f"line 2, {place}" in raised.value.message
    assert message in raised.value.message


def test_the_import_keeps_an_iban_and_bic_compact(engine: Engine, tmp_path: Path) -> None:
    import_contract_owners(
        engine, owners_file(tmp_path, "1,X,HALF_UP,2,,gb29 nwbk 6016 1331 9268 19,,,nwbkgb2l,")
    )
    with engine.connect() as conn:
        row = conn.execute(
            select(t.contract_owners.c.bank_iban, t.contract_owners.c.bank_swift_code)
        ).one()
    assert tuple(row) == ("GB29NWBK60161331926819", "NWBKGB2L")
