"""The writable admin entities: contract owners and billing cycles (seeds 002/003), payment
providers, site payment mandates and payment-provider payment links (seed 000).

Each write model holds the fields a caller may set, by their camelCase names; the same model checks
a create and the result of a JSON Patch, so no patch can store what a create would refuse.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
)
from pydantic.alias_generators import to_camel
from sqlalchemy import Connection, select

from payrecon.domain.errors import InvalidInput, PayreconError
from payrecon.domain.money import RoundingMode, parse_amount
from payrecon.services.admin.resources import AdminResource, Json
from payrecon.services.providers.credentials import effective_base_url
from payrecon.store import admin_tables as a
from payrecon.store import tables as t
from payrecon.store.types import MAX_ID

# GoCardless's mandate vocabulary, the richest of the providers (as `domain.providers` uses).
MandateStatus = Literal[
    "pending_customer_approval",
    "pending_submission",
    "submitted",
    "active",
    "suspended_by_payer",
    "failed",
    "cancelled",
    "expired",
    "consumed",
    "blocked",
]
PaymentLinkStatus = Literal["open", "paid", "expired", "cancelled"]
ProviderKind = Literal["gocardless", "stripe", "openbanking", "bank", "manual"]
_URL = r"^https?://[^\s]+$"


def _iban(value: str | None) -> str | None:
    """An IBAN without spaces, upper case, whose ISO 13616 check digits hold."""
    if value is None:
        return None
    iban = "".join(value.split()).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        raise ValueError("not an IBAN (two letters, two check digits, 11 to 30 more)")
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise ValueError("the IBAN's check digits do not match")
    return iban


def _exact_amount(value: Any) -> Decimal:
    try:
        return parse_amount(value)
    except (PayreconError, TypeError) as exc:
        raise ValueError(str(exc)) from None


Iban = Annotated[str | None, AfterValidator(_iban)]
ExactAmount = Annotated[
    Decimal, BeforeValidator(_exact_amount), Field(gt=0, max_digits=19, decimal_places=4)
]
Name = Annotated[str, Field(min_length=1, max_length=255)]
RowId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ContractOwnerFields(_Fields):
    """Seed 003's contract owner, the fields that govern money and statements."""

    name: Name
    price_rounding_mode: RoundingMode = RoundingMode.HALF_UP
    price_decimal_places: Annotated[StrictInt, Field(ge=0, le=6)] = 2
    enable_balance_carry_forward: StrictBool = True
    bank_account_name: Annotated[str | None, Field(max_length=255)] = None
    bank_account_number: Annotated[str | None, Field(max_length=34, pattern=r"^[0-9]*$")] = None
    bank_sort_code: Annotated[str | None, Field(max_length=16, pattern=r"^[0-9]*$")] = None
    bank_swift_code: Annotated[
        str | None, Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
    ] = None
    bank_iban: Iban = None
    invoice_number_format: Annotated[str | None, Field(max_length=255)] = None


class BillingCycleFields(_Fields):
    contract_owner_id: RowId
    name: Name
    start_day: Annotated[StrictInt, Field(ge=1, le=28)]


class PaymentProviderFields(_Fields):
    """`accessToken` and `webhookSecret` are write-only: stored sealed, never shown. `baseUrl`
    must be https on the kind's own hosts (checked with the deployment's rule on every write,
    `services.providers.credentials`); changing where the token goes clears it."""

    name: Name
    kind: ProviderKind
    base_url: Annotated[str | None, Field(max_length=2048, pattern=_URL)] = None
    enabled: StrictBool = True
    access_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None


class SitePaymentMandateFields(_Fields):
    customer_id: RowId
    provider_id: RowId | None = None
    reference: Annotated[str, Field(min_length=1, max_length=64)]
    status: MandateStatus = "active"
    scheme: Annotated[str | None, Field(max_length=32)] = None


class PaymentLinkFields(_Fields):
    provider_id: RowId
    customer_id: RowId
    invoice_id: RowId | None = None
    url: Annotated[str, Field(max_length=2048, pattern=_URL)]
    amount: ExactAmount
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    status: PaymentLinkStatus = "open"
    external_id: Annotated[str | None, Field(max_length=128)] = None


def _payment_link_rule(conn: Connection, values: Json) -> None:
    """A link is in its customer's currency and, when it names an invoice, for that customer's
    invoice in that currency."""
    customer_currency = conn.execute(
        select(t.customers.c.currency).where(t.customers.c.id == values["customerId"])
    ).scalar_one()
    if values["currency"] != customer_currency:
        raise InvalidInput(
            f"the link's currency {values['currency']} is not the customer's {customer_currency}",
            details={"field": "currency"},
        )
    if values.get("invoiceId") is None:
        return
    invoice = conn.execute(
        select(t.invoices.c.customer_id).where(t.invoices.c.id == values["invoiceId"])
    ).one()
    if invoice.customer_id != values["customerId"]:
        raise InvalidInput(
            f"invoice {values['invoiceId']} belongs to another customer",
            details={"field": "invoiceId"},
        )


def _stamps(table: Any) -> dict[str, Any]:
    return {"createdDate": table.c.created_at, "updatedDate": table.c.updated_at}


_co = t.contract_owners.c
CONTRACT_OWNERS = AdminResource(
    noun="contract owner",
    table=t.contract_owners,
    fields={
        "id": _co.id,
        "name": _co.name,
        "priceRoundingMode": _co.price_rounding_mode,
        "priceDecimalPlaces": _co.price_decimal_places,
        "enableBalanceCarryForward": _co.enable_balance_carry_forward,
        "bankAccountName": _co.bank_account_name,
        "bankAccountNumber": _co.bank_account_number,
        "bankSortCode": _co.bank_sort_code,
        "bankSwiftCode": _co.bank_swift_code,
        "bankIban": _co.bank_iban,
        "invoiceNumberFormat": _co.invoice_number_format,
        **_stamps(t.contract_owners),
    },
    model=ContractOwnerFields,
)

_bc = a.billing_cycles.c
BILLING_CYCLES = AdminResource(
    noun="billing cycle",
    table=a.billing_cycles,
    fields={
        "id": _bc.id,
        "contractOwnerId": _bc.contract_owner_id,
        "name": _bc.name,
        "startDay": _bc.start_day,
        **_stamps(a.billing_cycles),
    },
    model=BillingCycleFields,
    references={"contractOwnerId": (t.contract_owners, "contract owner")},
)

_pp = a.payment_providers.c
PAYMENT_PROVIDERS = AdminResource(
    noun="payment provider",
    table=a.payment_providers,
    fields={
        "id": _pp.id,
        "name": _pp.name,
        "kind": _pp.kind,
        "baseUrl": _pp.base_url,
        "enabled": _pp.enabled,
        **_stamps(a.payment_providers),
    },
    computed={
        "accessTokenSet": _pp.access_token.is_not(None),
        "webhookSecretSet": _pp.webhook_secret.is_not(None),
    },
    model=PaymentProviderFields,
    write_only={"accessToken": _pp.access_token, "webhookSecret": _pp.webhook_secret},
    secret_bound_to={"accessToken": lambda doc: effective_base_url(doc["kind"], doc["baseUrl"])},
)

_md = t.mandates.c
SITE_PAYMENT_MANDATES = AdminResource(
    noun="site payment mandate",
    table=t.mandates,
    fields={
        "id": _md.id,
        "customerId": _md.customer_id,
        "providerId": _md.provider_id,
        "reference": _md.reference,
        "status": _md.status,
        "scheme": _md.scheme,
        **_stamps(t.mandates),
    },
    model=SitePaymentMandateFields,
    references={
        "customerId": (t.customers, "customer"),
        "providerId": (a.payment_providers, "payment provider"),
    },
)

_pl = a.payment_links.c
PAYMENT_LINKS = AdminResource(
    noun="payment link",
    table=a.payment_links,
    fields={
        "id": _pl.id,
        "providerId": _pl.provider_id,
        "customerId": _pl.customer_id,
        "invoiceId": _pl.invoice_id,
        "url": _pl.url,
        "amount": _pl.amount,
        "currency": _pl.currency,
        "status": _pl.status,
        "externalId": _pl.external_id,
        **_stamps(a.payment_links),
    },
    model=PaymentLinkFields,
    references={
        "providerId": (a.payment_providers, "payment provider"),
        "customerId": (t.customers, "customer"),
        "invoiceId": (t.invoices, "invoice"),
    },
    rule=_payment_link_rule,
)

__all__ = [
    "BILLING_CYCLES",
    "CONTRACT_OWNERS",
    "PAYMENT_LINKS",
    "PAYMENT_PROVIDERS",
    "SITE_PAYMENT_MANDATES",
]
