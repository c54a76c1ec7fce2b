"""The `enclave` entry point as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from compliance import __version__
from compliance.cli import main
from compliance.exit_codes import ExitCode


def test_version_is_printed(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"enclave {__version__}"


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "compliance.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: enclave" in result.stdout


def test_unknown_command_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "compliance.cli", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# --- one wording for an unusable DicomEdit script, whichever command reads it -----------------------

DICOMEDIT4_ADVICE = (
    "this looks like a DicomEdit 4 script (no version line; 'condition : action' or 'new UID'), which is "
    'not supported; rewrite it for DicomEdit 6 and start it with version "6.3"'
)
# kind -> (script bytes or None for no file, the message after "PATH")
BAD_SCRIPTS = {
    "missing file": (
        None,
        ": cannot read the script (No such file or directory); check the path and the file's permissions",
    ),
    "not UTF-8": (
        b'version "6.3"\n(0010,0010) := "Ren\xe9e"\n',
        ":2:20: the script is not UTF-8 text (byte 0xE9); save it as UTF-8",
    ),
    "DicomEdit 4": (
        b"(0020,000D) := new UID\n",
        f":1:20: the script is not DicomEdit 6: {DICOMEDIT4_ADVICE}",
    ),
    "DicomEdit 4 version line": (
        b'version "4.2"\n-(0010,0010)\n',
        ':1:1: the script is not DicomEdit 6: version "4.2" is DicomEdit 4, which this engine does not '
        'support; rewrite the script for DicomEdit 6 (version "6.3" or later)',
    ),
    "syntax error": (
        b'version "6.3"\n(0008,1030) := format["{0}", project\n',
        ":2:37: the script does not parse: unexpected end of line ('[' opened at 2:22 is not closed); "
        "expected one of: ',', ']'",
    ),
}
FILE_COMMANDS = {
    "enclave anon lint": lambda script, work: ["anon", "lint", str(script)],
    "enclave deid scan": lambda script, work: ["deid", "scan", "--script", str(script)],
    "enclave anon apply": lambda script, work: ["anon", "apply", str(script), str(work), "--out", str(work)],
}


def bad_script(tmp_path: Path, kind: str) -> Path:
    content, _ = BAD_SCRIPTS[kind]
    script = tmp_path / "site.das"
    if content is not None:
        script.write_bytes(content)
    return script


@pytest.mark.parametrize("kind", BAD_SCRIPTS)
@pytest.mark.parametrize("program", FILE_COMMANDS)
def test_commands_reading_a_script_file_report_it_alike(program, kind, tmp_path, capsys):
    script = bad_script(tmp_path, kind)
    code = main(FILE_COMMANDS[program](script, tmp_path))
    captured = capsys.readouterr()
    assert code == ExitCode.ERROR == 2
    assert captured.out == ""
    assert captured.err == f"{program}: error: {script}{BAD_SCRIPTS[kind][1]}\n"


@pytest.mark.parametrize("kind", ["DicomEdit 4", "DicomEdit 4 version line", "syntax error"])
def test_xnat_audit_reports_a_bad_script_in_xnat_in_the_same_words(
    kind, xnat_double, monkeypatch, tmp_path, capsys
):
    """A script configured in XNAT that cannot run is a finding of the audit (exit 1), not a failure of it."""
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    xnat_double.seed({"site_config": {"initialized": True}, "projects": [{"id": "CARDIO01"}]})
    response = requests.put(
        f"{xnat_double.url}/xapi/anonymize/projects/CARDIO01",
        data=BAD_SCRIPTS[kind][0],
        auth=("admin", "admin"),
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    code = main(["xnat-audit", "anon", "--xnat", xnat_double.url, "--out", str(tmp_path / "out")])
    scripts = json.loads(capsys.readouterr().out)["scripts"]
    problem = next(entry["problem"] for entry in scripts if entry["project"] == "CARDIO01")
    assert code == ExitCode.FINDINGS
    assert problem == f"{xnat_double.url} project CARDIO01 script{BAD_SCRIPTS[kind][1]}"
