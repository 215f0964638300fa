"""Payment-provider records (GoCardless, Stripe, open banking) and what their events ask of us.

Pure: no I/O imports. The HTTP clients in `payrecon.feeds` build these records; the provider sync
service stores them, deduplicated by (provider, external_id).

Amounts are `Decimal` in major units (12.34 GBP), converted from the providers' minor units with the
currency's exponent (`from_minor_units`). Statuses are normalised to GoCardless's vocabulary, the
richest of the providers; `feeds/stripe.py` documents how Stripe's statuses map onto it.

`payment_effect` is a desired-state answer, not a delta: RECORD means "this payment counts", REVERSE
means "it no longer counts". Applying the same effect twice must change nothing (the service checks
the payment's current state), so replays and out-of-order deliveries are harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from payrecon.domain.lines import StatementLine, content_key
from payrecon.domain.money import ISO_EXPONENTS, Money, minor_unit_exponent, parse_amount


class Provider(StrEnum):
    GOCARDLESS = "gocardless"
    STRIPE = "stripe"
    OPENBANKING = "openbanking"


# ISO 4217 minor-unit exponents that differ from 2. Providers with their own table (Stripe) pass it.
def from_minor_units(
    value: int | str | Decimal, currency: str, table: Mapping[str, int] = ISO_EXPONENTS
) -> Decimal:
    """Minor units (an integer, or a decimal string such as a payout item's "45.0") to major units.

    Floats are refused (`parse_amount`); extra precision is kept, never rounded here.
    """
    return parse_amount(value).scaleb(-minor_unit_exponent(currency, table))


class PaymentStatus(StrEnum):
    """GoCardless payment statuses; Stripe charges map onto them (see feeds/stripe.py)."""

    PENDING_CUSTOMER_APPROVAL = "pending_customer_approval"
    PENDING_SUBMISSION = "pending_submission"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    PAID_OUT = "paid_out"
    CANCELLED = "cancelled"
    CUSTOMER_APPROVAL_DENIED = "customer_approval_denied"
    FAILED = "failed"
    CHARGED_BACK = "charged_back"

    @property
    def is_collected(self) -> bool:
        """True when the money is the merchant's: the payment should be recorded and allocated."""
        return self in (PaymentStatus.CONFIRMED, PaymentStatus.PAID_OUT)


class MandateStatus(StrEnum):
    PENDING_CUSTOMER_APPROVAL = "pending_customer_approval"
    PENDING_SUBMISSION = "pending_submission"
    SUBMITTED = "submitted"
    ACTIVE = "active"
    SUSPENDED_BY_PAYER = "suspended_by_payer"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    CONSUMED = "consumed"
    BLOCKED = "blocked"


class RefundStatus(StrEnum):
    CREATED = "created"
    PENDING_SUBMISSION = "pending_submission"
    SUBMITTED = "submitted"
    PAID = "paid"
    CANCELLED = "cancelled"
    BOUNCED = "bounced"
    FUNDS_RETURNED = "funds_returned"
    FAILED = "failed"

    @property
    def is_live(self) -> bool:
        """True while the refund takes (or took) money back from the merchant."""
        return self not in (
            RefundStatus.CANCELLED,
            RefundStatus.BOUNCED,
            RefundStatus.FUNDS_RETURNED,
            RefundStatus.FAILED,
        )


class PayoutStatus(StrEnum):
    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DisputeStatus(StrEnum):
    """Stripe dispute statuses. `warning_*` are inquiries: no money has moved."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    PREVENTED = "prevented"


class Effect(StrEnum):
    """What a provider event asks of the ledger. Each is idempotent (see the module docstring)."""

    RECORD = "record"  # the payment counts: record it and allocate it
    REVERSE = "reverse"  # the payment no longer counts: reverse its allocations, reopen invoices
    REFUND = "refund"  # a refund was made: record it against its payment
    CANCEL_REFUND = "cancel_refund"  # a refund did not happen after all: undo it
    RECORD_PAYOUT = "record_payout"  # a payout was sent: fetch and record it with its items
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    provider: Provider
    external_id: str
    amount: Decimal
    currency: str
    status: PaymentStatus
    created_at: datetime
    charge_date: date | None = None
    mandate_id: str | None = None
    provider_customer_id: str | None = None
    reference: str | None = None
    description: str | None = None
    payout_id: str | None = None
    amount_refunded: Decimal = Decimal(0)

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider: Provider
    external_id: str
    payment_external_id: str | None
    amount: Decimal
    currency: str
    status: RefundStatus
    created_at: datetime
    reference: str | None = None

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class ProviderPayout:
    """Money sent to the merchant's bank. `amount` is net of `deducted_fees`; `reference` is the
    text the bank line carries, which a later matcher uses to tie the bank credit to this payout."""

    provider: Provider
    external_id: str
    amount: Decimal
    currency: str
    status: PayoutStatus
    created_at: datetime
    arrival_date: date | None = None
    reference: str | None = None
    deducted_fees: Decimal | None = None
    # The provider's foreign exchange (GoCardless `fx`): paid out in `fx_currency` at `fx_rate`
    # (1 `currency` = `fx_rate` `fx_currency`), `fx_amount` in that currency.
    fx_currency: str | None = None
    fx_rate: Decimal | None = None
    fx_amount: Decimal | None = None

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class ProviderPayoutItem:
    """One credit (positive) or debit (negative) that makes up a payout, or a Stripe balance
    transaction. GoCardless keeps sub-minor-unit precision (0.005 GBP); the payout is the rounded
    sum. `external_id` is the Stripe balance transaction id (GoCardless items have none)."""

    provider: Provider
    payout_external_id: str | None
    type: str
    amount: Decimal
    currency: str
    links: Mapping[str, str] = field(default_factory=dict)
    external_id: str | None = None
    fee: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ProviderMandate:
    provider: Provider
    external_id: str
    status: MandateStatus
    customer_id: str | None
    customer_bank_account_id: str | None
    created_at: datetime
    reference: str | None = None
    scheme: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderDispute:
    provider: Provider
    external_id: str
    payment_external_id: str
    amount: Decimal
    currency: str
    status: DisputeStatus
    created_at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A provider's notice that a resource changed. `links` name the resources by id, under
    GoCardless's keys (`payment`, `refund`, `payout`, `mandate`) for every provider."""

    provider: Provider
    id: str
    resource_type: str
    action: str
    created_at: datetime
    links: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def payment_id(self) -> str | None:
        return self.links.get("payment")

    @property
    def refund_id(self) -> str | None:
        return self.links.get("refund")

    @property
    def payout_id(self) -> str | None:
        return self.links.get("payout")


_GOCARDLESS_EFFECTS: Mapping[tuple[str, str], Effect] = {
    ("payments", "confirmed"): Effect.RECORD,
    ("payments", "paid_out"): Effect.RECORD,
    # The customer's bank withdrew its chargeback: the money is the merchant's again.
    ("payments", "chargeback_cancelled"): Effect.RECORD,
    ("payments", "failed"): Effect.REVERSE,
    ("payments", "charged_back"): Effect.REVERSE,
    ("payments", "late_failure_settled"): Effect.REVERSE,
    ("payments", "chargeback_settled"): Effect.REVERSE,
    ("refunds", "created"): Effect.REFUND,
    ("refunds", "paid"): Effect.REFUND,
    ("refunds", "refund_settled"): Effect.REFUND,
    ("refunds", "failed"): Effect.CANCEL_REFUND,
    ("refunds", "bounced"): Effect.CANCEL_REFUND,
    ("refunds", "funds_returned"): Effect.CANCEL_REFUND,
    ("payouts", "paid"): Effect.RECORD_PAYOUT,
}

_STRIPE_EFFECTS: Mapping[tuple[str, str], Effect] = {
    ("charge", "succeeded"): Effect.RECORD,
    ("charge", "failed"): Effect.REVERSE,
    # Older API versions announce refunds only this way: the links name the charge, not the refund.
    ("charge", "refunded"): Effect.REFUND,
    ("dispute", "funds_withdrawn"): Effect.REVERSE,
    ("dispute", "funds_reinstated"): Effect.RECORD,
    ("refund", "created"): Effect.REFUND,
    ("refund", "failed"): Effect.CANCEL_REFUND,
    ("payout", "paid"): Effect.RECORD_PAYOUT,
}


def payment_effect(event: ProviderEvent) -> Effect:
    """What `event` asks of the ledger. Unknown (resource, action) pairs are ignored.

    GoCardless: a payment counts once `confirmed` (or `paid_out`); `failed`, `charged_back` and the
    late `*_settled` debits reverse it; `cancelled`, `customer_approval_denied` and the like concern
    a payment that was never collected, so there is nothing to undo. Stripe: a closed dispute is
    decided by its status; a refund update by the refund's status (in `details["status"]`).
    """
    key = (event.resource_type, event.action)
    if event.provider is Provider.GOCARDLESS:
        return _GOCARDLESS_EFFECTS.get(key, Effect.IGNORE)
    if event.provider is Provider.STRIPE:
        status = event.details.get("status")
        if key == ("dispute", "closed"):
            return Effect.REVERSE if status == DisputeStatus.LOST else Effect.IGNORE
        if key == ("refund", "updated") and status in ("failed", "canceled"):
            return Effect.CANCEL_REFUND
        return _STRIPE_EFFECTS.get(key, Effect.IGNORE)
    return Effect.IGNORE


def dispute_effect(dispute: ProviderDispute) -> Effect:
    """A pulled Stripe dispute's effect on its charge: inquiries and won ones leave it counted."""
    if dispute.status in (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW):
        return Effect.REVERSE  # Stripe withdraws the funds when the dispute opens
    if dispute.status is DisputeStatus.LOST:
        return Effect.REVERSE
    if dispute.status is DisputeStatus.WON:
        return Effect.RECORD
    return Effect.IGNORE


@dataclass(frozen=True, slots=True)
class OpenBankingTransaction:
    """A booked or pending account transaction in the GoCardless Bank Account Data shape."""

    account_id: str
    booked: bool
    amount: Decimal
    currency: str
    booking_date: date | None
    value_date: date | None
    transaction_id: str | None = None
    internal_transaction_id: str | None = None
    debtor_name: str | None = None
    debtor_iban: str | None = None
    creditor_name: str | None = None
    creditor_iban: str | None = None
    remittance: str | None = None
    structured_reference: str | None = None
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    bank_transaction_code: str | None = None

    @property
    def dedupe_id(self) -> str:
        """The bank's id where given (so a bank file of the same account dedupes against it),
        else the aggregator's, else a hash of the content."""
        return (
            self.transaction_id
            or self.internal_transaction_id
            or content_key(
                self.account_id,
                self.booking_date,
                self.value_date,
                self.amount,
                self.currency,
                self.remittance,
                self.end_to_end_id,
            )
        )

    def to_statement_line(self) -> StatementLine:
        """The normalised line: the counterparty is the debtor of a credit, creditor of a debit."""
        booking = self.booking_date or self.value_date
        if booking is None:
            raise ValueError(f"transaction {self.dedupe_id} has neither booking nor value date")
        credit = self.amount > 0
        return StatementLine(
            external_id=self.dedupe_id,
            account=self.account_id,
            booking_date=booking,
            value_date=self.value_date,
            amount=self.amount,
            currency=self.currency,
            counterparty_name=self.debtor_name if credit else self.creditor_name,
            counterparty_account=self.debtor_iban if credit else self.creditor_iban,
            remittance=self.remittance,
            structured_reference=self.structured_reference,
            end_to_end_id=self.end_to_end_id,
            mandate_id=self.mandate_id,
            bank_transaction_code=self.bank_transaction_code,
        )
