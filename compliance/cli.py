"""The `enclave` command line.

Each command group lives in its own module with a ``register(subparsers)`` function
that adds its sub-commands; every sub-command sets ``func`` returning the exit code.
Exit codes across the tool (compliance.exit_codes.ExitCode): 0 clean/conformant, 1 findings,
2 unreadable input or error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from compliance import __version__
from compliance.exit_codes import ExitCode

# (command, module providing register(subparsers)); one line per command group.
COMMAND_GROUPS: tuple[tuple[str, str], ...] = (
    ("access", "compliance.access.cli"),
    ("xnat-audit", "compliance.xnat_audit"),
    ("anon", "compliance.anon.cli"),
    ("deid", "compliance.deid.cli"),
    ("import", "compliance.importer.cli"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enclave",
        description="Compliance tools for XNAT at NHS trusts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name, module_name in COMMAND_GROUPS:
        module = importlib.import_module(module_name)
        module.register(groups.add_parser(name, help=module.__doc__.strip().splitlines()[0]))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("enclave: interrupted", file=sys.stderr)
        return ExitCode.ERROR


if __name__ == "__main__":
    sys.exit(main())
