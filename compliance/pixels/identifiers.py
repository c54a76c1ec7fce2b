"""The patient's identifiers from a header, and whether text read from the pixels matches them.

Matching is tolerant of what OCR does to burnt-in text: case, punctuation and separators are ignored
(``SMITH^JOHN`` is often read ``SMITH*JOHN``), dates are compared in the forms screens print them, and a
long value may differ by one character. Values are never reported: only the attribute's name and a
redacted form (first character and length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from compliance.deid.patterns import nhs_number_valid, redact

MIN_NAME_PART = 3  # shorter name components (initials, "LI") would match too much noise
MIN_NAME_WITHIN = 4  # name components this long are also looked for inside longer tokens
MIN_ID_LENGTH = 3
FUZZY_MIN_LENGTH = 6  # values at least this long may differ from the OCR reading by one character
NHS_NUMBER = "NHS number"
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class Identifier:
    attribute: str  # e.g. "PatientName"
    forms: frozenset[str]  # normalised strings, any of which identifies the patient
    redacted: str
    within: bool = False  # also found inside a longer token ("PRICESMARTHA": the caret read as a letter)


def normalise(text: str) -> str:
    return _NOT_ALNUM.sub("", text).upper()


def header_identifiers(dataset: Dataset) -> list[Identifier]:
    """Patient name (each component), patient ID, other IDs, birth date and accession number."""
    found: list[Identifier] = []
    name = str(dataset.get("PatientName", "") or "")
    for part in re.split(r"[\^= ]+", name):
        if len(normalise(part)) >= MIN_NAME_PART:
            within = len(normalise(part)) >= MIN_NAME_WITHIN
            found.append(Identifier("PatientName", frozenset({normalise(part)}), redact(part), within))
    ids = [
        ("PatientID", dataset.get("PatientID", "")),
        ("AccessionNumber", dataset.get("AccessionNumber", "")),
    ]
    other = dataset.get("OtherPatientIDs")
    if other not in (None, ""):
        values = [other] if isinstance(other, str) else list(other)
        ids += [("OtherPatientIDs", value) for value in values]
    for attribute, value in ids:
        text = str(value or "").strip()
        if len(normalise(text)) >= MIN_ID_LENGTH:
            found.append(Identifier(attribute, frozenset({normalise(text)}), redact(text)))
    birth = str(dataset.get("PatientBirthDate", "") or "").strip()
    if re.fullmatch(r"\d{8}", birth):
        found.append(Identifier("PatientBirthDate", date_forms(birth), redact(birth)))
    return found


def date_forms(value: str) -> frozenset[str]:
    """A DA value in the normalised forms screens print: 19710203, 03021971, 02031971, 03FEB1971, 030271."""
    year, month, day = value[:4], value[4:6], value[6:8]
    forms = {value, day + month + year, month + day + year, day + month + year[2:]}
    if 1 <= int(month) <= 12:
        forms.add(day + _MONTHS[int(month) - 1] + year)
    return frozenset(forms)


def _close(reading: str, form: str) -> bool:
    if reading == form:
        return True
    if len(form) < FUZZY_MIN_LENGTH or abs(len(reading) - len(form)) > 1:
        return False
    return _edit_distance_at_most_one(reading, form)


def _edit_distance_at_most_one(first: str, second: str) -> bool:
    if len(first) > len(second):
        first, second = second, first
    index = 0
    while index < len(first) and first[index] == second[index]:
        index += 1
    if len(first) == len(second):
        return first[index + 1 :] == second[index + 1 :]
    return first[index:] == second[index + 1 :]


def matching(texts: list[str], identifiers: list[Identifier]) -> list[Identifier]:
    """The identifiers that a token, or two or three adjacent tokens joined, of ``texts`` matches.

    Tokens are the runs of letters and digits: ``SMITH*JOHN`` is two, ``03/02/1971`` three.
    """
    readings = set()
    for text in texts:
        words = [word.upper() for word in _NOT_ALNUM.split(text) if word]
        for size in (1, 2, 3):
            readings.update("".join(words[i : i + size]) for i in range(len(words) - size + 1))
    hits = []
    for identifier in identifiers:
        if any(
            _close(reading, form) or (identifier.within and form in reading)
            for reading in readings
            for form in identifier.forms
        ):
            hits.append(identifier)
    return hits


def nhs_numbers(texts: list[str]) -> list[str]:
    """Redacted NHS-number-shaped readings (10 digits, valid check digit), whatever the header says."""
    found = []
    for text in texts:
        for candidate in re.findall(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)", text):
            digits = re.sub(r"\D", "", candidate)
            if nhs_number_valid(digits):
                found.append(redact(digits))
    return found
