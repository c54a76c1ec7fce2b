"""`enclave deid scan --output A --output B`: several report formats from one scan.

A single --output keeps its meaning (the file, in --format whatever its suffix); repeated, each file is
written in the format its suffix names, all rendered from the same scan. Mistakes in --format/--output
exit 2 before anything is scanned.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from deid_cli import read_sections, run
from pydicom.data import get_testdata_file

from compliance.deid.cli import SUFFIX_FORMATS
from compliance.deid.scanner import Scanner
from compliance.reports import FORMATS

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
CT = get_testdata_file("CT_small.dcm")


@pytest.fixture
def scanned(tmp_path: Path) -> Path:
    """A directory with residual PHI (CT_small.dcm) and a file that is not DICOM (skipped)."""
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(CT, directory / "ct.dcm")
    (directory / "notes.txt").write_text("not DICOM")
    return directory


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """The paths of every Scanner.scan call the command makes."""
    calls: list[list[Path]] = []
    original = Scanner.scan

    def counted(self, paths):
        calls.append(list(paths))
        return original(self, paths)

    monkeypatch.setattr(Scanner, "scan", counted)
    return calls


def test_one_scan_writes_html_and_json_with_the_same_findings(capsys, tmp_path, scanned, scans):
    html_file, json_file = tmp_path / "scan.html", tmp_path / "scan.json"
    code, out, err = run(
        capsys, str(scanned), "--jobs", "1", "--output", str(html_file), "--output", str(json_file)
    )
    assert (code, out, err) == (1, "", "")  # residual PHI: exit 1, as with one format
    assert len(scans) == 1
    report = json.loads(json_file.read_text())
    sections = read_sections(html_file.read_text())

    # The same findings in both: every (kind, tag, code) of the JSON is a row of the HTML and back.
    in_json = {(f["kind"], f["tag"], f["code"]) for f in report["findings"]}
    in_html = {(kind, row[1], row[3]) for kind in ("phi", "review") for row in sections[kind].rows[1:]}
    assert in_json == in_html and len(in_json) == 27
    assert sections["summary"].text.startswith(f"Summary {report['summary']['verdict']} — ")

    # ... and the same reports the single-format runs write.
    code, single_json, _ = run(capsys, str(scanned), "--jobs", "1", "--format", "json")
    assert code == 1 and json.loads(single_json) == report
    code, single_html, _ = run(capsys, str(scanned), "--jobs", "1", "--format", "html")
    assert code == 1 and read_sections(single_html) == sections
    assert len(scans) == 3


def test_the_text_report_is_one_of_them_and_verbose_applies_to_it(capsys, tmp_path, scanned):
    text_file, json_file = tmp_path / "scan.txt", tmp_path / "scan.JSON"
    code, out, _ = run(
        capsys, str(scanned), "--verbose", "--output", str(text_file), "--output", str(json_file)
    )
    assert (code, out) == (1, "")
    text = text_file.read_text()
    assert text.splitlines()[1].startswith("Result: RESIDUAL PHI FOUND")
    assert "Findings per file" in text
    assert json.loads(json_file.read_text())["files"] == 1


def test_the_single_format_invocations_are_unchanged(capsys, tmp_path, scanned):
    # What roles/compliance/templates/xnat-deid-scan.service.j2 and scripts/rehearsal run.
    output = tmp_path / "P1.json"
    code, out, _ = run(capsys, str(scanned), "--format", "json", "--output", str(output))
    assert (code, out) == (1, "")
    assert json.loads(output.read_text())["files"] == 1
    # One --output is written in --format whatever its suffix, text by default, as before.
    odd = tmp_path / "scan.report"
    assert run(capsys, str(scanned), "--format", "html", "--output", str(odd))[:2] == (1, "")
    assert odd.read_text().startswith("<!DOCTYPE html>")
    assert run(capsys, str(scanned), "--output", str(output))[:2] == (1, "")
    assert output.read_text().startswith(f"Residual PHI scan: {scanned}\n")
    # No --output: stdout.
    code, out, _ = run(capsys, str(scanned), "--format", "json")
    assert code == 1 and json.loads(out)["files"] == 1


def test_script_mode_writes_several_formats_too(capsys, tmp_path):
    html_file, json_file = tmp_path / "measured.html", tmp_path / "measured.json"
    script = str(EXAMPLES / "weak-legacy.das")
    code, out, _ = run(capsys, "--script", script, "--output", str(html_file), "--output", str(json_file))
    assert (code, out) == (1, "")
    assert json.loads(json_file.read_text())["mode"] == "measured"
    assert "Measured by running the script" in html_file.read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--format", "json", "--output", "TMP/a.html", "--output", "TMP/a.json"],
            "--format names the format of a single --output",
        ),
        (
            ["--output", "TMP/a.html", "--output", "TMP/a.pdf"],
            "a.pdf: with several --output each file's suffix names",
        ),
        (
            ["--output", "TMP/a.html", "--output", "TMP/report"],
            "report: with several --output each file's suffix",
        ),
        (
            ["--output", "TMP/a.json", "--output", "TMP/sub/../a.json"],
            "TMP/a.json and TMP/sub/../a.json name the same file",
        ),
    ],
)
def test_output_mistakes_exit_2_before_the_scan(capsys, tmp_path, scans, options, message):
    (tmp_path / "sub").mkdir()
    argv = [CT, *(option.replace("TMP", str(tmp_path)) for option in options)]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message.replace("TMP", str(tmp_path)) in err
    assert scans == []
    assert not any(tmp_path.glob("a.*"))


def test_an_output_that_cannot_be_written_exits_2(capsys, tmp_path, scanned):
    code, _, err = run(
        capsys,
        str(scanned),
        "--output",
        str(tmp_path / "a.html"),
        "--output",
        str(tmp_path / "no" / "a.json"),
    )
    assert code == 2
    assert f"cannot write report to {tmp_path / 'no' / 'a.json'}" in err


def test_every_report_format_has_a_suffix():
    assert set(SUFFIX_FORMATS.values()) == set(FORMATS)


def test_the_html_counts_any_file_that_could_not_be_read(capsys, tmp_path):
    # A cut NIfTI header and a CT: the file that could not be read is not DICOM.
    shutil.copy(CT, tmp_path / "ct.dcm")
    (tmp_path / "cut.nii.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(16))
    html_file, json_file = tmp_path / "scan.html", tmp_path / "scan.json"
    code, _, _ = run(capsys, str(tmp_path), "--output", str(html_file), "--output", str(json_file))
    assert code == 1
    assert [item["kind"] for item in json.loads(json_file.read_text())["skipped"]] == ["unreadable"]
    summary = read_sections(html_file.read_text())["summary"].text
    assert "1 skipped (1 file(s) that could not be read)" in summary
    assert "DICOM file(s) that could not be read" not in summary
