"""Who paid: the customer identified by a line's evidence, in the rule set's order; and, for a
payer nobody recognises, customers whose names resemble the payer's (suggestions only).

Each kind of evidence names a set of customers. The first kind (in the owner's order) that names
exactly one customer decides; another kind naming someone else is a conflict for a person to
settle (unless the owner's rules say the first kind simply wins). Evidence naming several
customers (an account shared by two customers) decides nothing on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from payrecon.domain.matching.book import CustomerDirectory
from payrecon.domain.matching.model import (
    LineToMatch,
    OpenInvoice,
    Problem,
    ProblemKind,
    Suggestion,
)
from payrecon.domain.matching.references import (
    FIELD_REMITTANCE,
    FoundReference,
    identifier_tokens,
    normalise_account,
)
from payrecon.domain.matching.rules import IdentificationMethod, PayerNameSettings, RuleSet

NO_REFERENCE_REASON = "no invoice reference in the line"


def where(field: str) -> str:
    """Where in the line a token was found, in words."""
    return "remittance text" if field == FIELD_REMITTANCE else "structured reference"


@dataclass(slots=True)
class Identification:
    customer_id: int
    method: IdentificationMethod | None  # None: the payer was given (`engine.allocate_known`)
    evidence: str  # in words: "payer account GB29... is on file for the customer"
    confidence: Decimal
    method_name: str  # method.value, read once per allocation on the hot path


# customer id -> the evidence, as (template, *values); put into words only when shown, since
# most lines look at several kinds of evidence and show one.
Basis = tuple[str, ...]
Candidates = dict[int, Basis]


def words(basis: Basis) -> str:
    return basis[0].format(*basis[1:])


def identify_customer(
    line: LineToMatch,
    rules: RuleSet,
    referenced: Sequence[tuple[OpenInvoice, FoundReference]],
    directory: CustomerDirectory,
    unknown: Sequence[FoundReference] = (),
    texts: tuple[tuple[str, str], ...] | None = None,
    screen: bool = True,
    plan: IdentificationPlan | None = None,
) -> Identification | Problem:
    """`referenced`: the known invoices the line names; `unknown`: references to none;
    `texts`: the line's texts, when the caller has them at hand; `screen`: False when no
    customer of another owner can be among the candidates (the caller knows); `plan`: from
    `identification_plan`, when the caller matches many lines against one directory."""
    evidence = _Evidence(
        line,
        line.texts if texts is None else texts,
        referenced,
        directory,
        rules.account_number.labels,
    )
    found: list[tuple[IdentificationMethod, Candidates]] = []
    decisive: tuple[IdentificationMethod, Candidates] | None = None
    owner = line.contract_owner_id
    screen = screen and owner is not None and bool(directory.owners)
    for method, finder in plan or identification_plan(rules, directory):
        candidates = finder(evidence)
        if candidates and screen and not directory.all_belong(candidates, owner):
            # Another owner's customer cannot pay on this owner's account.
            candidates = {c: b for c, b in candidates.items() if directory.belongs(c, owner)}
        if candidates:
            found.append((method, candidates))
            if decisive is None and len(candidates) == 1:
                decisive = (method, candidates)
    if decisive is None:
        if not found:
            return Problem(line.id, ProblemKind.NO_REFERENCE, _unknown_reason(unknown))
        suggestions = _evidence_suggestions(found, rules)
        method, candidates = found[0]
        return Problem(
            line.id,
            ProblemKind.AMBIGUOUS_CUSTOMER,
            f"{_describe(method, candidates)}: {len(candidates)} customers",
            suggestions,
        )
    method, candidates = decisive
    ((customer_id, basis),) = candidates.items()
    conflicts = [(m, c) for m, c in found if customer_id not in c] if len(found) > 1 else None
    if conflicts and rules.on_conflicting_identification == "review":
        other_method, other = conflicts[0]
        return Problem(
            line.id,
            ProblemKind.CONFLICTING_IDENTIFICATION,
            f"{words(basis)} (by {method}) but {_describe(other_method, other)} "
            "names another customer",
            _evidence_suggestions(found, rules),
        )
    confidence = rules.confidence.identification[method]
    return Identification(customer_id, method, words(basis), confidence, method.value)


def _unknown_reason(unknown: Sequence[FoundReference]) -> str:
    if not unknown:
        return NO_REFERENCE_REASON
    tokens = ", ".join(dict.fromkeys(r.token for r in unknown))
    return f"{tokens}: no such invoice, and nothing else identifies the payer"


def _describe(method: IdentificationMethod, candidates: Candidates) -> str:
    first = words(candidates[min(candidates)])
    return first if len(candidates) == 1 else f"{first} (and others)"


def _evidence_suggestions(
    found: Iterable[tuple[IdentificationMethod, Candidates]], rules: RuleSet
) -> tuple[Suggestion, ...]:
    best: dict[int, Suggestion] = {}
    for method, candidates in found:
        score = int(rules.confidence.identification[method] * 100)
        for customer_id, basis in sorted(candidates.items()):
            known = best.get(customer_id)
            if known is None or known.score < score:
                best[customer_id] = Suggestion(customer_id, score, words(basis))
    return tuple(sorted(best.values(), key=lambda s: (-s.score, s.customer_id)))


@dataclass(slots=True)
class _Evidence:
    """What the finders read: one line, its texts and references, and the directory."""

    line: LineToMatch
    texts: tuple[tuple[str, str], ...]
    referenced: Sequence[tuple[OpenInvoice, FoundReference]]
    directory: CustomerDirectory
    labels: tuple[str, ...]


def _by_mandate(e: _Evidence) -> Candidates | None:
    mandate = e.line.mandate_id
    customer = e.directory.mandates.get(mandate) if mandate else None
    return None if customer is None else {customer: ("mandate {}", mandate or "")}


def _by_payment_link(e: _Evidence) -> Candidates | None:
    if not e.directory.payment_links:
        return None
    line = e.line
    for value in (line.payment_link_id, line.end_to_end_id, line.structured_reference):
        target = e.directory.payment_links.get(value) if value else None
        if target is not None:
            return {target.customer_id: ("payment link {}", value or "")}
    return None


def _by_provider_customer(e: _Evidence) -> Candidates | None:
    key = e.line.provider_customer_id
    customer = e.directory.provider_customers.get(key) if key else None
    return None if customer is None else {customer: ("provider customer {}", key or "")}


def _by_bank_account(e: _Evidence) -> Candidates | None:
    if not e.line.counterparty_account:
        return None
    account = normalise_account(e.line.counterparty_account)
    owners = e.directory.bank_accounts.get(account, ())
    numbers = e.directory.account_numbers.get(account)  # an account number as the payer's
    if numbers:
        owners = owners + numbers
    if not owners:
        return None
    return dict.fromkeys(owners, ("payer account {} is on file for the customer", account))


def _by_invoice_reference(e: _Evidence) -> Candidates | None:
    by_reference: Candidates = {}
    for invoice, reference in e.referenced:
        by_reference.setdefault(
            invoice.customer_id, ("{} in the {}", reference.token, where(reference.field))
        )
    return by_reference


def _by_account_number_in_text(e: _Evidence) -> Candidates | None:
    numbers = e.directory.account_numbers
    if not numbers:
        return None
    by_number: Candidates = {}
    for field, text in e.texts:
        for token in identifier_tokens(text):
            customers = numbers.get(token.upper())
            if customers and (not token.isdigit() or _labelled(token, text, e.labels)):
                for customer in customers:
                    basis = ("account number {} in the {}", token, where(field))
                    by_number.setdefault(customer, basis)
    return by_number or None


Finder = Callable[[_Evidence], Candidates | None]
_FINDERS: dict[IdentificationMethod, Finder] = {
    IdentificationMethod.MANDATE: _by_mandate,
    IdentificationMethod.PAYMENT_LINK: _by_payment_link,
    IdentificationMethod.PROVIDER_CUSTOMER: _by_provider_customer,
    IdentificationMethod.BANK_ACCOUNT: _by_bank_account,
    IdentificationMethod.INVOICE_REFERENCE: _by_invoice_reference,
    IdentificationMethod.ACCOUNT_NUMBER_IN_TEXT: _by_account_number_in_text,
}


# The directory map each kind of evidence needs; an empty map means that kind finds no one.
_NEEDS = {
    IdentificationMethod.MANDATE: "mandates",
    IdentificationMethod.PAYMENT_LINK: "payment_links",
    IdentificationMethod.PROVIDER_CUSTOMER: "provider_customers",
}


IdentificationPlan = tuple[tuple[IdentificationMethod, Finder], ...]


def identification_plan(rules: RuleSet, directory: CustomerDirectory) -> IdentificationPlan:
    """The kinds of evidence to look at, in the owner's order, for this directory."""
    return _plan(rules.identify_customer_by, directory.kinds)


@lru_cache(maxsize=64)
def _plan(order: tuple[IdentificationMethod, ...], kinds: frozenset[str]) -> IdentificationPlan:
    """The finders of an owner's order that can find anyone in this directory (`kinds`: its
    non-empty maps), looked up once rather than per line."""
    return tuple(
        (method, _FINDERS[method]) for method in order if _NEEDS.get(method, "") in kinds | {""}
    )


def _labelled(token: str, text: str, labels: tuple[str, ...]) -> bool:
    """Whether an account-number label stands right before `token` in `text`."""
    return any(match["number"] == token for match in _label_pattern(labels).finditer(text))


@lru_cache(maxsize=64)
def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    words = "|".join(r"\s+".join(map(re.escape, label.split())) for label in labels)
    return re.compile(
        rf"(?<![A-Za-z])(?:{words})\.?\W{{0,12}}(?P<number>[0-9]+)(?![0-9])", re.IGNORECASE
    )


_WORD = re.compile(r"[a-z0-9]{2,}")
# Legal forms and fillers say nothing about who the payer is.
_NOISE = frozenset(
    {
        "ltd",
        "limited",
        "gmbh",
        "co",
        "inc",
        "plc",
        "llc",
        "llp",
        "sa",
        "sas",
        "bv",
        "ag",
        "kg",
        "the",
        "and",
        "of",
        "mr",
        "mrs",
        "ms",
        "dr",
        "und",
        "et",
    }
)
_COMMON_WORD = 2000  # a word shared by more customers than this does not narrow the search


def _name_words(name: str) -> list[str]:
    """A name's telling words: lower case, no punctuation, no legal forms or fillers
    ("Bowman & Co Ltd" and "BOWMAN AND CO" are both "bowman")."""
    words = _WORD.findall(default_process(name))
    telling = [w for w in words if w not in _NOISE]
    return telling or words


class PayerNameIndex:
    """Customer names by word, so a payer name is compared with a few names, not all: each word's
    names (those an owner may be suggested, per owner) are scored in one `rapidfuzz.process`
    call, not one Python call per name."""

    def __init__(self, customers: Iterable[tuple[int, str, int | None]]) -> None:
        self._names: dict[int, str] = {}
        self._owners: dict[int, int | None] = {}
        self._by_word: dict[str, list[int]] = {}
        for customer_id, name, owner_id in customers:
            words = _name_words(name)
            self._names[customer_id] = " ".join(words)
            self._owners[customer_id] = owner_id
            for word in set(words):
                self._by_word.setdefault(word, []).append(customer_id)
        # (word, owner) -> the word's customers that owner may be suggested, and their names
        self._choices: dict[tuple[str, int | None], tuple[list[int], list[str]]] = {}

    def _choices_of(self, word: str, owner_id: int | None) -> tuple[list[int], list[str]]:
        found = self._choices.get((word, owner_id))
        if found is None:
            ids = [
                c
                for c in self._by_word[word]
                if owner_id is None or self._owners[c] in (None, owner_id)
            ]
            found = (ids, [self._names[c] for c in ids])
            self._choices[(word, owner_id)] = found
        return found

    def suggest(
        self, payer_name: str, owner_id: int | None, settings: PayerNameSettings
    ) -> tuple[tuple[Suggestion, ...], str]:
        """(suggestions, a note for the reason). A tie at the top refuses to suggest anyone."""
        words = _name_words(payer_name)
        processed = " ".join(words)
        least = settings.suggest_from_score
        scores: dict[int, int] = {}  # a customer found under two words is scored alike twice
        for word in set(words):
            if not 0 < len(self._by_word.get(word, ())) <= _COMMON_WORD:
                continue
            ids, names = self._choices_of(word, owner_id)
            # The score compared is the rounded one: ask for everything a point below.
            for _, score, index in process.extract(
                processed, names, scorer=fuzz.token_sort_ratio, score_cutoff=least - 1, limit=None
            ):
                if round(score) >= least:
                    scores[ids[index]] = round(score)
        if not scores:
            return (), ""
        scored = sorted(((s, c) for c, s in scores.items()), key=lambda s: (-s[0], s[1]))
        if len(scored) > 1 and scored[0][0] == scored[1][0]:
            tied = sum(1 for s, _ in scored if s == scored[0][0])
            return (), f"; payer name {payer_name!r} fits {tied} customers equally"
        suggestions = tuple(
            Suggestion(c, s, f"payer name {payer_name!r} resembles the customer's name")
            for s, c in scored[: settings.max_suggestions]
        )
        return suggestions, f"; payer name {payer_name!r} suggests a customer"


def suggest_by_name(
    problem: Problem, line: LineToMatch, names: PayerNameIndex, rules: RuleSet
) -> Problem:
    """The problem of an unknown payer, with name suggestions (a suggestion never allocates)."""
    if problem.kind is not ProblemKind.NO_REFERENCE or not line.counterparty_name:
        return problem
    suggestions, note = names.suggest(
        line.counterparty_name, line.contract_owner_id, rules.payer_name
    )
    return Problem(problem.line_id, problem.kind, problem.reason + note, suggestions)
