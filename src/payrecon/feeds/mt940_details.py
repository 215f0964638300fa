"""The `:86:` information to account owner: German structured fields (GVC, `?20`..`?63`), the
Dutch slash subfields (`/EREF/`, `/NAME/`, `/REMI/`), and free text.

Banks wrap `:86:` at 65 characters a line and cut the German purpose (`?20`..`?29`, `?60`..`?63`)
into slices of 27, both without regard to words, so the joins decide whether a reference
survives (`RG-00` + `1234` must give `RG-001234`, `Rechnung` + `RG-001234` must not give
`RechnungRG-001234`):

* Structured text: a full physical line (65 characters, 61 after the `:86:` tag for banks that
  count it) was cut by width, anywhere, even inside a mark (`?2` / `1`), and joins the next with
  nothing. A shorter line ended early at a space the bank then trimmed, so a space follows,
  unless a subfield mark starts the next line or ends this one.
* A purpose or name slice that fills its 27 characters was cut by width: the next slice goes on
  without a space. A shorter slice ended where the bank chose, at a word: a space follows.
* Free text: a full line (65 characters) whose last character and the next line's first are both
  not spaces was cut inside a word and is joined without a space; other lines with a space
  (banks that wrap at words drop the space at the end of the line).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_STRUCTURED = re.compile(r"^(?P<code>\d{3})(?P<mark>[?>])\d{2}")
_MARKS = {"?": re.compile(r"\?(\d{2})"), ">": re.compile(r">(\d{2})")}
_ENDS_IN_MARK = {"?": re.compile(r"\?\d?$"), ">": re.compile(r">\d?$")}
_SLICE = 27
_PURPOSE = (*map(str, range(20, 30)), "60", "61", "62", "63")
_FULL_LINE = 65
# SEPA keywords in the purpose (DK "Technische Anlage 3"); "BIC " is four characters too.
_KEYWORD = re.compile(
    r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC |PURP|COAM|OAMT|SQTP|ORCR|ORMR|DDAT|MDAT)\+"
)
_IDENTIFIERS = frozenset({"EREF", "KREF", "MREF", "CRED", "DEBT", "IBAN", "BIC"})
# Dutch and other banks: /EREF/<end-to-end id>/MARF/<mandate>/NAME/.../REMI/...
_SLASHED = re.compile(r"/(EREF|MARF|NAME|IBAN|RTRN)/+([^/]+)")


@dataclass(frozen=True, slots=True)
class Details:
    """What payrecon takes from one `:86:`."""

    text: str  # the whole field, lines joined as described above
    structured: bool
    remittance: str | None = None
    name: str | None = None
    account: str | None = None
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    return_reason: str | None = None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    joined = " ".join(text.split())
    return joined or None


def join_free_text(lines: list[str]) -> str:
    """Free-text lines joined: no space where a full line was cut inside a word."""
    out = lines[0].rstrip() if lines else ""
    for previous, line in itertools.pairwise(lines):
        cut = len(previous) >= _FULL_LINE and previous[-1:].strip() and line[:1].strip()
        out += line.rstrip() if cut else f" {line.strip()}"
    return out


def _join_slices(slices: list[str]) -> str:
    out = ""
    for n, piece in enumerate(slices):
        if n and len(slices[n - 1]) < _SLICE and not out.endswith(" ") and not piece[:1].isspace():
            out += " "
        out += piece
    return out


def _join_structured(lines: list[str], mark: str) -> str:
    out = lines[0]
    for n, (previous, line) in enumerate(itertools.pairwise(lines)):
        full = len(previous) >= _FULL_LINE - (4 if n == 0 else 0)
        # A line cannot start with ':' or '-' in SWIFT; one that does was wrapped by a tool.
        at_mark = line.startswith((mark, ":", "-")) or _ENDS_IN_MARK[mark].search(previous)
        spaced = previous[-1:].isspace() or line[:1].isspace()
        out += line if full or at_mark or spaced else f" {line}"
    return out


def read_details(lines: list[str]) -> Details:
    """Read the `:86:` lines (the first without its tag)."""
    match = _STRUCTURED.match("".join(lines))
    joined = _join_structured(lines, match["mark"]) if match else ""
    if match is None:
        text = join_free_text(lines)
        sub = {key: _clean(value) for key, value in _SLASHED.findall(text)}
        return Details(
            text=text,
            structured=False,
            remittance=_clean(text),
            name=sub.get("NAME"),
            account=sub.get("IBAN"),
            end_to_end_id=sub.get("EREF"),
            mandate_id=sub.get("MARF"),
            return_reason=sub.get("RTRN"),
        )
    fields: dict[str, list[str]] = {}
    pieces = _MARKS[match["mark"]].split(joined[3:])
    for number, value in zip(pieces[1::2], pieces[2::2], strict=True):
        fields.setdefault(number, []).append(value)
    purpose = _join_slices([v for n in _PURPOSE if n in fields for v in fields[n]])
    keyed = _keywords(purpose)
    name = _clean(_join_slices(fields.get("32", []) + fields.get("33", [])))
    # The purpose proper (SVWZ), else what is not an identifier keyword (EREF, MREF, ...).
    remittance = keyed.get("SVWZ")
    if remittance is None:
        remittance = " ".join(v for k, v in keyed.items() if k not in _IDENTIFIERS)
    return Details(
        text=joined,
        structured=True,
        remittance=_clean(remittance),
        name=name,
        account=_clean("".join(fields.get("31", []))),
        end_to_end_id=_clean(keyed.get("EREF")),
        mandate_id=_clean(keyed.get("MREF")),
        return_reason=_clean("".join(fields.get("34", []))),
    )


def _keywords(purpose: str) -> dict[str, str]:
    """The SEPA keyword values of a purpose (`EREF+...SVWZ+...`); text before the first keyword
    under ''. A purpose without keywords is all under ''."""
    parts = _KEYWORD.split(purpose)
    keyed = {"": parts[0]} if parts[0].strip() else {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        keyed.setdefault(key.strip(), value)
    return keyed
