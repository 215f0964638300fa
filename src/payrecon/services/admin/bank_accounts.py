"""A contract owner's bank account as written by a person (CSV import, admin API), checked with
schwifty: the IBAN's country length, BBAN format and check digits (ISO 13616), and the BIC
(ISO 9362). Both are kept in their compact form."""

from __future__ import annotations

from schwifty import BIC, IBAN
from schwifty.exceptions import InvalidChecksumDigits, SchwiftyException


def valid_iban(value: str) -> str:
    """The IBAN without spaces, in capitals; ValueError saying what is wrong with it."""
    try:
        return IBAN(value).compact
    except InvalidChecksumDigits:
        raise ValueError("the IBAN's check digits do not match") from None
    except SchwiftyException as exc:
        raise ValueError(f"not an IBAN: {_sentence(exc)}") from None


def valid_bic(value: str) -> str:
    """A BIC (SWIFT code) of 8 or 11 characters, compact, in capitals; ValueError if not one."""
    try:
        return BIC(value).compact
    except SchwiftyException as exc:
        raise ValueError(f"not a BIC (SWIFT code): {_sentence(exc)}") from None


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].lower() + text[1:]
