"""The engine does what upstream DicomEdit 6 does where it used to differ (issue 17, gaps 1-6).

Each test names the upstream behaviour it pins; the ported upstream cases (test_upstream_cases.py)
cover the same ground on NRG's own examples.
"""

from __future__ import annotations

import logging

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from compliance.dicomedit import DicomEditRuntimeError, DicomEditSyntaxError, apply_script, parse
from compliance.dicomedit.dates import shift
from compliance.dicomedit.errors import DicomEditRejectionError
from compliance.dicomedit.functions import hash_uid

VARIABLES = {"project": "P1", "subject": "S1", "session": "E1"}


def run(body: str, ds: Dataset | None = None) -> Dataset:
    ds = Dataset() if ds is None else ds
    return apply_script(parse(f'version "6.3"\n{body}\n', source="t.das"), ds, VARIABLES)


def item(**attributes: str) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def with_items(*uids: str) -> Dataset:
    ds = Dataset()
    ds.ReferencedSeriesSequence = Sequence([item(ReferencedSOPInstanceUID=uid) for uid in uids])
    return ds


# --- gap 1: sequence items ---------------------------------------------------------------------------


def test_deleting_item_0_empties_that_item_and_keeps_the_others() -> None:
    ds = run("-(0008,1115)[0]", with_items("1.1", "1.2"))
    items = ds.ReferencedSeriesSequence
    assert len(items) == 2 and len(items[0]) == 0 and items[1].ReferencedSOPInstanceUID == "1.2"


def test_remove_tags_on_an_item_empties_it_like_delete() -> None:
    ds = run("removeTags[(0008,1115)[1]]", with_items("1.1", "1.2"))
    assert [len(entry) for entry in ds.ReferencedSeriesSequence] == [1, 0]


def test_deleting_every_item_with_percent_keeps_empty_items() -> None:
    ds = run("-(0008,1115)[%]", with_items("1.1", "1.2"))
    assert [len(entry) for entry in ds.ReferencedSeriesSequence] == [0, 0]


@pytest.mark.parametrize(("path", "present"), [("[0]", True), ("[1]", True), ("[2]", False)])
def test_is_present_on_an_item_asks_whether_the_item_exists(path: str, present: bool) -> None:
    ds = run(
        f'isPresent[(0008,1115){path}] ? (0010,4000) := "yes" : (0010,4000) := "no"', with_items("1", "2")
    )
    assert ds.PatientComments == ("yes" if present else "no")


def test_is_present_with_several_arguments_needs_all_of_them() -> None:
    ds = item(PatientName="A^B")
    run('isPresent[(0010,0010), (0010,0020)] ? (0010,4000) := "all" : (0010,4000) := "not all"', ds)
    assert ds.PatientComments == "not all"


def test_assignment_creates_the_missing_sequence_and_items_up_to_the_index() -> None:
    ds = run('(0008,1115)[2]/(0008,1155) := "1.2.3"')
    items = ds.ReferencedSeriesSequence
    assert len(items) == 3 and len(items[0]) == len(items[1]) == 0
    assert items[2].ReferencedSOPInstanceUID == "1.2.3"


def test_set_creates_a_missing_item_inside_an_existing_sequence() -> None:
    ds = run('set["(0008,1115)[1]/(0008,1155)", "9.9"]', with_items("1.1"))
    assert [entry.get("ReferencedSOPInstanceUID") for entry in ds.ReferencedSeriesSequence] == ["1.1", "9.9"]


def test_a_new_private_element_goes_into_its_own_creators_block() -> None:
    ds = Dataset()
    ds.private_block(0x0019, "GE", create=True).add_new(0x10, "LO", "ge value")
    run('(0019,{SIEMENS}10) := "siemens value"', ds)
    assert ds[0x00191010].value == "ge value"
    assert ds[0x00190011].value == "SIEMENS" and ds[0x00191110].value == "siemens value"


def test_an_out_of_range_item_index_reads_nothing_and_deletes_nothing() -> None:
    ds = with_items("1.1")
    run('(0008,1115)[5]/(0008,1155) = "1.1" ? (0010,4000) := "hit" : (0010,4000) := "miss"', ds)
    run("-(0008,1115)[5]/(0008,1155)", ds)
    assert ds.PatientComments == "miss" and ds.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID == "1.1"


def test_the_dot_wildcard_is_exactly_one_sequence_level() -> None:
    ds = item(PatientID="top")
    inner = item(PatientID="two")
    ds.OtherPatientIDsSequence = Sequence([item(PatientID="one")])
    ds.OtherPatientIDsSequence[0].OtherPatientIDsSequence = Sequence([inner])
    run("-./(0010,0020)", ds)
    assert ds.PatientID == "top" and "PatientID" not in ds.OtherPatientIDsSequence[0]
    assert ds.OtherPatientIDsSequence[0].OtherPatientIDsSequence[0].PatientID == "two"


# --- gap 2: valid syntax -----------------------------------------------------------------------------


def test_blanks_around_the_comma_of_a_tag() -> None:
    script = parse('version "6.6"\n-(0029, {SIEMENS MR HEADER}10)\n-(0010 , 0010)\n')
    assert [node.target.text for node in script.statements[1:]] == [
        "(0029,{SIEMENS MR HEADER}10)",
        "(0010,0010)",
    ]


def test_backslash_newline_joins_lines_and_keeps_original_positions() -> None:
    text = 'version "6.6"\n(0008,0100) := "INSERTED \\\nSTR\\\nING"\n-(0010,0010)\n'
    script = parse(text)
    assert script.statements[1].value.value == "INSERTED STRING"
    assert (script.statements[2].line, script.statements[2].column) == (5, 1)


def test_an_error_after_a_continuation_points_at_the_original_line() -> None:
    with pytest.raises(DicomEditSyntaxError) as caught:
        parse('version "6.6"\nremoveTags[(0010,0010), \\\n   (0010,0020),]\n')
    assert (caught.value.line, caught.value.column) == (3, 16)


def test_statements_need_no_separator() -> None:
    ds = run(
        '-(0010,0010) (0010,0020) := "X" -(0010,0030)', item(PatientName="A", PatientBirthDate="20000101")
    )
    assert "PatientName" not in ds and ds.PatientID == "X" and "PatientBirthDate" not in ds


@pytest.mark.parametrize("version", ["6.10", "6.11", "6.24"])
def test_later_version_strings_are_accepted(version: str) -> None:
    assert parse(f'version "{version}"\n').version == version


@pytest.mark.parametrize("version", ["6.8", "6.9", "6.010", "7.0"])
def test_versions_no_dicomedit_6_accepts_are_rejected(version: str) -> None:
    with pytest.raises(DicomEditSyntaxError, match=r"6\.10 and later"):
        parse(f'version "{version}"\n')


# --- gap 3: fail closed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('+/(0010,0010) := "x"', "sequence wildcard"),
        ('*/(0010,0010) := "x"', "sequence wildcard"),
        ('(0010,001X) := "x"', "wildcard digits"),
        ('(0008,1115)/(0008,1155) := "x"', "every item"),
        ('(0008,1115)[%]/(0008,1155) := "x"', "every item"),
        ("(0010,4000) := (0010,001X)", "cannot be read as one value"),
        ("(0010,4000) := lowercase[(0010,1000)]", "has no value"),
        ("(0010,4000) := uppercase[(0010,1000)]", "has no value"),
        ("(0008,0020) := shiftDateByIncrement[(0008,0021), 3]", "failed to parse"),
        ('retainPrivateTags["(0019,1010)"]', "through its creator"),
        ("(0010,4000) := undefined_name", "unknown variable"),
        ('(0010,4000) := shiftDateTimeByIncrement["20200101", 1, "weeks"]', "unsupported time-shift units"),
    ],
)
def test_upstream_failures_stop_the_file(body: str, reason: str) -> None:
    with pytest.raises(DicomEditRuntimeError, match=reason) as caught:
        run(body, with_items("1.1"))
    assert str(caught.value).endswith("(DicomEdit stops here, so XNAT would not archive the file)")


def test_assignment_if_exists_through_a_plural_path_is_allowed() -> None:
    ds = with_items("1.1", "1.2")
    run('*/(0008,1155) ?= "9"', ds)
    assert [entry.ReferencedSOPInstanceUID for entry in ds.ReferencedSeriesSequence] == ["9", "9"]


def test_xnat_variables_that_are_not_set_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    script = parse('version "6.3"\n(0010,4000) := session\n')
    with caplog.at_level(logging.WARNING, logger="compliance.dicomedit"):
        ds = apply_script(script, item(PatientComments="kept"), {})
    assert ds.PatientComments == "kept" and "XNAT sets it" in caplog.text


# --- gap 4: reduced-precision dates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "increment", "units", "expected"),
    [
        ("2022", -3, "days", "2022"),  # from 1 July, not 1 January
        ("2022", -183, "days", "2021"),
        ("202205", 16, "days", "202206"),  # from 16 May 12:00
        ("202205", 15, "days", "202205"),
        ("202202", 14, "days", "202203"),  # 28 days: from 15 February 00:00
        ("202202", 13, "days", "202202"),
        ("20220519", 12, "hours", "20220520"),  # from noon
        ("20220519", 11, "hours", "20220519"),
        ("2022051913", 30, "minutes", "2022051914"),  # from 13:30
        ("202205191347", 30, "seconds", "202205191348"),  # from 13:47:30
        ("20221231235959.5-0500", 1, "seconds", "20230101000000.5-0500"),
        ("20200228", 2, "days", "20200301"),
        ("20210228", 1, "days", "20210301"),
        ("20200101", 1, "years", "20201231"),  # a year is 365 days, as upstream
        ("20200101120000", 2, "hours", "20200101140000"),
        ("20200101120000", 1, "minutes", "20200101120100"),
        ("20200101120000", 1, "SECONDS", "20200101120001"),
    ],
)
def test_shift_from_the_middle_of_the_period(value: str, increment: int, units: str, expected: str) -> None:
    assert shift(value, increment, units) == expected


@pytest.mark.parametrize(
    ("value", "units"), [("", "days"), ("2022-13", "days"), ("20221301", "days"), ("2022", "weeks")]
)
def test_shift_refuses_what_upstream_refuses(value: str, units: str) -> None:
    with pytest.raises(ValueError):
        shift(value, 1, units)


# --- gap 5: the functions that were missing ----------------------------------------------------------


def test_shift_date_time_list_by_increment() -> None:
    ds = item(AcquisitionDateTime="2023", StudyDate="20230519", SeriesDate="")
    run('shiftDateTimeListByIncrement[{(0008,002A), (0008,0020), (0008,0021)}, "-300", "days"]', ds)
    assert (ds.AcquisitionDateTime, ds.StudyDate, ds.SeriesDate) == ("2022", "20220723", "")


def test_collect_values_keeps_values_before_they_change() -> None:
    ds = item(StudyDescription="SECRET", SeriesDescription="SECRET", PatientComments="other")
    run('kept := collectValues[(0008,1030)]\n(0008,1030) := "x"\nblankValues[kept]', ds)
    assert (ds.StudyDescription, ds.SeriesDescription, ds.PatientComments) == ("x", "", "other")


def test_normalize_string_replaces_each_non_ascii_character() -> None:
    ds = item(SeriesDescription="Déscrîptîøn")
    run('(0008,103E) := normalizeString[(0008,103E)]\n(0010,4000) := normalizeString["é1", ":)"]', ds)
    assert (ds.SeriesDescription, ds.PatientComments) == ("D_scr_pt__n", ":)1")


def test_scale_patient_age_and_dob_for_patients_over_89() -> None:
    ds = item(StudyDate="20000131", PatientBirthDate="19000101", PatientAge="100Y")
    ds.OtherPatientIDsSequence = Sequence([item(PatientBirthDate="19000101", PatientAge="100Y")])
    run("scalePatientAgeAndDobFromStudyDate[]", ds)
    nested = ds.OtherPatientIDsSequence[0]
    assert (ds.PatientBirthDate, ds.PatientAge, nested.PatientBirthDate, nested.PatientAge) == (
        "19110201",
        "089Y",
        "19110201",
        "089Y",
    )


def test_reject_stops_with_its_own_error() -> None:
    with pytest.raises(DicomEditRejectionError, match="XNAT does not archive a rejected file"):
        run('(0020,0013) = "80" ? reject[]', item(InstanceNumber="80"))
    assert run('(0020,0013) = "80" ? reject[]', item(InstanceNumber="81")).InstanceNumber == "81"


def test_get_url_names_the_url_it_cannot_fetch() -> None:
    with pytest.raises(DicomEditRuntimeError, match=r"would fetch 'http://xnat/siteId'.*works offline"):
        run('(0010,1000) := getURL["http://xnat/siteId"]')


# --- gap 6: too lenient ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag", ["(001#,0010)", "(001x,0020)", "(0019,1010)", "(001@,{STENTOR}10)", "( 0008,1024)"]
)
def test_tags_upstream_rejects(tag: str) -> None:
    with pytest.raises(DicomEditSyntaxError, match="malformed tag"):
        parse(f"-{tag}\n")


def test_a_private_tag_by_number_is_still_accepted_in_a_string_argument() -> None:
    ds = Dataset()
    ds.add_new(0x00091010, "LO", "x")
    assert 0x00091010 not in run('delete["(0009,1010)"]', ds)


@pytest.mark.parametrize(("vr", "value", "stored"), [("US", "1234567", 54919), ("SS", "40000", -25536)])
def test_out_of_range_integers_wrap_as_dicomedit_stores_them(vr: str, value: str, stored: int) -> None:
    tag = {"US": 0x001021C0, "SS": 0x00189219}[vr]
    ds = run(f'({tag >> 16:04X},{tag & 0xFFFF:04X}) := "{value}"')
    assert (ds[tag].VR, ds[tag].value) == (vr, stored)


def test_hash_uid_of_a_known_value() -> None:
    # NrgXnat/xnat-rest-tests TestAnonymizationUids: HASH_12345.
    assert hash_uid("1.2.3.4.5") == "2.25.281097975800109040096884226991818420711"


# --- exact behaviour of the pieces (mutation testing keeps these honest) ------------------------------


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2022", "2022-07-01 00:00:00"),
        ("202205", "2022-05-16 12:00:00"),  # 31 days: the middle is noon on the 16th
        ("202202", "2022-02-15 00:00:00"),  # 28 days: midnight starting the 15th
        ("202002", "2020-02-15 12:00:00"),  # 29 days
        ("20220519", "2022-05-19 12:00:00"),
        ("2022051913", "2022-05-19 13:30:00"),
        ("202205191347", "2022-05-19 13:47:30"),
        ("20220519134723", "2022-05-19 13:47:23"),
    ],
)
def test_midpoint_of_each_precision(value: str, moment: str) -> None:
    from compliance.dicomedit.dates import DATETIME, midpoint  # noqa: PLC0415

    match = DATETIME.fullmatch(value)
    assert match is not None and str(midpoint(match.groupdict())) == moment


def test_shift_error_messages_name_the_value_and_the_units() -> None:
    with pytest.raises(ValueError, match=r"^failed to parse DICOM date/time string ''$"):
        shift("", 1, "days")
    with pytest.raises(ValueError, match=r"^failed to parse DICOM date/time string '20221301': bad month"):
        shift("20221301", 1, "days")
    with pytest.raises(
        ValueError, match=r"^unsupported time-shift units 'weeks'; DicomEdit knows: seconds, "
    ):
        shift("2022", 1, "weeks")


def test_a_path_ending_in_a_sequence_wildcard_names_nothing() -> None:
    ds = with_items("1.1")
    run("-(0008,1115)/*\n-(0008,1115)[0]/+", ds)
    assert ds.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID == "1.1"


def test_assigning_through_an_attribute_that_is_not_a_sequence_fails_with_its_name() -> None:
    with pytest.raises(
        DicomEditRuntimeError, match=r"\(0010,0010\)\[0\] is not a sequence \(VR PN\), so it has no items"
    ):
        run('(0010,0010)[0]/(0010,0020) := "x"', item(PatientName="A^B"))


def test_assigning_to_a_sequence_item_itself_fails() -> None:
    with pytest.raises(DicomEditRuntimeError, match=r"is a sequence item, which holds attributes"):
        run('(0008,1115)[0] := "x"', with_items("1"))


@pytest.mark.parametrize("value", [[], None])
def test_assignment_fills_an_empty_or_valueless_sequence(value: list | None) -> None:
    ds = Dataset()
    ds.add_new(0x00081115, "SQ", value)
    run('(0008,1115)[0]/(0008,1155) := "1.2"', ds)
    assert ds.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID == "1.2"


def test_plural_reasons_are_named() -> None:
    with pytest.raises(
        DicomEditRuntimeError, match=r"cannot assign to \(0010,001X\): \(0010,001X\) has wildcard"
    ):
        run('(0010,001X) := "x"')
    with pytest.raises(DicomEditRuntimeError, match=r"the sequence wildcard '\+/' stands for"):
        run('+/(0010,0010) := "x"')


def test_a_creator_in_a_later_block_is_found_not_duplicated() -> None:
    ds = Dataset()
    ds.add_new(0x00190010, "LO", "GE")
    ds.add_new(0x001900F0, "LO", "SIEMENS ")  # trailing blank padding, as files often have
    ds.add_new(0x0019F010, "LO", "old")
    run('(0019,{SIEMENS}10) := "new"\n(0019,{GE}11) := "ge"', ds)
    assert ds[0x0019F010].value == "new" and 0x00190011 not in ds and ds[0x00191011].value == "ge"


def test_file_meta_is_created_when_a_script_writes_group_2() -> None:
    ds = Dataset()
    ds.file_meta = None
    run('(0002,0016) := "AE"', ds)
    assert ds.file_meta.SourceApplicationEntityTitle == "AE"


def test_reading_group_2_reads_the_file_meta() -> None:
    ds = item(PatientName="A")
    run('(0002,0016) := "AE"\n(0010,4000) := (0002,0016)', ds)
    assert ds.PatientComments == "AE" and 0x00020016 not in ds


def test_assigning_a_missing_value_creates_nothing_on_the_way() -> None:
    ds = run("(0008,1115)[2]/(0008,1155) := (0010,9999)")
    assert "ReferencedSeriesSequence" not in ds


def test_an_existing_creator_in_the_first_block_is_used() -> None:
    ds = Dataset()
    ds.add_new(0x00190010, "LO", "GE")
    ds.add_new(0x00191010, "LO", "old")
    run('(0019,{GE}10) := "new"', ds)
    assert ds[0x00191010].value == "new" and 0x00190011 not in ds


def test_a_creator_stored_as_bytes_with_padding_is_recognised() -> None:
    ds = Dataset()
    ds.add_new(0x00290010, "UN", b"SIEMENS\x00")
    ds.add_new(0x00291008, "LO", "csa")
    run("-(0029,{SIEMENS}08)", ds)
    assert 0x00291008 not in ds


@pytest.mark.parametrize("path", ["(0010,0010)[0]", "(0010,0010)/(0010,0020)", "(0010,0010)[0]/(0010,0020)"])
def test_an_attribute_that_is_not_a_sequence_has_no_items(path: str) -> None:
    ds = item(PatientName="A^B", PatientID="ID")
    run(f'-{path}\nisPresent[{path}] ? (0010,4000) := "yes" : (0010,4000) := "no"', ds)
    assert (ds.PatientName, ds.PatientID, ds.PatientComments) == ("A^B", "ID", "no")
