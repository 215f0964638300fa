"""CSV bank exports, read through named profiles (YAML files in `csv_profiles/`).

A profile says which column holds which field, how dates and amounts are written and where the
sign comes from (a signed amount, separate debit and credit columns, or a credit/debit indicator
column). Without a profile name the file's header row picks the bundled profile that fits it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds.statement import (
    FeedStream,
    StatementBook,
    StatementHeader,
    build_line,
    decimal_amount,
)

PROFILE_DIR = Path(__file__).parent / "csv_profiles"
FIELDS = frozenset(
    {
        "booking_date", "value_date", "amount", "currency", "reference", "account",
        "counterparty_name", "counterparty_account", "remittance", "structured_reference",
        "end_to_end_id", "mandate_id", "bank_transaction_code", "return_reason",
    }
)  # fmt: skip
# Sorted, so that the content hash of a row does not depend on set iteration order.
_TEXT_FIELDS = tuple(
    sorted(FIELDS - {"booking_date", "value_date", "amount", "currency", "account", "reference"})
)
_MODES = ("signed", "debit_credit", "indicator")


@dataclass(frozen=True, slots=True)
class CsvProfile:
    """How one bank's CSV export is laid out; see docs/ingestion.md for the YAML keys."""

    name: str
    columns: Mapping[str, tuple[str, ...]]
    amount_mode: str
    description: str = ""
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    quotechar: str = '"'
    header_row: int = 1
    date_format: str = "%Y-%m-%d"
    decimal: str = "."
    thousands: str = ""
    optional: frozenset[str] = frozenset()
    amount_columns: Mapping[str, str] = field(default_factory=dict)
    credit_values: frozenset[str] = frozenset()
    debit_values: frozenset[str] = frozenset()
    defaults: Mapping[str, str] = field(default_factory=dict)
    skip_rows_where: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def required_headers(self) -> set[str]:
        needed = {h for f, hs in self.columns.items() if f not in self.optional for h in hs}
        return needed | set(self.amount_columns.values())

    def amount_pattern(self) -> re.Pattern[str]:
        group = rf"\d{{1,3}}(?:{re.escape(self.thousands)}\d{{3}})+|" if self.thousands else ""
        return re.compile(
            rf"^(?P<sign>[+-])?(?P<int>{group}\d+)(?:{re.escape(self.decimal)}(?P<frac>\d+))?"
            r"(?P<trail>-)?$"
        )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def profile_from_mapping(data: Mapping[str, Any], source: str) -> CsvProfile:
    """Validate a profile's YAML content; a wrong profile is reported like a malformed file."""
    try:
        columns = {str(k): _strings(v) for k, v in dict(data["columns"]).items()}
        amount = dict(data.get("amount", {"mode": "signed"}))
        mode = str(amount.pop("mode", "signed"))
        profile = CsvProfile(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            columns=columns,
            amount_mode=mode,
            encoding=str(data.get("encoding", "utf-8-sig")),
            delimiter=str(data.get("delimiter", ",")),
            quotechar=str(data.get("quotechar", '"')),
            header_row=int(data.get("header_row", 1)),
            date_format=str(data.get("date_format", "%Y-%m-%d")),
            decimal=str(data.get("decimal", ".")),
            thousands=str(data.get("thousands") or ""),
            optional=frozenset(str(f) for f in data.get("optional", [])),
            amount_columns={
                k: str(amount[k]) for k in ("debit", "credit", "indicator") if k in amount
            },
            credit_values=frozenset(str(v) for v in amount.get("credit_values", [])),
            debit_values=frozenset(str(v) for v in amount.get("debit_values", [])),
            defaults={str(k): str(v) for k, v in dict(data.get("defaults", {})).items()},
            skip_rows_where={
                str(k): frozenset(str(x) for x in _strings(v))
                for k, v in dict(data.get("skip_rows_where", {})).items()
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FeedFormatError(source, "profile", f"not a valid CSV profile: {exc!r}") from None
    problems = [f"unknown field {f!r}" for f in columns if f not in FIELDS]
    if mode not in _MODES:
        problems.append(f"amount mode must be one of {', '.join(_MODES)}")
    needs = {"signed": {"amount"}, "debit_credit": set(), "indicator": {"amount"}}.get(mode, set())
    problems += [f"the {mode} mode needs a column for {f!r}" for f in needs - set(columns)]
    wanted = {"debit_credit": {"debit", "credit"}, "indicator": {"indicator"}}.get(mode, set())
    problems += [f"amount: {k!r} column missing" for k in wanted - set(profile.amount_columns)]
    for name in ("booking_date", "currency", "account"):
        if name not in columns and name not in profile.defaults:
            problems.append(f"needs a column or a default for {name!r}")
    if problems:
        raise FeedFormatError(source, "profile", "; ".join(problems))
    return profile


@cache
def bundled_profiles() -> tuple[CsvProfile, ...]:
    """The profiles shipped in csv_profiles/, the most specific header first."""
    found = [
        profile_from_mapping(yaml.safe_load(p.read_text("utf-8")), p.name)
        for p in sorted(PROFILE_DIR.glob("*.yaml"))
    ]
    return tuple(sorted(found, key=lambda p: (-len(p.required_headers()), p.name)))


def load_profile(name: str) -> CsvProfile:
    """A bundled profile by name, or a profile YAML file by path."""
    for profile in bundled_profiles():
        if profile.name == name:
            return profile
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return profile_from_mapping(yaml.safe_load(path.read_text("utf-8")), path.name)
    known = ", ".join(p.name for p in bundled_profiles())
    raise FeedFormatError(name, "profile", f"no such CSV profile (bundled: {known})")


def _header_of(path: Path, profile: CsvProfile) -> list[str] | None:
    try:
        with path.open(encoding=profile.encoding, errors="replace", newline="") as stream:
            rows = csv.reader(stream, delimiter=profile.delimiter, quotechar=profile.quotechar)
            for row in rows:
                if rows.line_num >= profile.header_row:
                    return [cell.strip() for cell in row]
    except (csv.Error, LookupError, UnicodeError):
        return None
    return None


def match_profile(path: Path) -> CsvProfile | None:
    """The first bundled profile whose required columns all appear in the file's header row."""
    for profile in bundled_profiles():
        header = _header_of(path, profile)
        if header is not None and profile.required_headers() <= set(header):
            return profile
    return None


class _Row:
    """One data row, with errors that name its line and column."""

    def __init__(self, file: str, line: int, cells: list[str], index: Mapping[str, int]) -> None:
        self.file, self.line, self.cells, self.index = file, line, cells, index

    def place(self, column: str) -> str:
        return f"line {self.line}, column {column!r}"

    def get(self, column: str) -> str:
        position = self.index[column]
        if position >= len(self.cells):
            raise FeedFormatError(
                self.file, self.place(column), f"the row has only {len(self.cells)} cells"
            )
        return self.cells[position].strip()


def _parse_amount(row: _Row, column: str, profile: CsvProfile, pattern: re.Pattern[str]) -> Decimal:
    text = row.get(column).replace("\u00a0", "").replace(" ", "")
    match = pattern.match(text)
    if match is None:
        raise FeedFormatError(row.file, row.place(column), f"not an amount: {text!r}")
    digits = match["int"].replace(profile.thousands, "") if profile.thousands else match["int"]
    value = decimal_amount(row.file, row.place(column), f"{digits}.{match['frac'] or '0'}")
    if match["frac"] is None:
        value = value.quantize(Decimal(1))
    return -value if (match["sign"] == "-") != (match["trail"] == "-") else value


def _parse_date(row: _Row, column: str, profile: CsvProfile) -> date:
    text = row.get(column)
    try:
        # A calendar date, not a moment: no time zone is involved.
        return datetime.strptime(text, profile.date_format).date()  # noqa: DTZ007
    except ValueError:
        raise FeedFormatError(
            row.file, row.place(column), f"not a date in {profile.date_format}: {text!r}"
        ) from None


def _signed_amount(row: _Row, profile: CsvProfile, pattern: re.Pattern[str]) -> Decimal:
    if profile.amount_mode == "debit_credit":
        debit_col, credit_col = profile.amount_columns["debit"], profile.amount_columns["credit"]
        parts = {
            col: _parse_amount(row, col, profile, pattern)
            for col in (debit_col, credit_col)
            if row.get(col)
        }
        filled = [col for col, value in parts.items() if value != 0]
        if len(filled) > 1 or not parts:
            problem = "both debit and credit are filled" if filled else "no debit or credit amount"
            raise FeedFormatError(row.file, row.place(debit_col), problem)
        return parts.get(credit_col, Decimal(0)) - abs(parts.get(debit_col, Decimal(0)))
    column = profile.columns["amount"][0]
    value = _parse_amount(row, column, profile, pattern)
    if profile.amount_mode == "indicator":
        indicator_col = profile.amount_columns["indicator"]
        indicator = row.get(indicator_col)
        if indicator in profile.debit_values:
            return -abs(value)
        if indicator not in profile.credit_values:
            raise FeedFormatError(
                row.file, row.place(indicator_col), f"not a credit/debit mark: {indicator!r}"
            )
        return abs(value)
    return value


def _rows(path: Path, profile: CsvProfile) -> Iterator[_Row]:
    file = path.name
    with path.open(encoding=profile.encoding, newline="") as stream:
        reader = csv.reader(stream, delimiter=profile.delimiter, quotechar=profile.quotechar)
        index: dict[str, int] | None = None
        try:
            for cells in reader:
                if index is None:
                    if reader.line_num >= profile.header_row:
                        index = {c.strip(): n for n, c in enumerate(cells) if c.strip()}
                        if missing := profile.required_headers() - set(index):
                            raise FeedFormatError(
                                file,
                                f"line {reader.line_num} (header)",
                                f"missing columns for profile {profile.name!r}: "
                                + ", ".join(sorted(missing)),
                            )
                    continue
                if any(c.strip() for c in cells):
                    yield _Row(file, reader.line_num, cells, index)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FeedFormatError(
                file, f"line {reader.line_num + 1}", f"unreadable CSV: {exc}"
            ) from None
        if index is None:
            raise FeedFormatError(file, f"line {profile.header_row}", "no header row")


def read_csv(path: Path, *, profile: str | None = None, verify: bool = True) -> FeedStream:
    """Stream the lines of a CSV export; one header per account follows all of them.

    CSV exports state no balances, so `verify` has nothing to check beyond each row itself.
    """
    chosen = load_profile(profile) if profile is not None else match_profile(path)
    if chosen is None:
        names = ", ".join(p.name for p in bundled_profiles())
        raise FeedFormatError(
            path.name, "line 1 (header)", f"the header fits no bundled CSV profile ({names})"
        )
    pattern = chosen.amount_pattern()
    books: dict[str, StatementBook] = {}
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for row in _rows(path, chosen):
        if any(
            row.get(col) in values
            for col, values in chosen.skip_rows_where.items()
            if col in row.index
        ):
            continue
        text = {
            name: " ".join(v for h in heads if h in row.index and (v := row.get(h))) or None
            for name, heads in chosen.columns.items()
        }
        account = text.get("account") or chosen.defaults.get("account")
        currency = (text.get("currency") or chosen.defaults.get("currency") or "").upper()
        if not account or len(currency) != 3 or not currency.isalpha():
            what = "account" if not account else "currency"
            head = chosen.columns.get(what, (what,))[0]
            raise FeedFormatError(row.file, row.place(head), f"no {what}: {text.get(what)!r}")
        booking = _parse_date(row, chosen.columns["booking_date"][0], chosen)
        value_heads = [h for h in chosen.columns.get("value_date", ()) if h in row.index]
        value = (
            _parse_date(row, value_heads[0], chosen) if value_heads and text["value_date"] else None
        )
        amount = _signed_amount(row, chosen, pattern)
        extra = {k: text.get(k) for k in _TEXT_FIELDS}
        if (book := books.get(account)) is None:
            head = chosen.columns.get("account", ("account",))[0]
            book = books[account] = StatementBook(row.file, account, row.place(head))
        line = build_line(
            book,
            f"line {row.line}",
            text.get("reference"),
            ("csv", account, booking, value, amount, currency, *extra.values()),
            booking,
            value,
            amount,
            currency,
            **extra,
        )
        count, total = totals.get((account, currency), (0, Decimal(0)))
        totals[(account, currency)] = (count + 1, total + amount)
        yield line
        if book.notices:
            yield from book.drain()
    for (account, currency), (count, total) in totals.items():
        yield StatementHeader(path.name, "csv", None, account, currency, None, None, count, total)


__all__ = ["CsvProfile", "bundled_profiles", "load_profile", "match_profile", "read_csv"]
