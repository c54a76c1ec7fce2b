"""The `enclave` entry point as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from compliance import __version__
from compliance.cli import main
from compliance.exit_codes import ExitCode, report_error


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


# --- any exception no command expected: exit 2 and one line, never 1 (the "findings" code) -------------

CT = str(Path(__file__).resolve().parent / "compliance" / "deid")  # any existing path will do as input
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "anon"


def _crash(*_args, **_kwargs):
    raise RuntimeError("injected crash\nsecond line https://svc:s3cret@xnat.example/data")


# command -> (argv, the function it calls that is made to raise, what the message must name)
CRASHES = {
    "enclave access review": (
        ["access", "review", "--xnat", "https://xnat.example", "--access-list", "list.yml", "--out", "out"],
        "compliance.access.cli.load_access_list",
        "https://xnat.example; list.yml",
    ),
    "enclave access validate": (
        ["access", "validate", "list.yml"],
        "compliance.access.cli.load_access_list",
        "list.yml",
    ),
    "enclave xnat-audit anon": (
        ["xnat-audit", "anon", "--xnat", "https://xnat.example", "--out", "out"],
        "compliance.xnat_audit.find_credentials",
        "https://xnat.example",
    ),
    "enclave anon lint": (
        ["anon", "lint", str(EXAMPLES / "basic-profile.das")],
        "compliance.anon.lint.lint_script",
        str(EXAMPLES / "basic-profile.das"),
    ),
    "enclave anon apply": (
        ["anon", "apply", str(EXAMPLES / "basic-profile.das"), CT, "--out", "out"],
        "compliance.dicomedit.load_script",
        f"{EXAMPLES / 'basic-profile.das'}; {CT}",
    ),
    "enclave deid scan": (["deid", "scan", CT], "compliance.deid.scanner.Scanner.scan", CT),
    "enclave deid scan --xnat": (
        ["deid", "scan", "--xnat", "https://xnat.example", "--project", "P1"],
        "compliance.xnat.session.find_credentials",
        "https://xnat.example",
    ),
    "enclave deid scan --script": (
        ["deid", "scan", "--script", str(EXAMPLES / "basic-profile.das")],
        "compliance.deid.measure.measure_script",
        str(EXAMPLES / "basic-profile.das"),
    ),
}


@pytest.mark.parametrize("command", CRASHES)
def test_an_unexpected_exception_exits_2_with_one_line_naming_the_input(
    command, monkeypatch, tmp_path, capsys
):
    argv, target, named = CRASHES[command]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XNAT_USER", "svc")
    monkeypatch.setenv("XNAT_PASS", "pw")
    monkeypatch.delenv("ENCLAVE_TRACEBACK", raising=False)
    monkeypatch.setattr(target, _crash)
    code = main(argv)
    captured = capsys.readouterr()
    assert code == ExitCode.ERROR == 2
    program = command.removesuffix(" --script").removesuffix(" --xnat")
    assert captured.err == (
        f"{program}: error: internal error while reading {named}: RuntimeError: injected crash (no complete "
        "report was written; set ENCLAVE_TRACEBACK=1 for the traceback and report it)\n"
    )


def test_the_traceback_is_printed_only_when_asked_for_and_without_credentials(monkeypatch, capsys):
    monkeypatch.setenv("ENCLAVE_TRACEBACK", "1")
    monkeypatch.setattr("compliance.access.cli.load_access_list", _crash)
    assert main(["access", "validate", "list.yml"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "s3cret" not in err and "https://***@xnat.example/data" in err


def test_a_crash_of_the_real_entry_point_exits_2(tmp_path):
    """Through the console script's own path (python -m), not only main(): Python's default would be 1."""
    code = (
        "import sys, compliance.access.cli as c\n"
        "c.load_access_list = lambda path: 1 / 0\n"
        "from compliance.cli import main\n"
        "sys.exit(main(['access', 'validate', 'list.yml']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.startswith("enclave access validate: error: internal error while reading list.yml: ")
    assert "ZeroDivisionError" in result.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "cannot connect to https://svc:s3cret@xnat.example/x",
            "cannot connect to https://***@xnat.example/x",
        ),
        ("http://token@host and ftp://a:b@c", "http://***@host and ftp://***@c"),
        ("mail j.smith@nhs.net at https://xnat.example", "mail j.smith@nhs.net at https://xnat.example"),
    ],
)
def test_credentials_in_urls_are_redacted_from_every_error(text, shown, capsys):
    assert report_error("enclave x", text) == 2
    assert capsys.readouterr().err == f"enclave x: error: {shown}\n"
