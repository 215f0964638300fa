"""SWIFT MT940 statements and MT942 interim reports.

The file is cut into messages here (each starts at `:20:`; a line starting with `-` ends one) and
each message into its fields, so that every error names a line. `:61:` and `:86:` are read here
too (docs/adr/0005-mt940-read-in-house.md says why the `mt940` package is no longer used):

* `:61:` is `6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]` and an optional second line of supplementary
  details. The customer and bank references are kept whole whatever their length: banks exceed
  SWIFT's 16 characters (Dutch, GLS/Atruvia), and the bank reference is the dedupe key.
* `C` and `RD` are credits, `D` and `RC` debits. The entry date takes the value date's year,
  moved by one where the two straddle a new year.
* Dates: a 30 or 31 February is clamped to the last day of February (what the issuing bank
  meant); any other impossible date is an error.
* `:86:` is read by `mt940_details` (German `?20`..`?63`, Dutch `/EREF/` subfields, free text).
* A line that starts like a tag but names none of MT940's (`:26:37` in a wrapped time) continues
  the field before it.

Content outside a message (a `:61:` after the `-` that ended the statement) cannot be booked on
any statement: when the file holds statements, they are read and the stray lines are reported in
a notice naming them; a file with nothing but stray content is refused.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds.mt940_details import read_details
from payrecon.feeds.statement import (
    FeedNotice,
    FeedStream,
    StatementBook,
    StatementHeader,
    build_line,
    check_balance,
    check_equal,
    clean,
    decimal_amount,
    usable_reference,
)

_TAG = re.compile(r"^:(?P<tag>[0-9]{2}[A-Z]?|NS):(?P<value>.*)$", re.DOTALL)
_TAGS = frozenset(
    {"13", "13D", "20", "21", "25", "28", "28C", "34", "34F", "60", "60F", "60M", "61", "62",
     "62F", "62M", "64", "65", "86", "90", "90D", "90C", "NS"}
)  # fmt: skip
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})?(?P<amount>\d+,\d*)$")
_COUNT_SUM = re.compile(r"^(?P<count>\d+)(?P<currency>[A-Z]{3})(?P<amount>\d+,\d*)$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
_STATEMENT_LINE = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4}|\s{4})?(?P<mark>R?[DCdc]|r[dc])(?P<funds>[A-Z])?"
    r"[ \n]?(?P<amount>\d[\d,]*)(?P<type>[A-Z][A-Z0-9 ]{3})?(?P<rest>.*)",
    re.DOTALL,
)
_STATEMENT_TAGS = ("20", "25", "28", "28C", "60F", "60M", "62F", "62M", "90D", "90C", "34F")
_YEAR_BOUNDARY_DAYS = 330


@dataclass(slots=True)
class _Field:
    tag: str
    number: int  # the file line it starts on
    lines: list[str]  # the value's lines, the first without its tag

    @property
    def value(self) -> str:
        return self.lines[0].strip()


@dataclass(slots=True)
class _Message:
    """One statement message: its fields, each with the line it starts on."""

    first: int
    fields: list[_Field] = field(default_factory=list)

    def tags(self) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        for f in self.fields:
            if f.tag in _STATEMENT_TAGS and f.tag not in found:
                found[f.tag] = (f.value, f.number)
        return found


@dataclass(slots=True)
class _Stray:
    """Lines outside every message that carry content: a tag after the end mark."""

    first: int
    last: int
    tag: str


def _decode(data: bytes) -> str:
    # Banks send UTF-8 or a Windows code page; cp1252 decodes the bytes UTF-8 refuses.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _split(text: str, strays: list[_Stray]) -> Iterator[_Message]:
    """The messages of the file; content outside them is appended to `strays`."""
    current: _Message | None = None
    stray: _Stray | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        tag = _TAG.match(line) if line[:1] == ":" else None
        if tag is not None and tag["tag"] not in _TAGS:
            tag = None
        if tag is not None and tag["tag"] == "20":
            if current is not None:
                yield current
            current, stray = _Message(number), None
        elif current is None or line.startswith("-"):
            # Bank preambles ("ABNANL2A", "940", "{1:F01...}") and the end-of-message mark are
            # not content; a transaction or balance outside a message is.
            if current is not None:
                yield current
                current = None
            if line.startswith("-"):
                stray = None
            elif stray is not None and line.strip():
                stray.last = number
            elif tag is not None and tag["tag"][:2] in ("61", "86", "60", "62", "25"):
                stray = _Stray(number, number, tag["tag"])
                strays.append(stray)
            continue
        if tag is not None:
            current.fields.append(_Field(tag["tag"], number, [tag["value"]]))
        elif current.fields:
            current.fields[-1].lines.append(line)
    if current is not None:
        yield current


def _money(file: str, place: str, text: str) -> Decimal:
    return decimal_amount(file, place, text.replace(",", "."))


def _balance(file: str, tags: dict[str, tuple[str, int]], names: tuple[str, str]) -> Decimal | None:
    for name in names:
        if name in tags:
            value, number = tags[name]
            match = _BALANCE.match(value)
            if match is None:
                problem = f"not a balance: {value[:40]!r}"
                raise FeedFormatError(file, f"line {number} (:{name}:)", problem)
            amount = _money(file, f"line {number} (:{name}:)", match["amount"])
            return -amount if match["mark"] == "D" else amount
    return None


def _currency(tags: dict[str, tuple[str, int]]) -> str | None:
    for name in ("60F", "60M", "62F", "62M"):
        if name in tags and (match := _BALANCE.match(tags[name][0])) and match["currency"]:
            return match["currency"]
    for name in ("34F", "90D", "90C"):
        if name in tags and re.match(r"^[A-Z]{3}", tags[name][0]):
            return tags[name][0][:3]
    return None


def _date(file: str, place: str, year: int, month: int, day: int) -> dt.date:
    if month == 2 and 29 < day <= 31:  # a real bank's 30 February: the end of the month
        day = calendar.monthrange(year, 2)[1]
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise FeedFormatError(
            file, place, f"not a date: {year:04d}-{month:02d}-{day:02d}"
        ) from None


class _Reader:
    def __init__(self, path: Path, verify: bool, fmt: str) -> None:
        self.file = path.name
        self.verify = verify
        self.format = fmt

    def statement(self, message: _Message) -> FeedStream:
        file, place = self.file, f"statement at line {message.first}"
        tags = message.tags()
        if "25" not in tags:
            raise FeedFormatError(file, place, "no :25: account identification")
        account, account_line = tags["25"]
        opening = _balance(file, tags, ("60F", "60M"))
        closing = _balance(file, tags, ("62F", "62M"))
        currency = _currency(tags)
        book = StatementBook(file, account, f"line {account_line} (:25:)")
        total = Decimal(0)
        debits: list[Decimal] = []
        credits: list[Decimal] = []
        count = 0
        fields = message.fields
        for n, item in enumerate(fields):
            if item.tag != "61":
                continue
            # Its :86: follow it; some banks (Rabobank's old format) repeat the tag per line.
            details: list[_Field] = []
            while n + 1 + len(details) < len(fields) and fields[n + 1 + len(details)].tag == "86":
                details.append(fields[n + 1 + len(details)])
            line = self.line(item, details, currency, book)
            total += line.amount
            (credits if line.amount >= 0 else debits).append(line.amount)
            count += 1
            yield line
            if book.notices:
                yield from book.drain()
        if self.verify:
            if opening is not None and closing is not None:
                check_balance(file, place, opening, total, closing)
            self.check_totals(tags, "90D", debits)
            self.check_totals(tags, "90C", credits)
        yield StatementHeader(
            file, self.format, tags["20"][0] if "20" in tags else None, book.account,
            currency or "", opening, closing, count, total,
        )  # fmt: skip

    def check_totals(
        self, tags: dict[str, tuple[str, int]], name: str, amounts: list[Decimal]
    ) -> None:
        """MT942 states the number and sum of its debit (:90D:) and credit (:90C:) entries."""
        if name not in tags:
            return
        value, number = tags[name]
        place = f"line {number} (:{name}:)"
        match = _COUNT_SUM.match(value)
        if match is None:
            raise FeedFormatError(self.file, place, f"not a count and sum: {value[:40]!r}")
        check_equal(self.file, place, "number of entries", int(match["count"]), len(amounts))
        stated = _money(self.file, place, match["amount"])
        check_equal(self.file, place, "sum of entries", stated, abs(sum(amounts, Decimal(0))))

    def line(
        self, item: _Field, details_fields: list[_Field], currency: str | None, book: StatementBook
    ) -> StatementLine:
        place = f"line {item.number} (:61:)"
        first, more = item.lines[0].strip(), item.lines[1:]
        match = _STATEMENT_LINE.fullmatch(first)
        if match is None and more:
            # Some banks wrap the field after the debit/credit mark (Sparkassen: "CR" / "30,00").
            match = _STATEMENT_LINE.fullmatch(first + "\n" + more[0].strip())
            more = more[1:]
        if match is None:
            raise FeedFormatError(self.file, place, f"not a statement line: {first[:60]!r}")
        amount_text = match["amount"]
        if amount_text.count(",") > 1:
            raise FeedFormatError(self.file, place, f"not an amount: {amount_text!r}")
        amount = _money(self.file, place, amount_text)
        mark = match["mark"].upper()
        # C and RD (a debit reversed) are money in; D and RC (a credit reversed) money out.
        if mark in ("D", "RC"):
            amount = -amount
        value_text = match["value"]
        year = 2000 + int(value_text[:2])
        value_date = _date(self.file, place, year, int(value_text[2:4]), int(value_text[4:]))
        booking = value_date
        if (entry := match["entry"]) is not None and entry.isdigit():
            booking = _date(self.file, place, year, int(entry[:2]), int(entry[2:]))
            if (value_date - booking).days >= _YEAR_BOUNDARY_DAYS:
                booking = _date(self.file, place, year + 1, booking.month, booking.day)
            elif (booking - value_date).days >= _YEAR_BOUNDARY_DAYS:
                booking = _date(self.file, place, year - 1, booking.month, booking.day)
        rest = match["rest"]
        bank_ref = rest.partition("//")[2]
        supplementary = clean(" ".join(more))
        if not currency:
            raise FeedFormatError(self.file, place, "no currency for the transaction")
        details_lines = [line for f in details_fields for line in f.lines]
        details = read_details(details_lines) if details_lines else None
        counterparty_account = details.account if details else None
        if counterparty_account is None and supplementary and _IBAN.match(supplementary):
            counterparty_account = supplementary
        # The content hash is needed only when there is no usable bank reference.
        legacy = usable_reference(bank_ref) is None
        return build_line(
            book,
            place,
            bank_ref,
            ()
            if not legacy
            else _legacy_key(
                book.account,
                value_date,
                booking,
                amount,
                currency,
                first,
                match,
                item.lines[1:],
                details_fields,
            ),
            booking,
            value_date,
            amount,
            currency,
            counterparty_name=details.name if details else None,
            counterparty_account=counterparty_account,
            remittance=details.remittance if details else None,
            end_to_end_id=details.end_to_end_id if details else None,
            mandate_id=details.mandate_id if details else None,
            bank_transaction_code=match["type"],
            return_reason=details.return_reason if details else None,
        )


def _legacy_key(
    account: str,
    value_date: dt.date,
    booking: dt.date,
    amount: Decimal,
    currency: str,
    first: str,
    match: re.Match[str],
    more: list[str],
    details_fields: list[_Field],
) -> tuple[object, ...]:
    """The content-hash parts of a line without a bank reference, delimited as the earlier
    reader (the `mt940` package) delimited them, so that such a line keeps its external id and
    overlapping statements still dedupe: the customer reference cut at 16 characters, the rest of
    the first line (or the second line) as supplementary details, and the `:86:` lines joined with
    newlines, or nothing for a structured one."""
    rest = match["rest"]
    customer = rest.split("//", 1)[0][:16]
    after = rest[len(customer) :]
    if after.startswith("//"):
        after = after[2 + len(after[2:25]) :]
    supplementary = clean(after) or clean(" ".join(more))
    lines = [stripped for f in details_fields for line in f.lines if (stripped := line.rstrip())]
    text = "\n".join(lines).strip()
    if re.match(r"^\d{3}\?\d{2}", "".join(line.strip("\r\n") for line in lines)):
        text = ""
    return ("mt940", account, value_date, booking, amount, currency, customer, supplementary, text)


def read_mt940(path: Path, *, verify: bool = True, fmt: str = "mt940") -> FeedStream:
    """Stream the lines of an MT940/MT942 file, each statement followed by its header."""
    reader = _Reader(path, verify, fmt)
    strays: list[_Stray] = []
    messages = list(_split(_decode(path.read_bytes()), strays))
    if not messages:
        if strays:
            where = strays[0]
            problem = f":{where.tag}: outside a statement (no :20: before it)"
            raise FeedFormatError(reader.file, f"line {where.first}", problem)
        raise FeedFormatError(reader.file, "line 1", "no MT940/MT942 statement (:20: ...) found")
    for message in messages:
        yield from reader.statement(message)
    for stray in strays:
        lines = (
            f"line {stray.first}"
            if stray.first == stray.last
            else (f"lines {stray.first}-{stray.last}")
        )
        yield FeedNotice(
            reader.file,
            lines,
            f":{stray.tag}: outside every statement (after an end mark '-', before any :20:): "
            "not read; it belongs to no account and balance, so it is left for a person to check",
        )
