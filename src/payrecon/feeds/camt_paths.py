"""Which elements of a camt entry, statement and balance the reader takes, and the walk that takes
them without building paths.

Each table maps an element's local name to what is kept of it: its text under a key, its text and
`Ccy` attribute (an amount), the elements inside it (a container), or a new record (a `TxDtls` or a
`Bal`, read with its own table). The tables are compiled once per document namespace into dicts
keyed by the full `{namespace}Name` tag that lxml reports, so the walk visits only the elements it
needs (and their siblings) and never builds a path string. The first occurrence of a key wins,
as `findtext` would; `Ustrd` and `NbOfTxs` are lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from lxml import etree

TEXT, LIST, AMOUNT, CONTAINER, RECORD, TEXT_AND_CONTAINER, FIRST_CHILD, SAME_AS_BEFORE = range(8)

Table = Mapping[str, Any]
Compiled = dict[str, tuple[int, str, Any]]
Values = dict[str, Any]

# A bank transaction code repeats from entry to entry: its markup is looked up, not walked.
_CODE = (
    SAME_AS_BEFORE,
    "",
    {
        "Domn": {"Cd": "domn", "Fmly": {"Cd": "fmly", "SubFmlyCd": "subfmly"}},
        "Prtry": {"Cd": "prtry_cd"},
    },
)

DETAIL: Table = {
    "Refs": {"AcctSvcrRef": "ref", "EndToEndId": "e2e", "MndtId": "mandate"},
    "Amt": (AMOUNT, "amt"),
    "AmtDtls": {
        "TxAmt": {"Amt": (AMOUNT, "txamt")},
        "CntrValAmt": {"Amt": (AMOUNT, "cntrvalamt")},
        "InstdAmt": {"Amt": (AMOUNT, "instdamt")},
    },
    "CdtDbtInd": "ind",
    "BkTxCd": _CODE,
    "RltdPties": {
        "Dbtr": {"Nm": "dbtr_nm", "Pty": {"Nm": "dbtr_pty_nm"}},
        "Cdtr": {"Nm": "cdtr_nm", "Pty": {"Nm": "cdtr_pty_nm"}},
        "DbtrAcct": {"Id": {"IBAN": "dbtracct_iban", "Othr": {"Id": "dbtracct_othr"}}},
        "CdtrAcct": {"Id": {"IBAN": "cdtracct_iban", "Othr": {"Id": "cdtracct_othr"}}},
    },
    "RmtInf": {"Ustrd": (LIST, "ustrd"), "Strd": {"CdtrRefInf": {"Ref": "strd_ref"}}},
    # Rsn from .001.02 on; .001.01 named it RtrRsn.
    "RtrInf": {
        "Rsn": {"Cd": "rtr_cd", "Prtry": "rtr_prtry"},
        "RtrRsn": {"Cd": "rtr_cd", "Prtry": "rtr_prtry"},
    },
}

ENTRY: Table = {
    "Amt": (AMOUNT, "amt"),
    "CdtDbtInd": "ind",
    "RvslInd": "rvsl",
    # `<Sts>BOOK</Sts>` up to .001.07, `<Sts><Cd>BOOK</Cd></Sts>` from .001.08.
    "Sts": (TEXT_AND_CONTAINER, "sts", {"Cd": "sts"}),
    # Dt or DtTm, whichever it holds: the date is the first ten characters of either.
    "BookgDt": (FIRST_CHILD, "bookg"),
    "ValDt": (FIRST_CHILD, "val"),
    "AcctSvcrRef": "ref",
    "NtryRef": "ntry_ref",
    "BkTxCd": _CODE,
    "AddtlNtryInf": "note",
    "NtryDtls": {"Btch": {"NbOfTxs": (LIST, "nboftxs")}, "TxDtls": (RECORD, "details", DETAIL)},
    # .001.01 has no NtryDtls: Btch and TxDtls sit in the entry itself.
    "Btch": {"NbOfTxs": (LIST, "nboftxs")},
    "TxDtls": (RECORD, "details", DETAIL),
}

BALANCE: Table = {
    # Tp/CdOrPrtry from .001.02 on; .001.01 has Tp/Cd and Tp/Prtry.
    "Tp": {"CdOrPrtry": {"Cd": "code", "Prtry": "code"}, "Cd": "code", "Prtry": "code"},
    "Amt": (AMOUNT, "amt"),
    "CdtDbtInd": "ind",
    "Dt": {"Dt": "dt", "DtTm": "dt_tm"},
}

_NUMBER_AND_SUM = {"NbOfNtries": "count", "Sum": "sum"}
STATEMENT: Table = {
    "Id": "id",
    "CreDtTm": "created",
    "FrToDt": {"FrDtTm": "from", "ToDtTm": "to"},
    "Acct": {
        # IBAN or Othr/Id from .001.02 on; .001.01 also has BBAN, UPIC and PrtryAcct/Id.
        "Id": {
            "IBAN": "iban",
            "Othr": {"Id": "othr"},
            "BBAN": "bban",
            "UPIC": "upic",
            "PrtryAcct": {"Id": "prtry_acct"},
        },
        "Ccy": "ccy",
    },
    "Bal": (RECORD, "balances", BALANCE),
    "TxsSummry": {
        "TtlNtries": {
            **{k: f"ttl_{v}" for k, v in _NUMBER_AND_SUM.items()},
            "TtlNetNtryAmt": "ttl_net_amt",  # .001.01 and .001.02
            "CdtDbtInd": "ttl_net_ind",
            "TtlNetNtry": {"Amt": "ttl_net_amt", "CdtDbtInd": "ttl_net_ind"},
        },
        "TtlCdtNtries": {k: f"cdt_{v}" for k, v in _NUMBER_AND_SUM.items()},
        "TtlDbtNtries": {k: f"dbt_{v}" for k, v in _NUMBER_AND_SUM.items()},
    },
}

GROUP_HEADER: Table = {"GrpHdr": {"CreDtTm": "created"}}


@lru_cache(maxsize=64)
def compiled(table_id: int, namespace: str) -> Compiled:
    """The table named by `table_id` (see `TABLES`) keyed by full tag in `namespace`."""
    return _compile(TABLES[table_id], namespace)


def _compile(table: Table, namespace: str) -> Compiled:
    out: Compiled = {}
    for name, spec in table.items():
        tag = f"{{{namespace}}}{name}"
        if isinstance(spec, str):
            out[tag] = (TEXT, spec, None)
        elif isinstance(spec, tuple) and len(spec) == 2:
            out[tag] = (spec[0], spec[1], None)
        elif isinstance(spec, tuple):
            out[tag] = (spec[0], spec[1], _compile(spec[2], namespace))
        else:
            out[tag] = (CONTAINER, "", _compile(spec, namespace))
    return out


TABLES = (ENTRY, STATEMENT, GROUP_HEADER)
ENTRY_TABLE, STATEMENT_TABLE, GROUP_HEADER_TABLE = range(3)


def read_into(elem: etree._Element, table: Compiled, out: Values) -> None:
    """Put the texts `table` names below `elem` into `out` (first occurrence wins).

    This loop runs for some thirty elements of every entry and is the parser's hottest Python
    code: the kinds are compared as literals, the most frequent first, and a container's own
    children are read in the same frame (one call fewer per container).
    """
    for child in elem:
        spec = table.get(child.tag)
        if spec is None:
            continue
        kind, key, inner = spec
        if kind == 0:  # TEXT
            if key not in out and (text := child.text) is not None:
                out[key] = text
        elif kind == 3:  # CONTAINER, its children read here
            for grandchild in child:
                spec = inner.get(grandchild.tag)
                if spec is None:
                    continue
                kind, key, deeper = spec
                if kind == 0:
                    if key not in out and (text := grandchild.text) is not None:
                        out[key] = text
                elif kind == 1:  # LIST (Ustrd)
                    if (text := grandchild.text) is not None:
                        out.setdefault(key, []).append(text)
                else:
                    _read_one(grandchild, kind, key, deeper, out)
        elif kind == 6:  # FIRST_CHILD (the dates)
            if key not in out:
                for first in child:
                    if (text := first.text) is not None:
                        out[key] = text
                    break
        elif kind == 2:  # AMOUNT
            if key not in out and (text := child.text) is not None:
                out[key] = text
                out[key + "@"] = child.get("Ccy")
        else:
            _read_one(child, kind, key, inner, out)


def _read_one(child: etree._Element, kind: int, key: str, inner: Any, out: Values) -> None:
    """Every kind but TEXT, for one element."""
    if kind == 3:  # CONTAINER
        read_into(child, inner, out)
    elif kind == 2:  # AMOUNT
        if key not in out and (text := child.text) is not None:
            out[key] = text
            out[key + "@"] = child.get("Ccy")
    elif kind == 4:  # RECORD
        record: Values = {}
        read_into(child, inner, record)
        out.setdefault(key, []).append(record)
    elif kind == 1:  # LIST
        if (text := child.text) is not None:
            out.setdefault(key, []).append(text)
    elif kind == 6:  # FIRST_CHILD
        if key not in out:
            for first in child:
                if (text := first.text) is not None:
                    out[key] = text
                break
    elif kind == 7:  # SAME_AS_BEFORE
        markup = etree.tostring(child)
        if (known := _SEEN.get(markup)) is None:
            known = {}
            read_into(child, inner, known)
            if len(_SEEN) < 1024:
                _SEEN[markup] = known
        for name, value in known.items():
            out.setdefault(name, value)
    else:  # TEXT_AND_CONTAINER
        if key not in out and (text := child.text) is not None and not text.isspace():
            out[key] = text
        if len(child):
            read_into(child, inner, out)


_SEEN: dict[bytes, Values] = {}
