"""Payouts: a bank credit that carries a provider's payout is the settlement of money the ledger
already has (each provider payment was recorded and allocated when the provider confirmed it),
so it is matched to the payout, never treated as a customer's payment.

    bank line -> payout (reference, net amount) -> items (payments, fees, refunds) -> invoices

A credit settles a payout when one of its texts (structured reference, remittance, end-to-end id)
quotes the payout's `reference`, compared without case, spaces or punctuation, and, as a fallback,
when it has no other evidence, its payer's name or remittance names the provider, and exactly
one unreconciled payout of that provider has its currency and net amount and arrives within a
few days of the booking date. Either way the payout's net amount must equal the line and its
items must sum to it (rounded to the currency's minor unit, as providers round
the payout), else the line goes to review with a typed problem: never a guess.

Pure: no I/O. The service loads the candidate payouts and their items per chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache
from itertools import accumulate

from payrecon.domain.matching.model import LineToMatch, Problem, ProblemKind
from payrecon.domain.matching.references import FIELD_REMITTANCE, FIELD_STRUCTURED
from payrecon.domain.matching.rules import PayoutSettings
from payrecon.domain.money import minor_unit_exponent, money_text

RULE_PAYOUT = "payout"
FIELD_END_TO_END = "end_to_end_id"
MIN_KEY_LENGTH = 6  # a shorter reference is too likely to occur by chance: fallback only
MAX_KEY_PARTS = 5  # a reference is read across at most this many words ("STRIPE PAYOUT 0001")
_WORDS = re.compile(r"[^\W_]+")
_FIELD_WORDS = {
    FIELD_STRUCTURED: "structured reference",
    FIELD_REMITTANCE: "remittance text",
    FIELD_END_TO_END: "end-to-end id",
}
_ZERO = Decimal(0)


class ItemKind(StrEnum):
    PAYMENT = "payment"
    FEE = "fee"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    OTHER = "other"
    PAYOUT = "payout"  # Stripe lists the payout's own balance transaction among its items


_ITEM_KINDS: dict[str, ItemKind] = {
    # GoCardless payout item types
    "payment_paid_out": ItemKind.PAYMENT,
    "gocardless_fee": ItemKind.FEE,
    "app_fee": ItemKind.FEE,
    "surcharge_fee": ItemKind.FEE,
    "payment_refunded": ItemKind.REFUND,
    "refund": ItemKind.REFUND,
    "refund_funds_returned": ItemKind.REFUND,
    "payment_charged_back": ItemKind.CHARGEBACK,
    # Stripe balance transaction types (amounts net of their `fee`)
    "charge": ItemKind.PAYMENT,
    "payment": ItemKind.PAYMENT,
    "stripe_fee": ItemKind.FEE,
    "payment_refund": ItemKind.REFUND,
    "payout": ItemKind.PAYOUT,
}


def item_kind(item_type: str) -> ItemKind:
    return _ITEM_KINDS.get(item_type, ItemKind.OTHER)


def payout_reference_key(text: str) -> str:
    """A reference as compared: capitals and digits only (`acme-ab12c`, `ACME AB12C` alike)."""
    return "".join(_WORDS.findall(text.upper()))


@lru_cache(maxsize=1 << 15)
def reference_keys(text: str) -> tuple[str, ...]:
    """Every run of 1..MAX_KEY_PARTS consecutive words of `text`, as keys, long enough to count:
    the keys a payout reference quoted in the text may have. Kept for the texts of about a few
    chunks: a batch's look-up of its payouts and its matching each ask for every line's."""
    words = _WORDS.findall(text.upper())
    keys: list[str] = []
    for start in range(len(words)):
        key = ""
        for word in words[start : start + MAX_KEY_PARTS]:
            key += word
            if len(key) >= MIN_KEY_LENGTH:
                keys.append(key)
    return tuple(keys)


class PayoutKeys:
    """A set of payout reference keys, and which of them a text quotes: what `reference_keys`
    gives that is in the set, found without listing every run of the text's words. A key read
    from a word on starts with that word and the text after it, so its first `MIN_KEY_LENGTH`
    characters are those of the text run together from there: a text in which no word starts
    a known key's head (nearly every text that quotes no payout) is passed over at once."""

    __slots__ = ("heads", "keys")

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = frozenset(k for k in keys if len(k) >= MIN_KEY_LENGTH)
        self.heads = frozenset(k[:MIN_KEY_LENGTH] for k in self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def quoted(self, text: str) -> tuple[str, ...]:
        """The keys of the set the text quotes, in `reference_keys` order."""
        return _quoted(self, text) if self.keys else ()


@lru_cache(maxsize=1 << 15)
def _quoted(known: PayoutKeys, text: str) -> tuple[str, ...]:
    """`PayoutKeys.quoted`, kept for the texts of a few chunks: a batch's look-up of its payouts
    and its matching each ask for every line's."""
    words = _WORDS.findall(text.upper())
    run = "".join(words)
    heads = [run[at : at + MIN_KEY_LENGTH] for at in [0, *accumulate(map(len, words))][:-1]]
    if known.heads.isdisjoint(heads):
        return ()
    found: list[str] = []
    for start, head in enumerate(heads):
        if head not in known.heads:
            continue
        key = ""
        for word in words[start : start + MAX_KEY_PARTS]:
            key += word
            if key in known.keys:
                found.append(key)
    return tuple(found)


def payout_texts(line: LineToMatch) -> list[tuple[str, str]]:
    """(field, text) of a line that may quote a payout reference, in order of trust."""
    found = [
        (name, value)
        for name, value in (
            (FIELD_STRUCTURED, line.structured_reference),
            (FIELD_REMITTANCE, line.remittance),
            (FIELD_END_TO_END, line.end_to_end_id),
        )
        if value
    ]
    return found


@dataclass(frozen=True, slots=True)
class PayoutItem:
    """One item of a payout: signed (credits positive), net of `fee` where the provider says so."""

    type: str
    amount: Decimal
    fee: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PayoutToSettle:
    """A stored payout as the matcher reads it; `items` None: not stored yet."""

    id: int
    external_id: str
    provider: str
    amount: Decimal  # net: what reaches the bank
    currency: str
    status: str
    arrival_date: date | None
    reference: str | None
    items: tuple[PayoutItem, ...] | None
    settled_line_id: int | None = None


@dataclass(slots=True)
class PayoutSettlement:
    """A line that settles a payout: no payment, no allocation; the payout is reconciled."""

    line_id: int
    payout_id: int
    external_id: str
    fees: Decimal
    payments: int
    items: int
    evidence: Mapping[str, str]

    @property
    def summary(self) -> str:
        return self.evidence["summary"]


@dataclass(frozen=True, slots=True)
class _Quote:
    payout: PayoutToSettle
    field: str
    key: str


class PayoutBook:
    """The batch's candidate payouts: by reference key, and unreconciled ones by currency and net
    amount (the fallback). A payout settled by a line of the batch is taken for the rest of it, so
    of two lines that fit one payout by amount the first in booking order settles it, in a batch
    of any size (the outcome must not depend on how lines are chunked)."""

    def __init__(
        self, payouts: Iterable[PayoutToSettle] = (), stored: PayoutKeys | None = None
    ) -> None:
        self._by_key: dict[str, list[PayoutToSettle]] = {}
        self._by_amount: dict[tuple[str, Decimal], list[PayoutToSettle]] = {}
        self.taken: dict[int, int] = {}  # payout id -> the line of this batch that settled it
        for payout in sorted(payouts, key=lambda p: p.id):
            key = payout_reference_key(payout.reference or "")
            if len(key) >= MIN_KEY_LENGTH:
                self._by_key.setdefault(key, []).append(payout)
            if payout.settled_line_id is None and payout.arrival_date is not None:
                self._by_amount.setdefault((payout.currency, payout.amount), []).append(payout)
        # The keys of every stored payout (`stored`, read for the batch's look-up) find what a
        # text quotes as well as the book's own, and their texts' answers are kept already.
        covered = stored is not None and stored.keys.issuperset(self._by_key)
        self._keys = stored if covered else PayoutKeys(self._by_key)

    def __bool__(self) -> bool:
        return bool(self._by_key or self._by_amount)

    def quoted(self, line: LineToMatch) -> list[_Quote]:
        """The payouts whose references the line's texts quote, each once, in order of trust."""
        if not self._keys:
            return []
        found: dict[int, _Quote] = {}
        for name, text in payout_texts(line):
            for key in self._keys.quoted(text):
                for payout in self._by_key.get(key, ()):
                    found.setdefault(payout.id, _Quote(payout, name, key))
        return list(found.values())

    def fitting(self, line: LineToMatch, window_days: int) -> list[PayoutToSettle]:
        """Unreconciled payouts of the line's currency and amount arriving within the window."""
        return [
            p
            for p in self._by_amount.get((line.currency, line.amount), ())
            if p.settled_line_id is None
            and p.id not in self.taken
            and p.arrival_date is not None
            and abs((line.booking_date - p.arrival_date).days) <= window_days
        ]


def settle_payout(
    line: LineToMatch,
    book: PayoutBook,
    settings: PayoutSettings,
    other_evidence: Callable[[LineToMatch], bool],
) -> PayoutSettlement | Problem | None:
    """The payout `line` settles, a problem a person must resolve, or None (no payout: the line
    goes on to customer identification). `other_evidence(line)`: whether the line carries what
    identifies a customer (an invoice reference, a mandate), which rules out the fallback."""
    quotes = book.quoted(line)
    if len(quotes) > 1:
        names = ", ".join(q.payout.external_id for q in quotes)
        return _problem(
            line,
            ProblemKind.AMBIGUOUS_PAYOUT,
            f"the line quotes the references of payouts {names}; which one it settles is for "
            "a person to decide",
        )
    if quotes:
        quote = quotes[0]
        how = f"reference {quote.payout.reference} in the {_FIELD_WORDS[quote.field]}"
        return _check(line, quote.payout, book, how, "reference")
    if not settings.match_by_amount:
        return None
    fitting = [
        p
        for p in book.fitting(line, settings.arrival_window_days)
        if _names_provider(line, settings, p.provider)
    ]
    if not fitting or other_evidence(line):
        return None
    amount = f"{money_text(line.amount)} {line.currency}"
    if len(fitting) > 1:
        names = ", ".join(p.external_id for p in fitting)
        return _problem(
            line,
            ProblemKind.AMBIGUOUS_PAYOUT,
            f"no payout reference; payouts {names} all have the net amount {amount} and arrive "
            f"within {settings.arrival_window_days} days: none is chosen",
        )
    payout = fitting[0]
    how = (
        f"no reference; the only unreconciled payout of {amount} arriving within "
        f"{settings.arrival_window_days} days (on {payout.arrival_date})"
    )
    return _check(line, payout, book, how, "amount_and_date")


def _names_provider(line: LineToMatch, settings: PayoutSettings, provider: str) -> bool:
    """Whether the line's payer name or remittance holds one of `provider`'s words
    (`payer_names`), both compared as references are; a provider without words needs none."""
    words = [k for k in map(payout_reference_key, settings.payer_names.get(provider, ())) if k]
    if not words:
        return True
    texts = [payout_reference_key(t) for t in (line.counterparty_name, line.remittance) if t]
    return any(word in text for word in words for text in texts)


def _check(
    line: LineToMatch, payout: PayoutToSettle, book: PayoutBook, how: str, matched_by: str
) -> PayoutSettlement | Problem:
    name = f"payout {payout.external_id} ({payout.provider})"
    settled_by = book.taken.get(payout.id) or payout.settled_line_id
    if settled_by is not None and settled_by != line.id:
        return _problem(
            line,
            ProblemKind.PAYOUT_UNAVAILABLE,
            f"{name}, found by {how}, is already settled by statement line {settled_by}",
        )
    if payout.status in ("failed", "cancelled", "bounced"):
        return _problem(
            line, ProblemKind.PAYOUT_UNAVAILABLE, f"{name}, found by {how}, is {payout.status}"
        )
    if payout.currency != line.currency or payout.amount != line.amount:
        return _problem(
            line,
            ProblemKind.PAYOUT_AMOUNT_MISMATCH,
            f"{name}, found by {how}, is {money_text(payout.amount)} {payout.currency} net; "
            f"the line is {money_text(line.amount)} {line.currency}",
        )
    if payout.items is None:
        return _problem(
            line,
            ProblemKind.PAYOUT_ITEMS_MISMATCH,
            f"{name}, found by {how}: its items are not stored yet (the provider sync reads "
            "them once the payout is paid)",
        )
    counted = [i for i in payout.items if item_kind(i.type) is not ItemKind.PAYOUT]
    total = sum((i.amount for i in counted), _ZERO)
    quantum = Decimal(1).scaleb(-minor_unit_exponent(payout.currency))
    if not counted or total.quantize(quantum, rounding=ROUND_HALF_UP) != payout.amount:
        return _problem(
            line,
            ProblemKind.PAYOUT_ITEMS_MISMATCH,
            f"{name}, found by {how}: its {len(counted)} items sum to {money_text(total)} "
            f"{payout.currency}, not its net amount {money_text(payout.amount)}",
        )
    book.taken[payout.id] = line.id
    return _settlement(line, payout, counted, how, matched_by)


def _settlement(
    line: LineToMatch,
    payout: PayoutToSettle,
    items: list[PayoutItem],
    how: str,
    matched_by: str,
) -> PayoutSettlement:
    kinds = [item_kind(i.type) for i in items]
    fees = sum(
        (-i.amount for i, kind in zip(items, kinds, strict=True) if kind is ItemKind.FEE), _ZERO
    ) + sum((i.fee for i in items if i.fee is not None), _ZERO)
    payments = kinds.count(ItemKind.PAYMENT)
    others = [
        f"{kinds.count(kind)} {kind}{'s' if kinds.count(kind) > 1 else ''}"
        for kind in (ItemKind.REFUND, ItemKind.CHARGEBACK, ItemKind.OTHER)
        if kind in kinds
    ]
    summary = f"payout {payout.external_id}: {payments} payments, fees {money_text(fees)}"
    net = f"{money_text(payout.amount)} {payout.currency}"
    explanation = (
        f"{summary}{''.join(', ' + o for o in others)}; {how}; its net amount {net} equals the "
        f"line and its {len(items)} items sum to it"
    )
    evidence = {
        "rule": RULE_PAYOUT,
        "matched_by": matched_by,
        "payout": payout.external_id,
        "provider": payout.provider,
        "net_amount": f"{payout.amount:f}",
        "currency": payout.currency,
        "fees": f"{fees:f}",
        "payments": str(payments),
        "items": str(len(items)),
        "summary": summary,
        "explanation": explanation,
    }
    return PayoutSettlement(
        line_id=line.id,
        payout_id=payout.id,
        external_id=payout.external_id,
        fees=fees,
        payments=payments,
        items=len(items),
        evidence=evidence,
    )


def _problem(line: LineToMatch, kind: ProblemKind, reason: str) -> Problem:
    return Problem(line.id, kind, reason)
