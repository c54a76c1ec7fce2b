"""Static Annex E audit of DicomEdit scripts written for the tests (conformant, weak and broken)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.anon.lint import DATE_SHIFT_FUNCTIONS, TAG_ARGUMENT_FUNCTIONS, UID_FUNCTIONS, lint_script
from compliance.dicomedit import KNOWN_FUNCTIONS, load_script_text

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
HEADER = 'version "6.3"\n'
MARKERS = '(0012,0062) := "YES"\n(0012,0063) := "test"\n(0012,0064)[0]/(0008,0100) := "113100"\n'


def lint(text, options=(), source="<script>"):
    return lint_script(load_script_text(text, source), options)


def attribute(report, tag):
    return next(result for result in report.attributes if result.row.tag == tag)


def codes(report):
    return [finding.code for finding in report.findings]


def test_conformant_example_passes_every_attribute():
    report = lint((EXAMPLES / "basic-profile.das").read_text(), source="basic-profile.das")
    assert report.exit_code == 0
    assert report.conformance == 100.0
    assert report.verdict_counts["fail"] == report.verdict_counts["partial"] == 0
    assert not [f for f in report.findings if f.severity in {"error", "warning"}]


def test_weak_script_leaves_dates_and_descriptions():
    report = lint((EXAMPLES / "weak-legacy.das").read_text())
    assert report.exit_code == 1
    study_date = attribute(report, "(0008,0020)")
    assert (study_date.required, study_date.effective, study_date.verdict) == ("Z", "none", "fail")
    assert attribute(report, "(0008,103E)").verdict == "fail"  # Series Description untouched
    assert attribute(report, "(0010,0010)").verdict == "pass"  # := subject is a dummy (Z accepts D)
    assert report.conformance < 5


def test_session_into_study_description_is_reported_on_its_line():
    report = lint(HEADER + "(0008,1030) := session\n")
    finding = next(f for f in report.findings if f.code == "identifier-copied")
    assert finding.line == 2
    assert "accession" in finding.message and "(0008,1030)" in finding.message


def test_identifier_copied_through_a_variable_and_a_function():
    script = (
        HEADER
        + 'acc := (0008,0050)\n(0008,103E) := format["{0}", acc]\n(0020,000D) := hashUID[(0020,000D)]\n'
    )
    report = lint(script)
    copied = [f for f in report.findings if f.code == "identifier-copied"]
    assert [f.line for f in copied] == [3]
    assert "Accession Number" in copied[0].message


def test_hashing_uids_without_references_is_reported():
    report = lint(HEADER + "(0008,0018) := hashUID[(0008,0018)]\n")
    assert "uid-references-not-mapped" in codes(report)
    mapped = lint(HEADER + '(0008,0018) := hashUID[(0008,0018)]\nmapReferencedUIDs["2.25", "(0008,1140)"]\n')
    assert "uid-references-not-mapped" not in codes(mapped)
    assert attribute(mapped, "(0008,1140)").effective == "U"
    assert "uid-references-not-mapped" not in codes(
        lint(HEADER + "(0008,0018) := hashUID[(0008,0018)]\n", options=["retain-uids"])
    )


def test_second_version_line_is_an_error_at_its_line():
    report = lint(HEADER + '-(0010,1000)\nversion "6.1"\n')
    finding = next(f for f in report.findings if f.code == "duplicate-version")
    assert (finding.severity, finding.line) == ("error", 3)


def test_assign_then_delete_is_reported_and_delete_wins():
    report = lint(HEADER + '(0010,1040) := "nowhere"\n-(0010,1040)\n')
    finding = next(f for f in report.findings if f.code == "assigned-then-deleted")
    assert finding.line == 3
    result = attribute(report, "(0010,1040)")
    assert (result.effective, result.lines) == ("X", [2, 3])


def test_touching_file_meta_is_an_error():
    report = lint(HEADER + "(0002,0010) := hashUID[(0002,0010)]\n")
    finding = next(f for f in report.findings if f.code == "file-meta-modified")
    assert (finding.severity, finding.line) == ("error", 2)


def test_missing_deidentification_markers():
    report = lint(HEADER + "-(0010,1000)\n")
    missing = [f.message for f in report.findings if f.code == "missing-deidentification-marker"]
    assert len(missing) == 3
    assert any("(0012,0062)" in m for m in missing)
    marked = lint(HEADER + MARKERS)
    assert "missing-deidentification-marker" not in codes(marked)


def test_patient_identity_removed_must_be_yes():
    report = lint(HEADER + '(0012,0062) := "NO"\n')
    assert "patient-identity-removed-not-yes" in codes(report)


def test_malformed_tag_strings_in_function_arguments():
    report = lint(HEADER + 'removeTags["(0010,1000)", "(0010,21B0", "(0010,10G0)"]\n')
    malformed = [f for f in report.findings if f.code == "malformed-tag-argument"]
    assert [f.line for f in malformed] == [2, 2]
    assert "'(0010,21B0'" in malformed[0].message
    assert attribute(report, "(0010,1000)").effective == "X"


def test_value_must_match_the_vr():
    report = lint(HEADER + '(0010,0030) := "1st Feb 1970"\n')
    assert "value-invalid-for-vr" in codes(report)


def test_unknown_function_is_reported():
    report = lint(HEADER + "(0010,0010) := scramble[(0010,0010)]\n")
    assert "unknown-function" in codes(report)


@pytest.mark.parametrize("name", ["true", "false", "lookup", "normalizeString"])
def test_functions_the_engine_knows_are_not_unknown(name):
    """The lint and the engine share one registry: implemented and registered-but-unsupported alike."""
    report = lint(HEADER + f'{name}[] ? (0010,1000) := "x"\n')
    assert "unknown-function" not in codes(report)


def test_every_function_the_lint_classifies_is_in_the_engine_registry():
    classified = UID_FUNCTIONS | DATE_SHIFT_FUNCTIONS | set(TAG_ARGUMENT_FUNCTIONS) | {"alterPixels"}
    assert classified <= KNOWN_FUNCTIONS


def test_conditional_actions_are_partial():
    script = HEADER + '(0008,0060) = "CT" ? -(0008,1030)\n(0010,1000) ?= ""\n'
    report = lint(script)
    for tag in ("(0008,1030)", "(0010,1000)"):
        result = attribute(report, tag)
        assert (result.effective, result.verdict) == ("partial", "partial")


def test_if_block_actions_are_partial():
    script = HEADER + 'if ((0008,0060) = "US") {\n  -(0008,0080)\n} else {\n  (0008,0080) := ""\n}\n'
    result = attribute(lint(script), "(0008,0080)")
    assert result.effective == "partial"
    assert result.lines == [3, 5]


def test_later_conditional_after_unconditional_makes_it_partial():
    script = HEADER + '-(0008,1030)\n(0008,0060) = "CT" ? (0008,1030) := "CT study"\n'
    assert attribute(lint(script), "(0008,1030)").effective == "partial"


def test_wildcards_expand_against_pattern_rows():
    # Repeating groups are even (odd 60xx groups are private), so (60X@,...) names the whole row.
    report = lint(HEADER + "-(60X@,3000)\n-(600@,4000)\n")
    assert attribute(report, "(60XX,3000)").effective == "X"
    assert attribute(report, "(60XX,4000)").effective == "partial"  # only groups 6000-600E named


def test_private_tags():
    private_row = "(GGGG,EEEE) where GGGG is odd"
    assert attribute(lint(HEADER + "removeAllPrivateTags\n"), private_row).verdict == "pass"
    some = lint(HEADER + "-(0019,{SIEMENS MR HEADER}0F)\n")
    assert attribute(some, private_row).effective == "partial"
    retained = lint(
        HEADER + 'removeAllPrivateTags\nretainPrivateTags["(0019,{SIEMENS MR HEADER}0F)"]\n',
        options=["retain-safe-private"],
    )
    assert attribute(retained, private_row).required == "C"


def test_options_change_the_required_action():
    script = HEADER + '(0008,0020) := shiftDateByIncrement[(0008,0020), "-30"]\n'
    basic = attribute(lint(script), "(0008,0020)")
    assert (basic.required, basic.effective, basic.verdict) == ("Z", "C", "fail")
    shifted = attribute(lint(script, options=["retain-long-modified-dates"]), "(0008,0020)")
    assert (shifted.required, shifted.verdict, shifted.option) == ("C", "pass", "retain-long-modified-dates")


def test_removing_a_type_2_attribute_fails_with_an_explanation():
    result = attribute(lint(HEADER + "-(0010,0010)\n"), "(0010,0010)")
    assert result.verdict == "fail"
    assert "must stay present" in result.note


def test_declared_method_codes_without_the_option_are_noted():
    script = HEADER + '(0012,0064)[0]/(0008,0100) := "113107"\n'
    report = lint(script)
    assert "method-code-not-audited" in codes(report)
    assert "method-code-not-audited" not in codes(lint(script, options=["retain-long-modified-dates"]))


def test_json_shape():
    data = lint((EXAMPLES / "weak-legacy.das").read_text()).to_json()
    assert {"conformance", "attributes", "findings", "summary"} <= set(data)
    assert 0 <= data["conformance"] <= 100
    assert len(data["attributes"]) == 647
    assert data["edition"] == "current as of 2025-06-24" == data["summary"]["edition"]
    first = data["attributes"][0]
    assert set(first) >= {"tag", "name", "required", "effective", "verdict"}
    assert {a["verdict"] for a in data["attributes"]} <= {"pass", "fail", "partial", "n/a"}
    assert all(set(f) >= {"severity", "code", "line", "message"} for f in data["findings"])
    assert data["summary"]["findings"]["warning"] == sum(
        1 for f in data["findings"] if f["severity"] == "warning"
    )


def test_missing_version_line_is_an_error():
    report = lint('(0010,0010) := "anon"\n')
    finding = next(f for f in report.findings if f.code == "missing-version")
    assert (finding.severity, finding.line) == ("error", 1)


def test_sequence_paths():
    report = lint(HEADER + "-+/(0010,0010)\n-*/(0010,1000)\n-(0008,1140)[0]/(0008,1155)\n")
    assert attribute(report, "(0010,0010)").effective == "partial"  # only inside sequences
    assert attribute(report, "(0010,1000)").effective == "X"  # any depth, top level included
    assert attribute(report, "(0008,1155)").effective == "X"  # a reference attribute lives in sequences


def test_tag_path_arguments_with_private_creator():
    report = lint(HEADER + "removeTags[(0010,1000), (0019,{SIEMENS MR HEADER}0F)]\n")
    assert attribute(report, "(0010,1000)").effective == "X"
    assert attribute(report, "(GGGG,EEEE) where GGGG is odd").effective == "partial"


def test_sequence_path_strings_are_valid_tag_arguments():
    script = HEADER + 'mapReferencedUIDs["2.25", "(0008,1140)[%]/(0008,1155)", "+/(0008,1155)"]\n'
    report = lint(script)
    assert "malformed-tag-argument" not in codes(report)
    broken = lint(HEADER + 'mapReferencedUIDs["2.25", "(0008,1140)[%]/(0008,115"]\n')
    assert "malformed-tag-argument" in codes(broken)
