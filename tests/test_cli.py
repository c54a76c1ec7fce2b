"""The `enclave` entry point as a user runs it."""

import subprocess
import sys

from compliance import __version__
from compliance.cli import main


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
