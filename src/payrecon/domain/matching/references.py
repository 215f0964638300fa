"""Invoice references in a line's texts: the owner's invoice-number pattern and ISO 11649 `RF`
creditor references.

An invoice number is a prefix of letters and a number (`INV-0001234`). Its *key* is the prefix in
capitals followed by the number without leading zeros (`INV1234`), so `INV-0001234`, `inv 1234`,
`INV0001234` and `Invoice no. 1234` all name the same invoice. A bare number is never a reference:
only the owner's prefix, or a label word such as "invoice", makes one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_SEP = r"[\s\-_/.#:]"
_NUMBER = re.compile(rf"([A-Za-z]+){_SEP}*0*(\d+)")
_FORMAT = re.compile(rf"\s*([A-Za-z]+){_SEP}*[0-9#]*\s*")
_NOT_ALNUM = re.compile(rf"{_SEP}+")
# A token holding a digit, between spaces and punctuation (one regex pass: this runs per line).
_TOKEN = re.compile(r"[^\s,;:()\[\]{}<>\"'+*|/]*\d[^\s,;:()\[\]{}<>\"'+*|/]*")
_RF = re.compile(r"(?<![A-Za-z0-9])RF(\d{2}) ?([A-Za-z0-9]+(?: [A-Za-z0-9]{1,4})*)", re.IGNORECASE)
# A label stands for the prefix, so it needs a number that looks like one ("invoice 2 of 3" is
# not), unless a marker says it is one ("Invoice no. 52").
_LABEL_MIN_DIGITS = 3
_RF_MAX_BODY = 21
_DIGIT = re.compile(r"\d").search

FIELD_STRUCTURED = "structured_reference"
FIELD_REMITTANCE = "remittance"
KIND_NUMBER = "invoice_number"
KIND_CREDITOR = "creditor_reference"


def invoice_prefix(number_format: str) -> str:
    """The letters that open an owner's invoice numbers: `INV-0000000` -> `INV`, `SI0000` -> `SI`.
    Raises ValueError for a format that is not letters followed by digit placeholders."""
    match = _FORMAT.fullmatch(number_format)
    if match is None:
        raise ValueError(
            f"invoice number format {number_format!r} is not a prefix of letters followed by "
            "digits (such as INV-0000000)"
        )
    return match[1].upper()


def invoice_key(number: str) -> str:
    """The normalised form under which an invoice number is looked up (see the module text)."""
    match = _NUMBER.fullmatch(number.strip())
    if match is not None:
        return match[1].upper() + match[2]
    return _NOT_ALNUM.sub("", number).upper()


def reference_tokens(text: str) -> list[str]:
    """Candidate identifier tokens of a free text (account numbers, bank references): split on
    spaces and punctuation, trailing dots dropped; only tokens with a digit qualify."""
    tokens = (t.strip(".") for t in _TOKEN.findall(text))
    return [t for t in tokens if len(t) >= 3]


def identifier_tokens(text: str) -> list[str]:
    """`reference_tokens` for the matcher's hot path: the same tokens, fewer steps (a token
    needs no dots stripped unless it has some; shorter ones simply match nothing)."""
    tokens = _TOKEN.findall(text)
    if "." in text:
        return [t.strip(".") for t in tokens]
    return tokens


def normalise_account(account: str) -> str:
    """A bank account or IBAN as stored on file: no spaces, capitals."""
    if " " in account or "\t" in account:
        return "".join(account.split()).upper()
    return account.upper()


def _mod97(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text)) % 97


def creditor_reference(body: str) -> str:
    """The ISO 11649 creditor reference for `body` (letters and digits, up to 21)."""
    clean = _NOT_ALNUM.sub("", body).upper()
    if not clean.isalnum() or not 0 < len(clean) <= _RF_MAX_BODY:
        raise ValueError(f"a creditor reference holds 1 to 21 letters or digits, got {body!r}")
    return f"RF{98 - _mod97(clean + 'RF00'):02d}{clean}"


def creditor_reference_is_valid(check_digits: str, body: str) -> bool:
    return 0 < len(body) <= _RF_MAX_BODY and _mod97(body + "RF" + check_digits) == 1


@dataclass(slots=True)
class FoundReference:
    key: str  # invoice_key of the invoice it names
    token: str  # as written in the line
    field: str  # FIELD_STRUCTURED or FIELD_REMITTANCE
    kind: str  # KIND_NUMBER or KIND_CREDITOR


class ReferenceReader:
    """Finds invoice references for one set of prefixes (an owner's, or every owner's when the
    line's owner is unknown) and label words."""

    def __init__(
        self, prefixes: Sequence[str], labels: Sequence[str], *, creditor_references: bool = True
    ) -> None:
        self.prefixes = tuple(dict.fromkeys(p.upper() for p in prefixes))
        self.creditor_references = creditor_references
        label_alts = sorted((r"\s+".join(map(re.escape, w.split())) for w in labels), key=len)
        prefix_alts = sorted((re.escape(p) for p in self.prefixes), key=len)
        self._pattern = re.compile(
            r"(?<![A-Za-z0-9])(?:(?P<label>"
            + ("|".join(reversed(label_alts)) or "(?!)")
            + r")|(?P<prefix>"
            + "|".join(reversed(prefix_alts))
            + rf"))\.?(?:{_SEP}*(?P<marker>no|nr|num|number|\#)(?![A-Za-z])\.?)?"
            + rf"{_SEP}*(?P<digits>\d{{1,18}})(?!\d)",
            re.IGNORECASE,
        )

    def find(self, texts: Iterable[tuple[str, str]]) -> list[FoundReference]:
        """References in (field, text) pairs, first occurrence of each key, in reading order."""
        found: list[FoundReference] = []
        for field, text in texts:
            if not _DIGIT(text):  # no number, no reference (most texts of unreferenced payments)
                continue
            if self.creditor_references and ("f" in text or "F" in text):  # no F, no RF
                creditor, spans = self._creditor_references(field, text)
                self._numbers(field, text, found, spans)
                found.extend(creditor)
            else:
                self._numbers(field, text, found, ())
        if len(found) < 2:
            return found
        seen: dict[str, FoundReference] = {}
        for reference in found:
            seen.setdefault(reference.key, reference)
        return list(seen.values())

    def _numbers(
        self,
        field: str,
        text: str,
        found: list[FoundReference],
        spans: Sequence[tuple[int, int]],
    ) -> None:
        for match in self._pattern.finditer(text):
            if spans and any(start <= match.start() < end for start, end in spans):
                continue  # a group of a creditor reference ("RF18 INV0 0012 34"), not a number
            written = match["digits"]
            digits = written.lstrip("0") or "0"
            prefix = match["prefix"]
            if prefix is not None:
                found.append(FoundReference(prefix.upper() + digits, match[0], field, KIND_NUMBER))
            elif len(written) >= _LABEL_MIN_DIGITS or _marked(match):
                for implied in self.prefixes:
                    found.append(FoundReference(implied + digits, match[0], field, KIND_NUMBER))

    def _creditor_references(
        self, field: str, text: str
    ) -> tuple[list[FoundReference], list[tuple[int, int]]]:
        """The valid RF references of `text` and where each stands in it."""
        found: list[FoundReference] = []
        spans: list[tuple[int, int]] = []
        for match in _RF.finditer(text):
            groups = match[2].upper().split(" ")
            # The body may run into the words after it: try the longest body that checks out.
            for end in range(len(groups), 0, -1):
                body = "".join(groups[:end])
                if creditor_reference_is_valid(match[1], body):
                    token = f"RF{match[1]}{body}"
                    found.extend(
                        FoundReference(key, token, field, KIND_CREDITOR)
                        for key in self._keys_of_body(body)
                    )
                    spans.append((match.start(), match.start(2) + len(" ".join(groups[:end]))))
                    break
        return found, spans

    def _keys_of_body(self, body: str) -> list[str]:
        if body.isdigit():  # built from the number alone: the owner's prefix is implied
            return [prefix + (body.lstrip("0") or "0") for prefix in self.prefixes]
        return [invoice_key(body)]


_MARKERS = frozenset({"no", "nr", "num", "number", "#"})


def _marked(match: re.Match[str]) -> bool:
    """Whether the label says outright that a number follows ("Invoice no. 52")."""
    label_words = match["label"].lower().replace(".", " ").split()
    return match["marker"] is not None or label_words[-1] in _MARKERS


@lru_cache(maxsize=256)
def reference_reader(
    prefixes: tuple[str, ...], labels: tuple[str, ...], creditor_references: bool
) -> ReferenceReader:
    """Readers are compiled once per distinct configuration."""
    return ReferenceReader(prefixes, labels, creditor_references=creditor_references)
