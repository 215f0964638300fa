"""What every statement-file parser shares: the per-statement header, line building, the checks.

Each parser yields a stream of `StatementLine` objects, and after the lines of one statement a
`StatementHeader` that summarises it; `read_statement_file` keeps the lines, `read_statements` keeps
the headers. The balance check lives here so that every format words its failure the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from payrecon.domain.errors import FeedFormatError, InvalidAmount
from payrecon.domain.lines import StatementLine, content_key
from payrecon.domain.money import parse_amount

# Column widths of the store's statement_lines table: a longer value would fail the whole insert,
# so free text is clipped here and an over-long reference is replaced by a hash of itself.
_WIDTHS = {
    "account": 64,
    "counterparty_name": 255,
    "counterparty_account": 64,
    "structured_reference": 64,
    "end_to_end_id": 128,
    "mandate_id": 64,
    "bank_transaction_code": 64,
    "return_reason": 16,
}
_MAX_EXTERNAL_ID = 128
# References that banks write when there is none; they must not be used as a dedupe key.
NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED", "NONE", "N/A"})


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


FeedItem = StatementLine | StatementHeader
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
    """An exact amount from dot-decimal text; FeedFormatError when it is not one."""
    try:
        return parse_amount(text)
    except InvalidAmount:
        raise FeedFormatError(file, place, f"not a decimal amount: {text!r}") from None


class ReferenceBook:
    """Keeps external ids unique within one statement.

    Banks do reuse a reference inside one statement (the PostFinance camt.053 sample books two
    entries under one AcctSvcrRef); deduplicating on it would silently drop money, so a repeat gets
    a `~2`, `~3` suffix in file order, which is stable when the same file is ingested again.
    Only an 8-byte digest per id is kept, so a million-line statement stays small in memory.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def claim(self, ref: str) -> str:
        candidate, n = ref, 1
        while (digest := hashlib.blake2b(candidate.encode(), digest_size=8).digest()) in self._seen:
            n += 1
            candidate = f"{ref}~{n}"
        self._seen.add(digest)
        return candidate


def build_line(
    *,
    reference: str | None,
    fallback_key: tuple[object, ...],
    book: ReferenceBook,
    account: str,
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
    """Normalise the text fields and choose the external id (reference, else content hash)."""
    ref = usable_reference(reference)
    if ref is None or len(ref) > _MAX_EXTERNAL_ID - 8:
        ref = content_key(*fallback_key) if ref is None else content_key(ref)
    fields = {
        "account": account,
        "counterparty_name": counterparty_name,
        "counterparty_account": counterparty_account,
        "structured_reference": structured_reference,
        "end_to_end_id": usable_reference(end_to_end_id),
        "mandate_id": mandate_id,
        "bank_transaction_code": bank_transaction_code,
        "return_reason": return_reason,
    }
    clipped = {k: (None if (v := clean(t)) is None else v[: _WIDTHS[k]]) for k, t in fields.items()}
    return StatementLine(
        external_id=book.claim(ref),
        account=clipped["account"] or "",
        booking_date=booking_date,
        value_date=value_date,
        amount=amount,
        currency=currency,
        counterparty_name=clipped["counterparty_name"],
        counterparty_account=clipped["counterparty_account"],
        remittance=clean(remittance),
        structured_reference=clipped["structured_reference"],
        end_to_end_id=clipped["end_to_end_id"],
        mandate_id=clipped["mandate_id"],
        bank_transaction_code=clipped["bank_transaction_code"],
        return_reason=clipped["return_reason"],
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
