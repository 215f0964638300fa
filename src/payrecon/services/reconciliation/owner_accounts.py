"""Which contract owner a statement belongs to: the owner whose bank account the statement is of
(seeds 002/003: IBAN, or sort code and account number). An account no owner has is not guessed.

schwifty reads the IBANs here, once per owner and once per statement account (never per line):
an owner known by sort code and account number alone still owns the statements that name its
IBAN, and an owner known by IBAN the statements that name its sort code and account number.
"""

from __future__ import annotations

from collections.abc import Iterator

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import Connection, select

from payrecon.domain.matching.references import normalise_account
from payrecon.store import tables as t

__all__ = ["account_forms", "owner_accounts", "owner_of_account"]


def _iban(value: str) -> IBAN | None:
    try:
        return IBAN(value)
    except SchwiftyException:
        return None


def _national_forms(iban: IBAN) -> Iterator[str]:
    """The domestic forms of an IBAN: its BBAN, and branch (a UK or Irish sort code) with
    account number."""
    yield iban.bban
    if iban.branch_code and iban.account_code:
        yield iban.branch_code + iban.account_code


def account_forms(
    iban: str | None, number: str | None, sort_code: str | None, bic: str | None = None
) -> set[str]:
    """Every normalised form under which an owner's bank account can appear on a statement."""
    forms: set[str] = set()
    if number:
        forms.add(number)
        if sort_code:
            forms.add(sort_code + number)
            generated = _generated_iban(sort_code, number, bic)
            if generated is not None:
                forms.add(generated.compact)
    if iban:
        forms.add(iban)
        parsed = _iban(iban)
        if parsed is not None:
            forms.add(parsed.compact)
            forms.update(_national_forms(parsed))
    return {normalise_account(f) for f in forms}


def _generated_iban(sort_code: str, number: str, bic: str | None) -> IBAN | None:
    """A UK IBAN from the bank's BIC, sort code and account number (GB kk BANK 123456 12345678)."""
    if not bic:
        return None
    try:
        parsed_bic = BIC(bic)
        if parsed_bic.country_code != "GB":
            return None
        return IBAN.generate("GB", bank_code=parsed_bic.bank_code + sort_code, account_code=number)
    except SchwiftyException:
        return None


def owner_accounts(conn: Connection) -> dict[str, int]:
    """Every form under which an owner's account can appear on a statement -> owner id."""
    forms: dict[str, int] = {}
    rows = conn.execute(
        select(
            t.contract_owners.c.id,
            t.contract_owners.c.bank_iban,
            t.contract_owners.c.bank_account_number,
            t.contract_owners.c.bank_sort_code,
            t.contract_owners.c.bank_swift_code,
        ).order_by(t.contract_owners.c.id.desc())  # on a shared form, the lowest id wins
    )
    for owner_id, iban, number, sort_code, bic in rows:
        for form in account_forms(iban, number, sort_code, bic):
            forms[form] = owner_id
    return forms


def owner_of_account(accounts: dict[str, int], account: str) -> int | None:
    """The owner of a statement's account: as written, or (an IBAN) by its sort code and account
    number or BBAN, for owners configured by those alone."""
    owner = accounts.get(normalise_account(account))
    if owner is not None:
        return owner
    parsed = _iban(normalise_account(account))
    if parsed is None:
        return None
    for form in _national_forms(parsed):
        owner = accounts.get(normalise_account(form))
        if owner is not None:
            return owner
    return None
