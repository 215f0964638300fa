"""The matcher: statement lines and candidate customers and invoices in; payments with their
allocations, reversals and problems out. Pure: no I/O, no clock unless one is passed in.

Lines are taken in booking-date order, then in the order given (file order). For each credit:
identify the customer (`customers`), then allocate by the owner's rules in order
(`amounts`). Each debit looks for the payment it undoes (`debits`). Problems
(unknown payer, ambiguous or conflicting evidence, no original payment) are returned as data,
never raised (STYLE rule 3), each with suggestions for the person who reviews it.
The rules come from a `RuleBook` (`payrecon.domain.matching.rules`): the default set, or an owner's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from operator import attrgetter

from payrecon.domain.matching.amounts import KIND_PAYMENT_LINK, Clock, allocate_for_customer
from payrecon.domain.matching.book import (
    CustomerDirectory,
    InvoiceBook,
    PaymentHistory,
)
from payrecon.domain.matching.customers import (
    Identification,
    IdentificationPlan,
    PayerNameIndex,
    identification_plan,
    identify_customer,
    suggest_by_name,
)
from payrecon.domain.matching.debits import decide_debit
from payrecon.domain.matching.model import (
    LineDecision,
    LineToMatch,
    MatchResult,
    OpenInvoice,
    OriginalPayment,
    Problem,
    ProblemKind,
    ProposedAllocation,
    Reversal,
)
from payrecon.domain.matching.payouts import (
    PayoutBook,
    PayoutKeys,
    PayoutSettlement,
    payout_texts,
    reference_keys,
    settle_payout,
)
from payrecon.domain.matching.references import (
    FoundReference,
    ReferenceReader,
    invoice_key,
    invoice_prefix,
    normalise_account,
    reference_reader,
    reference_tokens,
)
from payrecon.domain.matching.rules import IdentificationMethod, RuleBook, RuleSet, SettlementRule

_BOOKING_DATE = attrgetter("booking_date")
_CERTAIN = Decimal("1.000")

__all__ = [
    "LineRoute",
    "MatchContext",
    "allocate_known",
    "candidate_numbers",
    "match_lines",
    "payout_reference_candidates",
    "referenced_keys",
    "route_lines",
    "suggest_payers",
]


class MatchContext:
    """Everything a batch is matched against besides its invoices: the rules, the owners'
    invoice-number formats, the customer directory, earlier payments, an optional clock (for
    the combination search's wall-clock safety net), the provider payouts lines may settle."""

    def __init__(
        self,
        *,
        rules: RuleBook | None = None,
        directory: CustomerDirectory | None = None,
        history: PaymentHistory | None = None,
        invoice_formats: Mapping[int, str | None] | None = None,
        clock: Clock | None = None,
        payouts: PayoutBook | None = None,
    ) -> None:
        self.rules = rules or RuleBook(RuleSet())
        self.directory = directory or CustomerDirectory()
        self.history = history or PaymentHistory()
        self.payouts = payouts or PayoutBook()
        self.invoice_formats: Mapping[int, str | None] = dict(invoice_formats or {})
        self.clock = clock
        self._readers: dict[int | None, ReferenceReader] = {}
        self._found: dict[tuple[int | None, tuple[tuple[str, str], ...]], list[FoundReference]] = {}

    def references(self, line: LineToMatch) -> list[FoundReference]:
        """The invoice references of the line's texts (`ReferenceReader.find` with its owner's
        reader), read once per batch: the look-up of the batch's invoices, the payout rule's
        evidence and the identification all ask (a third of the reader's time was repeats).
        Not to be changed by the caller."""
        texts = line.texts
        if not texts:
            return []
        key = (line.contract_owner_id, texts)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self.reader(line.contract_owner_id).find(texts)
        return found

    def reader(self, owner_id: int | None) -> ReferenceReader:
        """The reference reader of the owner: its invoice prefix, or (owner unknown) every
        known owner's prefix, since invoice numbers are unique across owners."""
        reader = self._readers.get(owner_id)
        if reader is None:
            rules = self.rules.for_owner(owner_id)
            formats = (
                [f for _, f in sorted(self.invoice_formats.items())] + [None]
                if owner_id is None
                else [self.invoice_formats.get(owner_id)]
            )
            prefixes = tuple(dict.fromkeys(self._prefix(f, rules) for f in formats))
            settings = rules.invoice_reference
            reader = reference_reader(
                prefixes,
                tuple(settings.labels),
                settings.creditor_references,
                tuple(settings.national_references),
            )
            self._readers[owner_id] = reader
        return reader

    @staticmethod
    def _prefix(number_format: str | None, rules: RuleSet) -> str:
        try:
            return invoice_prefix(number_format or rules.invoice_reference.default_format)
        except ValueError:  # an owner's unreadable format: its invoices still carry the default
            return invoice_prefix(rules.invoice_reference.default_format)


def candidate_numbers(lines: Iterable[LineToMatch]) -> set[str]:
    """Every token of the batch that could be an identifier (an account number, a bank
    reference), as written and in capitals, for one set-based look-up."""
    found: set[str] = set()
    for line in lines:
        for _, text in line.texts:
            for token in reference_tokens(text):
                found.add(token)
                found.add(token.upper())
    return found


def referenced_keys(lines: Iterable[LineToMatch], context: MatchContext) -> set[str]:
    """The invoice keys the batch's credits reference, for one set-based look-up."""
    keys: set[str] = set()
    for line in lines:
        if line.amount > 0 and line.texts:
            keys.update(r.key for r in context.references(line))
    return keys


def payout_reference_candidates(
    lines: Iterable[LineToMatch], stored: PayoutKeys | None = None
) -> set[str]:
    """Every key a payout reference quoted by the batch's credits may have, for one set-based
    look-up of the payouts; given the keys of the `stored` payouts, only those of them."""
    keys: set[str] = set()
    for line in lines:
        if line.amount > 0:
            for _, text in payout_texts(line):
                keys.update(reference_keys(text) if stored is None else stored.quoted(text))
    return keys


def match_lines(
    lines: Sequence[LineToMatch], book: InvoiceBook, context: MatchContext | None = None
) -> MatchResult:
    """Decide each line, in booking-date order and then the order given (file order)."""
    ctx = context or MatchContext()
    result = MatchResult()
    rule_sets: dict[int | None, RuleSet] = {}
    plans: dict[int | None, IdentificationPlan] = {}
    # With one owner's customers only (the usual chunk), no line needs screening for others'.
    owners = frozenset(ctx.directory.owners.values())
    debits = [line for line in lines if line.amount < 0]
    if debits:  # a debit may undo a credit of this very batch
        ctx.history.expect(debits)
    screens: dict[int | None, bool] = {}
    payouts = ctx.payouts
    for line in sorted(lines, key=_BOOKING_DATE):
        owner = line.contract_owner_id
        rules = rule_sets.get(owner) or rule_sets.setdefault(owner, ctx.rules.for_owner(owner))
        if line.amount > 0:
            if payouts and SettlementRule.PAYOUT in rules.settle_lines_by:
                settled = settle_payout(line, payouts, rules.payouts, partial(_identifies, ctx))
                if isinstance(settled, PayoutSettlement):
                    result.payouts.append(settled)
                    continue
                if settled is not None:  # it carries a payout: never a customer's payment
                    result.problems.append(settled)
                    continue
            screen = screens.get(owner)
            if screen is None:
                screen = screens[owner] = (
                    owner is not None and bool(owners) and (len(owners) > 1 or owner not in owners)
                )
            plan = plans.get(owner) or plans.setdefault(
                owner, identification_plan(rules, ctx.directory)
            )
            decided = _credit(line, rules, book, ctx, screen, plan)
            if isinstance(decided, LineDecision):
                result.decisions.append(decided)
                if debits and ctx.history.quotes(line):
                    ctx.history.remember(line, partial(_as_original, line, decided, book))
            else:
                result.problems.append(decided)
        elif line.amount < 0:
            undone = decide_debit(line, rules, ctx.history, ctx.directory)
            if isinstance(undone, Reversal):
                result.reversals.append(undone)
                if undone.reverse_payment:
                    for invoice, amount in ctx.history.original(undone.original_line_id).takes:
                        book.reopen(invoice, amount)
            else:
                result.problems.append(undone)
        else:
            result.problems.append(Problem(line.id, ProblemKind.IGNORED, "zero amount"))
    return result


@dataclass(slots=True)
class LineRoute:
    """Where a line goes before it is allocated: to its customer's partition (`customer_id`), to
    the payouts (`payout`), to the partition of the payment it undoes (`debit`: found later, once
    every line of the batch is stored), or nowhere (`problem`: the line waits for a person, or is
    ignored, whatever else is allocated first)."""

    line_id: int
    customer_id: int | None = None
    payout: bool = False
    debit: bool = False
    problem: Problem | None = None


def route_lines(
    lines: Sequence[LineToMatch], book: InvoiceBook, context: MatchContext | None = None
) -> list[LineRoute]:
    """Each line's route, in the order given. Only what no earlier line can change decides a
    route (who paid, whether a payout is quoted), so routing the lines of a batch in any number of
    pieces gives the same routes; `match_lines` then decides each partition's lines in order and
    identifies them again, by the same rules."""
    ctx = context or MatchContext()
    owners = frozenset(ctx.directory.owners.values())
    routes: list[LineRoute] = []
    plans: dict[int | None, IdentificationPlan] = {}
    for line in lines:
        owner = line.contract_owner_id
        rules = ctx.rules.for_owner(owner)
        if line.amount < 0:
            routes.append(LineRoute(line.id, debit=True))
            continue
        if line.amount == 0:
            routes.append(
                LineRoute(line.id, problem=Problem(line.id, ProblemKind.IGNORED, "zero amount"))
            )
            continue
        if (
            ctx.payouts
            and SettlementRule.PAYOUT in rules.settle_lines_by
            and settle_payout(line, ctx.payouts, rules.payouts, partial(_identifies, ctx))
        ):
            routes.append(LineRoute(line.id, payout=True))
            continue
        screen = owner is not None and bool(owners) and (len(owners) > 1 or owner not in owners)
        plan = plans.get(owner) or plans.setdefault(
            owner, identification_plan(rules, ctx.directory)
        )
        found = _identify(line, rules, book, ctx, screen, plan)
        if isinstance(found, Problem):
            routes.append(LineRoute(line.id, problem=found))
        else:
            routes.append(LineRoute(line.id, customer_id=found[0].customer_id))
    return routes


def allocate_known(
    line: LineToMatch,
    customer_id: int,
    basis: str,
    book: InvoiceBook,
    context: MatchContext | None = None,
) -> LineDecision:
    """Allocate money whose payer is known already (a credit note's customer, the customer of a
    provider payment's mandate) by the owner's rules for `line.source`: the same rules, evidence
    and confidences as a bank line's. Each rule in turn takes what the ones before it left (the
    invoice a provider payment names, then the oldest due for the rest), since the payer meant
    the money for their invoices. `basis` says in words how the payer is known."""
    ctx = context or MatchContext()
    owner = line.contract_owner_id
    rules = ctx.rules.for_owner(owner)
    referenced: list[tuple[OpenInvoice, FoundReference]] = []
    if line.texts:
        for reference in ctx.references(line):
            referenced += [(i, reference) for i in book.with_key(reference.key)]
    who = Identification(customer_id, None, basis, _CERTAIN, line.source.value)
    allocations: list[ProposedAllocation] = []
    remaining = line.amount
    for rule in rules.allocation_order(line.source):
        if remaining <= 0:
            break
        rest = replace(line, amount=remaining)
        decided = allocate_for_customer(rest, who, referenced, rules, book, ctx.clock, (rule,))
        if isinstance(decided, LineDecision) and decided.allocations:
            allocations += decided.allocations
            remaining = decided.unused_amount
    note = None if allocations else "none of the owner's allocation rules applies: all unused"
    return LineDecision(
        line.id, customer_id, tuple(allocations), remaining, line.source.value, note=note
    )


def _identifies(ctx: MatchContext, line: LineToMatch) -> bool:
    """Whether the line carries what names a customer: a mandate, link or provider customer, a
    payer account on file, an invoice reference (any of which rules out a payout by amount)."""
    return bool(
        line.mandate_id
        or line.payment_link_id
        or line.provider_customer_id
        or (
            line.counterparty_account
            and normalise_account(line.counterparty_account) in ctx.directory.bank_accounts
        )
        or bool(ctx.references(line))
    )


def _credit(
    line: LineToMatch,
    rules: RuleSet,
    book: InvoiceBook,
    ctx: MatchContext,
    screen: bool,
    plan: IdentificationPlan,
) -> LineDecision | Problem:
    """`screen`: whether customers of other owners may be among the candidates."""
    found = _identify(line, rules, book, ctx, screen, plan)
    if isinstance(found, Problem):
        return found
    who, referenced = found
    return allocate_for_customer(line, who, referenced, rules, book, ctx.clock)


def _identify(
    line: LineToMatch,
    rules: RuleSet,
    book: InvoiceBook,
    ctx: MatchContext,
    screen: bool,
    plan: IdentificationPlan,
) -> tuple[Identification, list[tuple[OpenInvoice, FoundReference]]] | Problem:
    """Who paid the credit, and the invoices it references (payment-link invoice first)."""
    referenced: list[tuple[OpenInvoice, FoundReference]] = []
    unknown: list[FoundReference] = []
    texts = line.texts
    if texts:
        owner = line.contract_owner_id
        for reference in ctx.references(line):
            invoices = book.with_key(reference.key)
            if (
                invoices
                and screen
                and not ctx.directory.all_belong([i.customer_id for i in invoices], owner)
            ):  # another owner's invoice is no reference on this owner's account
                invoices = [i for i in invoices if ctx.directory.belongs(i.customer_id, owner)]
            if not invoices:
                unknown.append(reference)
            for invoice in invoices:
                referenced.append((invoice, reference))
    who = identify_customer(line, rules, referenced, ctx.directory, unknown, texts, screen, plan)
    if isinstance(who, Problem):
        return who
    if who.method is IdentificationMethod.PAYMENT_LINK:
        referenced = _linked_invoice(line, book, ctx.directory) + referenced
    return who, referenced


def _linked_invoice(
    line: LineToMatch, book: InvoiceBook, directory: CustomerDirectory
) -> list[tuple[OpenInvoice, FoundReference]]:
    """A payment link issued for one invoice references that invoice."""
    for value in (line.payment_link_id, line.end_to_end_id, line.structured_reference):
        target = directory.payment_links.get(value) if value else None
        if target is not None and target.invoice_id is not None:
            try:
                invoice = book.invoice(target.invoice_id)
            except KeyError:  # settled and so not loaded: the customer-level rules apply
                return []
            link = FoundReference(invoice_key(invoice.number), value or "", "", KIND_PAYMENT_LINK)
            return [(invoice, link)]
    return []


def _as_original(line: LineToMatch, decision: LineDecision, book: InvoiceBook) -> OriginalPayment:
    takes = [(book.invoice(a.invoice_id), a.amount) for a in decision.allocations]
    takes += [(book.invoice(s.invoice_id), s.amount) for s in decision.settlements]
    return OriginalPayment(
        line_id=line.id,
        customer_id=decision.customer_id,
        amount=line.amount,
        currency=line.currency,
        booking_date=line.booking_date,
        end_to_end_id=line.end_to_end_id,
        mandate_id=line.mandate_id,
        bank_reference=line.bank_reference,
        counterparty_account=(
            normalise_account(line.counterparty_account) if line.counterparty_account else None
        ),
        takes=tuple(takes),
    )


def suggest_payers(
    result: MatchResult,
    lines: Iterable[LineToMatch],
    names: PayerNameIndex,
    rules: RuleBook,
) -> None:
    """Add payer-name suggestions to the problems of unknown payers (in place)."""
    by_id = {line.id: line for line in lines}
    result.problems = [
        suggest_by_name(
            p, by_id[p.line_id], names, rules.for_owner(by_id[p.line_id].contract_owner_id)
        )
        if p.kind is ProblemKind.NO_REFERENCE and p.line_id in by_id
        else p
        for p in result.problems
    ]
