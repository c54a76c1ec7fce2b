"""`enclave deid scan`: both modes, exit codes, JSON on stdout, HTML report."""

from __future__ import annotations

import json
from pathlib import Path

from pydicom.data import get_testdata_file

from compliance.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
CT = get_testdata_file("CT_small.dcm")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["deid", "scan", *argv])
    except SystemExit as exit_:
        code = int(exit_.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_files_mode_json(capsys):
    code, out, err = run(capsys, CT, "--format", "json")
    assert code == 1
    assert err == ""
    data = json.loads(out)
    assert data["files"] == 1
    assert data["files_with_findings"] == 1
    assert {"file", "tag", "severity", "message"} <= set(data["findings"][0])


def test_files_mode_text_summary_first(capsys):
    code, out, _ = run(capsys, CT)
    assert code == 1
    assert out.splitlines()[0].startswith("Residual PHI scan:")
    assert "Result: FINDINGS — 1 file(s), 1 with findings" in out.splitlines()[1]


def test_files_mode_html(capsys, tmp_path):
    output = tmp_path / "scan.html"
    code, out, _ = run(capsys, CT, "--format", "html", "--output", str(output))
    html = output.read_text()
    assert (code, out) == (1, "")
    assert html.index('id="summary"') < html.index('id="series"') < html.index('id="signoff"')
    assert "RESIDUAL PHI FOUND" in html


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
    assert "not both" in err


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
