"""The exit codes of every `enclave` command (0 clean, 1 findings, 2 error) and how an error is reported."""

from __future__ import annotations

import re
import sys
from enum import IntEnum

# scheme://user:password@host or scheme://token@host: everything between "//" and "@" is credentials.
URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


class ExitCode(IntEnum):
    CLEAN = 0  # conformant, nothing found, everything done
    FINDINGS = 1  # the command ran, found something to act on, and wrote its complete report
    ERROR = 2  # the command could not do its job: unreadable input, bad arguments, a failed write, a crash


def redact_credentials(text: str) -> str:
    """``https://user:secret@host/x`` becomes ``https://***@host/x``: no message may carry a password."""
    return URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def report_error(program: str, problem: object) -> ExitCode:
    """Print ``PROGRAM: error: PROBLEM`` on stderr (argparse's wording for bad arguments) and return ERROR.

    Credentials in URLs are redacted, whatever the message comes from.
    """
    print(redact_credentials(f"{program}: error: {problem}"), file=sys.stderr)
    return ExitCode.ERROR
