"""camt.052/053/054 (ISO 20022 bank-to-customer reports), streamed with lxml `iterparse`.

Any version .001.NN is read: the elements payrecon needs kept their paths from .001.02 onwards,
except `Amt` on TxDtls (from .001.03), `Sts/Cd` and `Pty/Nm` (from .001.08), which are tried too;
.001.01 puts `TxDtls` and `Btch` in the entry itself, names a balance type `Tp/Cd`, a return
reason `RtrRsn` and allows `BBAN`, `UPIC` and `PrtryAcct/Id` for the account.
Only `Stmt`/`Rpt`/`Ntfctn` and `Ntry` end events reach Python; each entry is read through the
tables of `camt_paths` (no path strings, no tree walk beyond the fields a line needs), turned into
lines and dropped from the tree, so memory stays flat however long the statement is. A DOCTYPE is
refused before the parser sees the file (see `check_xml_prolog`), and the parser itself resolves
no entities, loads no DTD and keeps libxml2's size limits.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from payrecon.domain.errors import FeedFormatError
from payrecon.feeds.camt_entries import CamtStatement, EntryReader, first_text
from payrecon.feeds.camt_paths import (
    ENTRY_TABLE,
    GROUP_HEADER_TABLE,
    STATEMENT_TABLE,
    Values,
    compiled,
    read_into,
)
from payrecon.feeds.statement import (
    FeedStream,
    StatementBook,
    StatementHeader,
    check_balance,
    check_equal,
    check_xml_prolog,
    clean,
    decimal_amount,
)

_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.001\.\d+$")
_STATEMENTS = frozenset({"Stmt", "Rpt", "Ntfctn"})
_SUMMARY = {
    "entries": "ttl_count",
    "sum": "ttl_sum",
    "credits": "cdt_count",
    "credit sum": "cdt_sum",
    "debits": "dbt_count",
    "debit sum": "dbt_sum",
}
_SUMMARY_PATHS = {
    "ttl": "TxsSummry/TtlNtries",
    "cdt": "TxsSummry/TtlCdtNtries",
    "dbt": "TxsSummry/TtlDbtNtries",
}
_STATEMENT_ACCOUNT = ("iban", "othr", "bban", "upic", "prtry_acct")
PROLOG_BYTES = 65536


def camt_kind(namespace: str | None) -> str | None:
    """'camt.053' for urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN, else None."""
    match = _NAMESPACE.match(namespace or "")
    return match.group(1) if match else None


class _CamtReader(EntryReader):
    def __init__(self, path: Path, verify: bool) -> None:
        super().__init__(path.name, verify)
        self.kind = ""
        self.namespace = ""
        self.strip = 0  # length of "{namespace}" in a tag
        self.group_created: tuple[date, str] | None = None

    def start(self, root: etree._Element) -> None:
        """Check the root element and compile the tables for its namespace."""
        if root.getroottree().docinfo.doctype:  # type: ignore[attr-defined]
            raise FeedFormatError(self.file, "XML prolog", "DOCTYPE declarations are refused")
        qname = etree.QName(root)
        self.kind = camt_kind(qname.namespace) or ""
        if not self.kind or qname.localname != "Document":
            problem = f"not a camt.052/053/054 Document: {root.tag!r}"
            raise FeedFormatError(self.file, "root element", problem)
        self.namespace = qname.namespace or ""
        self.strip = len(self.namespace) + 2
        self.entry_table = compiled(ENTRY_TABLE, self.namespace)

    def group_header(self, document_part: etree._Element | None) -> None:
        """Remember GrpHdr/CreDtTm once: it is dropped from the tree after the first statement."""
        if self.group_created is not None or document_part is None:
            return
        values: Values = {}
        read_into(document_part, compiled(GROUP_HEADER_TABLE, self.namespace), values)
        created = self.date_of(values, "created", "GrpHdr", "CreDtTm")
        if created is not None:
            self.group_created = (created, "the group header's CreDtTm")

    def open_statement(self, elem: etree._Element, index: int) -> CamtStatement:
        self.group_header(elem.getparent())
        place = f"{elem.tag[self.strip :]}[{index}]"
        values: Values = {}
        read_into(elem, compiled(STATEMENT_TABLE, self.namespace), values)
        account = first_text(values, _STATEMENT_ACCOUNT)
        if account is None:
            problem = "no account id (IBAN, Othr/Id, or in .001.01 BBAN, UPIC or PrtryAcct/Id)"
            raise FeedFormatError(self.file, f"{place}/Acct/Id", problem)
        statement_id = clean(values.get("id"))
        place += f" Id {statement_id}" if statement_id else ""
        undated, source = self.period_date(values, place)
        st = CamtStatement(
            place=place,
            index=index,
            statement_id=statement_id,
            book=StatementBook(self.file, account, f"{place}/Acct/Id"),
            currency=clean(values.get("ccy")),
            undated=undated,
            undated_source=source,
        )
        balances: dict[str, tuple[Decimal, date | None]] = {}
        for n, bal in enumerate(values.get("balances", []), start=1):
            where = f"{place}/Bal[{n}]"
            value = self.signed(bal, where)
            code = clean(bal.get("code")) or ""
            balances.setdefault(code, (value, self.date_of(bal, "dt", where, "Dt")))
        opening = balances.get("OPBD") or balances.get("PRCD")
        st.opening = opening[0] if opening else None
        st.closing, st.closing_date = balances.get("CLBD", (None, None))
        for key, name in _SUMMARY.items():
            if (text := clean(values.get(name))) is not None:
                path = f"{_SUMMARY_PATHS[name[:3]]}/{'NbOfNtries' if 'count' in name else 'Sum'}"
                st.stated[key] = decimal_amount(self.file, f"{place}/{path}", text)
        if values.get("ttl_net_amt") is not None:
            net = self.amount(values["ttl_net_amt"], place, "TxsSummry/TtlNtries/TtlNetNtry/Amt")
            debit = clean(values.get("ttl_net_ind")) == "DBIT"
            st.stated["net"] = -net if debit else net
        return st

    def period_date(self, values: Values, place: str) -> tuple[date | None, str]:
        """The date given to entries without BookgDt and ValDt: the end of the reporting period
        (FrToDt/ToDtTm), else when the statement was made (CreDtTm), else the group header's."""
        for key, path, source in (
            ("to", "FrToDt/ToDtTm", "the end of its reporting period (FrToDt/ToDtTm)"),
            ("created", "CreDtTm", "its creation date (CreDtTm)"),
        ):
            if (day := self.date_of(values, key, place, path)) is not None:
                return day, source
        if self.group_created is not None:
            return self.group_created
        return None, ""

    def finish(self, st: CamtStatement) -> FeedStream:
        if self.verify:
            found = st.found()
            for key, stated in st.stated.items():
                check_equal(self.file, f"{st.place}/TxsSummry", key, stated, found[key])
            # Some banks (PostFinance among them) leave bookings valued after the balance date out
            # of CLBD and report them in FWAV; either reading of the closing balance is accepted.
            if (
                st.opening is not None
                and st.closing is not None
                and st.opening + st.booked_to_closing_date != st.closing
            ):
                check_balance(self.file, st.place, st.opening, st.booked, st.closing)
        if st.undated_entries:
            first, count = st.undated_entries[0], len(st.undated_entries)
            st.book.note(
                st.place,
                f"{count} booked {'entry states' if count == 1 else 'entries state'} neither "
                f"BookgDt nor ValDt (first: {first.rsplit('/', 1)[-1]}): booked on "
                f"{st.undated}, {st.undated_source}",
            )
        if st.skipped:
            kinds = ", ".join(f"{n} {status}" for status, n in sorted(st.skipped.items()))
            total = sum(st.skipped.values())
            st.book.note(st.place, f"{total} {'entry' if total == 1 else 'entries'} not booked "
                                   f"({kinds}) skipped: not money moved")  # fmt: skip
        yield from st.book.drain()
        yield StatementHeader(
            self.file, self.kind, st.statement_id, st.account, st.currency or "",
            st.opening, st.closing, st.lines, st.booked,
        )  # fmt: skip


def _iterparse(stream: Any) -> Any:
    # These settings are the hardening the module docstring promises: no entity resolution, no
    # network, no DTD, and libxml2's limits on text size kept (huge_tree off). Only end events of
    # the statements and entries reach Python.
    return etree.iterparse(
        stream,
        events=("end",),
        tag=("{*}Stmt", "{*}Rpt", "{*}Ntfctn", "{*}Ntry"),
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
            problem = f"not well-formed XML: {exc.msg}"
            raise FeedFormatError(reader.file, place, problem) from None


def _walk(reader: _CamtReader, events: Any) -> FeedStream:
    file = reader.file
    st: CamtStatement | None = None
    count = kept = 0
    statements = _STATEMENTS
    for _, elem in events:
        if not reader.kind:
            reader.start(elem.getroottree().getroot())
        parent = elem.getparent()
        if parent is None:
            continue
        name = elem.tag[reader.strip :]
        if name == "Ntry":
            if st is None:
                if parent.tag[reader.strip :] not in statements:
                    continue
                count += 1
                st = reader.open_statement(parent, count)
            yield from reader.entry_lines(st, elem)  # a list: cheaper than a generator
            if st.book.notices:
                yield from st.book.drain()
            # Free what has been read: the entry's content now, and every 256 entries the
            # emptied siblings before it in one cut (never those after it: iterparse may have
            # built the next entries already).
            elem.clear()
            kept += 1
            if kept == 256:
                del parent[: parent.index(elem)]
                kept = 0
            continue
        elif parent.tag[reader.strip :].startswith("BkToCstmr"):
            if st is None:
                count += 1
                st = reader.open_statement(elem, count)
            yield from reader.finish(st)
            st, kept = None, 0
        else:
            continue
        # Free the statement and every sibling before it.
        elem.clear()
        while elem.getprevious() is not None:
            del parent[0]
    root = events.root
    if not reader.kind:
        if root is None:
            raise FeedFormatError(file, "root element", "no camt Document element")
        reader.start(root)
    if count == 0:
        message = root[0] if len(root) else root
        local = message.tag[reader.strip :] if isinstance(message.tag, str) else "Document"
        place = f"{local} (line {message.sourceline})"
        problem = "no Stmt, Rpt or Ntfctn in the message: not a statement"
        raise FeedFormatError(file, place, problem)
