"""What every statement-file parser shares: the per-statement header, line building, the checks.

Each parser yields a stream of `StatementLine` objects, and after the lines of one statement a
`StatementHeader` that summarises it; `read_statement_file` keeps the lines, `read_statements` keeps
the headers. The balance check lives here so that every format words its failure the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from payrecon.domain.errors import FeedFormatError, InvalidAmount
from payrecon.domain.lines import (
    AMOUNT_DECIMALS,
    AMOUNT_INTEGER_DIGITS,
    TEXT_WIDTHS,
    StatementLine,
    content_key,
)
from payrecon.domain.money import parse_amount

# References that banks write when there is none; they must not be used as a dedupe key.
NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED", "NONE", "N/A"})
_EXTERNAL_ID = TEXT_WIDTHS["external_id"]
_ACCOUNT = TEXT_WIDTHS["account"]
_NAME = TEXT_WIDTHS["counterparty_name"]
# Identifiers and codes that would not fit their column: a cut value would be a different id (a
# wrong match), so the value is kept whole in the remittance text and the field left empty.
_MOVED = tuple(
    (name, TEXT_WIDTHS[name])
    for name in (
        "counterparty_account",
        "structured_reference",
        "end_to_end_id",
        "mandate_id",
        "bank_transaction_code",
        "return_reason",
    )
)
_AMOUNT_LIMIT = Decimal(10) ** AMOUNT_INTEGER_DIGITS
_AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_DECIMALS)
_CURRENCY = re.compile(r"[A-Z]{3}")
_GOOD_CURRENCIES: set[str] = set()


@dataclass(frozen=True, slots=True)
class StatementHeader:
    """One statement (camt Stmt/Rpt/Ntfctn, MT940 message, BAI2 account, OFX STMTRS, CSV file)."""

    file: str
    format: str
    statement_id: str | None
    account: str
    currency: str
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    line_count: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class FeedNotice:
    """Something a reader did that a person should know: entries skipped, a field cut, a part of
    the file set aside. Not an error: the file is read. `payrecon parse` prints notices on
    standard error and ingest logs them."""

    file: str
    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.place}: {self.message}"


FeedItem = StatementLine | StatementHeader | FeedNotice
FeedStream = Iterator[FeedItem]


def clean(text: str | None) -> str | None:
    """Collapse runs of whitespace; an empty result is None."""
    if text is None:
        return None
    joined = " ".join(text.split())
    return joined or None


def usable_reference(text: str | None) -> str | None:
    """A bank reference worth deduplicating on, or None for the 'no reference' placeholders."""
    ref = clean(text)
    if ref is None or ref.upper() in NO_REFERENCE:
        return None
    return ref


def decimal_amount(file: str, place: str, text: str) -> Decimal:
    """An exact amount from dot-decimal text, within the store's bounds; FeedFormatError if not."""
    try:
        value = parse_amount(text)
    except InvalidAmount:
        raise FeedFormatError(file, place, f"not a decimal amount: {text[:40]!r}") from None
    check_amount(file, place, value)
    return value


def check_amount(file: str, place: str, value: Decimal) -> None:
    """Refuse an amount the store cannot hold exactly: NUMERIC(19,4), 15 integer digits."""
    if not -_AMOUNT_LIMIT < value < _AMOUNT_LIMIT:
        problem = f"more than {AMOUNT_INTEGER_DIGITS} integer digits"
    elif value.quantize(_AMOUNT_QUANTUM) != value:
        problem = f"more than {AMOUNT_DECIMALS} decimal places"
    else:
        return
    shown = f"{value:f}"
    shown = shown if len(shown) <= 40 else f"{shown[:20]}...{shown[-8:]} ({len(shown)} characters)"
    limit = (
        f"the ledger keeps {AMOUNT_INTEGER_DIGITS} integer digits and {AMOUNT_DECIMALS} decimals"
    )
    raise FeedFormatError(file, place, f"amount {shown} has {problem}: {limit}")


def check_currency(file: str, place: str, currency: str) -> str:
    """An ISO 4217 alphabetic code (three capital letters), else FeedFormatError."""
    if currency not in _GOOD_CURRENCIES:
        if not _CURRENCY.fullmatch(currency):
            raise FeedFormatError(file, place, f"not an ISO 4217 currency code: {currency[:20]!r}")
        _GOOD_CURRENCIES.add(currency)
    return currency


class StatementBook:
    """One statement's account, the external ids it has used, and the notices its lines raised.

    Banks do reuse a reference inside one statement (the PostFinance camt.053 sample books two
    entries under one AcctSvcrRef); deduplicating on it would silently drop money, so a repeat gets
    a `~2`, `~3` suffix in file order, which is stable when the same file is ingested again.
    The ids themselves are kept (exact, no digest to compute): a million short references are
    some 90 MB, released when the statement ends.
    """

    __slots__ = ("account", "file", "notices", "seen")

    def __init__(self, file: str, account: str, place: str) -> None:
        self.file = file
        self.account = clean(account) or ""
        if not self.account:
            raise FeedFormatError(file, place, "no account identification")
        if len(self.account) > _ACCOUNT:
            raise FeedFormatError(
                file, place, f"account id is {len(self.account)} characters; at most {_ACCOUNT}"
            )
        self.seen: set[str] = set()
        self.notices: list[FeedNotice] = []

    def claim(self, ref: str) -> str:
        if ref not in self.seen:
            self.seen.add(ref)
            return ref
        n = 2
        while f"{ref}~{n}" in self.seen:
            n += 1
        self.seen.add(candidate := f"{ref}~{n}")
        return candidate

    def note(self, place: str, message: str) -> None:
        self.notices.append(FeedNotice(self.file, place, message))

    def drain(self) -> list[FeedNotice]:
        """The notices raised since the last call, in order."""
        notices, self.notices = self.notices, []
        return notices


def build_line(
    book: StatementBook,
    place: str,
    reference: str | None,
    fallback_key: tuple[object, ...],
    booking_date: date,
    value_date: date | None,
    amount: Decimal,
    currency: str,
    counterparty_name: str | None = None,
    counterparty_account: str | None = None,
    remittance: str | None = None,
    structured_reference: str | None = None,
    end_to_end_id: str | None = None,
    mandate_id: str | None = None,
    bank_transaction_code: str | None = None,
    return_reason: str | None = None,
) -> StatementLine:
    """Normalise and bound the fields and choose the external id (reference, else content hash).

    `place` names the line in errors and notices. What the store cannot hold is refused (amount,
    currency, an external id longer than its column: it is the dedupe key) or kept otherwise (a
    name is cut; an identifier or code is moved whole into the remittance), with a notice.
    """
    file = book.file
    check_amount(file, place, amount)
    if currency not in _GOOD_CURRENCIES:
        check_currency(file, place, currency)
    # clean() written out: this runs for every field of every line of a million-line file.
    ref = reference and " ".join(reference.split())
    if not ref or ref.upper() in NO_REFERENCE:
        ref = content_key(*fallback_key)
    external_id = book.claim(ref)
    if len(external_id) > _EXTERNAL_ID:
        problem = f"bank reference of {len(external_id)} characters: at most {_EXTERNAL_ID}"
        raise FeedFormatError(file, place, f"{problem} (it is the dedupe key)")
    name = (counterparty_name and " ".join(counterparty_name.split())) or None
    if name is not None and len(name) > _NAME:
        book.note(place, f"counterparty name of {len(name)} characters cut to {_NAME}")
        name = name[:_NAME]
    e2e = end_to_end_id and " ".join(end_to_end_id.split())
    values = [
        (counterparty_account and " ".join(counterparty_account.split())) or None,
        (structured_reference and " ".join(structured_reference.split())) or None,
        None if not e2e or e2e.upper() in NO_REFERENCE else e2e,
        (mandate_id and " ".join(mandate_id.split())) or None,
        (bank_transaction_code and " ".join(bank_transaction_code.split())) or None,
        (return_reason and " ".join(return_reason.split())) or None,
    ]
    text = (remittance and " ".join(remittance.split())) or None
    for n, value in enumerate(values):
        if value is not None and len(value) > _MOVED[n][1]:
            field, width = _MOVED[n]
            book.note(
                place,
                f"{field} of {len(value)} characters (at most {width}) kept in the remittance "
                "text instead",
            )
            text = f"{text} {value}" if text else value
            values[n] = None
    return StatementLine(
        external_id,
        book.account,
        booking_date,
        value_date,
        amount,
        currency,
        name,
        values[0],
        text,
        values[1],
        values[2],
        values[3],
        values[4],
        values[5],
    )


def check_balance(
    file: str, place: str, opening: Decimal, total: Decimal, closing: Decimal
) -> None:
    """Opening balance plus the lines must give the closing balance the bank states."""
    if opening + total != closing:
        raise FeedFormatError(
            file,
            place,
            f"opening balance {opening} + lines {total} = {opening + total}, "
            f"but the closing balance is {closing}",
        )


def check_equal(file: str, place: str, what: str, stated: object, found: object) -> None:
    """A control total stated in the file must match what the file holds."""
    if stated != found:
        raise FeedFormatError(
            file, place, f"{what}: the file states {stated}, the lines give {found}"
        )


def check_xml_prolog(file: str, head: bytes) -> None:
    """Refuse a DOCTYPE (or anything but declarations and comments) before the root element.

    Bank statements never need a DTD; refusing it before any XML parser runs shuts out entity
    expansion (billion laughs) and external entities (XXE) whatever the parser's settings.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="replace")
    elif head.startswith((b"<\x00", b"\x00<")):  # UTF-16 without a byte-order mark
        text = head.decode("utf-16-le" if head[0] else "utf-16-be", errors="replace")
    else:
        text = head.decode("latin-1")  # markup is ASCII; the bytes of names do not matter here
    i = len(text) - len(text.lstrip("\ufeff\xef\xbb\xbf \t\r\n"))
    while i < len(text):
        if text.startswith("<?", i):
            end, step = text.find("?>", i), 2
        elif text.startswith("<!--", i):
            end, step = text.find("-->", i), 3
        elif text.startswith("<!", i):
            raise FeedFormatError(file, "XML prolog", "DOCTYPE declarations are refused")
        elif text.startswith("<", i):
            return
        elif text[i].isspace():
            end, step = i, 1
        else:
            raise FeedFormatError(file, "start of file", "not an XML document")
        if end < 0:
            break
        i = end + step
    raise FeedFormatError(file, "XML prolog", f"no root element in the first {len(head)} bytes")
