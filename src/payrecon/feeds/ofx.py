"""OFX bank and credit-card statements: 1.x (SGML, leaf tags left unclosed) and 2.x (XML).

Both are read by one tolerant tokenizer rather than an XML parser: 1.x is not XML, and banks mix
the two styles (`<CURDEF>CAD` without `</CURDEF>` inside otherwise closed markup). A start tag
followed by text is a leaf, closed by its end tag or by the next tag; an end tag closes every
element still open inside it. No entity beyond the predefined and numeric ones is expanded.
"""

from __future__ import annotations

import bisect
import datetime as dt
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds.statement import (
    FeedNotice,
    FeedStream,
    StatementBook,
    StatementHeader,
    build_line,
    clean,
    decimal_amount,
)

_TOKEN = re.compile(
    r"<!\[CDATA\[(?P<cdata>.*?)\]\]>|<!--.*?-->|<[?!][^>]*>"
    r"|<(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9._]*)[^>]*>|(?P<text>[^<]+)",
    re.DOTALL,
)
_AMOUNT = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_DATE = re.compile(r"^(\d{8})")
_STATEMENTS = ("STMTRS", "CCSTMTRS")
# The responses that carry a STATUS: the sign-on and each statement request.
_WRAPPERS = ("SONRS", "STMTTRNRS", "CCSTMTTRNRS")


@dataclass(slots=True)
class _Node:
    name: str
    line: int
    text: str | None = None
    children: list[_Node] = field(default_factory=list)

    def find(self, path: str) -> _Node | None:
        """The first descendant at `path` (each step searched depth-first)."""
        node: _Node | None = self
        for step in path.split("/"):
            node = next(node.iter(step), None) if node is not None else None
        return node

    def iter(self, name: str) -> Iterator[_Node]:
        """Descendants named `name`, not looking inside a match."""
        for child in self.children:
            if child.name == name:
                yield child
            else:
                yield from child.iter(name)

    def value(self, path: str) -> str | None:
        node = self.find(path)
        return None if node is None else clean(node.text)


def _tree(file: str, text: str, first_line: int) -> _Node:
    # A comment or CDATA section left open would send the tokenizer to the end of the text once
    # for every opening: refused here in one pass (if the last opening closes, all do).
    for opening, closing, what in (
        ("<!--", "-->", "comment"),
        ("<![CDATA[", "]]>", "CDATA"),
        ("<", ">", "tag"),
    ):
        start = text.rfind(opening)
        if start >= 0 and text.find(closing, start + len(opening)) < 0:
            line = text.count("\n", 0, start) + first_line
            raise FeedFormatError(file, f"line {line}", f"{what} not closed")
    newlines = [m.start() for m in re.finditer("\n", text)]
    root = _Node("document", 1)
    stack = [root]
    for token in _TOKEN.finditer(text):
        line = bisect.bisect_right(newlines, token.start()) + first_line
        name, content = (
            token["name"],
            token["cdata"] if token["cdata"] is not None else token["text"],
        )
        top = stack[-1]
        if content is not None:
            if not content.strip():
                continue
            if top is root or top.children:
                raise FeedFormatError(
                    file, f"line {line}", f"text outside a field: {content[:40]!r}"
                )
            top.text = (top.text or "") + html.unescape(content)
            continue
        if name is None:
            continue  # comment, processing instruction or declaration
        name = name.upper()
        if top.text is not None and not (token["close"] and name == top.name):
            stack.pop()  # an SGML leaf ends where the next tag starts
        if not token["close"]:
            node = _Node(name, line)
            stack[-1].children.append(node)
            stack.append(node)
        elif any(open_node.name == name for open_node in stack[1:]):
            while stack.pop().name != name:
                pass
        else:
            raise FeedFormatError(file, f"line {line}", f"</{name}> closes nothing that is open")
    return root


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # CHARSET:1252 is the OFX 1.x norm


class _Reader:
    def __init__(self, path: Path) -> None:
        self.file = path.name

    def place(self, node: _Node, label: str) -> str:
        return f"{label} (line {node.line})"

    def date(self, node: _Node, name: str, label: str) -> dt.date | None:
        """The date in `name`; None when it is absent or blank."""
        raw = node.value(name)
        place = f"{self.place(node, label)}/{name}"
        if raw is None:
            return None
        match = _DATE.match(raw)
        try:
            if match is None:
                raise ValueError(raw)
            return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
        except ValueError:
            raise FeedFormatError(self.file, place, f"not an OFX date: {raw!r}") from None

    def amount(self, node: _Node, path: str, label: str) -> Decimal | None:
        """The amount at `path`; None when the element is absent, an error when it is blank."""
        target = node.find(path)
        if target is None:
            return None
        raw = clean(target.text)
        place = f"{self.place(node, label)}/{path}"
        if raw is None:
            raise FeedFormatError(self.file, place, f"{path} is empty")
        if not _AMOUNT.match(raw):
            raise FeedFormatError(self.file, place, f"not a decimal amount: {raw!r}")
        # A decimal comma is a common bank deviation from the OFX dot.
        return decimal_amount(self.file, place, raw.replace(",", "."))

    def statements(self, root: _Node) -> FeedStream:
        notices = list(self.statuses(root))
        found = [s for name in _STATEMENTS for s in root.iter(name)]
        # An OFX response without statements (`<OFX></OFX>`) is an empty download, not an error;
        # an investment statement is a statement this reader cannot turn into bank lines.
        if not found and (other := next(root.iter("INVSTMTRS"), None)) is not None:
            raise FeedFormatError(
                self.file, self.place(other, "INVSTMTRS"), "investment statements are not read"
            )
        yield from notices
        for number, statement in enumerate(sorted(found, key=lambda s: s.line), start=1):
            yield from self.statement(statement, f"{statement.name} {number}")

    def statuses(self, root: _Node) -> Iterator[FeedNotice]:
        """Refuse a response whose sign-on or statement request failed (a STATUS with a CODE
        other than 0 and SEVERITY ERROR, or a failed request that returned no statement): it
        is the bank's error message, not an empty statement. A warning beside a statement is
        passed on as a notice."""
        for wrapper in (w for name in _WRAPPERS for w in root.iter(name)):
            status = next((c for c in wrapper.children if c.name == "STATUS"), None)
            code = status.value("CODE") if status is not None else None
            if status is None or code in (None, "0"):
                continue
            severity = (status.value("SEVERITY") or "").upper()
            message = status.value("MESSAGE")
            place = self.place(status, f"{wrapper.name}/STATUS")
            said = f"code {code}" + (f" ({severity})" if severity else "")
            said += f": {message[:200]!r}" if message else ", no message"
            has_statement = any(next(wrapper.iter(n), None) for n in _STATEMENTS)
            if (
                severity == "ERROR"
                or severity not in ("INFO", "WARN")
                or (wrapper.name != "SONRS" and not has_statement)
            ):
                raise FeedFormatError(self.file, place, f"the bank answered with an error, {said}")
            yield FeedNotice(self.file, place, f"the bank's status {said}")

    def statement(self, node: _Node, label: str) -> FeedStream:
        account = node.value("BANKACCTFROM/ACCTID") or node.value("CCACCTFROM/ACCTID")
        if account is None:
            raise FeedFormatError(self.file, self.place(node, label), "no ACCTID for the account")
        currency = node.value("CURDEF")
        closing = None
        ledger = node.find("LEDGERBAL")
        # A LEDGERBAL whose BALAMT and DTASOF are both blank states no balance at all; one with a
        # date but no amount is a broken balance and is refused.
        if ledger is not None and (ledger.value("BALAMT") or ledger.value("DTASOF")):
            closing = self.amount(ledger, "BALAMT", f"{label}/LEDGERBAL")
            self.date(ledger, "DTASOF", f"{label}/LEDGERBAL")
        book = StatementBook(self.file, account, f"{self.place(node, label)}/ACCTID")
        total, count = Decimal(0), 0
        for n, trn in enumerate(node.iter("STMTTRN"), start=1):
            line = self.line(trn, f"{label}/STMTTRN {n}", currency, book)
            total, count = total + line.amount, count + 1
            yield line
            if book.notices:
                yield from book.drain()
        yield StatementHeader(
            self.file, "ofx", None, account, currency or "", None, closing, count, total
        )

    def line(
        self, trn: _Node, label: str, currency: str | None, book: StatementBook
    ) -> StatementLine:
        posted = self.date(trn, "DTPOSTED", label)
        if posted is None:
            place = f"{self.place(trn, label)}/DTPOSTED"
            raise FeedFormatError(self.file, place, "DTPOSTED is missing or empty")
        amount = self.amount(trn, "TRNAMT", label)
        if amount is None:
            raise FeedFormatError(
                self.file, f"{self.place(trn, label)}/TRNAMT", "TRNAMT is missing"
            )
        line_currency = currency or trn.value("CURRENCY/CURSYM") or trn.value("ORIGCURRENCY/CURSYM")
        if not line_currency:
            raise FeedFormatError(self.file, self.place(trn, label), "no CURDEF nor CURSYM")
        value = self.date(trn, "DTAVAIL", label) or self.date(trn, "VALUEDATE", label)
        name = trn.value("NAME") or trn.value("PAYEE/NAME")
        refnum, check = trn.value("REFNUM"), trn.value("CHECKNUM")
        extras = [
            f"REFNUM {refnum}" if refnum else "",
            f"CHECK {check}" if check not in (None, "0") else "",
        ]
        remittance = " ".join(p for p in (trn.value("MEMO") or name, *extras) if p)
        return build_line(
            book,
            self.place(trn, label),
            trn.value("FITID"),
            ("ofx", book.account, posted, amount, line_currency, name, remittance),
            posted,
            value,
            amount,
            line_currency.upper(),
            counterparty_name=name,
            counterparty_account=trn.value("BANKACCTTO/ACCTID") or trn.value("CCACCTTO/ACCTID"),
            remittance=remittance or None,
            bank_transaction_code=trn.value("TRNTYPE"),
        )


def read_ofx(path: Path, *, verify: bool = True) -> FeedStream:
    """Stream the lines of an OFX file, each statement followed by its header.

    OFX states a closing (LEDGERBAL) balance but no opening one, so there is no balance to check.
    """
    del verify  # nothing to verify: see the docstring
    file = path.name
    text = _decode(path.read_bytes())
    start = text.upper().find("<OFX>")
    if start < 0:
        raise FeedFormatError(file, "OFX header", "no <OFX> element")
    first_line = text.count("\n", 0, start) + 1
    yield from _Reader(path).statements(_tree(file, text[start:], first_line))
