"""`enclave deid scan`: both modes, exit codes, JSON on stdout, HTML report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from deid_cli import read_sections, run
from dicom_bytes import deeply_nested_file
from pydicom import dcmread
from pydicom.data import get_testdata_file

from compliance.deid.scanner import Scanner
from compliance.dicomedit import apply_script, load_script

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
CT = get_testdata_file("CT_small.dcm")


REVIEW_HEADING = "Review items: not PHI findings, but a person should look at them (one row per attribute)"
TABLE_HEADER = ["Severity", "Tag", "Attribute", "Code", "Finding", "Files", "Series", "Examples (redacted)"]


def deidentified(tmp_path: Path, name: str, **changes: str) -> Path:
    """CT_small.dcm through the conformant example script, with ``changes`` made after it."""
    ds = dcmread(CT)
    apply_script(
        load_script(EXAMPLES / "basic-profile.das"), ds, {"project": "P", "subject": "S", "session": "E"}
    )
    ds.BurnedInAnnotation = "NO"
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.save_as(tmp_path / name)
    return tmp_path / name


def test_files_mode_json(capsys):
    code, out, err = run(capsys, CT, "--format", "json")
    assert code == 1
    assert err == ""
    data = json.loads(out)
    assert data["files"] == 1
    assert data["files_with_findings"] == 1
    assert {"file", "tag", "severity", "message"} <= set(data["findings"][0])


def test_files_mode_text_summary_first_then_one_row_per_attribute(capsys):
    code, out, _ = run(capsys, CT, "--jobs", "1")
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == f"Residual PHI scan: {CT}"
    assert lines[1] == "Result: RESIDUAL PHI FOUND — 16 attribute(s) in 1 file(s)"
    assert lines[2].startswith("1 file(s), 1 with findings, 1 series (1 with findings), 0 skipped;")
    assert lines[2].endswith("pixels not checked (headers only); 1 process(es)")
    phi = lines.index("Residual PHI: identifying values still present (one row per attribute)")
    review = lines.index(
        "Review items: not PHI findings, but a person should look at them (one row per attribute)"
    )
    assert phi < review < lines.index("Series")
    name_row = next(line for line in lines[phi:review] if "real-looking-name" in line).split()
    # severity, tag, attribute (two words), code, files, series #, the redacted example (three words)
    assert name_row == [
        "warning",
        "(0010,0010)",
        "Patient's",
        "Name",
        "real-looking-name",
        "1",
        "1",
        "C…",
        "(21",
        "chars)",
    ]
    assert "CompressedSamples^CT1" not in out  # values are shown redacted only


def test_verbose_text_lists_the_findings_per_file(capsys):
    _, out, _ = run(capsys, CT, "--verbose")
    per_file = out[out.index("Findings per file") :].splitlines()
    assert per_file[1] == f"  {CT}"
    assert any(
        line.split()[:4] == ["phi", "WARNING", "(0010,0010)", "real-looking-name:"] for line in per_file
    )


def test_files_mode_html_shows_every_attribute_row_and_the_verdict(capsys, tmp_path):
    scanned = tmp_path / "in"
    scanned.mkdir()
    shutil.copy(CT, scanned / "ct.dcm")
    (scanned / "notes.txt").write_text("not DICOM")
    output = tmp_path / "scan.html"
    code, out, _ = run(capsys, str(scanned), "--format", "html", "--output", str(output))
    html = output.read_text()
    assert (code, out) == (1, "")
    assert html.index('id="summary"') < html.index('id="phi"') < html.index('id="review"')
    assert html.index('id="review"') < html.index('id="series"') < html.index('id="signoff"')
    report = Scanner().scan([scanned])
    sections = read_sections(html)
    assert sections["summary"].text.startswith(
        "Summary RESIDUAL PHI FOUND — 16 attribute(s) with identifying values (16 finding(s)), "
        "11 review item(s)"
    )
    for kind in ("phi", "review"):
        header, *rows = sections[kind].rows
        assert header == [
            "Severity",
            "Tag",
            "Attribute",
            "Code",
            "Finding",
            "Files",
            "Series",
            "Examples (redacted)",
        ]
        assert rows == [
            [
                row.severity,
                row.tag,
                row.name,
                row.code,
                row.message,
                f"1 files {scanned / 'ct.dcm'}",
                "#1",
                "; ".join(row.examples),
            ]
            for row in report.attribute_rows(kind)
        ]
    assert len(sections["phi"].rows) == 17 and len(sections["review"].rows) == 12
    assert sections["series"].rows[1][:4] == ["1", report.findings[0].series, "CT", "1"]
    assert f"{scanned / 'notes.txt'}: not DICOM" in sections["skipped"].text
    assert "CompressedSamples^CT1" not in html


def test_a_clean_scan_says_so_in_every_format(capsys, tmp_path):
    ds = dcmread(CT)
    apply_script(
        load_script(EXAMPLES / "basic-profile.das"), ds, {"project": "P", "subject": "S", "session": "E"}
    )
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp_path / "ct.dcm")
    code, out, _ = run(capsys, str(tmp_path / "ct.dcm"))
    assert (code, out.splitlines()[1]) == (0, "Result: CLEAN — no residual PHI, nothing to review")
    code, out, _ = run(capsys, str(tmp_path / "ct.dcm"), "--format", "html")
    sections = read_sections(out)
    assert (
        "No residual PHI found." in sections["phi"].text and "Nothing to review." in sections["review"].text
    )
    assert sections["summary"].text.startswith("Summary CLEAN — 0 attribute(s)")


def test_anon_script_values_are_recognised_and_a_bad_anon_script_exits_2(capsys, tmp_path):
    deidentified(tmp_path, "ct.dcm", StudyDate="20000101")
    script = tmp_path / "site.das"
    script.write_text('version "6.3"\n(0008,0020) := "20000101"\n')
    _, out, _ = run(capsys, str(tmp_path / "ct.dcm"), "--format", "json")
    assert any(f["tag"] == "(0008,0020)" for f in json.loads(out)["findings"])
    _, out, _ = run(capsys, str(tmp_path / "ct.dcm"), "--format", "json", "--anon-script", str(script))
    data = json.loads(out)
    assert not any(f["tag"] == "(0008,0020)" for f in data["findings"])
    assert data["summary"]["recognised_values"]["script value"] == 1
    code, out, err = run(
        capsys, str(tmp_path / "ct.dcm"), "--anon-script", str(EXAMPLES / "syntax-error.das")
    )
    assert (code, out) == (2, "")
    assert "syntax-error.das:5:" in err


def test_review_items_exit_0_unless_asked_to_fail(capsys, tmp_path):
    ds = dcmread(CT)
    apply_script(
        load_script(EXAMPLES / "basic-profile.das"), ds, {"project": "P", "subject": "S", "session": "E"}
    )
    ds.Modality = "US"  # burnt-in text risk: a review item
    ds.save_as(tmp_path / "us.dcm")
    code, out, _ = run(capsys, str(tmp_path / "us.dcm"))
    assert (code, out.splitlines()[1]) == (0, "Result: NO RESIDUAL PHI FOUND — 1 review item(s)")
    code, _, _ = run(capsys, str(tmp_path / "us.dcm"), "--fail-on-review")
    assert code == 1


def test_unreadable_dicom_makes_the_scan_incomplete(capsys, tmp_path):
    (tmp_path / "nested.dcm").write_bytes(deeply_nested_file(1500))
    ds = dcmread(CT)
    apply_script(
        load_script(EXAMPLES / "basic-profile.das"), ds, {"project": "P", "subject": "S", "session": "E"}
    )
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp_path / "ct.dcm")
    code, out, _ = run(capsys, str(tmp_path))
    assert code == 1
    assert (
        out.splitlines()[1] == "Result: INCOMPLETE — 1 file(s) could not be read; no residual PHI in the rest"
    )


def test_jobs_must_be_a_positive_number(capsys):
    code, _, err = run(capsys, CT, "--jobs", "0")
    assert code == 2
    assert "--jobs must be at least 1" in err


def test_missing_path_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert "no such file or directory" in err


def test_nothing_to_scan_exits_2(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "--script" in err


def test_script_and_paths_together_exit_2(capsys):
    code, _, err = run(capsys, CT, "--script", str(EXAMPLES / "weak-legacy.das"))
    assert code == 2
    assert "give one of --script, PATHs or --xnat, not --script and PATHs" in err


def test_script_mode_has_the_lint_keys(capsys):
    code, out, _ = run(capsys, "--script", str(EXAMPLES / "weak-legacy.das"), "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert {"conformance", "attributes", "findings", "summary"} <= set(data)
    assert data["mode"] == "measured"


def test_script_mode_session_override(capsys):
    code, out, _ = run(
        capsys,
        "--script",
        str(EXAMPLES / "weak-legacy.das"),
        "--session",
        "XNAT_E0001",
        "--subject",
        "S1",
        "--format",
        "json",
    )
    detail = next(c["detail"] for c in json.loads(out)["checks"] if c["check"] == "text removed")
    assert code == 1
    assert "copied into (0008,1030)" not in detail


def test_script_syntax_error_exits_2(capsys):
    code, out, err = run(capsys, "--script", str(EXAMPLES / "syntax-error.das"))
    assert (code, out) == (2, "")
    assert "syntax-error.das:5:" in err


def test_script_mode_html_shows_the_measured_checks(capsys, tmp_path):
    output = tmp_path / "measured.html"
    code, _, _ = run(
        capsys, "--script", str(EXAMPLES / "weak-legacy.das"), "--format", "html", "--output", str(output)
    )
    html = output.read_text()
    assert code == 1
    assert html.index('id="summary"') < html.index('id="checks"') < html.index('id="attributes"')
    assert "Measured by running the script" in html
