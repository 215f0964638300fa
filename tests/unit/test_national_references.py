"""The national structured references some banks use, read when an owner's rules ask for them:
Finnish reference numbers (viitenumero) and the RF references built from them, and Swiss QR/ESR
references. Off by default, so a bare number stays no reference."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from stdnum.ch import esr

from payrecon.domain.matching import (
    InvoiceBook,
    LineToMatch,
    MatchContext,
    OpenInvoice,
    match_lines,
)
from payrecon.domain.matching.references import (
    KIND_CREDITOR,
    ReferenceReader,
    creditor_reference,
    finnish_reference_number,
    swiss_reference_number,
)
from payrecon.domain.matching.rules import RuleBook, RuleSet, RuleSetError

LABELS = ("invoice",)


def structured(reader: ReferenceReader, text: str) -> list[str]:
    return [r.key for r in reader.find([("structured_reference", text)])]


@pytest.mark.parametrize(
    ("reference", "number"),
    [("1232", "123"), ("12345672", "1234567"), ("1 2345 6720 0000 0000 7", None), ("1233", None)],
)
def test_the_finnish_check_digit(reference: str, number: str | None) -> None:
    assert finnish_reference_number(reference.replace(" ", "")) == number


def test_a_finnish_structured_reference_names_the_invoice_it_is_built_from() -> None:
    reader = ReferenceReader(("INV",), LABELS, national_references=("fi",))
    found = reader.find([("structured_reference", "12345672")])
    assert [(r.key, r.kind, r.token) for r in found] == [("INV1234567", KIND_CREDITOR, "12345672")]
    # Printed in groups of five, as Finnish invoices do.
    assert structured(reader, "123 45672") == ["INV1234567"]
    assert structured(reader, "12345673") == []  # wrong check digit
    # In free text a bare number is still no reference.
    assert reader.find([("remittance", "12345672")]) == []


def test_an_rf_reference_made_from_a_finnish_reference() -> None:
    rf = creditor_reference("12345672")  # Finnish banks print RF + the national reference
    finnish = ReferenceReader(("INV",), LABELS, national_references=("fi",))
    assert structured(finnish, rf) == ["INV1234567"]
    # Without the Finnish scheme the body is the invoice number itself.
    assert structured(ReferenceReader(("INV",), LABELS), rf) == ["INV12345672"]


def test_a_swiss_qr_reference() -> None:
    body = "1234".zfill(26)
    reference = body + esr.calc_check_digit(body)
    assert swiss_reference_number(reference) == "1234"
    reader = ReferenceReader(("INV",), LABELS, national_references=("ch",))
    assert structured(reader, esr.format(reference)) == ["INV1234"]
    assert structured(reader, reference[:-1] + str((int(reference[-1]) + 1) % 10)) == []


def test_national_references_are_off_by_default_and_checked_in_the_rules() -> None:
    assert RuleSet().invoice_reference.national_references == ()
    assert structured(ReferenceReader(("INV",), LABELS), "12345672") == []
    with pytest.raises(ValueError, match="no national reference scheme"):
        ReferenceReader(("INV",), LABELS, national_references=("xx",))
    with pytest.raises(RuleSetError, match="national_references"):
        RuleBook.from_documents(
            ("default.yaml", "invoice_reference: {national_references: [xx]}"), []
        )


def test_the_matcher_pays_the_invoice_of_a_finnish_reference() -> None:
    rules = RuleSet.model_validate({"invoice_reference": {"national_references": ["fi"]}})
    book = InvoiceBook(
        [
            OpenInvoice(
                1, "INV-1234567", 7, "EUR", date(2026, 9, 1), date(2026, 10, 1), Decimal("80.00")
            )
        ]
    )
    line = LineToMatch(
        1, date(2026, 10, 2), Decimal("80.00"), "EUR", structured_reference="12345672"
    )
    (decision,) = match_lines([line], book, MatchContext(rules=RuleBook(rules))).decisions
    assert decision.customer_id == 7
    assert [(a.invoice_id, a.amount) for a in decision.allocations] == [(1, Decimal("80.00"))]
