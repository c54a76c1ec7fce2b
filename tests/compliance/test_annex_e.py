"""The Annex E table as project data: edition, rows, option columns, pattern matchers."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from compliance import annex_e
from compliance.annex_e import (
    EDITION,
    OPTIONS,
    PRIVATE_PATTERN,
    AnnexEError,
    TagPattern,
    deidentification_codes,
    load_table,
    row_for_tag,
    rows_by_tag,
    validate_options,
)

DATA = Path(annex_e.__file__).parent / "data"


def test_edition_and_licence_ship_with_the_table():
    assert EDITION == "current as of 2025-06-24"
    assert "Permission is hereby granted, free of charge" in (DATA / "LICENSE.txt").read_text()
    assert len(json.loads((DATA / annex_e.TABLE_FILE).read_text())) == 647, "2024b had 621 rows; 26 are new"


def test_metadata_records_the_edition_and_checksum():
    meta = json.loads((DATA / annex_e.TABLE_METADATA_FILE).read_text())
    assert meta["edition"] == EDITION
    assert meta["rows"] == len(load_table())
    assert meta["sha256"] == hashlib.sha256((DATA / annex_e.TABLE_FILE).read_bytes()).hexdigest()


def test_basic_profile_counts_match_the_current_edition():
    """2024b had X 384 and U 54; the 26 newer attributes are 25 X and 1 U, and no older code changed."""
    counts = Counter(row.basic_profile for row in load_table())
    assert counts == {
        "X": 409,
        "D": 92,
        "U": 55,
        "Z": 42,
        "X/D": 22,
        "X/Z": 11,
        "X/Z/D": 8,
        "Z/D": 6,
        "X/Z/U*": 2,
    }


def test_every_option_column_is_loaded():
    columns = Counter(column for row in load_table() for column in row.options)
    assert set(columns) == {option.column for option in OPTIONS}
    assert columns["rtnLongFullDatesOpt"] == 169
    assert columns["cleanDescOpt"] == 134


def test_names_are_single_line():
    assert all("\n" not in row.name and "  " not in row.name for row in load_table())


@pytest.mark.parametrize(
    ("tag", "options", "expected"),
    [
        (0x00080020, (), "Z"),  # Study Date
        (0x00080020, ("retain-long-full-dates",), "K"),
        (0x00080020, ("retain-long-modified-dates",), "C"),
        (0x0020000D, ("retain-uids",), "K"),
        (0x00081030, ("clean-descriptors",), "C"),  # Study Description
        (0x00101010, ("retain-patient-characteristics",), "K"),  # Patient's Age
        (0x00081010, ("retain-device-identity",), "K"),  # Station Name
    ],
)
def test_required_action_follows_declared_options(tag, options, expected):
    row = rows_by_tag()[tag]
    assert row.required_action(options) == expected


def test_clean_wins_over_keep_when_two_options_name_an_attribute():
    both = [row for row in load_table() if {"K", "C"} <= set(row.options.values())]
    assert both, "the table has attributes with both a retain (K) and a clean (C) option"
    row = both[0]
    declared = [option.name for option in OPTIONS if option.column in row.options]
    assert row.required_action(declared) == "C"


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        (0x60003000, "Overlay Data"),
        (0x601E3000, "Overlay Data"),
        (0x60024000, "Overlay Comments"),
        (0x50000010, "Curve Data"),
        (0x00191010, "Private Attributes"),
        (0x00100010, "Patient's Name"),
    ],
)
def test_pattern_rows_match_their_groups(tag, name):
    assert row_for_tag(tag).name == name


def test_even_group_outside_the_table_has_no_row():
    assert row_for_tag(0x00280010) is None  # Rows: not in Table E.1-1


def test_tag_patterns_cover_and_overlap():
    overlay = TagPattern.parse("(60XX,3000)")
    assert TagPattern.parse("(60X@,3000)").overlaps(overlay)
    assert not TagPattern.parse("(60X@,3000)").covers(overlay)
    assert TagPattern.parse("(XXXX,XXXX)").covers(overlay)
    assert TagPattern.parse("(6000,3000)").overlaps(overlay)
    assert TagPattern.parse("(0019,XX0F)").overlaps(PRIVATE_PATTERN)
    assert not TagPattern.parse("(0010,0010)").overlaps(PRIVATE_PATTERN)
    assert str(TagPattern.parse("(60x#,3000)")) == "(60X#,3000)"


@pytest.mark.parametrize("text", ["(0010,001G)", "(0010,00100)", "(GGGG,EEEE)", "hello"])
def test_malformed_tags_are_rejected(text):
    with pytest.raises(ValueError, match="not a tag"):
        TagPattern.parse(text)


def test_options_are_validated_with_the_valid_names_listed():
    with pytest.raises(AnnexEError, match="retain-safe-private"):
        validate_options(["retain-everything"])
    with pytest.raises(AnnexEError, match="mutually exclusive"):
        validate_options(["retain-long-full-dates", "retain-long-modified-dates"])
    assert validate_options(["clean-descriptors", "retain-uids"]) == ("retain-uids", "clean-descriptors")


def test_deidentification_codes_follow_cid_7050():
    assert deidentification_codes([]) == ["113100"]
    assert deidentification_codes(["retain-long-modified-dates", "clean-descriptors"]) == [
        "113100",
        "113107",
        "113105",
    ]
