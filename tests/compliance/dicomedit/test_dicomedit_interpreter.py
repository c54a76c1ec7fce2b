"""Interpreter tests: statements, tag paths and functions applied to pydicom datasets."""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from compliance.dicomedit import DicomEditRuntimeError, Interpreter, apply_script, parse
from compliance.dicomedit.functions import hash_uid, message_format

VARIABLES = {"project": "CARDIO01", "subject": "SUBJ001", "session": "ACC123456", "modalityLabel": "MR"}


def run(body: str, ds: Dataset, variables: dict[str, str] | None = None) -> Dataset:
    script = parse(f'version "6.3"\n{body}\n', source="test.das")
    return apply_script(script, ds, VARIABLES if variables is None else variables)


def patient() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN0001"
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20240315"
    ds.StudyDescription = "MRI HEAD"
    ds.Modality = "MR"
    ds.StudyInstanceUID = "1.2.3.444.555"
    ds.Rows = 4
    return ds


def with_private_block(ds: Dataset) -> Dataset:
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0F, "DS", "1.5")
    block.add_new(0x10, "LO", "secret")
    ds.add_new(0x00290010, "LO", "OTHER VENDOR")
    ds.add_new(0x00291001, "LO", "other secret")
    return ds


def referenced_series() -> Dataset:
    ds = patient()
    first, second = Dataset(), Dataset()
    first.ReferencedSOPInstanceUID = "1.2.3.1"
    first.PatientName = "Nested^One"
    second.ReferencedSOPInstanceUID = "1.2.3.2"
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "1.2.3.3"
    second.ReferencedImageSequence = Sequence([inner])
    ds.ReferencedSeriesSequence = Sequence([first, second])
    return ds


# --- assignments --------------------------------------------------------------------------------------


def test_assign_literal_variable_and_tag_value() -> None:
    ds = run('(0010,0010) := subject\n(0010,0020) := "ANON"\n(0008,1030) := (0008,0060)', patient())
    assert (str(ds.PatientName), ds.PatientID, ds.StudyDescription) == ("SUBJ001", "ANON", "MR")


def test_assign_creates_missing_element_with_dictionary_vr() -> None:
    ds = run('(0012,0062) := "YES"\n(0028,0011) := "256"\n(0018,0050) := 1.25', patient())
    assert ds["PatientIdentityRemoved"].VR == "CS" and ds.PatientIdentityRemoved == "YES"
    assert ds["Columns"].VR == "US" and ds.Columns == 256
    assert ds["SliceThickness"].VR == "DS" and float(ds.SliceThickness) == 1.25


def test_assign_coerces_to_existing_numeric_vr() -> None:
    ds = run('(0028,0010) := "512"', patient())
    assert ds.Rows == 512 and isinstance(ds.Rows, int)


def test_assign_multivalue_string_splits_on_backslash() -> None:
    ds = run(r'(0008,0008) := "DERIVED\\SECONDARY"', patient())
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]


def test_assign_empty_string_empties_the_element() -> None:
    ds = run('(0010,0030) := ""\n(0028,0010) := ""', patient())
    assert ds.PatientBirthDate == "" and ds["Rows"].value is None


def test_assign_non_numeric_to_numeric_vr_is_a_runtime_error() -> None:
    with pytest.raises(
        DicomEditRuntimeError, match=r"test.das:2:16: cannot store the value in \(0028,0010\)"
    ):
        run('(0028,0010) := "many"', patient())


def test_assign_empty_string_to_a_sequence_empties_it_and_a_value_is_an_error() -> None:
    ds = run('(0008,1115) := ""', referenced_series())
    assert ds["ReferencedSeriesSequence"].VR == "SQ" and len(ds.ReferencedSeriesSequence) == 0
    with pytest.raises(DicomEditRuntimeError, match="can only be emptied"):
        run('(0008,1115) := "x"', referenced_series())


def test_assign_if_exists_only_touches_present_elements() -> None:
    ds = run('(0010,0010) ?= "X"\n(0010,1000) ?= "Y"', patient())
    assert str(ds.PatientName) == "X" and "OtherPatientIDs" not in ds


def test_assign_from_missing_value_leaves_target_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="compliance.dicomedit"):
        ds = run("(0008,1030) := (0008,103E)", patient())
    assert ds.StudyDescription == "MRI HEAD"
    assert "test.das:2:16" in caplog.text and "(0008,1030) left unchanged" in caplog.text


def test_assign_into_sequence_item_and_private_creator_block() -> None:
    ds = run(
        '(0008,1115)[1]/(0008,1155) := "9.9"\n'
        '(0019,{SIEMENS MR HEADER}10) := "clean"\n'
        '(0021,{NEW CO}05) := "x"',
        with_private_block(referenced_series()),
    )
    assert ds.ReferencedSeriesSequence[1].ReferencedSOPInstanceUID == "9.9"
    assert ds.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID == "1.2.3.1"
    assert ds[0x00191010].value == "clean"
    assert ds[0x00210010].value == "NEW CO" and ds[0x00211005].value == "x"


def test_file_meta_assignment_goes_to_file_meta() -> None:
    ds = patient()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    run("(0002,0010) := hashUID[(0002,0010)]", ds)
    assert ds.file_meta.TransferSyntaxUID == hash_uid(ExplicitVRLittleEndian)
    assert 0x00020010 not in ds


# --- deletes and tag paths ----------------------------------------------------------------------------


def test_delete_public_and_private_with_creator() -> None:
    ds = run("-(0010,0030)\n-(0019,{SIEMENS MR HEADER}10)", with_private_block(patient()))
    assert "PatientBirthDate" not in ds
    assert 0x00191010 not in ds and 0x0019100F in ds and 0x00291001 in ds


def test_delete_private_creator_finds_whichever_block_the_creator_took() -> None:
    ds = patient()
    ds.add_new(0x00190010, "LO", "SOMEONE ELSE")
    ds.add_new(0x00190011, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100F, "LO", "keep")
    ds.add_new(0x0019110F, "LO", "drop")
    run("-(0019,{SIEMENS MR HEADER}0F)", ds)
    assert 0x0019100F in ds and 0x0019110F not in ds


def test_delete_with_wildcards() -> None:
    ds = patient()
    ds.add_new(0x60003000, "OW", b"\x00\x01")
    ds.add_new(0x60023000, "OW", b"\x00\x01")
    ds.add_new(0x60010010, "LO", "odd group")
    ds.add_new(0x50000010, "US", 1)
    run("-(60X@,3000)\n-(50X@,XXXX)", ds)
    assert 0x60003000 not in ds and 0x60023000 not in ds and 0x50000010 not in ds
    assert 0x60010010 in ds


def test_delete_in_sequences_by_index_any_item_and_anywhere() -> None:
    ds = run("-(0008,1115)[0]/(0008,1155)", referenced_series())
    assert "ReferencedSOPInstanceUID" not in ds.ReferencedSeriesSequence[0]
    assert "ReferencedSOPInstanceUID" in ds.ReferencedSeriesSequence[1]
    ds = run("-(0008,1115)[%]/(0008,1155)", referenced_series())
    assert all("ReferencedSOPInstanceUID" not in item for item in ds.ReferencedSeriesSequence)
    assert ds.ReferencedSeriesSequence[1].ReferencedImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.3"
    ds = run("-+/(0010,0010)\n-+/(0008,1155)", referenced_series())
    assert str(ds.PatientName) == "Doe^Jane"  # + does not reach the top level
    assert "PatientName" not in ds.ReferencedSeriesSequence[0]
    assert "ReferencedSOPInstanceUID" not in ds.ReferencedSeriesSequence[1].ReferencedImageSequence[0]


def test_star_path_reaches_top_level_too() -> None:
    ds = run("-*/(0010,0010)", referenced_series())
    assert "PatientName" not in ds and "PatientName" not in ds.ReferencedSeriesSequence[0]


def test_remove_all_private_tags_at_every_depth() -> None:
    ds = with_private_block(referenced_series())
    with_private_block(ds.ReferencedSeriesSequence[0])
    run("removeAllPrivateTags", ds)
    assert not [element for element in ds.iterall() if element.tag.is_private]
    assert ds.PatientID == "MRN0001"


# --- conditions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "applies"),
    [
        ('(0008,0060) = "MR"', True),
        ('(0008,0060) = "CT"', False),
        ('(0008,0060) != "CT"', True),
        ('(0008,1030) ~ "MRI.*"', True),
        ('(0008,1030) ~ "HEAD"', False),  # ~ matches the whole value, like Java String.matches
        ('(0008,1030) !~ "CT.*"', True),
        ('(0010,1000) = "x"', False),  # a missing attribute equals nothing
        ('(0010,1000) != "x"', True),
        ("isPresent[(0010,0030)]", True),
        ("isPresent[(0010,1000)]", False),
        ('ismatch[(0010,0020), "MRN[0-9]+"]', True),
        ("true[]", True),
        ("false[]", False),
        ('modalityLabel = "MR"', True),
    ],
)
def test_conditions(condition: str, applies: bool) -> None:
    ds = run(f'{condition} ? (0010,0020) := "HIT" : (0010,0020) := "MISS"', patient())
    assert ds.PatientID == ("HIT" if applies else "MISS")


def test_if_elseif_else_runs_the_first_true_branch_only() -> None:
    body = (
        'if ((0008,0060) = "CT") {\n (0010,0020) := "ct"\n}'
        ' elseif ((0008,0060) = "MR") {\n (0010,0020) := "mr"\n (0010,0010) := "mr"\n}'
        ' elseif ((0008,0060) ~ "M.*") {\n (0010,0020) := "second"\n}'
        ' else {\n (0010,0020) := "other"\n}'
    )
    ds = run(body, patient())
    assert ds.PatientID == "mr" and str(ds.PatientName) == "mr"
    other = patient()
    other.Modality = "US"
    assert run(body, other).PatientID == "other"


def test_invalid_regex_is_a_runtime_error() -> None:
    with pytest.raises(DicomEditRuntimeError, match=r"test.das:2:15: invalid regular expression"):
        run('(0008,0060) ~ "([" ? -(0010,0010)', patient())


# --- variables, echo, errors --------------------------------------------------------------------------------


def test_variables_defined_in_the_script_and_by_xnat() -> None:
    ds = run('prefix := "TRUST"\n(0010,0020) := format["{0}-{1}-{2}", prefix, project, subject]', patient())
    assert ds.PatientID == "TRUST-CARDIO01-SUBJ001"


def test_missing_xnat_variable_warns_and_skips(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="compliance.dicomedit"):
        ds = run("(0008,1030) := session", patient(), variables={})
    assert ds.StudyDescription == "MRI HEAD"
    assert "variable 'session' has no value (XNAT sets it" in caplog.text


def test_echo_logs_with_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="compliance.dicomedit"):
        run('echo format["patient {0}", (0010,0020)]\necho', patient())
    assert "test.das:2: echo patient MRN0001" in caplog.text


def test_unknown_function_names_function_line_and_column() -> None:
    with pytest.raises(DicomEditRuntimeError) as caught:
        run("(0010,0010) := anonymise[(0010,0010)]", patient())
    assert str(caught.value) == (
        "test.das:2:16: unknown function 'anonymise' "
        "(DicomEdit stops here, so XNAT would not archive the file)"
    )
    assert (caught.value.line, caught.value.column) == (2, 16)


def test_known_but_unsupported_function() -> None:
    with pytest.raises(DicomEditRuntimeError, match="'lookup' is DicomEdit 6 but not supported"):
        run('(0010,0020) := lookup["pid", (0010,0020)]', patient())


def test_wrong_argument_count() -> None:
    with pytest.raises(DicomEditRuntimeError, match="substring takes 3 argument"):
        run("(0010,0020) := substring[(0010,0020), 1]", patient())


def test_describe_export_and_version_do_not_change_the_dataset() -> None:
    before = patient()
    after = run('describe x "X"\ndescribe y hidden\nexport x "field"\nversion "6.4"', patient())
    assert after == before


# --- UID functions -----------------------------------------------------------------------------------------

# Expected values from NRG dicom-edit6's own tests, TestHashUIDListFunction.java (test1, testPrivate,
# testMultipleMatch, testValueMultiplicity, test2), i.e. the UIDs XNAT's DicomEdit produces. Read at
# src/test/java/org/nrg/dicom/dicomedit/TestHashUIDListFunction.java of dicom-edit6 (mirrored in
# github.com/danielmarcus/xnat-monorepo under libs/dicom-edit6, commit 4d0ef73c).
XNAT_HASHES = {
    "1.2.3.444.555": "2.25.151084009948217556417582685022853404996",
    "1.2.3.444.555.0": "2.25.21621800940148076483240768691790573264",
    "1.2.3.444.555.666": "2.25.112080059686574174424340996853252886096",
    "1.2.3.444.556.4.1": "2.25.181945547936710404564267554687537362369",
    "0.0.0": "2.25.179381058945121467305106941903336095433",
    "1.2.3.4": "2.25.12977335313771255011876057319581175462",
    "1.3.1.1": "2.25.258602106693983065446800266265806686854",
    "1.2.3": "2.25.148370922854076938159295778886134140470",
    "1.2": "2.25.171578026969864389535347314560684512280",
    "1.2.3.444.555.0.0": "2.25.246763911536756469410628959877942162447",
    "1.2.3.444.556.0.0": "2.25.198653654406668325403458358514032735383",
    "1.2.3.444.555.0.1": "2.25.94494675630523809322742234824423095000",
    "1.2.3.444.556.0.1": "2.25.213666456057713920646985407178089025968",
    "1.2.3.444.555.1": "2.25.31826092823790271919652939240837527882",
    "1.2.3.444.556.4.0": "2.25.293257625700872661070396948471210666012",
    "1.2.3.4.5": "2.25.281097975800109040096884226991818420711",
    "1.2.3.4.5.6": "2.25.262228503153619312954819897114011402300",
    "99.99999.999": "2.25.231023445675908772609000485091754869630",
}


@pytest.mark.parametrize(("uid", "expected"), XNAT_HASHES.items())
def test_hash_uid_matches_xnat(uid: str, expected: str) -> None:
    assert hash_uid(uid) == expected


def test_hash_uid_function_in_a_script() -> None:
    ds = run('(0020,000D) := hashUID[(0020,000D)]\n(0010,0020) := hashUID["1.2"]', patient())
    assert ds.StudyInstanceUID == XNAT_HASHES["1.2.3.444.555"]
    assert ds.PatientID == XNAT_HASHES["1.2"]


def test_hash_uid_list_with_paths_matches_xnat_test1() -> None:
    # TestHashUIDListFunction.test1: */ reaches every depth, a sequence without [n] means every item.
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3.444.555"
    ds.SeriesInstanceUID = "1.2.3.444.555"
    item0, item1 = Dataset(), Dataset()
    item0.StudyInstanceUID, item0.SeriesInstanceUID = "1.2.3.444.555.0", "1.2.3.444.556.0"
    item1.StudyInstanceUID, item1.SeriesInstanceUID = "1.2.3.444.555.1", "1.2.3.444.556.1"
    nested = Dataset()
    nested.SeriesInstanceUID = "1.2.3.444.556.4.1"
    item0.add_new(0x00421111, "SQ", Sequence([nested]))
    ds.add_new(0x00420010, "SQ", Sequence([item0, item1]))
    run("hashUIDList[*/(0020,000D), */(0042,1111)/(0020,000E)]", ds)
    assert ds.StudyInstanceUID == XNAT_HASHES["1.2.3.444.555"]
    assert ds.SeriesInstanceUID == "1.2.3.444.555"  # not listed at top level
    assert item0.StudyInstanceUID == XNAT_HASHES["1.2.3.444.555.0"]
    assert item0.SeriesInstanceUID == "1.2.3.444.556.0"
    assert nested.SeriesInstanceUID == XNAT_HASHES["1.2.3.444.556.4.1"]


def test_hash_uid_list_private_wildcards_multivalue_and_list_variable() -> None:
    # TestHashUIDListFunction.testPrivate, testMultipleMatch and test2.
    ds = Dataset()
    ds.add_new(0x00490010, "LO", "PrivateCreator")
    ds.add_new(0x00491010, "UI", "1.2.3.444.555")
    ds.add_new(0x00491011, "UI", "1.2.3.444.555.666")
    run("hashUIDList[(0049,{PrivateCreator}10), (0049,{PrivateCreator}11)]", ds)
    assert ds[0x00490010].value == "PrivateCreator"
    assert ds[0x00491010].value == XNAT_HASHES["1.2.3.444.555"]
    assert ds[0x00491011].value == XNAT_HASHES["1.2.3.444.555.666"]

    ds = Dataset()
    ds.add_new(0x00420010, "LO", "1.2.3")
    ds.add_new(0x00421010, "UI", "1.2.3.444.555")
    run("hashUIDList[(0042,10XX)]", ds)
    assert ds[0x00420010].value == "1.2.3" and ds[0x00421010].value == XNAT_HASHES["1.2.3.444.555"]

    ds = Dataset()
    ds.add_new(0x0008001A, "UI", ["0.0.0", "1.2.3.4", "1.3.1.1"])
    ds.SOPInstanceUID = "1.2.3.4"
    ds.StudyInstanceUID = "1.2"
    run("tags_to_hash := {(0008,001a), (0008,0018), (0020,000D)}\nhashUIDList[tags_to_hash]", ds)
    assert list(ds[0x0008001A].value) == [XNAT_HASHES[uid] for uid in ("0.0.0", "1.2.3.4", "1.3.1.1")]
    assert ds.SOPInstanceUID == XNAT_HASHES["1.2.3.4"] and ds.StudyInstanceUID == XNAT_HASHES["1.2"]


def test_new_uid_is_fresh_and_takes_a_prefix() -> None:
    ds = run('(0020,000D) := newUID[]\n(0020,000E) := newUID["1.2.826.0.1"]', patient())
    other = run("(0020,000D) := newUID[]", patient())
    assert ds.StudyInstanceUID.startswith("2.25.") and ds.StudyInstanceUID != other.StudyInstanceUID
    assert ds.SeriesInstanceUID.startswith("1.2.826.0.1.")


def test_map_uid_prefixes_the_hash() -> None:
    ds = run('(0020,000D) := mapUID["1.2.826.0.1.999", (0020,000D)]', patient())
    assert ds.StudyInstanceUID == "1.2.826.0.1.999." + XNAT_HASHES["1.2.3.444.555"].removeprefix("2.25.")


def test_map_referenced_uids_is_consistent_across_datasets_of_one_interpreter() -> None:
    script = parse('version "6.3"\nmapReferencedUIDs["1.2.826.0.9", "*/(0008,1155)", "(0020,000D)"]\n')
    interpreter = Interpreter(script, VARIABLES)
    first = interpreter.apply(referenced_series())
    second = interpreter.apply(referenced_series())
    mapped = first.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID
    assert mapped.startswith("1.2.826.0.9.") and mapped != "1.2.3.1"
    assert second.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID == mapped
    assert first.StudyInstanceUID == second.StudyInstanceUID != "1.2.3.444.555"
    nested = first.ReferencedSeriesSequence[1].ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert nested.startswith("1.2.826.0.9.") and nested != mapped


def test_apply_script_keeps_map_referenced_uids_consistent_for_one_script_object() -> None:
    text = 'version "6.3"\nmapReferencedUIDs["1.2.826.0.9", "(0020,000D)"]\n'
    script = parse(text)
    first = apply_script(script, patient(), VARIABLES).StudyInstanceUID
    assert apply_script(script, patient(), VARIABLES).StudyInstanceUID == first
    assert apply_script(parse(text), patient(), VARIABLES).StudyInstanceUID != first


def test_malformed_tag_string_argument_is_a_runtime_error() -> None:
    with pytest.raises(DicomEditRuntimeError, match=r"'\(0008,115\)' is not a tag path"):
        run('mapReferencedUIDs["1.2.3", "(0008,115)"]', patient())


# --- string functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('format["{1}/{0}", "a", (0010,0020)]', "MRN0001/a"),
        ("format[\"it''s {0}\", subject]", "it's SUBJ001"),
        ("lowercase[(0008,1030)]", "mri head"),
        ('uppercase["abc"]', "ABC"),
        ("substring[(0010,0020), 0, 3]", "MRN"),
        ('concatenate[project, "_", subject]', "CARDIO01_SUBJ001"),
        ('replace[(0008,1030), "HEAD", "BRAIN"]', "MRI BRAIN"),
        ('replace["a.b.c", ".", "-"]', "a-b-c"),  # literal, not a regex
        (r'match[(0010,0010), "(\\w+)\\^(\\w+)", 2]', "Jane"),
        ("shiftDateByIncrement[(0008,0020), -30]", "20240214"),
        ('shiftDateByIncrement["20240131", 1, "years"]', "20250130"),
        ('shiftDateTimeByIncrement["20240315101500.123+0100", 3600]', "20240315111500.123+0100"),
        ('shiftDateTimeByIncrement["202403151015", -2, "days"]', "202403131015"),
    ],
)
def test_value_functions(expression: str, expected: str) -> None:
    ds = run(f"(0008,103E) := {expression}", patient())
    assert ds.SeriesDescription == expected


def test_message_format_quotes_and_null() -> None:
    assert message_format("'{0}' is {0}", ["x"]) == "{0} is x"
    assert message_format("{0}-{1}", [None, "b"]) == "null-b"


def test_match_without_match_leaves_target() -> None:
    ds = run('(0008,1030) := match[(0010,0020), "XYZ(\\d+)", 1]', patient())
    assert ds.StudyDescription == "MRI HEAD"


def test_substring_out_of_range() -> None:
    with pytest.raises(DicomEditRuntimeError, match="substring: range 0-99"):
        run("(0010,0020) := substring[(0010,0020), 0, 99]", patient())


def test_shift_of_a_non_date_is_a_runtime_error() -> None:
    with pytest.raises(DicomEditRuntimeError, match=r"\(0008,1030\) has VR LO, not DA"):
        run("(0008,0020) := shiftDateByIncrement[(0008,1030), 3]", patient())
    with pytest.raises(DicomEditRuntimeError, match="failed to parse DICOM date/time string 'MRI head'"):
        run('(0008,0020) := shiftDateByIncrement["MRI head", 3]', patient())


def test_shift_date_time_sequence_by_increment() -> None:
    ds = patient()
    ds.AcquisitionDateTime = "20240315101500"
    run('shiftDateTimeSequenceByIncrement[-86400, "(0008,0020)", (0008,002A)]', ds)
    assert ds.StudyDate == "20240314" and ds.AcquisitionDateTime == "20240314101500"


# --- tag functions ------------------------------------------------------------------------------------


def test_remove_tags() -> None:
    ds = run('removeTags[(0010,0020), "(0008,1030)"]', patient())
    assert "PatientID" not in ds and "StudyDescription" not in ds and "PatientName" in ds


def test_blank_values_empties_every_element_holding_the_values() -> None:
    # Ported from dicom-edit6 TestBlankValuesFunction.testBlankValuesInSequences and testWildcard:
    # the arguments are values; tag paths contribute the values of the attributes they match.
    ds = Dataset()
    ds.PatientName = "PatientName"
    ds.AccessionNumber = "AccessionNumber"
    ds.add_new(0x00300102, "LO", "PatientName")
    ds.add_new(0x00300104, "LO", "Accession")
    item0, item1 = Dataset(), Dataset()
    item0.add_new(0x00360001, "LO", "t4_0_t1")
    item0.add_new(0x00360002, "LO", "AccessionNumber")
    item1.add_new(0x00360002, "LO", "PatientName")
    ds.add_new(0x00420010, "SQ", Sequence([item0, item1]))
    run('names := {"PatientName", "AccessionNumber"}\nblankValues[names, 12345]', ds)
    assert str(ds.PatientName) == "" and ds.AccessionNumber == "" and ds[0x00300102].value == ""
    assert ds[0x00300104].value == "Accession" and item0[0x00360001].value == "t4_0_t1"
    assert item0[0x00360002].value == "" and item1[0x00360002].value == ""

    ds = patient()
    ds.add_new(0x00089201, "LO", "Doe^Jane")
    ds.add_new(0x00089203, "LO", "MRN0001")
    run("blankValues[(0008,920X)]", ds)
    assert str(ds.PatientName) == "" and ds.PatientID == "" and ds[0x00089201].value == ""
    assert ds.StudyDescription == "MRI HEAD"


def test_set_with_tag_path_string() -> None:
    ds = run('set["(0008,0008)", "ORIGINAL"]', patient())
    assert ds.ImageType == "ORIGINAL"


def test_retain_private_tags_keeps_listed_tags_and_their_creator() -> None:
    ds = run("retainPrivateTags[(0019,{SIEMENS MR HEADER}0F)]", with_private_block(patient()))
    private = {int(element.tag): element.value for element in ds if element.tag.is_private}
    assert private == {0x00190010: "SIEMENS MR HEADER", 0x0019100F: "1.5"}


def test_retain_private_tags_rejects_public_tags() -> None:
    with pytest.raises(DicomEditRuntimeError, match=r"\(0010,0010\) is not a private tag"):
        run("retainPrivateTags[(0010,0010)]", patient())


# --- pixels and bundled test files --------------------------------------------------------------------


def test_alter_pixels_fills_a_rectangle_on_ct_small() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    before = ds.pixel_array.copy()
    run('alterPixels["rectangle", "l=10, t=20, r=30, b=25", "solid", "v=-1000"]', ds)
    after = pydicom.dcmread(pydicom.filebase.DicomBytesIO(_encode(ds))).pixel_array
    assert (after[20:25, 10:30] == -1000).all()
    assert np.array_equal(after[:20], before[:20]) and np.array_equal(after[25:], before[25:])
    assert np.array_equal(after[20:25, :10], before[20:25, :10])


def test_alter_pixels_without_pixel_data_is_a_runtime_error() -> None:
    with pytest.raises(DicomEditRuntimeError, match="no Pixel Data"):
        run('alterPixels["rectangle", "l=0, t=0, r=1, b=1", "solid", "v=0"]', patient())


def test_alter_pixels_rejects_other_shapes() -> None:
    with pytest.raises(DicomEditRuntimeError, match="only 'rectangle'"):
        run('alterPixels["circle", "x=1", "solid", "v=0"]', patient())


def test_site_style_script_on_bundled_mr_file_survives_a_write_and_read() -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    original_study = ds.StudyInstanceUID
    body = (
        "(0010,0010) := subject\n(0010,0020) := session\n-(0010,0030)\n"
        "(0020,000D) := hashUID[(0020,000D)]\n(0008,0020) := shiftDateByIncrement[(0008,0020), -7]\n"
        'removeAllPrivateTags\n(0012,0062) := "YES"\n(0012,0063) := "XNAT DicomEdit 6"'
    )
    run(body, ds)
    reread = pydicom.dcmread(pydicom.filebase.DicomBytesIO(_encode(ds)))
    assert str(reread.PatientName) == "SUBJ001" and reread.PatientID == "ACC123456"
    assert "PatientBirthDate" not in reread
    assert reread.StudyInstanceUID == hash_uid(original_study)
    assert reread.PatientIdentityRemoved == "YES"
    assert not [element for element in reread if element.tag.is_private]


def _encode(ds: Dataset) -> bytes:
    buffer = pydicom.filebase.DicomBytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=False)
    return buffer.getvalue()
