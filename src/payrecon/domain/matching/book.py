"""The matcher's indexes for one batch: open invoices (by customer and by normalised number),
the customer directory (mandates, accounts, account numbers, links) and earlier payments that a
debit may undo. Every look-up is a dictionary access; no per-line scan of the book."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter

from payrecon.domain.matching.model import LineToMatch, OpenInvoice, OriginalPayment
from payrecon.domain.matching.references import (
    invoice_key,
    normalise_account,
    reference_tokens,
)

_ZERO = Decimal(0)
_DUE_ORDER = attrgetter("due_date", "number", "id")


class InvoiceBook:
    """Open invoices for one batch, with open amounts that shrink as the batch allocates them,
    so two lines of one batch that name the same invoice never over-allocate it."""

    def __init__(self, invoices: Iterable[OpenInvoice]) -> None:
        self._invoices: dict[int, OpenInvoice] = {}
        self._by_key: dict[str, list[OpenInvoice]] = {}
        self._by_customer: dict[int, list[OpenInvoice]] = {}
        self._open: dict[int, Decimal] = {}
        self._unsorted: set[int] = set()
        # One sort here leaves every customer's list in due order, so that no line pays for it.
        for invoice in sorted(invoices, key=_DUE_ORDER):
            self._add(invoice)
        self._unsorted.clear()

    def _add(self, invoice: OpenInvoice) -> bool:
        if invoice.id in self._invoices:
            return False
        self._invoices[invoice.id] = invoice
        self._open[invoice.id] = invoice.open_amount
        self._by_key.setdefault(invoice_key(invoice.number), []).append(invoice)
        self._by_customer.setdefault(invoice.customer_id, []).append(invoice)
        self._unsorted.add(invoice.customer_id)
        return True

    def __len__(self) -> int:
        return len(self._invoices)

    def loaded(self) -> list[OpenInvoice]:
        """Every invoice in the book as it was loaded, before this batch took anything."""
        return list(self._invoices.values())

    def with_key(self, key: str) -> list[OpenInvoice]:
        return self._by_key.get(key, [])

    def invoice(self, invoice_id: int) -> OpenInvoice:
        return self._invoices[invoice_id]

    def open_amount(self, invoice_id: int) -> Decimal:
        return self._open[invoice_id]

    @property
    def open_amounts(self) -> Mapping[int, Decimal]:
        """Every invoice's open amount, read-only: the allocation rules read it per invoice in
        their inner loops, where a method call each time would show."""
        return self._open

    def take(self, invoice_id: int, amount: Decimal) -> Decimal:
        """Reduce the invoice's open amount by `amount`; returns what was open before."""
        before = self._open[invoice_id]
        if amount > before or amount <= 0:
            raise ValueError(f"invoice {invoice_id} would be over-allocated")  # programming error
        self._open[invoice_id] = before - amount
        return before

    def reopen(self, invoice: OpenInvoice, amount: Decimal) -> None:
        """Give back what an undone payment took (`invoice` as loaded, should it be new here)."""
        self._add(invoice)
        self._open[invoice.id] += amount

    def open_invoices(self, customer_id: int, currency: str) -> list[OpenInvoice]:
        """The customer's invoices in `currency` still open, oldest due first."""
        invoices = self._by_customer.get(customer_id)
        if not invoices:
            return []
        if customer_id in self._unsorted:  # an invoice reopened into the book since
            invoices.sort(key=_DUE_ORDER)
            self._unsorted.discard(customer_id)
        opened = self._open
        return [i for i in invoices if i.currency == currency and opened[i.id] > 0]


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a payment link was issued for: a customer, and perhaps one invoice."""

    customer_id: int
    invoice_id: int | None = None


@dataclass(frozen=True, slots=True)
class CustomerDirectory:
    """Who is behind an identifier. Keys are normalised as `normalise_account` (accounts) and
    upper case (account numbers); a value of several customers is ambiguous on its own."""

    mandates: Mapping[str, int] = field(default_factory=dict)
    bank_accounts: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    account_numbers: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    payment_links: Mapping[str, LinkTarget] = field(default_factory=dict)
    provider_customers: Mapping[str, int] = field(default_factory=dict)
    owners: Mapping[int, int] = field(default_factory=dict)  # customer -> contract owner

    @property
    def kinds(self) -> frozenset[str]:
        """The names of the maps that hold anyone (the identification plan skips the others)."""
        return frozenset(
            name
            for name in ("mandates", "payment_links", "provider_customers")
            if getattr(self, name)
        )

    def belongs(self, customer_id: int, owner_id: int | None) -> bool:
        """Whether the customer may pay on the owner's account (unknown owners allow anyone)."""
        if owner_id is None:
            return True
        owner = self.owners.get(customer_id)
        return owner is None or owner == owner_id

    def all_belong(self, customer_ids: Iterable[int], owner_id: int | None) -> bool:
        """`belongs` for several customers at once (the common, cheap case: all do)."""
        if owner_id is None:
            return True
        owners = self.owners
        for customer_id in customer_ids:
            owner = owners.get(customer_id)
            if owner is not None and owner != owner_id:
                return False
        return True


class PaymentHistory:
    """Earlier credits with live payments, indexed by what a refund or return quotes of them.

    Credits of the same batch count too, once paid, so a return booked the same day as its
    collection finds it. Only those a debit of the batch quotes are indexed (`expect` notes
    what the debits quote; `remember` checks each paid credit against it), and an
    `OriginalPayment` is built only when a debit finds it.
    """

    def __init__(self, originals: Iterable[OriginalPayment] = ()) -> None:
        self._by_end_to_end: dict[str, list[int]] = {}
        self._by_reference: dict[str, list[int]] = {}
        self._by_mandate: dict[str, list[int]] = {}
        self._by_account: dict[str, list[int]] = {}
        self._undone: set[int] = set()
        self._originals: dict[int, OriginalPayment | Callable[[], OriginalPayment]] = {}
        self._quoted_e2e: set[str] = set()
        self._quoted_references: set[str] = set()
        self._quoted_mandates: set[str] = set()
        self._quoted_accounts: set[str] = set()
        for original in originals:
            self._originals.setdefault(original.line_id, original)
            self._index(
                original.line_id,
                original.end_to_end_id,
                original.bank_reference,
                original.mandate_id,
                original.counterparty_account,
            )

    def expect(self, debits: Iterable[LineToMatch]) -> None:
        """Note what the batch's debits quote, so that only credits they may undo need
        remembering as the batch goes (see `quotes`)."""
        for line in debits:
            if line.end_to_end_id:
                self._quoted_e2e.add(line.end_to_end_id.upper())
            if line.mandate_id:
                self._quoted_mandates.add(line.mandate_id.upper())
            if line.counterparty_account:
                self._quoted_accounts.add(normalise_account(line.counterparty_account))
            for _, text in line.texts:
                self._quoted_references.update(t.upper() for t in reference_tokens(text))

    def quotes(self, line: LineToMatch) -> bool:
        """Whether a debit of the batch quotes something of this credit."""
        e2e, reference, mandate = line.end_to_end_id, line.bank_reference, line.mandate_id
        account = line.counterparty_account
        return bool(
            (e2e and self._quoted_e2e and e2e.upper() in self._quoted_e2e)
            or (
                reference
                and self._quoted_references
                and reference.upper() in self._quoted_references
            )
            or (mandate and self._quoted_mandates and mandate.upper() in self._quoted_mandates)
            or (
                account
                and self._quoted_accounts
                and normalise_account(account) in self._quoted_accounts
            )
        )

    def remember(self, line: LineToMatch, make: Callable[[], OriginalPayment]) -> None:
        """A credit of the batch that a debit quotes was paid: index it (`make` builds its
        OriginalPayment when a debit finds it)."""
        account = line.counterparty_account
        self._originals.setdefault(line.id, make)
        self._index(
            line.id,
            line.end_to_end_id,
            line.bank_reference,
            line.mandate_id,
            normalise_account(account) if account else None,
        )

    def _index(
        self,
        line_id: int,
        end_to_end_id: str | None,
        bank_reference: str | None,
        mandate_id: str | None,
        account: str | None,
    ) -> None:
        if end_to_end_id:
            self._by_end_to_end.setdefault(end_to_end_id.upper(), []).append(line_id)
        if bank_reference:
            self._by_reference.setdefault(bank_reference.upper(), []).append(line_id)
        if mandate_id:
            self._by_mandate.setdefault(mandate_id.upper(), []).append(line_id)
        if account:
            self._by_account.setdefault(account.upper(), []).append(line_id)

    def mark_undone(self, line_id: int) -> None:
        self._undone.add(line_id)

    def original(self, line_id: int) -> OriginalPayment:
        found = self._originals[line_id]
        if not isinstance(found, OriginalPayment):
            found = self._originals[line_id] = found()
        return found

    def _live(self, index: dict[str, list[int]], value: str) -> list[OriginalPayment]:
        ids = dict.fromkeys(index.get(value.upper(), ()))
        return [self.original(i) for i in ids if i not in self._undone]

    def by_end_to_end(self, value: str) -> list[OriginalPayment]:
        return self._live(self._by_end_to_end, value)

    def by_reference(self, value: str) -> list[OriginalPayment]:
        return self._live(self._by_reference, value)

    def by_mandate(self, value: str) -> list[OriginalPayment]:
        return self._live(self._by_mandate, value)

    def by_account(self, value: str) -> list[OriginalPayment]:
        return self._live(self._by_account, value)
