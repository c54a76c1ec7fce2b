"""DICOM PS3.15 Annex E, Table E.1-1 (the Basic Application Level Confidentiality Profile and options).

The table ships as project data in ``compliance/data/table_e1_1_current.json`` at the edition in
:data:`EDITION`: the current edition of Table E.1-1 as published on dicom.nema.org on 2025-06-24 (action
codes extracted by idiscore), with names from Innolitics' machine-readable 2024b copy (MIT licence
alongside it) and, for the 26 attributes added since 2024b, from PS3.6. ``table_e1_1_current.meta.json``
records where each part comes from and the file's checksum. Rows are loaded into :class:`AnnexERow`
records; pattern rows such as ``(50XX,XXXX)``,
``(60XX,3000)`` and "odd groups" (private attributes) become :class:`TagPattern` matchers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

EDITION = "current as of 2025-06-24"
EDITION_SOURCE = "dicom.nema.org PS3.15 Table E.1-1, current edition retrieved 2025-06-24"
TABLE_FILE = "table_e1_1_current.json"
TABLE_METADATA_FILE = "table_e1_1_current.meta.json"  # edition, row count, checksum, provenance
PREVIOUS_EDITION = "2024b"
PREVIOUS_TABLE_FILE = "confidentiality_profile_attributes.json"  # the names' source for older rows

HEX_DIGITS = frozenset("0123456789ABCDEF")
ODD_DIGITS = frozenset("13579BDF")
EVEN_DIGITS = frozenset("02468ACE")


@dataclass(frozen=True)
class ProfileOption:
    """One Annex E option column: CLI name, JSON column key, CID 7050 code and meaning."""

    name: str
    column: str
    code: str
    meaning: str


OPTIONS: tuple[ProfileOption, ...] = (
    ProfileOption("retain-safe-private", "rtnSafePrivOpt", "113111", "Retain Safe Private Option"),
    ProfileOption("retain-uids", "rtnUIDsOpt", "113110", "Retain UIDs Option"),
    ProfileOption("retain-device-identity", "rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    ProfileOption(
        "retain-institution-identity", "rtnInstIdOpt", "113112", "Retain Institution Identity Option"
    ),
    ProfileOption(
        "retain-patient-characteristics", "rtnPatCharsOpt", "113108", "Retain Patient Characteristics Option"
    ),
    ProfileOption(
        "retain-long-full-dates",
        "rtnLongFullDatesOpt",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    ProfileOption(
        "retain-long-modified-dates",
        "rtnLongModifDatesOpt",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    ProfileOption("clean-descriptors", "cleanDescOpt", "113105", "Clean Descriptors Option"),
    ProfileOption(
        "clean-structured-content", "cleanStructContOpt", "113104", "Clean Structured Content Option"
    ),
    ProfileOption("clean-graphics", "cleanGraphOpt", "113103", "Clean Graphics Option"),
)
OPTIONS_BY_NAME: dict[str, ProfileOption] = {option.name: option for option in OPTIONS}
BASIC_PROFILE_CODE = "113100"
MUTUALLY_EXCLUSIVE_OPTIONS = (("retain-long-full-dates", "retain-long-modified-dates"),)


class AnnexEError(ValueError):
    """Unknown option name or an impossible combination of options."""


@dataclass(frozen=True)
class TagPattern:
    """A tag matcher with one set of allowed hex digits per position (4 group + 4 element digits).

    A fixed tag has one digit per position; ``X`` allows any digit, ``#`` odd and ``@`` even digits
    (DicomEdit's wildcards, also used to express the table's pattern rows).
    """

    digits: tuple[frozenset[str], ...]

    @classmethod
    def parse(cls, text: str, table_notation: bool = False) -> TagPattern:
        """Parse ``(gggg,eeee)`` or ``ggggeeee`` with optional X/#/@ wildcards.

        ``table_notation`` also accepts the table's ``G``/``E`` placeholders as "any digit".
        """
        cleaned = text.strip().strip("()").replace(",", "").replace(" ", "").upper()
        if len(cleaned) != 8:
            raise ValueError(f"not a tag: {text!r}")
        return cls(tuple(_digit_set(char, text, table_notation) for char in cleaned))

    @cached_property
    def is_fixed(self) -> bool:
        return all(len(position) == 1 for position in self.digits)

    @cached_property
    def value(self) -> int:
        """The tag as an integer (fixed patterns only)."""
        if not self.is_fixed:
            raise ValueError(f"{self} is a pattern, not a single tag")
        return int("".join(next(iter(position)) for position in self.digits), 16)

    def matches(self, tag: int) -> bool:
        return all(char in allowed for char, allowed in zip(f"{tag:08X}", self.digits, strict=True))

    def covers(self, other: TagPattern) -> bool:
        """True when every tag ``other`` matches is also matched by this pattern."""
        return all(theirs <= ours for ours, theirs in zip(self.digits, other.digits, strict=True))

    def overlaps(self, other: TagPattern) -> bool:
        """True when at least one tag is matched by both patterns."""
        return all(ours & theirs for ours, theirs in zip(self.digits, other.digits, strict=True))

    def __str__(self) -> str:
        chars = [_digit_char(position) for position in self.digits]
        return f"({''.join(chars[:4])},{''.join(chars[4:])})"


def _digit_set(char: str, text: str, table_notation: bool) -> frozenset[str]:
    if char in HEX_DIGITS:
        return frozenset(char)
    if char == "X" or (table_notation and char == "G"):
        return HEX_DIGITS
    if char == "#":
        return ODD_DIGITS
    if char == "@":
        return EVEN_DIGITS
    raise ValueError(f"not a tag: {text!r} (unexpected {char!r})")


def _digit_char(allowed: frozenset[str]) -> str:
    if len(allowed) == 1:
        return next(iter(allowed))
    if allowed == ODD_DIGITS:
        return "#"
    if allowed == EVEN_DIGITS:
        return "@"
    return "X"


def format_tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


PRIVATE_PATTERN = TagPattern((HEX_DIGITS, HEX_DIGITS, HEX_DIGITS, ODD_DIGITS, *(HEX_DIGITS,) * 4))


@dataclass(frozen=True)
class AnnexERow:
    """One row of Table E.1-1 with its Basic Profile action and every non-empty option column."""

    name: str
    tag: str
    row_id: str
    in_standard_composite_iod: bool
    basic_profile: str
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    pattern: TagPattern = field(default=PRIVATE_PATTERN, hash=False, compare=False)
    declared_vr: str | None = None  # for attributes newer than the pydicom dictionary in use

    @property
    def is_pattern(self) -> bool:
        return not self.pattern.is_fixed

    @property
    def is_private(self) -> bool:
        return self.pattern == PRIVATE_PATTERN

    @property
    def tag_value(self) -> int | None:
        return self.pattern.value if self.pattern.is_fixed else None

    @property
    def is_command_set(self) -> bool:
        """Group 0000 rows: DIMSE command elements, absent from stored SOP instances."""
        return self.tag_value is not None and self.tag_value >> 16 == 0

    @property
    def vr(self) -> str | None:
        """The attribute's VR from pydicom's data dictionary (None for pattern rows)."""
        tag = self.tag_value
        return None if tag is None else (_dictionary_vr(tag) or self.declared_vr)

    def required_action(self, declared: Iterable[str] = ()) -> str:
        """The action the profile requires given the declared option names.

        An option's column replaces the Basic Profile action when it is non-empty. When several
        declared options name this attribute, clean (C) wins over keep (K): the more protective reading.
        """
        actions = [
            self.options.get(OPTIONS_BY_NAME[name].column, "") for name in declared if name in OPTIONS_BY_NAME
        ]
        actions = [action for action in actions if action]
        if not actions:
            return self.basic_profile
        return "C" if "C" in actions else actions[0]

    def governing_option(self, declared: Iterable[str] = ()) -> str | None:
        """The declared option that changes this row's action, if any."""
        required = self.required_action(declared)
        for name in declared:
            option = OPTIONS_BY_NAME.get(name)
            if option and self.options.get(option.column) == required:
                return name
        return None


@cache
def _dictionary_vr(tag: int) -> str | None:
    from pydicom.datadict import dictionary_VR  # noqa: PLC0415 - keeps `enclave --help` light

    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _row_from_json(raw: dict[str, str]) -> AnnexERow:
    tag_text = raw["tag"]
    pattern = (
        PRIVATE_PATTERN if "ODD" in tag_text.upper() else TagPattern.parse(tag_text, table_notation=True)
    )
    if not pattern.is_fixed and pattern.digits[3] == HEX_DIGITS:
        # Repeating groups (50xx, 60xx) are even: an odd 60xx group is private, governed by the private row.
        pattern = TagPattern((*pattern.digits[:3], EVEN_DIGITS, *pattern.digits[4:]))
    options = {option.column: raw[option.column] for option in OPTIONS if raw.get(option.column)}
    return AnnexERow(
        name=" ".join(raw["name"].split()),
        tag=str(pattern)
        if pattern.is_fixed
        else tag_text.replace("WHERE", "where").replace("IS ODD", "is odd"),
        row_id=raw["id"],
        in_standard_composite_iod=raw.get("stdCompIOD") == "Y",
        basic_profile=raw["basicProfile"],
        options=options,
        pattern=pattern,
        declared_vr=raw.get("vr"),
    )


@cache
def load_table() -> tuple[AnnexERow, ...]:
    """All 647 rows of Table E.1-1 at :data:`EDITION`, in the table's order."""
    text = resources.files("compliance").joinpath("data", TABLE_FILE).read_text(encoding="utf-8")
    return tuple(_row_from_json(raw) for raw in json.loads(text))


@cache
def rows_by_tag() -> dict[int, AnnexERow]:
    """Fixed-tag rows indexed by integer tag."""
    return {row.tag_value: row for row in load_table() if row.tag_value is not None}


def pattern_rows() -> tuple[AnnexERow, ...]:
    return tuple(row for row in load_table() if row.is_pattern)


def row_for_tag(tag: int) -> AnnexERow | None:
    """The row governing ``tag``: its own fixed row, else the first pattern row that matches it."""
    row = rows_by_tag().get(tag)
    if row is not None:
        return row
    return next((candidate for candidate in pattern_rows() if candidate.pattern.matches(tag)), None)


def validate_options(names: Sequence[str]) -> tuple[str, ...]:
    """Check option names (CLI spelling) and combinations; return them de-duplicated in table order."""
    unknown = [name for name in names if name not in OPTIONS_BY_NAME]
    if unknown:
        valid = ", ".join(option.name for option in OPTIONS)
        raise AnnexEError(f"unknown Annex E option(s): {', '.join(unknown)}; valid options: {valid}")
    for first, second in MUTUALLY_EXCLUSIVE_OPTIONS:
        if first in names and second in names:
            raise AnnexEError(f"options {first} and {second} are mutually exclusive (PS3.15 E.3.6)")
    return tuple(option.name for option in OPTIONS if option.name in names)


def deidentification_codes(declared: Iterable[str]) -> list[str]:
    """CID 7050 codes a conformant (0012,0064) lists for the Basic Profile plus the declared options."""
    declared_set = set(declared)
    return [BASIC_PROFILE_CODE] + [option.code for option in OPTIONS if option.name in declared_set]
