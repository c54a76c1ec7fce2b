"""What the deid tests share: running `enclave deid scan` in-process, and reading its HTML tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from compliance.cli import main


def _html_tables():
    """The HTML reader shared with the access-review tests (tests/compliance/access/html_tables.py)."""
    if "html_tables" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "access" / "html_tables.py"
        spec = importlib.util.spec_from_file_location("html_tables", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["html_tables"] = module
        spec.loader.exec_module(module)
    return sys.modules["html_tables"]


read_sections = _html_tables().read_sections


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`enclave deid scan ARGV`: the exit code, stdout and stderr."""
    try:
        code = main(["deid", "scan", *argv])
    except SystemExit as exit_:
        code = int(exit_.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
