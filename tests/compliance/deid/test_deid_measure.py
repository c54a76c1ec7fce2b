"""`enclave deid scan --script`: the script measured on synthetic "PHI everywhere" datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.annex_e import load_table
from compliance.deid.measure import measure_script, observe
from compliance.deid.synthetic import ACCESSION, DEFAULT_MODALITIES, PHI_MARKER, build_study
from compliance.dicomedit import load_script, load_script_text

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
HEADER = 'version "6.3"\n'


def measure(text, options=(), variables=None):
    return measure_script(load_script_text(text, "<script>"), options, variables)


def attribute(report, tag):
    return next(result for result in report.attributes if result.row.tag == tag)


def check(report, name):
    return next(item for item in report.checks if item["check"] == name)


@pytest.fixture(scope="module")
def basic_report():
    return measure_script(load_script(EXAMPLES / "basic-profile.das"))


@pytest.fixture(scope="module")
def weak_report():
    return measure_script(load_script(EXAMPLES / "weak-legacy.das"))


def test_synthetic_study_fills_every_encodable_attribute():
    study = build_study()
    assert {ds.Modality for ds in study.datasets} == set(DEFAULT_MODALITIES)
    assert len({ds.StudyInstanceUID for ds in study.datasets}) == 1
    fixed_rows = {row.tag for row in load_table() if row.tag_value is not None}
    filled, unencodable = {row.tag for row in study.filled_rows}, {row.tag for row in study.unencodable_rows}
    assert (
        filled | unencodable == fixed_rows and not filled & unencodable
    )  # every fixed-tag row of Table E.1-1
    assert len(unencodable) < 10  # VRs the filler has no value for; the rest is filled
    first = study.datasets[0]
    assert PHI_MARKER.search(str(first.InstitutionName))
    assert any(element.tag.is_private for element in first)
    assert (0x6000, 0x3000) in first


def test_conformant_example_measures_clean_attributes(basic_report):
    assert basic_report.verdict_counts["fail"] == 0
    assert basic_report.verdict_counts["partial"] == 0
    assert basic_report.conformance == 100.0
    assert check(basic_report, "text removed")["result"] == "pass"
    assert check(basic_report, "UID changed")["result"] == "pass"
    assert check(basic_report, "UID consistent")["result"] == "pass"
    assert check(basic_report, "patient id consistent")["result"] == "pass"
    assert check(basic_report, "file meta intact")["result"] == "pass"


def test_weak_script_is_measured_not_inferred(weak_report):
    assert weak_report.exit_code == 1
    assert attribute(weak_report, "(0008,0020)").effective == "none"  # Study Date kept
    assert attribute(weak_report, "(0020,000D)").effective == "U"
    assert attribute(weak_report, "(0010,0010)").verdict == "pass"


def test_session_copied_into_study_description_is_caught(weak_report):
    detail = check(weak_report, "text removed")["detail"]
    assert "(0008,0050) Accession Number copied into (0008,1030)" in detail
    assert ACCESSION not in detail.replace("(0008,0050)", "")  # reported by tag, not by value


def test_session_variable_can_be_overridden():
    report = measure(HEADER + "(0008,1030) := session\n", variables={"session": "XNAT_E00001"})
    assert attribute(report, "(0008,1030)").effective == "D"
    assert "copied into (0008,1030)" not in check(report, "text removed")["detail"]


def test_references_broken_by_hashing_only_the_instances(weak_report):
    assert check(weak_report, "UID consistent")["result"] == "fail"
    assert "(0008,1140)" in check(weak_report, "UID consistent")["detail"]


def test_consistent_date_shift_is_clean_and_passes_with_the_option():
    script = HEADER + "".join(
        f'{tag} := shiftDateByIncrement[{tag}, "-10"]\n'
        for tag in ("(0008,0020)", "(0008,0021)", "(0008,0023)")
    )
    basic = measure(script)
    assert attribute(basic, "(0008,0020)").effective == "C"
    assert attribute(basic, "(0008,0020)").verdict == "fail"
    assert check(basic, "date shifted")["result"] == "pass"
    assert "-10 days" in check(basic, "date shifted")["detail"]
    retained = measure(script, options=["retain-long-modified-dates"])
    assert attribute(retained, "(0008,0020)").verdict == "pass"


def test_dummy_date_is_a_replacement_not_a_shift():
    report = measure(HEADER + '(0008,0020) := "19000101"\n(0008,0021) := "19000101"\n')
    assert attribute(report, "(0008,0020)").effective == "D"
    assert check(report, "date shifted")["result"] == "n/a"


def test_conditional_on_modality_is_partial():
    report = measure(HEADER + '(0008,0060) = "CT" ? -(0008,0080)\n')
    assert attribute(report, "(0008,0080)").effective == "partial"


def test_hashing_the_transfer_syntax_breaks_the_file_meta_check():
    report = measure(HEADER + "(0002,0010) := hashUID[(0002,0010)]\n")
    assert check(report, "file meta intact")["result"] == "fail"
    assert any(f.code == "file-meta-modified" and f.severity == "error" for f in report.findings)
    assert check(measure(HEADER + "-(0010,1000)\n"), "file meta intact")["result"] == "pass"


def test_engine_warnings_are_collected_not_printed(capsys):
    report = measure(HEADER + "(0010,1000) := hashUID[(0010,9999)]\n")  # no value to hash: a warning
    assert capsys.readouterr().err == ""
    assert any(f.code == "engine-warning" for f in report.findings)


def test_runtime_error_is_a_finding_with_its_line():
    report = measure_script(load_script(EXAMPLES / "broken.das"))
    finding = next(f for f in report.findings if f.code == "runtime-error")
    assert finding.line == 9
    assert report.exit_code == 1
    assert report.verdict_counts["n/a"] == len(load_table())


def test_same_json_keys_as_the_lint(weak_report):
    data = weak_report.to_json()
    assert data["mode"] == "measured"
    assert {"conformance", "attributes", "findings", "summary", "checks"} <= set(data)
    assert set(data["attributes"][0]) >= {"tag", "name", "required", "effective", "verdict"}


def test_observe_classifies_outcomes():
    study = build_study(modalities=("CT",), instances_per_series=1)
    ds = study.datasets[0]
    name = ds["PatientName"]
    assert observe(name, None) == "X"
    emptied = ds["PatientName"].__class__(name.tag, "PN", "")
    assert observe(name, emptied) == "Z"
    assert observe(name, name) == "none"
    uid = ds["StudyInstanceUID"]
    assert observe(uid, uid.__class__(uid.tag, "UI", "2.25.1")) == "U"
