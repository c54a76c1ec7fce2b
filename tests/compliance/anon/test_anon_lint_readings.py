"""The Annex E lint reads scripts as DicomEdit runs them (issue 17's lint misreadings) and says which
edition of Table E.1-1 it judged against."""

from __future__ import annotations

import json

import pytest

from compliance.annex_e import EDITION, load_table, rows_by_tag
from compliance.anon.conformance import ConformanceReport, judge, not_applicable, verdict_for
from compliance.anon.lint import lint_script
from compliance.dicomedit import load_script_text

HEADER = 'version "6.3"\n'
NEW_ATTRIBUTES = {
    0x00100012: "Name to Use",
    0x00100014: "Third Person Pronouns Sequence",
    0x00100041: "Gender Identity Sequence",
    0x00102162: "Ethnic Groups",
    0x00081301: "Principal Diagnosis Code Sequence",
    0x300A0054: "Table Top Position Alignment UID",
}


def lint(text: str, options: tuple[str, ...] = ()) -> ConformanceReport:
    return lint_script(load_script_text(HEADER + text, "<script>"), options)


def attribute(report: ConformanceReport, tag: str):
    return next(result for result in report.attributes if result.row.tag == tag)


def codes(report: ConformanceReport) -> list[str]:
    return [finding.code for finding in report.findings]


# --- statements the lint used to ignore ---------------------------------------------------------------


def test_hash_uid_list_statement_replaces_the_uids_it_names() -> None:
    report = lint("hashUIDList[(0020,000D), {(0020,000E)}]\nuids := {(0008,0018)}\nhashUIDList[uids]\n")
    assert [attribute(report, tag).effective for tag in ("(0020,000D)", "(0020,000E)", "(0008,0018)")] == [
        "U"
    ] * 3


def test_date_shift_list_functions_as_statements_clean_dates() -> None:
    report = lint(
        'shiftDateTimeListByIncrement[{(0008,0020), (0008,0021)}, "-30", "days"]\n'
        'shiftDateTimeSequenceByIncrement["3600", "*/(0008,002A)"]\n',
        ("retain-long-modified-dates",),
    )
    assert [attribute(report, tag).verdict for tag in ("(0008,0020)", "(0008,0021)", "(0008,002A)")] == [
        "pass"
    ] * 3
    assert "malformed-tag-argument" not in codes(report)  # "-30" and "3600" are increments, not tags


def test_blank_values_strings_are_values_not_malformed_tags() -> None:
    assert "malformed-tag-argument" not in codes(lint('blankValues["Jane Doe", (0010,0010)]\n'))


# --- clean (C) is no weaker than the Basic Profile --------------------------------------------------


def test_removing_an_attribute_basic_requires_emptied_fails_under_a_cleaning_option_too() -> None:
    script = "-(0008,0020)\n"  # Study Date: Basic Z, retain-long-modified-dates C
    assert attribute(lint(script), "(0008,0020)").verdict == "fail"
    cleaned = attribute(lint(script, ("retain-long-modified-dates",)), "(0008,0020)")
    assert cleaned.verdict == "fail" and "Basic Profile requires (Z)" in cleaned.note
    assert (
        attribute(lint('(0008,0020) := ""\n', ("retain-long-modified-dates",)), "(0008,0020)").verdict
        == "pass"
    )


def test_clean_accepts_the_basic_action_and_rejects_weaker_ones() -> None:
    assert verdict_for("C", "X", "X") == "pass"
    assert verdict_for("C", "X", "Z") == "fail"
    assert verdict_for("C", "Z", "Z") == "pass"
    assert verdict_for("C", "C", "Z") == "pass"
    assert verdict_for("C", "K", "Z") == "fail"


# --- hashUID into identifiers -------------------------------------------------------------------------


def test_hash_uid_into_patient_id_is_an_unkeyed_hash_not_a_wrong_action() -> None:
    report = lint("(0010,0020) := hashUID[(0010,0020)]\n")
    patient_id = attribute(report, "(0010,0020)")
    assert (patient_id.effective, patient_id.verdict) == ("D", "pass")
    assert "identifier-hashed-without-key" in codes(report)
    assert "value-too-long-for-vr" not in codes(report)  # LO holds 64 characters


def test_hash_uid_into_accession_number_overflows_its_sixteen_characters() -> None:
    report = lint("(0008,0050) := hashUID[(0008,0050)]\n")
    too_long = next(f for f in report.findings if f.code == "value-too-long-for-vr")
    assert too_long.severity == "error" and "SH (at most 16 characters)" in too_long.message


def test_a_literal_longer_than_its_vr_is_reported() -> None:
    report = lint('(0010,0020) := "' + "9" * 65 + '"\n')
    assert "value-too-long-for-vr" in codes(report)
    assert "value-too-long-for-vr" not in codes(lint('(0010,0020) := "' + "9" * 64 + '"\n'))


# --- where attributes occur ---------------------------------------------------------------------------


def test_a_top_level_assignment_does_not_reach_an_attribute_that_only_occurs_nested() -> None:
    top = attribute(lint("(0008,1155) := hashUID[(0008,1155)]\n"), "(0008,1155)")
    assert top.verdict == "partial" and "only inside sequence items" in top.note
    assert attribute(lint("hashUIDList[*/(0008,1155)]\n"), "(0008,1155)").verdict == "pass"
    assert attribute(lint("-(0008,1115)[%]/(0008,1155)\n"), "(0008,1155)").effective == "X"


def test_a_referenced_sequence_at_the_top_level_is_still_judged_as_such() -> None:
    assert attribute(lint("-(0008,1110)\n"), "(0008,1110)").verdict == "pass"


def test_sr_members_are_judged_like_their_container() -> None:
    container = lint("-(0040,A073)\n")
    assert attribute(container, "(0040,A073)").verdict == "pass"
    member = attribute(container, "(0040,A075)")
    assert member.verdict == "pass" and "removed with its container (0040,A073)" in member.note
    alone = attribute(lint("-(0040,A073)[%]/(0040,A075)\n"), "(0040,A075)")
    assert alone.verdict == "pass" and "no identity remains" in alone.note
    assert attribute(lint("-(0040,A075)\n"), "(0040,A075)").verdict == "partial"  # the top level has none
    assert attribute(lint("-(0040,A073)\n"), "(0040,A124)").verdict == "fail"  # not a member of it


def test_deleting_a_tag_no_dictionary_knows_is_a_likely_typo() -> None:
    report = lint("-(0010,1234)\n-(0010,0010)\n-(0019,{SIEMENS}10)\n-(0010,0012)\n")
    typos = [finding for finding in report.findings if finding.code == "unknown-tag"]
    assert [finding.line for finding in typos] == [2]


# --- the edition -------------------------------------------------------------------------------------


def test_the_current_edition_has_the_26_newer_attributes() -> None:
    assert len(load_table()) == 647
    for tag, name in NEW_ATTRIBUTES.items():
        assert rows_by_tag()[tag].name == name
    report = lint("")
    assert {attribute(report, rows_by_tag()[tag].tag).verdict for tag in NEW_ATTRIBUTES} == {"fail"}


def test_newer_attributes_pass_when_handled() -> None:
    body = "".join(f"-({tag >> 16:04X},{tag & 0xFFFF:04X})\n" for tag in NEW_ATTRIBUTES if tag != 0x300A0054)
    report = lint(body + "(300A,0054) := hashUID[(300A,0054)]\n")
    assert {attribute(report, rows_by_tag()[tag].tag).verdict for tag in NEW_ATTRIBUTES} == {"pass"}
    assert rows_by_tag()[0x00100014].vr == "SQ"  # declared in the table: pydicom does not know it yet


def test_every_report_names_the_edition() -> None:
    report = lint("-(0010,0010)\n")
    assert f"PS3.15 Table E.1-1 edition {EDITION} (" in report.to_text()
    data = report.to_json()
    assert data["edition"] == data["summary"]["edition"] == EDITION == "current as of 2025-06-24"
    assert "2025-06-24" in data["summary"]["edition_source"]
    assert EDITION in report.to_html()


# --- the reports themselves ---------------------------------------------------------------------------


def test_the_default_text_report_lists_failing_attributes_not_passing_ones() -> None:
    script = '(0010,0010) := ""\n'
    listed = lint(script).to_text().split("Attributes that do not pass", 1)[1]
    assert "(0010,0020)" in listed  # Patient ID: left untouched, fails
    assert "Patient's Name" not in listed  # emptied: passes
    assert "Patient's Name" in lint(script).to_text(verbose=True)


def test_html_signoff_does_not_claim_no_findings_when_there_are_some() -> None:
    with_findings = lint('version "6.4"\n').to_html()
    assert "duplicate-version" in with_findings and "No script-level findings" not in with_findings
    report = lint("")
    report.findings = []
    assert "No script-level findings" in report.to_html()


def test_an_all_not_applicable_report_scores_zero_without_dividing_by_zero() -> None:
    rows = [row for row in load_table() if row.is_command_set][:2]
    report = ConformanceReport("<s>", "static", (), [not_applicable(row, (), "n/a") for row in rows], [])
    assert report.conformance == 0.0 and report.verdict_counts["n/a"] == 2


@pytest.mark.parametrize(("verdicts", "score"), [(["pass", "fail"], 50.0), (["pass", "partial"], 75.0)])
def test_conformance_counts_partial_as_half(verdicts: list[str], score: float) -> None:
    row = rows_by_tag()[0x00100010]
    results = [judge(row, {"pass": "Z", "fail": "none", "partial": "partial"}[v], ()) for v in verdicts]
    assert ConformanceReport("<s>", "static", (), results, []).conformance == score
    assert (
        json.loads(json.dumps(ConformanceReport("<s>", "static", (), results, []).to_json()))["conformance"]
        == score
    )
