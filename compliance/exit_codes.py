"""The exit codes of every `enclave` command (0 clean, 1 findings, 2 error) and how an error is reported."""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    CLEAN = 0  # conformant, nothing found, everything done
    FINDINGS = 1  # the command ran and found something to act on
    ERROR = 2  # the command could not do its job: unreadable input, bad arguments, a failed write


def report_error(program: str, problem: object) -> ExitCode:
    """Print ``PROGRAM: error: PROBLEM`` on stderr (argparse's wording for bad arguments) and return ERROR."""
    print(f"{program}: error: {problem}", file=sys.stderr)
    return ExitCode.ERROR
