"""SWIFT MT940 statements and MT942 interim reports, read with the `mt940` package.

The file is cut into messages here (each starts at `:20:`; a line starting with `-` ends one), so
that every error can name a line. The package reads each message's `:61:`/`:86:` transactions;
the statement-level tags (`:25:`, `:60a:`, `:62a:`, `:90D:`/`:90C:`) are read here, because the
package misreads a balance that omits its currency (one of the fixtures does).
Dates: a 30 or 31 February is clamped to the last day of February (what the package does, and
what the issuing bank meant); any other impossible date is an error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import mt940
from mt940.models import Transaction, Transactions

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds.statement import (
    FeedStream,
    StatementBook,
    StatementHeader,
    build_line,
    check_balance,
    check_equal,
    clean,
    decimal_amount,
)

_TAG = re.compile(r"^:(?P<tag>[0-9]{2}[A-Z]?|NS):(?P<value>.*)$")
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})?(?P<amount>\d+,\d*)$")
_COUNT_SUM = re.compile(r"^(?P<count>\d+)(?P<currency>[A-Z]{3})(?P<amount>\d+,\d*)$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
# SWIFT-style subfields in :86: (Dutch and other banks): /EREF/<end-to-end id>/MARF/<mandate>/.
_SUBFIELD = re.compile(r"/(EREF|MARF|NAME|IBAN|RTRN)/+([^/]+)")
_STATEMENT_TAGS = ("20", "25", "28", "28C", "60F", "60M", "62F", "62M", "90D", "90C", "34F")
_OPTIONS = mt940.Options.all()  # reversal sign for RC, unbounded :86:, IBAN sub-field, BOM


@dataclass(slots=True)
class _Message:
    """One statement message: its lines and the file line number of each."""

    lines: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.numbers[0]

    def tags(self) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        for text, number in zip(self.lines, self.numbers, strict=True):
            match = _TAG.match(text)
            if match and match["tag"] in _STATEMENT_TAGS and match["tag"] not in found:
                found[match["tag"]] = (match["value"].strip(), number)
        return found


def _decode(data: bytes) -> str:
    # Banks send UTF-8 or a Windows code page; cp1252 decodes the bytes UTF-8 refuses.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _messages(file: str, text: str) -> Iterator[_Message]:
    current: _Message | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith(":20:"):
            if current is not None:
                yield current
            current = _Message()
        elif current is None or line.startswith("-"):
            # Bank preambles ("ABNANL2A", "940", "{1:F01...}") and the end-of-message mark are
            # not content; a transaction or balance outside a message is.
            if current is not None:
                yield current
                current = None
            tag = _TAG.match(line)
            if tag and tag["tag"][:2] in ("61", "86", "60", "62", "25"):
                raise FeedFormatError(
                    file,
                    f"line {number}",
                    f":{tag['tag']}: outside a statement (no :20: before it)",
                )
            continue
        current.lines.append(line)
        current.numbers.append(number)
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
                raise FeedFormatError(
                    file, f"line {number} (:{name}:)", f"not a balance: {value!r}"
                )
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


def _plain_date(value: Any) -> dt.date | None:
    return None if value is None else dt.date(value.year, value.month, value.day)


def _remittance(data: dict[str, Any]) -> str | None:
    if data.get("transaction_code") and data.get("purpose"):
        return " ".join(p for p in (data.get("purpose"), data.get("additional_purpose")) if p)
    return clean(data.get("transaction_details"))


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
        account = tags["25"][0]
        opening = _balance(file, tags, ("60F", "60M"))
        closing = _balance(file, tags, ("62F", "62M"))
        currency = _currency(tags)
        parsed = Transactions(options=_OPTIONS)
        try:
            parsed.parse("\n".join(message.lines))
        except Exception as exc:  # the package reports bad input with assorted exception types
            raise FeedFormatError(file, place, f"unreadable MT940: {exc}") from None
        starts = [
            n
            for text, n in zip(message.lines, message.numbers, strict=True)
            if text.startswith(":61:")
        ]
        if len(starts) != len(parsed.transactions):
            raise FeedFormatError(
                file,
                place,
                f"{len(starts)} :61: lines but {len(parsed.transactions)} readable transactions",
            )
        book = StatementBook(file, account, f"line {tags['25'][1]} (:25:)")
        total = Decimal(0)
        debits: list[Decimal] = []
        credits: list[Decimal] = []
        for transaction, number in zip(parsed.transactions, starts, strict=True):
            line = self.line(transaction, account, currency, book, number)
            total += line.amount
            (credits if line.amount >= 0 else debits).append(line.amount)
            yield line
        if self.verify:
            if opening is not None and closing is not None:
                check_balance(file, place, opening, total, closing)
            self.check_totals(tags, "90D", debits)
            self.check_totals(tags, "90C", credits)
        yield StatementHeader(
            file,
            self.format,
            tags["20"][0],
            account,
            currency or "",
            opening,
            closing,
            len(starts),
            total,
        )

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
            raise FeedFormatError(self.file, place, f"not a count and sum: {value!r}")
        check_equal(self.file, place, "number of entries", int(match["count"]), len(amounts))
        stated = _money(self.file, place, match["amount"])
        check_equal(self.file, place, "sum of entries", stated, abs(sum(amounts, Decimal(0))))

    def line(
        self,
        transaction: Transaction,
        account: str,
        currency: str | None,
        book: StatementBook,
        number: int,
    ) -> StatementLine:
        data: dict[str, Any] = transaction.data
        place = f"line {number} (:61:)"
        amount = data["amount"].amount
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise FeedFormatError(self.file, place, f"not an amount: {amount!r}")
        value_date = _plain_date(data.get("date"))
        booking = _plain_date(data.get("entry_date")) or value_date
        line_currency = data.get("currency") or currency
        if booking is None or not line_currency:
            raise FeedFormatError(self.file, place, "no date or no currency for the transaction")
        details = data.get("transaction_details") or ""
        sub = {key: clean(value) for key, value in _SUBFIELD.findall(details)}
        extra = clean(data.get("extra_details"))
        counterparty_account = data.get("applicant_iban") or sub.get("IBAN")
        if counterparty_account is None and extra and _IBAN.match(extra):
            counterparty_account = extra
        remittance = _remittance(data)
        return build_line(
            book,
            place,
            data.get("bank_reference"),
            (
                "mt940",
                account,
                value_date,
                booking,
                amount,
                line_currency,
                data.get("customer_reference"),
                extra,
                details,
            ),
            booking,
            value_date,
            amount,
            line_currency,
            counterparty_name=data.get("applicant_name") or sub.get("NAME"),
            counterparty_account=counterparty_account,
            remittance=remittance,
            end_to_end_id=data.get("end_to_end_reference") or sub.get("EREF"),
            mandate_id=data.get("additional_position_reference") or sub.get("MARF"),
            bank_transaction_code=data.get("id"),
            return_reason=data.get("return_debit_notes") or sub.get("RTRN"),
        )


def read_mt940(path: Path, *, verify: bool = True, fmt: str = "mt940") -> FeedStream:
    """Stream the lines of an MT940/MT942 file, each statement followed by its header."""
    reader = _Reader(path, verify, fmt)
    messages = list(_messages(reader.file, _decode(path.read_bytes())))
    if not messages:
        raise FeedFormatError(reader.file, "line 1", "no MT940/MT942 statement (:20: ...) found")
    for message in messages:
        yield from reader.statement(message)
