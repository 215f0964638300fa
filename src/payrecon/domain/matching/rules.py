"""The allocation rule set: which evidence identifies a customer, which rules allocate, and the
thresholds and tolerances they use; declared in YAML under `rules/`, validated here.

    rules/default.yaml               the default set (DESIGN.md's allocation policy)
    rules/owners/<owner id>.yaml     a contract owner's overrides, merged over the default:
                                     mappings merge key by key, lists and values replace

Pure: callers read the files and pass their text; a bad document raises `RuleSetError` naming
the file and the field. Money thresholds are quoted decimal strings, never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from payrecon.domain.allocation import (
    RULE_COMBINATION,
    RULE_CREDITOR_REFERENCE,
    RULE_EXACT_AMOUNT,
    RULE_EXACT_REFERENCE,
    RULE_MANUAL,
    RULE_OLDEST_DUE_FIRST,
    RULE_PAYMENT_LINK,
    RULE_REFERENCE,
    RULES,
)
from payrecon.domain.errors import InvalidInput
from payrecon.domain.matching.references import invoice_prefix


class RuleSetError(InvalidInput):
    """A rule-set file is unreadable or invalid; the message names the file and the field."""

    code = "invalid_rule_set"


class IdentificationMethod(StrEnum):
    MANDATE = "mandate"
    PAYMENT_LINK = "payment_link"
    PROVIDER_CUSTOMER = "provider_customer"
    BANK_ACCOUNT = "bank_account"
    INVOICE_REFERENCE = "invoice_reference"
    ACCOUNT_NUMBER_IN_TEXT = "account_number_in_text"


class AllocationRule(StrEnum):
    INVOICE_REFERENCE = "invoice_reference"
    EXACT_AMOUNT = "exact_amount"
    INVOICE_COMBINATION = "invoice_combination"
    OLDEST_DUE_FIRST = "oldest_due_first"


class SettlementRule(StrEnum):
    """Steps that run before customer identification: a line they settle is no customer's."""

    PAYOUT = "payout"  # a provider payout (domain.matching.payouts)


def _exact_decimal(value: object) -> object:
    # YAML reads 0.05 as a binary float; money and confidences must be written as "0.05".
    if isinstance(value, float):
        raise ValueError('write decimals as quoted strings ("0.05"), never as floats')
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]
Confidence = Annotated[ExactDecimal, Field(ge=0, le=1, decimal_places=3)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InvoiceReferenceSettings(_Strict):
    # The owner's `invoice_number_format` wins; this is for owners without one.
    default_format: str = Field(default="INV-0000000", min_length=2)
    labels: tuple[str, ...] = (
        "invoice number",
        "invoice no",
        "invoice nr",
        "invoice",
        "rechnung",
        "facture",
    )
    creditor_references: bool = True
    # Structured references of national schemes, built from the invoice number: `fi` (Finnish
    # viitenumero, and RF references made from one), `ch` (Swiss QR/ESR). Off unless asked for.
    national_references: tuple[Literal["fi", "ch"], ...] = ()


class AccountNumberSettings(_Strict):
    # An account number of digits only counts after one of these words ("Acct 0012345"), as a
    # bare number is just as likely an order or invoice number.
    labels: tuple[str, ...] = (
        "account",
        "acct",
        "acc",
        "customer",
        "cust",
        "client",
        "kunde",
        "kundennummer",
        "kd-nr",
    )


class CombinationSettings(_Strict):
    min_invoices: int = Field(default=2, ge=2, le=6)
    max_invoices: int = Field(default=4, ge=2, le=6)
    max_candidates: int = Field(default=40, ge=2, le=200)
    # A node budget keeps the search deterministic; the wall-clock budget is a safety net only.
    search_steps: int = Field(default=200_000, ge=100)
    time_budget_ms: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _sizes(self) -> CombinationSettings:
        if self.max_invoices < self.min_invoices:
            raise ValueError("max_invoices must be >= min_invoices")
        return self


class PayerNameSettings(_Strict):
    suggest_from_score: int = Field(default=88, ge=50, le=100)
    max_suggestions: int = Field(default=3, ge=1, le=10)


def _payout_payer_names() -> dict[str, tuple[str, ...]]:
    return {"gocardless": ("gocardless",), "stripe": ("stripe",)}


class PayoutSettings(_Strict):
    # Without a payout reference, a credit settles the only unreconciled payout of its currency
    # and net amount arriving within this many days of its booking date, unless it carries what
    # names a customer; `match_by_amount: false` turns this fallback off.
    match_by_amount: bool = True
    arrival_window_days: int = Field(default=3, ge=0, le=14)
    # ... and only when the payer's name or the remittance text holds one of these words for the
    # payout's provider (compared as payout references are: "GOCARDLESS LTD", "GoCardless
    # payout"); a provider not named here, or with [], needs no word. Without it, a customer's
    # transfer that happens to equal a payout's net amount would be taken for the payout
    # (measured: 32 of 4,356 payout settlements wrong at 300,000 lines, more as the book grows).
    payer_names: dict[str, tuple[str, ...]] = Field(default_factory=_payout_payer_names)


class Tolerances(_Strict):
    """Shortfalls an owner accepts as settled; both off (zero) by default."""

    write_off: ExactDecimal = Field(default=Decimal(0), ge=0)
    bank_charges: ExactDecimal = Field(default=Decimal(0), ge=0)


def _identification_confidence() -> dict[IdentificationMethod, Decimal]:
    return {
        IdentificationMethod.MANDATE: Decimal("1.000"),
        IdentificationMethod.PAYMENT_LINK: Decimal("1.000"),
        IdentificationMethod.PROVIDER_CUSTOMER: Decimal("1.000"),
        IdentificationMethod.BANK_ACCOUNT: Decimal("0.990"),
        IdentificationMethod.INVOICE_REFERENCE: Decimal("0.990"),
        IdentificationMethod.ACCOUNT_NUMBER_IN_TEXT: Decimal("0.970"),
    }


def _allocation_confidence() -> dict[str, Decimal]:
    """One confidence per rule name an allocation can carry (`domain.allocation.RULES`)."""
    return {
        RULE_EXACT_REFERENCE: Decimal("1.000"),
        RULE_CREDITOR_REFERENCE: Decimal("1.000"),
        RULE_PAYMENT_LINK: Decimal("1.000"),
        RULE_REFERENCE: Decimal("0.990"),
        RULE_EXACT_AMOUNT: Decimal("0.970"),
        RULE_COMBINATION: Decimal("0.930"),
        RULE_OLDEST_DUE_FIRST: Decimal("0.850"),
        RULE_MANUAL: Decimal("1.000"),
    }


class ConfidenceSettings(_Strict):
    identification: dict[IdentificationMethod, Confidence] = Field(
        default_factory=_identification_confidence
    )
    allocation: dict[str, Confidence] = Field(default_factory=_allocation_confidence)

    @model_validator(mode="before")
    @classmethod
    def _manual_by_default(cls, data: Any) -> Any:
        # Rule sets written before manual matches read their confidence from here.
        if isinstance(data, Mapping) and isinstance(data.get("allocation"), Mapping):
            data = {**data, "allocation": {RULE_MANUAL: "1.000", **data["allocation"]}}
        return data

    @model_validator(mode="after")
    def _complete(self) -> ConfidenceSettings:
        missing = sorted(RULES - set(self.allocation))
        unknown = sorted(set(self.allocation) - RULES)
        if unknown:
            raise ValueError(f"unknown allocation rules: {', '.join(unknown)}")
        if missing or set(self.identification) != set(IdentificationMethod):
            raise ValueError("give a confidence for every rule and identification method")
        return self


class DebitSettings(_Strict):
    refund_words: tuple[str, ...] = ("refund", "rückerstattung", "erstattung", "remboursement")
    chargeback_words: tuple[str, ...] = ("chargeback", "charge back", "rückbelastung")
    reversal_words: tuple[str, ...] = ("reversal", "storno", "reversed")
    # ISO 20022 bank transaction sub-families that mark a returned or reversed payment.
    return_subfamilies: tuple[str, ...] = ("RRTN", "UPDD", "RPCR", "PRDD")
    chargeback_subfamilies: tuple[str, ...] = ("CHBK",)
    original_within_days: int = Field(default=400, ge=1)
    unclassified: Literal["review", "ignore"] = "review"


class Source(StrEnum):
    """Where money to allocate comes from. Bank lines follow `allocate_by`; the others follow
    `allocate_by_source`, so a rule added to the engine reaches every path its list names."""

    BANK_LINE = "bank_line"
    PROVIDER_PAYMENT = "provider_payment"  # GoCardless, Stripe: customer known by the mandate
    CREDIT_NOTE = "credit_note"  # a credit note created or edited with autoApply (seed 004)


def _source_orders() -> dict[Source, tuple[AllocationRule, ...]]:
    return {
        Source.PROVIDER_PAYMENT: (
            AllocationRule.INVOICE_REFERENCE,
            AllocationRule.OLDEST_DUE_FIRST,
        ),
        Source.CREDIT_NOTE: (AllocationRule.OLDEST_DUE_FIRST,),  # AutoApply: earliest due first
    }


class RuleSet(_Strict):
    """One contract owner's rules (or the default)."""

    settle_lines_by: tuple[SettlementRule, ...] = tuple(SettlementRule)
    identify_customer_by: tuple[IdentificationMethod, ...] = tuple(IdentificationMethod)
    on_conflicting_identification: Literal["review", "first"] = "review"
    allocate_by: tuple[AllocationRule, ...] = tuple(AllocationRule)
    allocate_by_source: dict[Source, tuple[AllocationRule, ...]] = Field(
        default_factory=_source_orders
    )
    invoice_reference: InvoiceReferenceSettings = InvoiceReferenceSettings()
    account_number: AccountNumberSettings = AccountNumberSettings()
    invoice_combination: CombinationSettings = CombinationSettings()
    payer_name: PayerNameSettings = PayerNameSettings()
    tolerances: Tolerances = Tolerances()
    payouts: PayoutSettings = PayoutSettings()
    confidence: ConfidenceSettings = ConfidenceSettings()
    debits: DebitSettings = DebitSettings()

    @model_validator(mode="after")
    def _orders(self) -> RuleSet:
        for name in ("identify_customer_by", "allocate_by"):
            order = getattr(self, name)
            if not order:
                raise ValueError(f"{name} needs at least one entry")
            if len(set(order)) != len(order):
                raise ValueError(f"{name} names an entry twice")
        if len(set(self.settle_lines_by)) != len(self.settle_lines_by):
            raise ValueError("settle_lines_by names an entry twice")
        for source, order in self.allocate_by_source.items():
            if source is Source.BANK_LINE:
                raise ValueError("allocate_by_source: bank lines follow allocate_by")
            if not order or len(set(order)) != len(order):
                raise ValueError(f"allocate_by_source.{source}: give each rule once, at least one")
        return self

    def allocation_order(self, source: Source) -> tuple[AllocationRule, ...]:
        """The allocation rules, in order, for money from `source`."""
        if source is Source.BANK_LINE:
            return self.allocate_by
        return self.allocate_by_source.get(source, _source_orders()[source])


class RuleBook:
    """The default rule set and each contract owner's merged set."""

    def __init__(self, default: RuleSet, owners: Mapping[int, RuleSet] | None = None) -> None:
        self.default = default
        self.owners: Mapping[int, RuleSet] = dict(owners or {})

    def for_owner(self, owner_id: int | None) -> RuleSet:
        if owner_id is None:
            return self.default
        return self.owners.get(owner_id, self.default)

    def with_tolerances(self, overrides: Mapping[int, Tolerances]) -> RuleBook:
        """This book with each owner's tolerances replaced by `overrides` (the ones set through
        the API win over the rule files', since they are the later, deliberate word)."""
        if not overrides:
            return self
        owners = dict(self.owners)
        for owner_id, tolerances in overrides.items():
            base = owners.get(owner_id, self.default)
            owners[owner_id] = base.model_copy(update={"tolerances": tolerances})
        return RuleBook(self.default, owners)

    @classmethod
    def from_documents(
        cls, default: tuple[str, str], owners: Iterable[tuple[str, str]] = ()
    ) -> RuleBook:
        """`default` and each of `owners` are (file name, YAML text); an owner's file is named
        `<owner id>.yaml`."""
        default_source, default_text = default
        base = _mapping(default_source, default_text)
        merged: dict[int, RuleSet] = {}
        for source, text in owners:
            owner_id = _owner_id(source)
            merged[owner_id] = _validated(source, _merge(base, _mapping(source, text)))
        return cls(_validated(default_source, base), merged)


def _owner_id(source: str) -> int:
    stem = source.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
    if not stem.isdigit():
        raise RuleSetError(f"{source}: an owner's rule file is named <contract owner id>.yaml")
    return int(stem)


def _mapping(source: str, text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RuleSetError(f"{source}: the document must be a mapping of settings")
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validated(source: str, data: Mapping[str, Any]) -> RuleSet:
    try:
        rule_set = RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise RuleSetError(f"{source}: {problems}", details={"file": source}) from None
    # The invoice format must be readable now, not on the first line that needs it.
    try:
        invoice_prefix(rule_set.invoice_reference.default_format)
    except ValueError as exc:
        raise RuleSetError(f"{source}: invoice_reference.default_format: {exc}") from None
    return rule_set
