"""BAI2 cash-management files: 01 file, 02 group, 03 account, 16 transaction, 88 continuation,
49/98/99 trailers with control totals and record counts.

Records end with `/`; several may share a physical line and a 16 record's text may run on to the
next line, so records are cut at `/` followed by whitespace and a record code, never at a bare `/`
(customer references contain slashes). Amounts carry no decimal point: they are in minor units of
the account's currency. A 16 record's sign comes from its type code (100-399 credit, 400-699 debit).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.domain.money import minor_unit_exponent
from payrecon.feeds.statement import (
    FeedStream,
    StatementBook,
    StatementHeader,
    build_line,
    check_balance,
    check_equal,
    clean,
)

_CUT = re.compile(r"/\s+(?=\d{2},)")
_CODE = re.compile(r"^(\d{2}),")
_AMOUNT = re.compile(r"^[+-]?\d+$")
_DEFAULT_CURRENCY = "USD"  # BAI2: an omitted currency is the originator's; BAI2 is a US format
_KEYED = re.compile(r"^(EREF|DBNM|CRNM|DACT|CACT|REMI):\s*(.*)$")


@dataclass(slots=True)
class _Record:
    """One logical record: the record itself and the 88 continuations that follow it, each with
    the file line it starts on."""

    code: str
    line: int
    text: str
    continuations: list[str] = field(default_factory=list)
    continuation_lines: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return 1 + len(self.continuations)

    def fields(self) -> list[str]:
        parts = _unslash(self.text).split(",")
        for more in self.continuations:
            parts += _unslash(more).split(",")
        return parts

    def physical(self) -> list[tuple[str, int, str]]:
        """(record code, line, text) of the record and of each continuation."""
        return [(self.code, self.line, self.text)] + [
            ("88", line, text)
            for line, text in zip(self.continuation_lines, self.continuations, strict=True)
        ]


class _Place(NamedTuple):
    """Where a field was read: the physical record's code and line."""

    code: str
    line: int


def _unslash(text: str) -> str:
    text = text.rstrip()
    return text[:-1] if text.endswith("/") else text


def _records(file: str, text: str) -> Iterator[_Record]:
    current: _Record | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        for piece in _CUT.split(raw.strip()):
            if not piece:
                continue
            code = _CODE.match(piece)
            if code is None or code[1] == "88":
                if current is None:
                    raise FeedFormatError(file, f"line {number}", "no record to continue")
                if code is None:  # a record's text wrapped onto the next physical line
                    current.text = f"{current.text.rstrip()} {piece}"
                else:
                    current.continuations.append(piece[3:])
                    current.continuation_lines.append(number)
                continue
            if current is not None:
                yield current
            current = _Record(code[1], number, piece)
    if current is not None:
        yield current


@dataclass(slots=True)
class _Totals:
    """Running control total and record count of one file, group or account."""

    amount: int = 0
    records: int = 0


class _Reader:
    def __init__(self, path: Path, verify: bool) -> None:
        self.file = path.name
        self.verify = verify

    def fail(self, record: _Record | _Place, problem: str) -> FeedFormatError:
        return FeedFormatError(self.file, f"line {record.line} (record {record.code})", problem)

    def integer(self, record: _Record | _Place, text: str, what: str) -> int:
        text = text.strip()
        if not _AMOUNT.match(text):
            raise self.fail(record, f"{what}: not a whole number: {text!r}")
        return int(text)

    def date(self, record: _Record, text: str) -> dt.date:
        try:
            return dt.datetime.strptime(text.strip(), "%y%m%d").date()  # noqa: DTZ007 (a date)
        except ValueError:
            raise self.fail(record, f"not a YYMMDD date: {text!r}") from None

    def expect(self, record: _Record | None, code: str, after: str) -> _Record:
        if record is None:
            raise FeedFormatError(self.file, "end of file", f"record {code} missing after {after}")
        if record.code != code:
            raise self.fail(record, f"record {code} expected after {after}")
        return record

    def trailer(self, record: _Record, totals: _Totals, what: str, count_field: int) -> None:
        """Check a 49/98/99 record: its control total and its record count (which includes it)."""
        fields = [*record.fields(), "", "", ""]
        if self.verify:
            stated = self.integer(record, fields[1], "control total")
            check_equal(
                self.file,
                f"line {record.line} (record {record.code})",
                f"{what} control total",
                stated,
                totals.amount,
            )
            count = self.integer(record, fields[count_field], "number of records")
            check_equal(
                self.file,
                f"line {record.line} (record {record.code})",
                f"{what} number of records",
                count,
                totals.records,
            )

    def read(self, text: str) -> FeedStream:
        records = _records(self.file, text)
        header = self.expect(next(records, None), "01", "the start of the file")
        file_totals = _Totals(records=header.count)
        record = next(records, None)
        while record is not None and record.code == "02":
            group = _Totals(records=record.count)
            fields = record.fields()
            as_of = self.date(record, fields[4] if len(fields) > 4 else "")
            currency = (fields[6].strip() if len(fields) > 6 else "") or _DEFAULT_CURRENCY
            record = next(records, None)
            while record is not None and record.code == "03":
                yield from self.account(record, records, group, as_of, currency)
                record = next(records, None)
            record = self.expect(record, "98", "the accounts of a group")
            group.records += record.count
            self.trailer(record, group, "group", 3)
            file_totals.amount += group.amount
            file_totals.records += group.records
            record = next(records, None)
        record = self.expect(record, "99", "the groups of the file")
        file_totals.records += record.count
        self.trailer(record, file_totals, "file", 3)
        if (extra := next(records, None)) is not None:
            raise self.fail(extra, "record after the file trailer (99)")

    def account(
        self,
        head: _Record,
        records: Iterator[_Record],
        group: _Totals,
        as_of: dt.date,
        group_currency: str,
    ) -> FeedStream:
        """An 03 record, its 16 records and its 49 trailer; adds its totals to the group's."""
        fields = [*_unslash(head.text).split(","), "", ""]
        number, currency = fields[1].strip(), fields[2].strip() or group_currency
        if not number:
            raise self.fail(head, "no account number")
        scale = minor_unit_exponent(currency)
        totals = _Totals(records=head.count)
        balances = self.summary(head, totals)
        book = StatementBook(self.file, number, f"line {head.line} (record 03)")
        lines, total = 0, Decimal(0)
        for record in records:
            totals.records += record.count
            if record.code == "49":
                self.trailer(record, totals, "account", 2)
                opening, closing = (
                    None if code not in balances else Decimal(f"{balances[code]}e-{scale}")
                    for code in ("010", "015")
                )
                if self.verify and opening is not None and closing is not None:
                    place = f"line {head.line} (account {number})"
                    check_balance(self.file, place, opening, total, closing)
                group.amount += totals.amount
                group.records += totals.records
                yield StatementHeader(
                    self.file, "bai2", None, number, currency, opening, closing, lines, total
                )
                return
            if record.code != "16":
                raise self.fail(record, "record 16 or 49 expected inside an account")
            raw, line = self.transaction(record, number, currency, scale, as_of, book)
            totals.amount += raw
            lines, total = lines + 1, total + line.amount
            yield line
        raise FeedFormatError(self.file, "end of file", f"account {number} has no trailer (49)")

    def summary(self, record: _Record, totals: _Totals) -> dict[str, int]:
        """The 03 record's type-code/amount/count/funds-type groups; returns amounts by code.

        The groups run on from the 03 into its 88 continuations, and banks cut them in two ways:
        the BAI2 samples end a record inside a group (`...,400,2000000,,,190/` then
        `88,500000,,,`), the continuation going on with the next field; a US bank ends every
        record after a whole group and a comma that delimits nothing (`...,015,350,,,/`), the
        continuation starting a new group. So fields left empty at the end of a record are
        defaults, not a group, and a group cut by a slash takes its missing fields from the
        continuation unless they do not fit (a funds type that is none), in which case the slash
        defaulted them. Errors name the physical record (03 or 88) holding the field.
        """
        amounts: dict[str, int] = {}
        pending: list[tuple[str, _Place]] = []
        for n, (code, line, text) in enumerate(record.physical()):
            where = _Place(code, line)
            own = [(f, where) for f in _unslash(text).split(",")[3 if n == 0 else 0 :]]
            fields, carried = pending + own, len(pending)
            pending = []
            i = 0
            while i < len(fields):
                group = fields[i:]
                if not any(f.strip() for f, _ in group):
                    break  # nothing but defaults to the end of the record
                try:
                    width = self.group_width(group)
                except FeedFormatError:
                    if i != 0 or not carried:
                        raise
                    # The continuation does not fit the group the last record cut short: the
                    # slash defaulted that group's remaining fields.
                    self.add_group(fields[:carried], totals, amounts)
                    i = carried
                    carried = 0
                    continue
                if width > len(group):
                    pending = group  # the group goes on in the next continuation
                    break
                self.add_group(group[:width], totals, amounts)
                i += width
        if pending:
            self.add_group(pending, totals, amounts)
        return amounts

    def group_width(self, group: list[tuple[str, _Place]]) -> int:
        """Fields of the group that starts `group`: 4 and those its funds type adds."""
        if len(group) < 4:
            return 4
        funds, where = group[3][0].strip(), group[3][1]
        extra = group[4:5]
        return 4 + self.funds_fields(where, funds, [extra[0][0]] if extra else [])

    def add_group(
        self, group: list[tuple[str, _Place]], totals: _Totals, amounts: dict[str, int]
    ) -> None:
        type_code = group[0][0].strip()
        if len(group) > 1 and (amount := group[1][0].strip()):
            value = self.integer(group[1][1], amount, f"amount of type code {type_code}")
            totals.amount += value
            amounts.setdefault(type_code, value)

    def funds_fields(self, record: _Record | _Place, funds: str, first: list[str]) -> int:
        """How many fields follow a funds type: V date+time, S three amounts, D n pairs."""
        if funds in ("", "0", "1", "2", "Z"):
            return 0
        if funds == "V":
            return 2
        if funds == "S":
            return 3
        if funds == "D":
            return 1 + 2 * self.integer(record, first[0] if first else "", "distributions")
        raise self.fail(record, f"unknown funds type {funds!r}")

    def transaction(
        self,
        record: _Record,
        account: str,
        currency: str,
        scale: int,
        as_of: dt.date,
        book: StatementBook,
    ) -> tuple[int, StatementLine]:
        """One 16 record: the amount as written (for the control total) and its line."""
        parts = _unslash(record.text).split(",", 4) + [""] * 4
        code, amount_text, funds, rest = parts[1].strip(), parts[2], parts[3].strip(), parts[4]
        if not code.isdigit() or not 100 <= int(code) <= 699:
            raise self.fail(record, f"type code {code!r} is neither a credit nor a debit detail")
        raw = self.integer(record, amount_text, "amount")
        first = rest.split(",", 1)[:1]
        funds_values, rest = _take(rest, self.funds_fields(record, funds, first))
        (bank_ref, customer_ref), text = _take(rest, 2)
        value_date = (
            self.date(record, funds_values[0]) if funds == "V" and funds_values[0] else None
        )
        keyed: dict[str, str] = {
            m[1]: m[2] for c in record.continuations if (m := _KEYED.match(_unslash(c).strip()))
        }
        remittance = " ".join(p for p in (text, *map(_unslash, record.continuations)) if p.strip())
        # Built from text and negated by copy: exact at any length (context arithmetic would round
        # a 40-digit amount to 28 digits before the bound refuses it).
        amount = Decimal(f"{abs(raw)}e-{scale}")
        if int(code) >= 400:
            amount = amount.copy_negate()
        return raw, build_line(
            book,
            f"line {record.line} (record 16)",
            bank_ref,
            ("bai2", account, as_of, code, amount, customer_ref, remittance),
            as_of,
            value_date,
            amount,
            currency,
            counterparty_name=keyed.get("DBNM" if amount >= 0 else "CRNM"),
            counterparty_account=keyed.get("DACT" if amount >= 0 else "CACT"),
            remittance=clean(remittance),
            end_to_end_id=keyed.get("EREF") or clean(customer_ref),
            bank_transaction_code=code,
        )


def _take(text: str, count: int) -> tuple[list[str], str]:
    """The first `count` comma-separated fields of `text` (padded) and the unsplit remainder."""
    if count == 0:
        return [], text
    parts = text.split(",", count)
    fields = [p.strip() for p in parts[:count]] + [""] * (count - min(count, len(parts)))
    return fields, parts[count] if len(parts) > count else ""


def read_bai2(path: Path, *, verify: bool = True) -> FeedStream:
    """Stream the lines of a BAI2 file; each account (03..49) is followed by its header."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # BAI2 is ASCII in principle; keep going on stray bytes
    yield from _Reader(path, verify).read(text)
