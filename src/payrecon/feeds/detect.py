"""Which bank-file format a file is, judged from its content, and the one entry point that reads it.

The filename is never consulted: banks and operators name files freely, and an upload arrives
under a temporary name.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from payrecon.domain.errors import FeedFormatError
from payrecon.domain.lines import StatementLine
from payrecon.feeds.camt import PROLOG_BYTES, camt_kind
from payrecon.feeds.csvprofile import match_profile
from payrecon.feeds.statement import FeedStream, StatementHeader, check_xml_prolog

FORMATS = ("camt.052", "camt.053", "camt.054", "mt940", "mt942", "bai2", "ofx", "csv")

_SWIFT_TAG = re.compile(r"^:[0-9A-Z]{2,3}:")
_SWIFT_STATEMENT = re.compile(r"(?m)^:20:")
_MT942_TAGS = re.compile(r"(?m)^:(34F|13D):")
_CSV_DELIMITERS = (",", ";", "\t", "|")
_BAI2_RECORD = re.compile(r"^\d{2},.*/\s*$")


def _unrecognised(file: str, why: str) -> FeedFormatError:
    return FeedFormatError(file, "start of file", f"unrecognised format ({why})")


def _xml_root_namespace(path: Path) -> str:
    """The namespace of the root element, read with the same hardened parser as the camt reader."""
    with path.open("rb") as stream:
        events: Any = etree.iterparse(
            stream,
            events=("start",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        try:
            _, root = next(events)
        except (etree.XMLSyntaxError, StopIteration):
            raise _unrecognised(path.name, "XML that is not well-formed") from None
    return etree.QName(root).namespace or ""


def detect_format(path: Path) -> str:
    """One of FORMATS, from the content; FeedFormatError if the content fits none of them."""
    file = path.name
    with path.open("rb") as stream:
        head = stream.read(PROLOG_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="replace")
    else:
        text = head.decode("utf-8", errors="replace")
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        raise _unrecognised(file, "the file is empty")
    if body.upper().startswith("OFXHEADER") or "<OFX>" in body[:8192].upper():
        return "ofx"
    if body.startswith("<"):
        check_xml_prolog(file, head)
        namespace = _xml_root_namespace(path)
        kind = camt_kind(namespace)
        if kind is None:
            raise _unrecognised(file, f"XML in namespace {namespace!r}")
        return kind
    lines = body.splitlines()
    # BAI2 records are "NN,...,/"; a file whose first record is not 01 is still BAI2 to the eye,
    # and the BAI2 reader then says which record is wrong.
    if _BAI2_RECORD.match(lines[0]):
        return "bai2"
    if _SWIFT_STATEMENT.search(body) or _SWIFT_TAG.match(body) or body.startswith("{1:"):
        is_942 = _MT942_TAGS.search(body) or "{2:O942" in body[:200]
        return "mt942" if is_942 else "mt940"
    if _looks_tabular(lines) or match_profile(path) is not None:
        return "csv"
    raise _unrecognised(file, "not camt, MT940/942, BAI2, OFX or a CSV header")


def _looks_tabular(lines: list[str]) -> bool:
    """A header and a first row split into the same number (>= 2) of cells by one delimiter."""
    rows = [line for line in lines[:2] if line.strip()]
    if len(rows) < 2 or rows[0].lstrip().startswith(("{", "[")) or not rows[0].isprintable():
        return False
    return any(
        len(next(csv.reader([rows[0]], delimiter=d)))
        == len(next(csv.reader([rows[1]], delimiter=d)))
        > 1
        for d in _CSV_DELIMITERS
    )


def _reader(path: Path, fmt: str, verify: bool, csv_profile: str | None) -> FeedStream:
    # Imported here so that reading one format does not load the others' dependencies.
    if fmt.startswith("camt."):
        from payrecon.feeds.camt import read_camt

        return read_camt(path, verify=verify)
    if fmt in ("mt940", "mt942"):
        from payrecon.feeds.mt940 import read_mt940

        return read_mt940(path, verify=verify, fmt=fmt)
    if fmt == "bai2":
        from payrecon.feeds.bai2 import read_bai2

        return read_bai2(path, verify=verify)
    if fmt == "ofx":
        from payrecon.feeds.ofx import read_ofx

        return read_ofx(path, verify=verify)
    from payrecon.feeds.csvprofile import read_csv

    return read_csv(path, profile=csv_profile, verify=verify)


def _open(path: Path, verify: bool, csv_profile: str | None) -> FeedStream:
    try:
        fmt = detect_format(path)
    except FeedFormatError:
        # A named profile says the file is CSV even when its header fits no bundled profile.
        if csv_profile is None:
            raise
        fmt = "csv"
    return _reader(path, fmt, verify, csv_profile)


def read_statement_file(
    path: Path, *, verify: bool = True, csv_profile: str | None = None
) -> Iterator[StatementLine]:
    """The normalised lines of a bank file, in file order.

    The format is detected at once (an unrecognised file raises here); the lines are then read as
    they are consumed. With `verify`, balances and control totals are checked where the file
    states them; a failed check raises FeedFormatError when it is reached, which may be after
    some lines were yielded, so the caller writes all of them in one transaction.
    """
    stream = _open(path, verify, csv_profile)
    return (item for item in stream if isinstance(item, StatementLine))


def read_feed(path: Path, *, verify: bool = True, csv_profile: str | None = None) -> FeedStream:
    """Everything the reader yields, in file order: the lines, a `StatementHeader` after each
    statement's lines, and `FeedNotice`s (entries skipped, fields cut, parts set aside)."""
    return _open(path, verify, csv_profile)


def numbered_lines(
    path: Path, *, verify: bool = True, csv_profile: str | None = None
) -> Iterator[tuple[int, StatementLine]]:
    """The lines with their sequence numbers, 1 for the first line of the file, in file order:
    the `seq` ingest stores, so that a chunk of the stream can be written on its own."""
    return enumerate(read_statement_file(path, verify=verify, csv_profile=csv_profile), start=1)


def read_statements(
    path: Path, *, verify: bool = True, csv_profile: str | None = None
) -> Iterator[StatementHeader]:
    """One header per statement in the file (account, currency, id, balances, line count)."""
    stream = _open(path, verify, csv_profile)
    return (item for item in stream if isinstance(item, StatementHeader))
