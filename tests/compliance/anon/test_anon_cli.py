"""`enclave anon lint`: exit codes, JSON on stdout, text and HTML reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["anon", "lint", *argv])
    except SystemExit as exit_:  # argparse errors
        code = int(exit_.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_conformant_script_exits_0_with_summary_first(capsys):
    code, out, _ = run(capsys, str(EXAMPLES / "basic-profile.das"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Annex E audit (static)")
    assert "Conformance: 100.0% of attributes — CONFORMANT" in lines[2]


def test_weak_script_exits_1_and_json_goes_to_stdout(capsys):
    code, out, err = run(capsys, str(EXAMPLES / "weak-legacy.das"), "--format", "json")
    assert code == 1
    assert err == ""
    data = json.loads(out)
    assert data["summary"]["conformant"] is False
    assert {"conformance", "attributes", "findings", "summary"} <= set(data)


def test_syntax_error_exits_2_with_file_line_column(capsys):
    code, out, err = run(capsys, str(EXAMPLES / "syntax-error.das"))
    assert code == 2
    assert out == ""
    assert "syntax-error.das:5:" in err


def test_unreadable_script_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "missing.das"))
    assert code == 2
    assert "cannot read" in err and "missing.das" in err


def test_unknown_option_is_refused(capsys):
    code, _, err = run(capsys, str(EXAMPLES / "basic-profile.das"), "--option", "retain-all")
    assert code == 2
    assert "retain-safe-private" in err


def test_conflicting_options_exit_2(capsys):
    code, _, err = run(
        capsys,
        str(EXAMPLES / "basic-profile.das"),
        "--option",
        "retain-long-full-dates",
        "--option",
        "retain-long-modified-dates",
    )
    assert code == 2
    assert "mutually exclusive" in err


def test_options_are_reported_in_the_summary(capsys):
    code, out, _ = run(
        capsys, str(EXAMPLES / "basic-profile.das"), "--option", "clean-descriptors", "--format", "json"
    )
    data = json.loads(out)
    assert data["options"] == ["clean-descriptors"]
    assert "113105" in data["summary"]["required_method_codes"]
    assert code == 0  # removing descriptors is stricter than cleaning them


def test_html_report_escapes_script_content_and_has_a_signoff(capsys, tmp_path):
    script = tmp_path / "evil<script>.das"
    script.write_text('version "6.3"\n(0008,1030) := session\n')
    output = tmp_path / "report.html"
    code, out, _ = run(capsys, str(script), "--format", "html", "--output", str(output))
    assert code == 1
    assert out == ""
    html = output.read_text()
    assert "evil&lt;script&gt;.das" in html
    assert "<script>" not in html
    assert html.index('id="summary"') < html.index('id="findings"') < html.index('id="signoff"')
    assert "Reviewer name" in html


def test_output_to_an_unwritable_place_exits_2(capsys, tmp_path):
    code, _, err = run(
        capsys, str(EXAMPLES / "basic-profile.das"), "--output", str(tmp_path / "no" / "such" / "r.txt")
    )
    assert code == 2
    assert "cannot write report" in err


@pytest.mark.parametrize("name", ["weak-legacy.das", "broken.das"])
def test_verbose_text_lists_every_attribute(capsys, name):
    _, out, _ = run(capsys, str(EXAMPLES / name), "--verbose")
    assert out.count("\n  (") >= 600
