"""camt entries into lines: the fields of one `Ntry` (read through `camt_paths`), its amount,
dates and status, and its `TxDtls` split into lines, or read as one line when they cannot be.

The statement they count into (`CamtStatement`) keeps the running totals that the statement's
`TxsSummry` and balances are checked against when it ends (`camt.py`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from lxml import etree

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds.camt_paths import Compiled, Values, read_into
from payrecon.feeds.statement import (
    StatementBook,
    build_line,
    check_amount,
    check_equal,
    clean,
    usable_reference,
)

_AMOUNT = re.compile(r"^\d{1,18}(\.\d{1,5})?$")
# Detail amounts in order of preference: Amt (.001.03 on), else the AmtDtls of .001.02.
_DETAIL_AMOUNTS = (
    ("amt", "Amt"),
    ("txamt", "AmtDtls/TxAmt/Amt"),
    ("cntrvalamt", "AmtDtls/CntrValAmt/Amt"),
    ("instdamt", "AmtDtls/InstdAmt/Amt"),
)
# The counterparty is the payer of a credit and the payee of a debit, the other side the fallback.
_NAMES = {
    True: ("dbtr_nm", "dbtr_pty_nm", "cdtr_nm", "cdtr_pty_nm"),
    False: ("cdtr_nm", "cdtr_pty_nm", "dbtr_nm", "dbtr_pty_nm"),
}
_ACCOUNTS = {
    True: ("dbtracct_iban", "dbtracct_othr", "cdtracct_iban", "cdtracct_othr"),
    False: ("cdtracct_iban", "cdtracct_othr", "dbtracct_iban", "dbtracct_othr"),
}
_ENTRY_REFERENCES = ("ref", "ntry_ref")
_SIGNS = frozenset({"CRDT", "DBIT"})
_ZERO = Decimal(0)


def first_text(values: Values, keys: tuple[str, ...]) -> str | None:
    """The first of `keys` with a text that is not blank."""
    for key in keys:
        text = values.get(key)
        if text and not text.isspace():
            return text  # type: ignore[no-any-return]
    return None


_CODES: dict[tuple[object, ...], str | None] = {}


def _bank_code(values: Values) -> str | None:
    """Domain, family and sub-family codes joined with '/', else the proprietary code."""
    key = (values.get("domn"), values.get("fmly"), values.get("subfmly"), values.get("prtry_cd"))
    if (code := _CODES.get(key, _CODES)) is not _CODES:
        return code  # type: ignore[return-value]
    parts = [c for k in key[:3] if (c := clean(k))]
    code = "/".join(parts) if parts else clean(key[3])
    if len(_CODES) < 1024:
        _CODES[key] = code
    return code


@dataclass(slots=True)
class CamtStatement:
    """One Stmt/Rpt/Ntfctn: its header as stated, and the running totals its checks need."""

    place: str
    index: int
    statement_id: str | None
    book: StatementBook
    currency: str | None
    undated: date | None  # the date of entries that state neither BookgDt nor ValDt
    undated_source: str
    opening: Decimal | None = None
    closing: Decimal | None = None
    closing_date: date | None = None
    stated: dict[str, Decimal] = field(default_factory=dict)
    entries: int = 0
    lines: int = 0
    booked: Decimal = _ZERO
    booked_to_closing_date: Decimal = _ZERO
    # What TxsSummry counts: every entry reported, booked or not.
    credits: int = 0
    credit_sum: Decimal = _ZERO
    debits: int = 0
    debit_sum: Decimal = _ZERO
    skipped: Counter[str] = field(default_factory=Counter)
    undated_entries: list[str] = field(default_factory=list)

    @property
    def account(self) -> str:
        return self.book.account

    def count(self, amount: Decimal) -> None:
        if amount >= 0:
            self.credits += 1
            self.credit_sum += amount
        else:
            self.debits += 1
            self.debit_sum -= amount

    def found(self) -> dict[str, Decimal]:
        return {
            "entries": Decimal(self.credits + self.debits),
            "sum": self.credit_sum + self.debit_sum,
            "net": self.credit_sum - self.debit_sum,
            "credits": Decimal(self.credits),
            "credit sum": self.credit_sum,
            "debits": Decimal(self.debits),
            "debit sum": self.debit_sum,
        }


class _Entry(NamedTuple):
    """What every line of one Ntry shares."""

    place: str
    amount_text: str
    amount: Decimal
    currency: str
    booking: date
    value: date | None
    reference: str | None
    code: str | None
    note: str | None


class EntryReader:
    """Reads entries into lines; `camt._CamtReader` adds the document and its statements."""

    def __init__(self, file: str, verify: bool) -> None:
        self.file = file
        self.verify = verify
        self.entry_table: Compiled = {}
        self.dates: dict[str, date] = {}

    def amount(self, text: str | None, place: str, path: str) -> Decimal:
        """An ISO 20022 amount (digits, a point, up to five decimals) within the store's bounds."""
        if text is None or not _AMOUNT.match(text):
            text = text.strip() if text else text
            if text is None or not _AMOUNT.match(text):
                problem = f"not an ISO 20022 amount: {text if text is None else text[:40]!r}"
                raise FeedFormatError(self.file, f"{place}/{path}", problem)
        value = Decimal(text)
        # Within the ledger's bounds unless long or with five decimals: only those are checked.
        if len(text) > 15 or text[-6:-5] == ".":
            check_amount(self.file, f"{place}/{path}", value)
        return value

    def signed(self, values: Values, place: str, prefix: str = "") -> Decimal:
        """Amt signed by CdtDbtInd, credit positive."""
        value = self.amount(values.get("amt"), place, f"{prefix}Amt")
        indicator = values.get("ind")
        if indicator == "CRDT":
            return value
        if indicator == "DBIT":
            return -value
        indicator = clean(indicator)
        if indicator not in ("CRDT", "DBIT"):
            problem = f"not CRDT or DBIT: {indicator!r}"
            raise FeedFormatError(self.file, f"{place}/{prefix}CdtDbtInd", problem)
        return value if indicator == "CRDT" else -value

    def date_of(self, values: Values, key: str, place: str, path: str) -> date | None:
        text = values.get(key) or values.get(key + "_tm")
        if text is None:
            return None
        known = self.dates.get(text)
        if known is not None:
            return known
        try:
            day = date.fromisoformat(text.strip()[:10])
        except ValueError:
            problem = f"not a date: {text[:40]!r}"
            raise FeedFormatError(self.file, f"{place}/{path}", problem) from None
        if len(self.dates) < 4096:
            self.dates[text] = day
        return day

    def entry_lines(self, st: CamtStatement, elem: etree._Element) -> list[StatementLine]:
        """One line per TxDtls, or the entry itself without details; only booked entries count."""
        values: Values = {}
        read_into(elem, self.entry_table, values)
        st.entries += 1
        place = f"{st.place}/Ntry[{st.entries}] (line {elem.sourceline})"
        # ISO 20022: CdtDbtInd is the direction of this booking; RvslInd only says it undoes an
        # earlier one (CRDT + RvslInd: a debit came back, money in). See docs/ingestion.md.
        # The common case written out (short amount, plain indicator); `signed` words the errors.
        text, indicator = values.get("amt"), values.get("ind")
        if (
            indicator in _SIGNS
            and text is not None
            and len(text) <= 15
            and text[-6:-5] != "."
            and _AMOUNT.match(text)
        ):
            amount = Decimal(text) if indicator == "CRDT" else -Decimal(text)
        else:
            amount = self.signed(values, place)
        status = values.get("sts")
        if status is not None and status != "BOOK" and (status := status.strip()) != "BOOK":
            # Pending and informational entries (PDNG, INFO, FUTR) have not moved money. They
            # enter only the TxsSummry check, where the one published sample that lists them
            # (FFFS 2009) counts a reversal against its indicator.
            reversal = clean(values.get("rvsl")) in ("true", "1")
            st.count(-amount if reversal else amount)
            st.skipped[status] += 1
            return []
        if amount >= 0:  # st.count(amount), written out
            st.credits += 1
            st.credit_sum += amount
        else:
            st.debits += 1
            st.debit_sum -= amount
        dates = self.dates  # a cache hit is the common case
        text = values.get("val")
        value = (
            None if text is None else dates.get(text) or self.date_of(values, "val", place, "ValDt")
        )
        text = values.get("bookg")
        booking = (
            value
            if text is None
            else dates.get(text) or self.date_of(values, "bookg", place, "BookgDt")
        )
        if booking is None:
            if st.undated is None:
                problem = "no BookgDt or ValDt, and no statement period or creation date to take"
                raise FeedFormatError(self.file, place, problem)
            booking = st.undated
            st.undated_entries.append(place)
        st.booked += amount
        if st.closing_date is None or (value or booking) <= st.closing_date:
            st.booked_to_closing_date += amount
        currency = values.get("amt@") or st.currency or ""
        note = values.get("note")
        entry = (
            _Entry(  # place, amount_text, amount, currency, booking, value, reference, code, note
                place,
                values["amt"],
                amount,
                currency,
                booking,
                value,
                clean(first_text(values, _ENTRY_REFERENCES)),
                _bank_code(values),
                None if note is None else clean(note),
            )
        )
        details: list[Values] = values.get("details") or []
        if len(details) <= 1:
            self.check_single(entry, details)
            st.lines += 1
            return [self.line(st, entry, details[0] if details else None, 1, amount)]
        shares = self.shares(entry, details, values.get("nboftxs") or [])
        if shares is None:
            st.lines += 1
            return [self.batch_line(st, entry, details)]
        st.lines += len(details)
        pairs = enumerate(zip(details, shares, strict=True), start=1)
        return [self.line(st, entry, detail, n, share) for n, (detail, share) in pairs]

    def check_single(self, entry: _Entry, details: list[Values]) -> None:
        # One TxDtls describes the entry as a whole (banks put a batch's NbOfTxs beside a
        # single summary detail), so only its amount, when stated, is held to the entry's.
        if not details:
            return
        place = f"{entry.place}/NtryDtls/TxDtls[1]"
        detail = details[0]
        if detail.get("amt") is not None and detail.get("amt") == entry.amount_text:
            return  # the detail states the entry's own amount, in the entry's currency or none
        own = self.detail_amount(detail, entry.currency, place)
        if self.verify and own is not None and own[0] != abs(entry.amount):
            problem = f"amount {own[0]} differs from the entry amount {abs(entry.amount)}"
            raise FeedFormatError(self.file, place, problem)

    def shares(
        self, entry: _Entry, details: list[Values], counts: list[str]
    ) -> list[Decimal] | None:
        """Split the entry amount over its TxDtls, checking the batch against the entry; None
        when the details cannot be split exactly (not every one states its amount)."""
        place, amount = f"{entry.place}/NtryDtls", entry.amount
        if self.verify and counts:
            stated_count = sum(int(c) for c in counts if c.strip().isdigit())
            where = f"{place}/Btch/NbOfTxs"
            check_equal(self.file, where, "number of transactions", stated_count, len(details))
        stated = [self.detail_amount(d, entry.currency, f"{place}/TxDtls[{n}]")
                  for n, d in enumerate(details, start=1)]  # fmt: skip
        parts = [s for s in stated if s is not None]
        if len(parts) < len(details):
            return None
        sign = -1 if amount < 0 else 1
        by_detail = [a * {"CRDT": 1, "DBIT": -1}.get(i or "", sign) for a, i in parts]
        # A detail's own CdtDbtInd counts only where it adds up; PostFinance states CRDT on the
        # detail of a DBIT entry, and the entry is what was booked.
        shares = by_detail if sum(by_detail) == amount else [sign * a for a, _ in parts]
        if self.verify:
            found = sum(shares, _ZERO)
            check_equal(self.file, place, "sum of TxDtls amounts", amount, found)
        return shares

    def detail_amount(
        self, detail: Values, currency: str, place: str
    ) -> tuple[Decimal, str | None] | None:
        """The TxDtls amount in the entry's currency: Amt (.001.03 on), else AmtDtls (.001.02)."""
        for key, path in _DETAIL_AMOUNTS:
            text = detail.get(key)
            if text is not None and detail.get(key + "@") in (None, currency):
                return self.amount(text, place, path), clean(detail.get("ind"))
        return None

    def line(
        self, st: CamtStatement, entry: _Entry, detail: Values | None, n: int, amount: Decimal
    ) -> StatementLine:
        name = account = remittance = structured = e2e = mandate = reason = ref = None
        code = entry.code
        if detail is not None:
            credit = amount >= 0
            name = first_text(detail, _NAMES[credit])
            account = first_text(detail, _ACCOUNTS[credit])
            if ustrd := detail.get("ustrd"):
                remittance = " ".join(t for u in ustrd if (t := clean(u))) or None
            structured = detail.get("strd_ref")
            e2e = detail.get("e2e")
            mandate = detail.get("mandate")
            reason = first_text(detail, ("rtr_cd", "rtr_prtry"))
            code = _bank_code(detail) or code
            ref = detail.get("ref")
        remittance = remittance or entry.note
        # The detail's own AcctSvcrRef, else the entry's; the end-to-end id only if neither is a
        # usable reference (so the ids of files read before stay as they were).
        reference = usable_reference(clean(ref) or entry.reference) or usable_reference(e2e)
        return build_line(
            st.book,
            entry.place if n == 1 else f"{entry.place}/NtryDtls/TxDtls[{n}]",
            reference,
            # No reference at all: the content and the position in the statement, so that two
            # identical transactions of one day stay two lines.
            ()
            if reference
            else (
                st.account,
                st.statement_id,
                st.index,
                st.entries,
                n,
                entry.booking,
                amount,
                entry.currency,
                remittance,
            ),
            entry.booking,
            entry.value,
            amount,
            entry.currency,
            name,
            account,
            remittance,
            structured,
            e2e,
            mandate,
            code,
            reason,
        )

    def batch_line(self, st: CamtStatement, entry: _Entry, details: list[Values]) -> StatementLine:
        """An entry whose details cannot be split: one line of the entry's amount, with the
        details' texts and references in its remittance and a party only if all agree."""
        credit = entry.amount >= 0
        texts: list[str] = []
        for detail in details:
            texts += [t for u in detail.get("ustrd") or () if (t := clean(u))]
            for key, label in (("strd_ref", "ref"), ("e2e", "e2e"), ("mandate", "mandate")):
                if (value := usable_reference(detail.get(key))) is not None:
                    texts.append(f"{label} {value}")
            if (name := clean(first_text(detail, _NAMES[credit]))) is not None:
                texts.append(name)
        names = {clean(first_text(d, _NAMES[credit])) for d in details}
        accounts = {clean(first_text(d, _ACCOUNTS[credit])) for d in details}
        st.book.note(
            entry.place,
            f"{len(details)} TxDtls without an amount each in {entry.currency}: read as one line "
            f"of {entry.amount}, their references and parties kept in its remittance",
        )
        remittance = " ".join(dict.fromkeys(texts)) or entry.note
        return build_line(
            st.book,
            entry.place,
            entry.reference,
            (
                st.account,
                st.statement_id,
                st.index,
                st.entries,
                0,
                entry.booking,
                entry.amount,
                entry.currency,
                remittance,
            ),
            entry.booking,
            entry.value,
            entry.amount,
            entry.currency,
            counterparty_name=names.pop() if len(names) == 1 else None,
            counterparty_account=accounts.pop() if len(accounts) == 1 else None,
            remittance=remittance,
            bank_transaction_code=entry.code,
        )
