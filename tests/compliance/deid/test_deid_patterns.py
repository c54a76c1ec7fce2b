"""Identifier patterns matched on raw bytes, and redaction."""

from __future__ import annotations

import pytest

from compliance.deid.patterns import find_identifiers, nhs_number_valid, redact


@pytest.mark.parametrize(
    ("number", "valid"), [("9434765919", True), ("9434765918", False), ("1111111111", False)]
)
def test_nhs_number_check_digit(number, valid):
    assert nhs_number_valid(number) is valid


def kinds(text: bytes, nested: bool = False) -> list[str]:
    return [pattern.code for pattern, _ in find_identifiers(text, nested=nested)]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (b"NHS no 943 476 5919", "nhs-number"),
        (b"seen 03/02/2024", "date-in-text"),
        (b"on 12 March 2024 at noon", "date-in-text"),
        (b"seen by Mrs Smith", "titled-name"),
        (b"ref SMITH^JANE", "dicom-name"),
        (b"lives at SW1A 1AA", "postcode"),
        (b"call 07700 900123", "phone-number"),
        (b"mail j.smith@nhs.net", "email-address"),
    ],
)
def test_identifiers_in_free_text(text, code):
    assert code in kinds(text)


@pytest.mark.parametrize(
    "text", [b"T1 MPRAGE SAG 1mm", b"AXIAL 5.0 CE", b"1.2.840.10008.5.1.4.1.1.2", b"9434765918", b"mr smith"]
)
def test_ordinary_values_are_not_flagged(text):
    assert kinds(text) == []


def test_dates_are_not_searched_inside_sequences():
    assert kinds(b"20240315 seen 03/02/2024", nested=True) == []
    assert kinds(b"x\x00\x10 943 476 5919", nested=True) == ["nhs-number"]


def test_matches_are_redacted():
    _, shown = find_identifiers(b"NHS 9434765919")[0]
    assert "9434765919" not in shown
    assert shown.startswith("9")
    assert redact("A very long free text value") == "A… (27 chars)"
