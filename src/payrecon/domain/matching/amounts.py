"""Allocation once the customer is known, in the owner's rule order: the invoices the line
references; exactly one open invoice of the line's amount; a unique combination of open invoices
summing to it; oldest due first. Each allocation carries its rule, confidence and evidence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from payrecon.domain.matching.book import InvoiceBook
from payrecon.domain.matching.customers import Identification, where
from payrecon.domain.matching.model import (
    RULE_COMBINATION,
    RULE_CREDITOR_REFERENCE,
    RULE_EXACT_AMOUNT,
    RULE_EXACT_REFERENCE,
    RULE_OLDEST_DUE_FIRST,
    RULE_PAYMENT_LINK,
    RULE_REFERENCE,
    LineDecision,
    LineToMatch,
    OpenInvoice,
    Problem,
    ProblemKind,
    ProposedAllocation,
    Settlement,
)
from payrecon.domain.matching.references import KIND_CREDITOR, KIND_NUMBER, FoundReference
from payrecon.domain.matching.rules import AllocationRule, CombinationSettings, RuleSet

KIND_PAYMENT_LINK = "payment_link"
_AMOUNT_RULES = frozenset({RULE_EXACT_AMOUNT, RULE_COMBINATION, RULE_OLDEST_DUE_FIRST})
_MILLI = Decimal("0.001")
_ZERO = Decimal(0)
Clock = Callable[[], float]


@dataclass(slots=True)
class _Line:
    """One line's allocation in progress."""

    line: LineToMatch
    who: Identification
    rules: RuleSet
    book: InvoiceBook
    _open: list[OpenInvoice] | None = None

    def open_invoices(self) -> list[OpenInvoice]:
        """The customer's open invoices in the line's currency, oldest due first; read once
        and shared by the amount rules (none of them takes anything before deciding)."""
        if self._open is None:
            self._open = self.book.open_invoices(self.who.customer_id, self.line.currency)
        return self._open

    def decision(
        self,
        allocations: list[ProposedAllocation],
        settlement: Settlement | None = None,
        note: str | None = None,
    ) -> LineDecision:
        unused = self.line.amount
        for allocation in allocations:
            unused -= allocation.amount
        return LineDecision(
            self.line.id,
            self.who.customer_id,
            tuple(allocations),
            unused,
            self.who.method_name,
            () if settlement is None else (settlement,),
            note,
        )

    def allocate(
        self,
        invoice: OpenInvoice,
        amount: Decimal,
        rule: str,
        how: str,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> ProposedAllocation:
        """Take `amount` from the invoice; `extra` is evidence beyond the common fields."""
        open_before = self.book.take(invoice.id, amount)
        confidence = self.rules.confidence.allocation[rule]
        if rule in _AMOUNT_RULES:  # only as sure as who paid
            confidence = (confidence * self.who.confidence).quantize(_MILLI)
        evidence = {
            "rule": rule,
            "identified_by": self.who.method_name,
            "identification": self.who.evidence,
            "invoice_number": invoice.number,
            "open_amount_before": f"{open_before:f}",
            "amount": f"{amount:f}",
            "explanation": how,
        }
        if extra:
            evidence.update(extra)
        return ProposedAllocation(invoice.id, amount, rule, confidence, evidence, self.line.id)

    def settle(self, invoice: OpenInvoice) -> Settlement | None:
        """Accept a small shortfall left on `invoice` under the owner's tolerances."""
        shortfall = self.book.open_amounts[invoice.id]
        tolerances = self.rules.tolerances
        if shortfall <= 0 or not (tolerances.bank_charges or tolerances.write_off):
            return None
        kind = (
            "bank_charges"
            if shortfall <= tolerances.bank_charges
            else "write_off"
            if shortfall <= tolerances.write_off
            else None
        )
        if kind is None:
            return None
        self.book.take(invoice.id, shortfall)
        return Settlement(invoice.id, shortfall, kind)


def allocate_for_customer(
    line: LineToMatch,
    who: Identification,
    referenced: Sequence[tuple[OpenInvoice, FoundReference]],
    rules: RuleSet,
    book: InvoiceBook,
    clock: Clock | None = None,
    order: Sequence[AllocationRule] | None = None,
) -> LineDecision | Problem:
    """Apply the owner's allocation rules in order (`order`, or the rule set's for the line's
    source); the first that allocates decides."""
    work = _Line(line, who, rules, book)
    customer_id = who.customer_id
    own = [(i, r) for i, r in referenced if i.customer_id == customer_id] if referenced else None
    searched_out = False
    decided: LineDecision | None
    for rule in order if order is not None else rules.allocation_order(line.source):
        if rule is AllocationRule.INVOICE_REFERENCE and own:
            currency = line.currency
            usable = [(i, r) for i, r in own if i.currency == currency]
            if not usable:
                numbers = ", ".join(i.number for i, _ in own)
                return Problem(
                    line.id,
                    ProblemKind.CURRENCY_MISMATCH,
                    f"line in {line.currency}, referenced invoice {numbers} in another currency",
                    customer_id=who.customer_id,
                )
            decided = _by_reference(work, usable)
        elif rule is AllocationRule.EXACT_AMOUNT:
            decided = _by_exact_amount(work)
        elif rule is AllocationRule.INVOICE_COMBINATION:
            decided, searched_out = _by_combination(work, rules.invoice_combination, clock)
        elif rule is AllocationRule.OLDEST_DUE_FIRST:
            return _oldest_due_first(work, searched_out)
        else:
            continue
        if decided is not None:
            return decided
    return Problem(
        line.id,
        ProblemKind.NO_RULE_APPLIED,
        f"{who.evidence}, but none of the owner's allocation rules applies",
        customer_id=who.customer_id,
    )


def _by_reference(
    work: _Line, referenced: list[tuple[OpenInvoice, FoundReference]]
) -> LineDecision:
    """Referenced open invoices, oldest due first; a shortfall leaves the last one partly open,
    a surplus stays unused. When every referenced invoice is settled already (a duplicate
    payment, most likely) the whole amount stays unused: policy 2's surplus."""
    if len(referenced) > 1:
        referenced = sorted(referenced, key=lambda r: (r[0].due_date, r[0].number))
    remaining = work.line.amount
    opened = work.book.open_amounts
    allocations: list[ProposedAllocation] = []
    last: OpenInvoice | None = None
    for invoice, reference in referenced:
        open_amount = opened[invoice.id]
        applied = remaining if remaining < open_amount else open_amount
        if applied <= 0:
            continue
        if applied == open_amount:
            how = (
                "amount equals its open amount"
                if applied == work.line.amount
                else f"{applied:f} settles its open amount"
            )
        else:
            how = f"{applied:f} applied of its open {open_amount:f}"
        kind, token = reference.kind, reference.token
        if kind == KIND_NUMBER:
            rule = RULE_EXACT_REFERENCE if token == invoice.number else RULE_REFERENCE
            said = f"{token} in the {where(reference.field)}; {how}"
        elif kind == KIND_CREDITOR:
            rule = RULE_CREDITOR_REFERENCE
            said = f"creditor reference {token} (check digits verified) in the "
            said += f"{where(reference.field)}; {how}"
        else:
            rule, said = RULE_PAYMENT_LINK, f"payment link {token}; {how}"
        evidence = (("token", token), ("field", reference.field))
        allocations.append(work.allocate(invoice, applied, rule, said, evidence))
        remaining -= applied
        last = invoice
    if last is None:
        numbers = ", ".join(i.number for i, _ in referenced)
        note = f"{numbers} settled already: the amount stays unused on the customer's account"
        return work.decision([], note=note)
    settlement = work.settle(last) if remaining == 0 else None
    return work.decision(allocations, settlement)


def _by_exact_amount(work: _Line) -> LineDecision | None:
    amount = work.line.amount
    candidates = work.open_invoices()
    opened = work.book.open_amounts
    exact = [i for i in candidates if opened[i.id] == amount]
    tolerances = work.rules.tolerances
    if not exact and (tolerances.bank_charges or tolerances.write_off):
        tolerance = max(tolerances.bank_charges, tolerances.write_off)
        exact = [i for i in candidates if 0 < opened[i.id] - amount <= tolerance]
    if len(exact) != 1:
        return None
    (invoice,) = exact
    fits = "equals" if opened[invoice.id] == amount else "is within tolerance of"
    how = (
        f"{work.who.evidence}; amount {fits} the open amount of {invoice.number}, "
        "the customer's only open invoice of that amount"
    )
    allocation = work.allocate(invoice, amount, RULE_EXACT_AMOUNT, how)
    return work.decision([allocation], work.settle(invoice))


def _by_combination(
    work: _Line, settings: CombinationSettings, clock: Clock | None
) -> tuple[LineDecision | None, bool]:
    """(the decision, whether the search ran out of budget before it could decide)."""
    amount = work.line.amount
    opened = work.book.open_amounts
    # Customers pay their oldest invoices: beyond the budgeted number, the newest are left out.
    pool = [i for i in work.open_invoices() if opened[i.id] < amount][: settings.max_candidates]
    if len(pool) < settings.min_invoices:
        return None, False
    pool.sort(key=lambda i: (-opened[i.id], i.due_date, i.number))
    amounts = [opened[i.id] for i in pool]
    if sum(amounts[: settings.max_invoices], _ZERO) < amount:
        return None, False  # even the largest invoices together fall short: nothing to search
    found, exhausted = find_combinations(amounts, amount, settings, clock)
    if exhausted or len(found) != 1:  # an unfinished search cannot prove a combination unique
        return None, exhausted
    chosen = sorted((pool[k] for k in found[0]), key=lambda i: (i.due_date, i.number))
    numbers = ", ".join(i.number for i in chosen)
    how = (
        f"{work.who.evidence}; amount equals the sum of the open amounts of {numbers}, the only "
        f"combination of {settings.min_invoices} to {settings.max_invoices} open invoices that does"
    )
    allocations = [
        work.allocate(i, opened[i.id], RULE_COMBINATION, how, (("invoices", numbers),))
        for i in chosen
    ]
    return work.decision(allocations), False


class _Stop(Exception):
    """Ends the search: a second solution was found, or the budget is spent."""


def find_combinations(
    amounts: Sequence[Decimal],
    target: Decimal,
    settings: CombinationSettings,
    clock: Clock | None = None,
) -> tuple[list[tuple[int, ...]], bool]:
    """Up to two index sets of `min_invoices..max_invoices` amounts (sorted largest first) that
    sum to `target`, and whether the budget ran out first (then the answer proves nothing)."""
    n = len(amounts)
    prefix = [_ZERO]
    for a in amounts:
        prefix.append(prefix[-1] + a)
    found: list[tuple[int, ...]] = []
    steps = 0
    deadline = None if clock is None else clock() + settings.time_budget_ms / 1000
    low, high = settings.min_invoices, settings.max_invoices

    def search(start: int, chosen: tuple[int, ...], remaining: Decimal) -> None:
        nonlocal steps
        picks = len(chosen) + 1
        for j in range(start, n):
            steps += 1
            if steps > settings.search_steps or (
                deadline is not None
                and steps % 1024 == 0
                and clock is not None
                and clock() > deadline
            ):
                raise _Stop
            a = amounts[j]
            if a > remaining:
                continue
            if a == remaining:
                if picks >= low:
                    found.append((*chosen, j))
                    if len(found) > 1:
                        raise _Stop
                continue
            if picks >= high:
                continue
            # The largest amounts after j cannot make up the rest: no later j can either.
            if a + prefix[min(n, j + 1 + high - picks)] - prefix[j + 1] < remaining:
                return
            search(j + 1, (*chosen, j), remaining - a)

    try:
        search(0, (), target)
    except _Stop:
        return found, len(found) < 2
    return found, False


def _oldest_due_first(work: _Line, searched_out: bool) -> LineDecision:
    """FIFO (seed 004's AutoApply): oldest due first, the last one perhaps partly; the rest of
    the amount stays unused on the customer's account."""
    remaining = work.line.amount
    opened = work.book.open_amounts
    allocations: list[ProposedAllocation] = []
    note = " (the combination search ran out of budget)" if searched_out else ""
    for invoice in work.open_invoices():
        if remaining <= 0:
            break
        applied = min(remaining, opened[invoice.id])
        how = (
            f"{work.who.evidence}; no reference or amount fits{note}: paid oldest due first, "
            f"{invoice.number} due {invoice.due_date.isoformat()}"
        )
        allocations.append(work.allocate(invoice, applied, RULE_OLDEST_DUE_FIRST, how))
        remaining -= applied
    return work.decision(allocations)
