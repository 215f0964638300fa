"""The pure provider records: minor units, event effects, open-banking lines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from payrecon.domain.errors import InvalidAmount
from payrecon.domain.money import Money
from payrecon.domain.providers import (
    DisputeStatus,
    Effect,
    OpenBankingTransaction,
    PaymentStatus,
    Provider,
    ProviderDispute,
    ProviderEvent,
    ProviderPayment,
    RefundStatus,
    dispute_effect,
    from_minor_units,
    minor_unit_exponent,
    payment_effect,
)

AT = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (1000, "EUR", "10.00"),
        (1, "GBP", "0.01"),
        (5000, "JPY", "5000"),
        (1234, "KWD", "1.234"),
        ("45.0", "EUR", "0.450"),
        ("-357.6", "GBP", "-3.576"),
        (0, "usd", "0.00"),
    ],
)
def test_minor_units_become_exact_major_units(
    value: int | str, currency: str, expected: str
) -> None:
    amount = from_minor_units(value, currency)
    assert isinstance(amount, Decimal)
    assert amount == Decimal(expected)
    assert f"{amount:f}" == expected


def test_floats_are_refused_for_minor_units() -> None:
    with pytest.raises(InvalidAmount):
        from_minor_units(10.5, "GBP")  # type: ignore[arg-type]


def test_a_provider_table_overrides_the_iso_exponent() -> None:
    assert minor_unit_exponent("ISK") == 0
    assert minor_unit_exponent("ISK", {"ISK": 2}) == 2
    assert from_minor_units(10000, "ISK", {"ISK": 2}) == Decimal("100.00")


def _gc_event(resource: str, action: str) -> ProviderEvent:
    return ProviderEvent(Provider.GOCARDLESS, "EV1", resource, action, AT, {"payment": "PM1"})


@pytest.mark.parametrize(
    ("resource", "action", "effect"),
    [
        ("payments", "confirmed", Effect.RECORD),
        ("payments", "paid_out", Effect.RECORD),
        ("payments", "chargeback_cancelled", Effect.RECORD),
        ("payments", "failed", Effect.REVERSE),
        ("payments", "charged_back", Effect.REVERSE),
        ("payments", "late_failure_settled", Effect.REVERSE),
        ("payments", "chargeback_settled", Effect.REVERSE),
        ("payments", "created", Effect.IGNORE),
        ("payments", "submitted", Effect.IGNORE),
        ("payments", "cancelled", Effect.IGNORE),
        ("payments", "customer_approval_denied", Effect.IGNORE),
        ("payments", "resubmission_requested", Effect.IGNORE),
        ("refunds", "created", Effect.REFUND),
        ("refunds", "paid", Effect.REFUND),
        ("refunds", "funds_returned", Effect.CANCEL_REFUND),
        ("refunds", "failed", Effect.CANCEL_REFUND),
        ("payouts", "paid", Effect.RECORD_PAYOUT),
        ("mandates", "cancelled", Effect.IGNORE),
        ("subscriptions", "created", Effect.IGNORE),
    ],
)
def test_gocardless_event_effects(resource: str, action: str, effect: Effect) -> None:
    assert payment_effect(_gc_event(resource, action)) is effect


@pytest.mark.parametrize(
    ("resource", "action", "status", "effect"),
    [
        ("charge", "succeeded", "succeeded", Effect.RECORD),
        ("charge", "failed", "failed", Effect.REVERSE),
        ("charge", "refunded", "succeeded", Effect.REFUND),
        ("charge", "pending", "pending", Effect.IGNORE),
        ("dispute", "funds_withdrawn", "needs_response", Effect.REVERSE),
        ("dispute", "funds_reinstated", "won", Effect.RECORD),
        ("dispute", "closed", "lost", Effect.REVERSE),
        ("dispute", "closed", "won", Effect.IGNORE),
        ("refund", "created", "succeeded", Effect.REFUND),
        ("refund", "updated", "failed", Effect.CANCEL_REFUND),
        ("refund", "updated", "succeeded", Effect.IGNORE),
        ("payout", "paid", "paid", Effect.RECORD_PAYOUT),
    ],
)
def test_stripe_event_effects(resource: str, action: str, status: str, effect: Effect) -> None:
    event = ProviderEvent(Provider.STRIPE, "evt_1", resource, action, AT, {}, {"status": status})
    assert payment_effect(event) is effect


@pytest.mark.parametrize(
    ("status", "effect"),
    [
        (DisputeStatus.NEEDS_RESPONSE, Effect.REVERSE),
        (DisputeStatus.LOST, Effect.REVERSE),
        (DisputeStatus.WON, Effect.RECORD),
        (DisputeStatus.WARNING_NEEDS_RESPONSE, Effect.IGNORE),
    ],
)
def test_dispute_effects(status: DisputeStatus, effect: Effect) -> None:
    dispute = ProviderDispute(Provider.STRIPE, "dp_1", "ch_1", Decimal("10.00"), "GBP", status, AT)
    assert dispute_effect(dispute) is effect


def test_collected_and_live_statuses() -> None:
    assert {s for s in PaymentStatus if s.is_collected} == {
        PaymentStatus.CONFIRMED,
        PaymentStatus.PAID_OUT,
    }
    assert not RefundStatus.FUNDS_RETURNED.is_live
    assert RefundStatus.PAID.is_live


def _transaction(**overrides: object) -> OpenBankingTransaction:
    values: dict[str, object] = {
        "account_id": "ACC1",
        "booked": True,
        "amount": Decimal("120.50"),
        "currency": "GBP",
        "booking_date": date(2024, 2, 1),
        "value_date": date(2024, 2, 2),
        "transaction_id": "TX1",
        "internal_transaction_id": "abc",
        "debtor_name": "Payer Ltd",
        "debtor_iban": "GB33BUKB20201555555555",
        "creditor_name": "Acme",
        "creditor_iban": "GB94BARC10201530093459",
        "remittance": "INV-0001234",
        "end_to_end_id": "E2E1",
        "mandate_id": "MD1",
    }
    values.update(overrides)
    return OpenBankingTransaction(**values)  # type: ignore[arg-type]


def test_a_credit_becomes_a_statement_line_with_the_debtor_as_counterparty() -> None:
    line = _transaction().to_statement_line()
    assert line.external_id == "TX1"
    assert (line.account, line.amount, line.currency) == ("ACC1", Decimal("120.50"), "GBP")
    assert (line.booking_date, line.value_date) == (date(2024, 2, 1), date(2024, 2, 2))
    assert (line.counterparty_name, line.counterparty_account) == (
        "Payer Ltd",
        "GB33BUKB20201555555555",
    )
    assert (line.remittance, line.end_to_end_id, line.mandate_id) == ("INV-0001234", "E2E1", "MD1")


def test_a_debit_names_the_creditor_as_counterparty() -> None:
    line = _transaction(amount=Decimal("-5.00")).to_statement_line()
    assert (line.counterparty_name, line.counterparty_account) == ("Acme", "GB94BARC10201530093459")


def test_the_dedupe_id_falls_back_to_the_aggregator_id_then_a_content_hash() -> None:
    assert _transaction(transaction_id=None).dedupe_id == "abc"
    hashed = _transaction(transaction_id=None, internal_transaction_id=None)
    assert hashed.dedupe_id.startswith("H")
    assert (
        hashed.dedupe_id
        == _transaction(transaction_id=None, internal_transaction_id=None).dedupe_id
    )
    assert (
        hashed.dedupe_id
        != _transaction(
            transaction_id=None, internal_transaction_id=None, amount=Decimal("120.51")
        ).dedupe_id
    )


def test_a_pending_transaction_books_on_its_value_date() -> None:
    line = _transaction(booked=False, booking_date=None).to_statement_line()
    assert line.booking_date == date(2024, 2, 2)


def test_a_record_exposes_its_money() -> None:
    payment = ProviderPayment(
        Provider.GOCARDLESS, "PM1", Decimal("10.00"), "EUR", PaymentStatus.CONFIRMED, AT
    )
    assert payment.money == Money(Decimal("10.00"), "EUR")
