"""Patterns of identifiers in free text, compiled once and matched on raw (undecoded) element bytes.

Working on bytes keeps the scanner close to the speed of a bare ``dcmread``: values are never
converted to Python objects unless a pattern hits. Matches are reported redacted, never verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TextPattern:
    code: str
    severity: str
    description: str


PATTERNS: dict[str, TextPattern] = {
    "nhs": TextPattern("nhs-number", "error", "an NHS number (valid check digit)"),
    "email": TextPattern("email-address", "warning", "an e-mail address"),
    "phone": TextPattern("phone-number", "warning", "a UK telephone number"),
    "postcode": TextPattern("postcode", "warning", "a UK postcode"),
    "titled": TextPattern("titled-name", "warning", "a titled personal name (e.g. 'Mrs Smith')"),
    "caret": TextPattern("dicom-name", "warning", "a DICOM-formatted personal name (FAMILY^GIVEN)"),
    "date": TextPattern("date-in-text", "warning", "a date"),
}

_MONTHS = rb"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[A-Za-z]*"
FREE_TEXT = re.compile(
    rb"(?P<nhs>(?<![\d.])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\d.]))"
    rb"|(?P<email>[\w.+-]+@[\w-]+\.[\w.-]+)"
    rb"|(?P<phone>(?<![\d.])(?:\+44\s?|0)(?:\d\s?){9,10}(?![\d.]))"
    rb"|(?P<postcode>\b[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}\b)"
    rb"|(?P<titled>\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.? [A-Z][a-z]+)"
    rb"|(?P<caret>\b[A-Z][A-Za-z'-]+\^[A-Z][A-Za-z'-]+)"
    rb"|(?P<date>(?<![\d.])(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
    rb"|(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    rb"|\d{1,2}(?:st|nd|rd|th)? " + _MONTHS + rb",? \d{2,4})(?![\d.]))"
)
# Cheap first pass: every pattern needs a digit, '@', '^' or a title; most values have none of them.
MAYBE_IDENTIFIER = re.compile(rb"[0-9@^]|\b(?:Mrs?|Ms|Dr|Prof|Miss)\b")
# Inside sequences the raw bytes also hold binary lengths and DA/TM values: dates are not searched there.
NESTED_KINDS = frozenset({"nhs", "email", "phone", "titled", "caret"})
PERSON_NAME = re.compile(rb"^[A-Za-z'-]{2,}\^[A-Za-z'-]{2,}")


def nhs_number_valid(digits: str) -> bool:
    """The NHS number modulus-11 check digit rule."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def find_identifiers(value: bytes, nested: bool = False) -> list[tuple[TextPattern, str]]:
    """Identifier-like matches in ``value`` as (pattern, redacted match)."""
    hits: list[tuple[TextPattern, str]] = []
    if MAYBE_IDENTIFIER.search(value) is None:
        return hits
    for match in FREE_TEXT.finditer(value):
        kind = match.lastgroup
        if kind is None or (nested and kind not in NESTED_KINDS):
            continue
        text = match.group().decode("latin-1")
        if kind == "nhs" and not nhs_number_valid(re.sub(r"\D", "", text)):
            continue
        hits.append((PATTERNS[kind], redact(text)))
    return hits


def redact(text: str) -> str:
    """Enough to locate the value, not enough to read it: first character and length."""
    text = text.strip()
    return (
        f"{text[:1]}{'*' * max(len(text) - 1, 0)}" if len(text) <= 12 else f"{text[:1]}… ({len(text)} chars)"
    )
