"""The `enclave` command line.

Each command group lives in its own module with a ``register(subparsers)`` function
that adds its sub-commands; every sub-command sets ``func`` returning the exit code.
Exit codes across the tool (compliance.exit_codes.ExitCode): 0 clean/conformant, 1 findings
with a complete report, 2 unreadable input or error. An exception no command expected is an error
too: one line on stderr naming the command, its input and the exception, and exit 2 - never 1, which
a scheduler treats as "a normal run with findings". ``ENCLAVE_TRACEBACK=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from compliance import __version__
from compliance.exit_codes import ExitCode, redact_credentials, report_error

# (command, module providing register(subparsers)); one line per command group.
COMMAND_GROUPS: tuple[tuple[str, str], ...] = (
    ("access", "compliance.access.cli"),
    ("xnat-audit", "compliance.xnat_audit"),
    ("anon", "compliance.anon.cli"),
    ("deid", "compliance.deid.cli"),
    ("import", "compliance.importer.cli"),
    ("fetch", "compliance.fetch.cli"),
    ("export", "compliance.export.cli"),
    ("project", "compliance.projects.cli"),
)
# Arguments that name what a command reads, in the order a crash message lists them.
INPUT_ARGUMENTS = ("xnat", "access_list", "script", "anon_script", "paths", "files")
TRACEBACK_VARIABLE = "ENCLAVE_TRACEBACK"


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
    except Exception as error:
        return report_crash(args, error)


def command_name(args: argparse.Namespace) -> str:
    words = [getattr(args, "group", None)]
    words += [
        value for key, value in vars(args).items() if key.endswith("command") and isinstance(value, str)
    ]
    return " ".join(["enclave", *(word for word in words if word)])


def describe_input(args: argparse.Namespace) -> str:
    """What the command was reading, e.g. ``--xnat https://xnat.trust, site.das``."""
    described = []
    for name in INPUT_ARGUMENTS:
        value = getattr(args, name, None)
        if value is None or value == []:
            continue
        values = value if isinstance(value, list) else [value]
        described.append(", ".join(str(item) for item in values))
    return "; ".join(described) or "no input"


def report_crash(args: argparse.Namespace, error: BaseException) -> ExitCode:
    """One line for an exception no command expected; the traceback only when asked for."""
    if os.environ.get(TRACEBACK_VARIABLE):
        sys.stderr.write(redact_credentials("".join(traceback.format_exception(error))))
    detail = str(error).splitlines()[0] if str(error) else "no message"
    return report_error(
        command_name(args),
        f"internal error while reading {describe_input(args)}: {type(error).__name__}: {detail} "
        f"(no complete report was written; set {TRACEBACK_VARIABLE}=1 for the traceback and report it)",
    )


if __name__ == "__main__":
    sys.exit(main())
