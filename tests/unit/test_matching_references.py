"""Invoice references: the owner's pattern with its tolerances, RF creditor references, and what
is not a reference."""

from __future__ import annotations

import pytest

from payrecon.domain.matching.references import (
    KIND_CREDITOR,
    ReferenceReader,
    creditor_reference,
    creditor_reference_is_valid,
    invoice_key,
    invoice_prefix,
    reference_tokens,
)

LABELS = ("invoice number", "invoice no", "invoice", "rechnung")


def keys(text: str, prefixes: tuple[str, ...] = ("INV",)) -> list[str]:
    reader = ReferenceReader(prefixes, LABELS)
    return [r.key for r in reader.find([("remittance", text)])]


@pytest.mark.parametrize(
    "number", ["INV-0001234", "inv 1234", "INV0001234", "Inv-1234", "INV 0001234", "INV/1234"]
)
def test_invoice_numbers_normalise_to_one_key(number: str) -> None:
    assert invoice_key(number) == "INV1234"
    assert keys(f"payment {number} thanks") == ["INV1234"]


@pytest.mark.parametrize(
    "text",
    ["Invoice no. 1234", "invoice number 1234", "INVOICE 0001234", "Invoice #1234", "inv. 1234"],
)
def test_label_words_stand_for_the_prefix(text: str) -> None:
    assert keys(text) == ["INV1234"]


def test_a_marker_allows_a_short_number_a_bare_label_does_not() -> None:
    assert keys("Invoice no. 52") == ["INV52"]
    assert keys("invoice 2 of 3") == []


@pytest.mark.parametrize(
    "text",
    [
        "Order 0001234",  # a bare number: the trap of order numbers
        "0001234",
        "Customer 1234 payment",
        "INVENTORY 1234",  # the prefix inside a word
        "XINV-1234",
        "AC0001234",  # another prefix
    ],
)
def test_a_bare_number_or_a_word_is_not_a_reference(text: str) -> None:
    assert keys(text) == []


def test_several_references_in_one_text_in_reading_order_once_each() -> None:
    assert keys("INV-3, inv 2 and INV0000003; Invoice no. 7") == ["INV3", "INV2", "INV7"]


def test_the_owners_format_gives_the_prefix() -> None:
    assert invoice_prefix("INV-0000000") == "INV"
    assert invoice_prefix("SI0000") == "SI"
    assert invoice_prefix("RG-000000") == "RG"
    with pytest.raises(ValueError, match="prefix of letters"):
        invoice_prefix("0000-{year}")
    assert keys("RG-000123 and INV-5", prefixes=("RG",)) == ["RG123"]
    # A label means the owner's prefix; with several owners' prefixes, each is a candidate.
    assert keys("Rechnung 123456", prefixes=("RG", "INV")) == ["RG123456", "INV123456"]


def test_creditor_references_are_checked_and_read() -> None:
    reference = creditor_reference("INV0001234")
    assert reference.startswith("RF")
    assert reference.endswith("INV0001234")
    assert creditor_reference_is_valid(reference[2:4], reference[4:])
    reader = ReferenceReader(("INV",), LABELS)
    found = reader.find([("structured_reference", reference)])
    assert [(r.key, r.kind, r.field) for r in found] == [
        ("INV1234", KIND_CREDITOR, "structured_reference")
    ]
    # Printed in groups of four, with words after it.
    grouped = " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
    assert [r.key for r in reader.find([("remittance", f"{grouped} paid")])] == ["INV1234"]


def test_a_creditor_reference_with_wrong_check_digits_is_ignored() -> None:
    reference = creditor_reference("INV0001234")
    wrong = f"RF{(int(reference[2:4]) + 1) % 100:02d}{reference[4:]}"
    reader = ReferenceReader(("INV",), LABELS)
    assert reader.find([("remittance", wrong)]) == []


def test_a_creditor_reference_of_digits_implies_the_owners_prefix() -> None:
    reader = ReferenceReader(("RG",), LABELS)
    found = reader.find([("remittance", creditor_reference("000123"))])
    assert [r.key for r in found] == ["RG123"]


def test_tokens_for_identifiers() -> None:
    assert reference_tokens("Payment: INV-0001234, (inv-7).") == ["INV-0001234", "inv-7"]
    assert reference_tokens("/EREF/E2E-1/REMI/Acct 0012345.") == ["E2E-1", "0012345"]
