"""camt.052/053/054 (ISO 20022 bank-to-customer reports), streamed with lxml `iterparse`.

Any version .001.NN is read: the elements payrecon needs kept their paths from .001.02 onwards,
except `Amt` on TxDtls (from .001.03), `Sts/Cd` and `Pty/Nm` (from .001.08), which are tried too.
Each `Ntry` is turned into lines and then dropped from the tree, so memory stays flat however
long the statement is. A DOCTYPE is refused before the parser sees the file (see
`check_xml_prolog`), and the parser itself resolves no entities and loads no DTD.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds.statement import (
    FeedStream,
    ReferenceBook,
    StatementHeader,
    build_line,
    check_balance,
    check_equal,
    check_xml_prolog,
    clean,
    decimal_amount,
    usable_reference,
)

_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.001\.\d+$")
_STATEMENTS = frozenset({"Stmt", "Rpt", "Ntfctn"})
_AMOUNT = re.compile(r"^\d{1,18}(\.\d{1,5})?$")
_DOMAIN = ("BkTxCd/Domn/Cd", "BkTxCd/Domn/Fmly/Cd", "BkTxCd/Domn/Fmly/SubFmlyCd")
_DETAIL_AMOUNTS = ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/CntrValAmt/Amt", "AmtDtls/InstdAmt/Amt")
_SUMMARY = {
    "entries": "TtlNtries/NbOfNtries",
    "sum": "TtlNtries/Sum",
    "credits": "TtlCdtNtries/NbOfNtries",
    "credit sum": "TtlCdtNtries/Sum",
    "debits": "TtlDbtNtries/NbOfNtries",
    "debit sum": "TtlDbtNtries/Sum",
}
PROLOG_BYTES = 65536
_ZERO = Decimal(0)
_NOTHING: frozenset[str] = frozenset()


def camt_kind(namespace: str | None) -> str | None:
    """'camt.053' for urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN, else None."""
    match = _NAMESPACE.match(namespace or "")
    return match.group(1) if match else None


class _View:
    """The texts (and Ccy attributes) below an element, by path without namespace, in one walk.

    One walk over an entry costs less than the twenty-odd `findtext` calls it replaces.
    """

    __slots__ = ("values",)

    def __init__(self, elem: etree._Element, strip: int, skip: frozenset[str] = _NOTHING):
        self.values: dict[str, list[str]] = {}
        self._walk(elem, "", strip, skip)

    def _walk(self, elem: etree._Element, prefix: str, strip: int, skip: frozenset[str]) -> None:
        for child in elem:
            name = child.tag[strip:] if isinstance(child.tag, str) else ""
            if not name or name in skip:
                continue
            path = prefix + name
            if child.text is not None and not child.text.isspace():
                self.values.setdefault(path, []).append(child.text)
            if (currency := child.get("Ccy")) is not None:
                self.values.setdefault(f"{path}@Ccy", []).append(currency)
            if len(child):
                self._walk(child, f"{path}/", strip, _NOTHING)

    def text(self, *paths: str) -> str | None:
        for path in paths:
            if path in self.values and (value := clean(self.values[path][0])) is not None:
                return value
        return None

    def all(self, path: str) -> list[str]:
        return [v for t in self.values.get(path, []) if (v := clean(t)) is not None]

    def bank_code(self) -> str | None:
        """Domain, family and sub-family codes joined with '/', else the proprietary code."""
        return "/".join(c for p in _DOMAIN if (c := self.text(p))) or self.text("BkTxCd/Prtry/Cd")


@dataclass(slots=True)
class _Statement:
    """One Stmt/Rpt/Ntfctn: its header as stated, and the running totals its checks need."""

    place: str
    index: int
    statement_id: str | None
    account: str
    currency: str | None
    opening: Decimal | None = None
    closing: Decimal | None = None
    closing_date: date | None = None
    stated: dict[str, Decimal] = field(default_factory=dict)
    found: dict[str, Decimal] = field(default_factory=dict)
    book: ReferenceBook = field(default_factory=ReferenceBook)
    entries: int = 0
    lines: int = 0
    booked: Decimal = _ZERO
    booked_to_closing_date: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class _Entry:
    """What every line of one Ntry shares."""

    place: str
    amount: Decimal
    currency: str
    reversal: bool
    booking: date
    value: date | None
    reference: str | None
    code: str | None
    note: str | None


class _CamtReader:
    def __init__(self, path: Path, verify: bool) -> None:
        self.file = path.name
        self.verify = verify
        self.kind = ""
        self.strip = 0  # length of "{namespace}" in a tag

    def view(self, elem: etree._Element, *skip: str) -> _View:
        return _View(elem, self.strip, frozenset(skip))

    def amount(self, view: _View, path: str, place: str) -> Decimal:
        text = view.text(path)
        if text is None or not _AMOUNT.match(text):
            raise FeedFormatError(
                self.file, f"{place}/{path}", f"not an ISO 20022 amount: {text!r}"
            )
        return decimal_amount(self.file, f"{place}/{path}", text)

    def signed(self, view: _View, prefix: str, place: str) -> Decimal:
        """`prefix`Amt signed by `prefix`CdtDbtInd, credit positive."""
        value = self.amount(view, f"{prefix}Amt", place)
        indicator = view.text(f"{prefix}CdtDbtInd")
        if indicator not in ("CRDT", "DBIT"):
            problem = f"not CRDT or DBIT: {indicator!r}"
            raise FeedFormatError(self.file, f"{place}/{prefix}CdtDbtInd", problem)
        return value if indicator == "CRDT" else -value

    def date_of(self, view: _View, path: str, place: str) -> date | None:
        text = view.text(f"{path}/Dt", f"{path}/DtTm")
        try:
            return None if text is None else date.fromisoformat(text[:10])
        except ValueError:
            raise FeedFormatError(self.file, f"{place}/{path}", f"not a date: {text!r}") from None

    def open_statement(self, elem: etree._Element, index: int) -> _Statement:
        place = f"{elem.tag[self.strip :]}[{index}]"
        view = self.view(elem, "Ntry", "Bal")
        account = view.text("Acct/Id/IBAN", "Acct/Id/Othr/Id")
        if account is None:
            raise FeedFormatError(self.file, f"{place}/Acct/Id", "no account IBAN or Othr/Id")
        statement_id = view.text("Id")
        st = _Statement(
            place=place + (f" Id {statement_id}" if statement_id else ""),
            index=index,
            statement_id=statement_id,
            account=account,
            currency=view.text("Acct/Ccy"),
        )
        balances: dict[str, tuple[Decimal, date | None]] = {}
        for n, bal in enumerate(elem.iterfind(f"{elem.tag[: self.strip]}Bal"), start=1):
            balance, where = self.view(bal), f"{place}/Bal[{n}]"
            code = balance.text("Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry") or ""
            value = self.signed(balance, "", where)
            balances.setdefault(code, (value, self.date_of(balance, "Dt", where)))
        opening = balances.get("OPBD") or balances.get("PRCD")
        st.opening = opening[0] if opening else None
        st.closing, st.closing_date = balances.get("CLBD", (None, None))
        for key, path in _SUMMARY.items():
            if (text := view.text(f"TxsSummry/{path}")) is not None:
                st.stated[key] = decimal_amount(self.file, f"{place}/TxsSummry/{path}", text)
        # The net of all entries: TtlNetNtry/Amt from .001.03, TtlNetNtryAmt in .001.02.
        for holder, amount in (("TtlNetNtry/", "Amt"), ("", "TtlNetNtryAmt")):
            if view.text(f"TxsSummry/TtlNtries/{holder}{amount}") is not None:
                net = self.amount(view, f"TxsSummry/TtlNtries/{holder}{amount}", place)
                debit = view.text(f"TxsSummry/TtlNtries/{holder}CdtDbtInd") == "DBIT"
                st.stated["net"] = -net if debit else net
                break
        return st

    def entry_lines(self, st: _Statement, elem: etree._Element) -> Iterator[StatementLine]:
        """One line per TxDtls, or the entry itself without details; only booked entries count."""
        place = f"{st.place}/Ntry[{st.entries}] (line {elem.sourceline})"
        view = self.view(elem, "NtryDtls")
        # ISO 20022: CdtDbtInd is the direction of this booking; RvslInd only says it undoes an
        # earlier one (CRDT + RvslInd: a debit came back, money in). See docs/ingestion.md.
        amount = self.signed(view, "", place)
        reversal = view.text("RvslInd") in ("true", "1")
        # Pending and informational entries (PDNG, INFO, FUTR) have not moved money. They enter
        # only the TxsSummry check, where the one published sample that lists them (FFFS 2009)
        # counts a reversal against its indicator.
        if (view.text("Sts/Cd", "Sts") or "BOOK") != "BOOK":
            self.count_entry(st, -amount if reversal else amount)
            return
        self.count_entry(st, amount)
        value = self.date_of(view, "ValDt", place)
        booking = self.date_of(view, "BookgDt", place) or value
        if booking is None:
            raise FeedFormatError(self.file, place, "no BookgDt or ValDt")
        st.booked += amount
        if st.closing_date is None or (value or booking) <= st.closing_date:
            st.booked_to_closing_date += amount
        entry = _Entry(
            place=place,
            amount=amount,
            currency=view.text("Amt@Ccy") or st.currency or "",
            reversal=reversal,
            booking=booking,
            value=value,
            reference=view.text("AcctSvcrRef", "NtryRef"),
            code=view.bank_code(),
            note=view.text("AddtlNtryInf"),
        )
        ns = elem.tag[: self.strip]
        details = [self.view(d) for d in elem.iterfind(f"{ns}NtryDtls/{ns}TxDtls")]
        counts = [c.text or "" for c in elem.iterfind(f"{ns}NtryDtls/{ns}Btch/{ns}NbOfTxs")]
        shares = self.shares(entry, details, counts)
        each: list[_View | None] = [*details] if details else [None]
        for n, (detail, share) in enumerate(zip(each, shares, strict=True), start=1):
            st.lines += 1
            yield self.line(st, entry, detail, n, share)

    def shares(self, entry: _Entry, details: list[_View], counts: list[str]) -> list[Decimal]:
        """Split the entry amount over its TxDtls, checking the batch against the entry."""
        place, amount = f"{entry.place}/NtryDtls", entry.amount
        stated = [self.detail_amount(d, entry.currency, f"{place}/TxDtls[{n}]")
                  for n, d in enumerate(details, start=1)]  # fmt: skip
        if len(details) <= 1:
            # One TxDtls describes the entry as a whole (banks put a batch's NbOfTxs beside a
            # single summary detail), so only its amount, when stated, is held to the entry's.
            own = stated[0] if stated else None
            if self.verify and own is not None and own[0] != abs(amount):
                problem = f"amount {own[0]} differs from the entry amount {abs(amount)}"
                raise FeedFormatError(self.file, f"{place}/TxDtls[1]", problem)
            return [amount]
        parts = [s for s in stated if s is not None]
        if len(parts) < len(details):
            problem = f"{len(details)} TxDtls, not all with an amount in {entry.currency}"
            raise FeedFormatError(self.file, place, problem)
        sign = -1 if amount < 0 else 1
        by_detail = [a * {"CRDT": 1, "DBIT": -1}.get(i or "", sign) for a, i in parts]
        # A detail's own CdtDbtInd counts only where it adds up; PostFinance states CRDT on the
        # detail of a DBIT entry, and the entry is what was booked.
        shares = by_detail if sum(by_detail) == amount else [sign * a for a, _ in parts]
        if self.verify:
            found = sum(shares, _ZERO)
            check_equal(self.file, place, "sum of TxDtls amounts", amount, found)
            if counts:
                stated_count = sum(int(c) for c in counts if c.strip().isdigit())
                place = f"{place}/Btch/NbOfTxs"
                check_equal(self.file, place, "number of transactions", stated_count, len(details))
        return shares

    def detail_amount(
        self, detail: _View, currency: str, place: str
    ) -> tuple[Decimal, str | None] | None:
        """The TxDtls amount in the entry's currency: Amt (.001.03 on), else AmtDtls (.001.02)."""
        for path in _DETAIL_AMOUNTS:
            if detail.text(path) is not None and detail.text(f"{path}@Ccy") in (None, currency):
                return self.amount(detail, path, place), detail.text("CdtDbtInd")
        return None

    def line(
        self, st: _Statement, entry: _Entry, detail: _View | None, n: int, amount: Decimal
    ) -> StatementLine:
        fields: dict[str, Any] = {}
        if detail is not None:
            # The counterparty is the payer of a credit and the payee of a debit. On a reversal
            # banks differ (some keep the parties of the undone booking), so the other side is
            # the fallback when the expected one is absent.
            sides = ["Dbtr", "Cdtr"] if amount >= 0 else ["Cdtr", "Dbtr"]
            fields = {
                "counterparty_name": detail.text(
                    *(f"RltdPties/{p}{leaf}" for p in sides for leaf in ("/Nm", "/Pty/Nm"))
                ),
                "counterparty_account": detail.text(
                    *(f"RltdPties/{p}Acct/Id/{leaf}" for p in sides for leaf in ("IBAN", "Othr/Id"))
                ),
                "remittance": " ".join(detail.all("RmtInf/Ustrd")) or None,
                "structured_reference": detail.text("RmtInf/Strd/CdtrRefInf/Ref"),
                "end_to_end_id": detail.text("Refs/EndToEndId"),
                "mandate_id": detail.text("Refs/MndtId"),
                "return_reason": detail.text("RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry"),
                "bank_transaction_code": detail.bank_code(),
            }
        ref = (detail.text("Refs/AcctSvcrRef") if detail else None) or entry.reference
        fields["remittance"] = fields.get("remittance") or entry.note
        fields["bank_transaction_code"] = fields.get("bank_transaction_code") or entry.code
        return build_line(
            reference=usable_reference(ref) or usable_reference(fields.get("end_to_end_id")),
            # No reference at all: the content and the position in the statement, so that two
            # identical transactions of one day stay two lines.
            fallback_key=(
                st.account,
                st.statement_id,
                st.index,
                st.entries,
                n,
                entry.booking,
                amount,
                entry.currency,
                fields["remittance"],
            ),
            book=st.book,
            account=st.account,
            booking_date=entry.booking,
            value_date=entry.value,
            amount=amount,
            currency=entry.currency,
            **fields,
        )

    def count_entry(self, st: _Statement, amount: Decimal) -> None:
        side = "credit" if amount >= 0 else "debit"
        steps = {"entries": Decimal(1), "sum": abs(amount), "net": amount,
                 f"{side}s": Decimal(1), f"{side} sum": abs(amount)}  # fmt: skip
        for key, step in steps.items():
            st.found[key] = st.found.get(key, _ZERO) + step

    def finish(self, st: _Statement) -> StatementHeader:
        if self.verify:
            for key, stated in st.stated.items():
                found = st.found.get(key, _ZERO)
                check_equal(self.file, f"{st.place}/TxsSummry", key, stated, found)
            # Some banks (PostFinance among them) leave bookings valued after the balance date out
            # of CLBD and report them in FWAV; either reading of the closing balance is accepted.
            if (
                st.opening is not None
                and st.closing is not None
                and st.opening + st.booked_to_closing_date != st.closing
            ):
                check_balance(self.file, st.place, st.opening, st.booked, st.closing)
        return StatementHeader(
            self.file, self.kind, st.statement_id, st.account, st.currency or "",
            st.opening, st.closing, st.lines, st.booked,
        )  # fmt: skip


def _iterparse(stream: Any) -> Any:
    # These settings are the hardening the module docstring promises: no entity resolution, no
    # network, no DTD, and libxml2's limits on text size kept (huge_tree off).
    return etree.iterparse(
        stream,
        events=("start", "end"),
        tag=("{*}Document", "{*}Stmt", "{*}Rpt", "{*}Ntfctn", "{*}Ntry"),
        remove_comments=True,
        remove_pis=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )


def read_camt(path: Path, *, verify: bool = True) -> FeedStream:
    """Stream the booked lines of a camt.052/053/054 file, each statement followed by its header."""
    reader = _CamtReader(path, verify)
    with path.open("rb") as stream:
        check_xml_prolog(reader.file, stream.read(PROLOG_BYTES))
        stream.seek(0)
        try:
            yield from _walk(reader, _iterparse(stream))
        except etree.XMLSyntaxError as exc:
            line, column = exc.position
            place = f"line {line}, column {column}"
            raise FeedFormatError(reader.file, place, f"not well-formed XML: {exc.msg}") from None


def _drop_done(elem: etree._Element, parent: etree._Element) -> None:
    """Free what has been read: the element's content and every sibling before it."""
    elem.clear()
    while elem.getprevious() is not None:
        del parent[0]


def _walk(reader: _CamtReader, events: Any) -> FeedStream:
    file = reader.file
    st: _Statement | None = None
    count = 0
    for event, elem in events:
        if event == "start":
            if not reader.strip:
                if elem.getroottree().docinfo.doctype:
                    raise FeedFormatError(file, "XML prolog", "DOCTYPE declarations are refused")
                namespace = etree.QName(elem).namespace or ""
                reader.kind = camt_kind(namespace) or ""
                if not reader.kind or etree.QName(elem).localname != "Document":
                    problem = f"not a camt.052/053/054 Document: {elem.tag!r}"
                    raise FeedFormatError(file, "root element", problem)
                reader.strip = len(namespace) + 2
            continue
        parent = elem.getparent()
        if parent is None:
            continue
        name, parent_name = elem.tag[reader.strip :], parent.tag[reader.strip :]
        if name == "Ntry" and parent_name in _STATEMENTS:
            if st is None:
                count += 1
                st = reader.open_statement(parent, count)
            st.entries += 1
            yield from reader.entry_lines(st, elem)
            _drop_done(elem, parent)
        elif name in _STATEMENTS and parent_name.startswith("BkToCstmr"):
            if st is None:
                count += 1
                st = reader.open_statement(elem, count)
            yield reader.finish(st)
            st = None
            _drop_done(elem, parent)
    if not reader.kind:
        raise FeedFormatError(file, "root element", "no camt Document element")
