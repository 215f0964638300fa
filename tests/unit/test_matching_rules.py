"""The rule sets: the default YAML is DESIGN.md's policy in full, owners override parts of it,
and a bad file stops start-up with an error naming the file and the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from payrecon.domain.matching.rules import AllocationRule, RuleBook, RuleSet, RuleSetError
from payrecon.services.rules import default_rules_dir, load_rule_book

RULES = Path(__file__).resolve().parents[2] / "rules"


def book(owner_yaml: str, name: str = "7.yaml") -> RuleBook:
    default = RULES / "default.yaml"
    return RuleBook.from_documents((str(default), default.read_text()), [(name, owner_yaml)])


def test_the_default_file_says_what_the_model_defaults_say() -> None:
    # The YAML is the documented policy; the model's defaults must not drift from it.
    assert load_rule_book(RULES).default == RuleSet()
    assert default_rules_dir() == RULES


def test_an_owner_overrides_order_thresholds_and_tolerances() -> None:
    rules = book(
        "allocate_by: [invoice_reference, oldest_due_first]\n"
        "invoice_combination: {max_invoices: 3}\n"
        'tolerances: {write_off: "0.05"}\n'
    )
    owner, default = rules.for_owner(7), rules.for_owner(8)
    assert owner.allocate_by == (AllocationRule.INVOICE_REFERENCE, AllocationRule.OLDEST_DUE_FIRST)
    assert owner.invoice_combination.max_invoices == 3
    assert owner.invoice_combination.min_invoices == 2  # merged, not replaced
    assert owner.tolerances.write_off == Decimal("0.05")
    assert owner.tolerances.bank_charges == 0
    assert default == rules.default == rules.for_owner(None)
    assert default.tolerances.write_off == 0  # tolerances are off by default


def test_the_example_override_is_valid() -> None:
    example = (RULES / "examples" / "owner-override.yaml").read_text()
    rules = book(example).for_owner(7)
    assert rules.debits.unclassified == "ignore"
    assert rules.tolerances.bank_charges == Decimal("2.50")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("allocate_by: [invoice_reference, by_magic]\n", "allocate_by.1"),
        ("tolerances: {write_off: 0.05}\n", "tolerances.write_off"),  # a float
        ('tolerances: {bank_charges: "-1"}\n', "tolerances.bank_charges"),
        ("invoice_combination: {max_invoices: 9}\n", "invoice_combination.max_invoices"),
        ("payer_name: {suggest_from: 80}\n", "payer_name.suggest_from"),
        ("allocate_by: [exact_amount, exact_amount]\n", "allocate_by"),
        ("invoice_reference: {default_format: '{year}-0000'}\n", "default_format"),
    ],
)
def test_a_bad_owner_file_names_the_file_and_the_field(text: str, field: str) -> None:
    with pytest.raises(RuleSetError) as raised:
        book(text, name="rules/owners/7.yaml")
    assert str(raised.value).startswith("rules/owners/7.yaml: ")
    assert field in str(raised.value)


def test_unreadable_documents_are_refused() -> None:
    with pytest.raises(RuleSetError, match="not valid YAML"):
        book("allocate_by: [\n")
    with pytest.raises(RuleSetError, match="must be a mapping"):
        book("- a list\n")
    with pytest.raises(RuleSetError, match=r"named <contract owner id>\.yaml"):
        book("{}\n", name="rules/owners/acme.yaml")


def test_loading_a_directory_validates_every_owner_file(tmp_path: Path) -> None:
    (tmp_path / "owners").mkdir()
    (tmp_path / "default.yaml").write_text((RULES / "default.yaml").read_text())
    (tmp_path / "owners" / "3.yaml").write_text("on_conflicting_identification: first\n")
    loaded = load_rule_book(tmp_path)
    assert loaded.for_owner(3).on_conflicting_identification == "first"
    (tmp_path / "owners" / "4.yaml").write_text("on_conflicting_identification: maybe\n")
    load_rule_book.cache_clear()
    with pytest.raises(RuleSetError, match=r"4\.yaml: on_conflicting_identification"):
        load_rule_book(tmp_path)
    with pytest.raises(RuleSetError, match="default rule set is missing"):
        load_rule_book(tmp_path / "owners")
