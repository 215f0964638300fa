"""Which contract owner a statement belongs to: the owner whose bank account the statement is of
(seeds 002/003: IBAN, or sort code and account number). An account no owner has is not guessed."""

from __future__ import annotations

import re

from sqlalchemy import Connection, select

from payrecon.store import tables as t

_CURRENCY_SUFFIX = re.compile(r"^(.{8,}\d)[A-Z]{3}$")  # MT940 :25: "NL69INGB0123456789EUR"


def normalise_account(value: str) -> str:
    """Spaces, dashes and slashes out, upper case, a trailing currency code dropped."""
    compact = re.sub(r"[\s\-/.]", "", value).upper()
    match = _CURRENCY_SUFFIX.match(compact)
    return match.group(1) if match else compact


def owner_accounts(conn: Connection) -> dict[str, int]:
    """Every form under which an owner's account can appear on a statement -> owner id."""
    forms: dict[str, int] = {}
    rows = conn.execute(
        select(
            t.contract_owners.c.id,
            t.contract_owners.c.bank_iban,
            t.contract_owners.c.bank_account_number,
            t.contract_owners.c.bank_sort_code,
        )
    )
    for owner_id, iban, number, sort_code in rows:
        for form in (
            iban,
            number,
            (sort_code or "") + (number or "") if number and sort_code else None,
        ):
            if form:
                forms[normalise_account(form)] = owner_id
    return forms
