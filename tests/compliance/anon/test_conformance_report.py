"""The conformance report, exactly: what the reviewer reads in text, JSON and HTML."""

from __future__ import annotations

import pytest

from compliance.annex_e import rows_by_tag
from compliance.anon.conformance import ConformanceReport, Finding, explain, judge, not_applicable

ROWS = rows_by_tag()


def sample() -> ConformanceReport:
    attributes = [
        judge(ROWS[0x00100010], "Z", (), [3]),
        judge(ROWS[0x00100020], "none", ()),
        judge(ROWS[0x00080020], "partial", (), [4, 2, 4]),
        not_applicable(ROWS[0x00001000], (), "command"),
    ]
    findings = [
        Finding("info", "b-info", None, "i"),
        Finding("warning", "w", 5, "w5"),
        Finding("error", "e2", 9, "late"),
        Finding("error", "e1", 2, "early"),
        Finding("error", "a0", 2, "same line"),
    ]
    return ConformanceReport(
        "s.das",
        "static",
        (),
        attributes,
        findings,
        [{"check": "UID changed", "result": "pass", "detail": "ok"}],
    )


TEXT = "\n".join(
    [
        "Annex E audit (static): s.das",
        "PS3.15 Table E.1-1 edition current as of 2025-06-24 (dicom.nema.org PS3.15 Table E.1-1, current edition retrieved 2025-06-24); options: none (Basic Profile)",  # noqa: E501 - the report's table rows are this wide
        "Conformance: 50.0% of attributes — NOT CONFORMANT",
        "Attributes: 1 pass, 1 fail, 1 partial, 1 n/a",
        "Findings: 3 error, 1 warning, 1 info",
        "",
        "Findings",
        "  ERROR   a0                           line 2: same line",
        "  ERROR   e1                           line 2: early",
        "  ERROR   e2                           line 9: late",
        "  WARNING w                            line 5: w5",
        "  INFO    b-info                       script: i",
        "",
        "Checks on the de-identified output",
        "  PASS  UID changed: ok",
        "",
        "Attributes that do not pass (use --verbose for all)",
        "  tag          name        required  effective  verdict  lines  note",
        "  -----------  ----------  --------  ---------  -------  -----  ----------------------------------------------------------------------------",  # noqa: E501 - the report's table rows are this wide
        "  (0010,0020)  Patient ID  Z/D       none       fail            left untouched; profile requires Z/D",  # noqa: E501 - the report's table rows are this wide
        "  (0008,0020)  Study Date  Z         partial    partial  2,4    only applied on some inputs (conditional, sequence-only or a subset of tags)",  # noqa: E501 - the report's table rows are this wide
        "",
    ]
)

JSON = {
    "source": "s.das",
    "mode": "static",
    "edition": "current as of 2025-06-24",
    "options": [],
    "conformance": 50.0,
    "summary": {
        "conformant": False,
        "conformance": 50.0,
        "attributes": {"pass": 1, "fail": 1, "partial": 1, "n/a": 1},
        "findings": {"error": 3, "warning": 1, "info": 1},
        "edition": "current as of 2025-06-24",
        "edition_source": "dicom.nema.org PS3.15 Table E.1-1, current edition retrieved 2025-06-24",
        "options": [],
        "required_method_codes": ["113100"],
    },
    "findings": [
        {"severity": "error", "code": "a0", "line": 2, "message": "same line"},
        {"severity": "error", "code": "e1", "line": 2, "message": "early"},
        {"severity": "error", "code": "e2", "line": 9, "message": "late"},
        {"severity": "warning", "code": "w", "line": 5, "message": "w5"},
        {"severity": "info", "code": "b-info", "line": None, "message": "i"},
    ],
    "attributes": [
        {
            "tag": "(0010,0010)",
            "name": "Patient's Name",
            "required": "Z",
            "effective": "Z",
            "verdict": "pass",
            "lines": [3],
            "option": None,
            "note": "",
        },
        {
            "tag": "(0010,0020)",
            "name": "Patient ID",
            "required": "Z/D",
            "effective": "none",
            "verdict": "fail",
            "lines": [],
            "option": None,
            "note": "left untouched; profile requires Z/D",
        },
        {
            "tag": "(0008,0020)",
            "name": "Study Date",
            "required": "Z",
            "effective": "partial",
            "verdict": "partial",
            "lines": [2, 4],
            "option": None,
            "note": "only applied on some inputs (conditional, sequence-only or a subset of tags)",
        },
        {
            "tag": "(0000,1000)",
            "name": "Affected SOP Instance UID",
            "required": "X",
            "effective": "n/a",
            "verdict": "n/a",
            "lines": [],
            "option": None,
            "note": "command",
        },
    ],
    "checks": [{"check": "UID changed", "result": "pass", "detail": "ok"}],
}


def test_text_report_exactly() -> None:
    assert sample().to_text() == TEXT


def test_json_report_exactly() -> None:
    assert sample().to_json() == JSON


def test_verbose_text_lists_every_attribute() -> None:
    verbose = sample().to_text(verbose=True)
    assert "Attributes\n" in verbose and "(use --verbose for all)" not in verbose
    assert "Patient's Name" in verbose and "Affected SOP Instance UID" in verbose


def test_measured_heading_and_options() -> None:
    report = sample()
    report.mode, report.options = "measured", ("clean-descriptors",)
    text = report.to_text()
    assert text.startswith("Annex E check (measured on synthetic PHI): s.das\n")
    assert "; options: clean-descriptors\n" in text
    assert "De-identification check on synthetic PHI" in report.to_html()


@pytest.mark.parametrize(
    ("attributes", "findings", "verdict", "code"),
    [
        ([("Z", 0x00100010)], [], "CONFORMANT", 0),
        ([("Z", 0x00100010)], [Finding("info", "i", None, "x")], "CONFORMANT", 0),
        ([("Z", 0x00100010)], [Finding("warning", "w", None, "x")], "NOT CONFORMANT (see the findings)", 1),
        ([("Z", 0x00100010)], [Finding("error", "e", None, "x")], "NOT CONFORMANT (see the findings)", 1),
        ([("none", 0x00100010)], [], "NOT CONFORMANT", 1),
        ([("partial", 0x00100010)], [], "NOT CONFORMANT", 1),
    ],
)
def test_verdict_line_and_exit_code(attributes, findings, verdict, code) -> None:
    results = [judge(ROWS[tag], effective, ()) for effective, tag in attributes]
    report = ConformanceReport("s", "static", (), results, findings)
    assert f"— {verdict}\n" in report.to_text() and int(report.exit_code) == code
    assert report.summary["conformant"] is (code == 0)


def test_html_report_shows_findings_attributes_and_edition() -> None:
    html = sample().to_html()
    for fragment in (
        "same line",
        "w5",
        "Patient ID",
        "left untouched; profile requires Z/D",
        "current as of 2025-06-24",
    ):
        assert fragment in html
    assert "No script-level findings" not in html


@pytest.mark.parametrize(
    ("required", "effective", "note"),
    [
        ("Z", "partial", "only applied on some inputs (conditional, sequence-only or a subset of tags)"),
        ("X", "none", "left untouched; profile requires X"),
        ("K", "X", "a declared retain option keeps this attribute but the script applies X"),
        ("Z", "X", "removed, but the attribute must stay present (emptied) for the IOD to remain valid"),
        ("X/Z", "X", "removed, but the attribute must stay present (emptied) for the IOD to remain valid"),
        ("D", "Z", "emptied, but the profile needs a non-empty dummy value (Type 1)"),
        ("U", "D", "script applies D; profile requires U"),
    ],
)
def test_explanations(required: str, effective: str, note: str) -> None:
    assert explain(required, effective) == note


def test_a_replacement_uid_is_the_dummy_of_a_uid_attribute() -> None:
    uid_row = next(
        row for row in ROWS.values() if row.vr == "UI" and row.basic_profile in {"D", "Z/D", "X/D", "X/Z/D"}
    )
    result = judge(uid_row, "U", ())
    assert (result.verdict, result.note) == ("pass", "")
    assert judge(ROWS[0x00100020], "U", ()).verdict == "fail"  # Patient ID is LO: a UID is not its dummy


def test_removing_a_sequence_the_profile_wants_dummied_passes_with_a_note() -> None:
    sequence = next(row for row in ROWS.values() if row.vr == "SQ" and row.basic_profile == "D")
    result = judge(sequence, "X", ())
    assert result.verdict == "pass" and "sequence removed or emptied" in result.note
    uid_sequence = next(row for row in ROWS.values() if row.vr == "SQ" and row.basic_profile == "X/Z/U*")
    assert judge(uid_sequence, "D", ()).verdict == "fail"


def test_the_option_that_changed_the_requirement_is_named() -> None:
    study_date = judge(ROWS[0x00080020], "C", ("retain-long-modified-dates", "clean-descriptors"))
    assert (study_date.required, study_date.option, study_date.verdict) == (
        "C",
        "retain-long-modified-dates",
        "pass",
    )
    assert judge(ROWS[0x00080020], "Z", ()).option is None
