"""Audit DicomEdit anonymisation scripts against DICOM PS3.15 Annex E.

Sub-commands: ``lint``, the static audit of one script, per Table E.1-1 attribute and script-wide;
``apply``, run a script over DICOM files as XNAT would (see compliance.anon.apply); ``detect-pixels``
and ``clean-pixels``, burnt-in text in pixel data (see compliance.pixels).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from compliance.annex_e import EDITION, OPTIONS, AnnexEError
from compliance.anon.apply import add_parser as add_apply_parser
from compliance.exit_codes import ExitCode, report_error
from compliance.pixels.cli import add_parsers as add_pixel_parsers
from compliance.reports import FORMATS, ReportWriteError, to_json_text, write_report

if TYPE_CHECKING:
    from compliance.anon.conformance import ConformanceReport

PROGRAM = "enclave anon lint"

OPTION_HELP = "Annex E option the output claims (repeatable): " + ", ".join(o.name for o in OPTIONS)


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    lint = commands.add_parser(
        "lint",
        help="audit a DicomEdit 6 script against PS3.15 Annex E",
        description=(
            f"Audit a DicomEdit 6 script against DICOM PS3.15 Table E.1-1 (edition {EDITION}). Exit 0 "
            "conformant, 1 findings, 2 unusable script (unreadable, not UTF-8, DicomEdit 4, syntax error)."
        ),
    )
    lint.add_argument("script", type=Path, help="DicomEdit script file (.das)")
    add_report_arguments(lint)
    lint.set_defaults(func=run_lint)
    add_apply_parser(commands)
    add_pixel_parsers(commands)


def add_report_arguments(parser: argparse.ArgumentParser, several_outputs: bool = False) -> None:
    """--option/--format/--output/--verbose, shared with `enclave deid scan`.

    With ``several_outputs`` --output may be repeated (``args.output`` is then a list, ``args.format``
    None unless given): one run writes one report per file, see ``compliance.deid.cli.report_targets``.
    """
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="NAME",
        choices=[option.name for option in OPTIONS],
        help=OPTION_HELP,
    )
    if several_outputs:
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="report format (default: text); with several --output, each file's suffix names its own",
        )
        parser.add_argument(
            "--output",
            type=Path,
            action="append",
            metavar="FILE",
            help=(
                "write the report to this file instead of stdout; repeat it to write several formats from "
                "one run, each named by its suffix (.txt, .json, .html)"
            ),
        )
    else:
        parser.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
        parser.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    parser.add_argument("--verbose", action="store_true", help="text format: list every attribute")


def run_lint(args: argparse.Namespace) -> ExitCode:
    from compliance.anon.lint import lint_script  # noqa: PLC0415 - parser and pydicom load on use
    from compliance.dicomedit import ScriptError, load_script  # noqa: PLC0415

    try:
        report = lint_script(load_script(args.script), args.options)
    except (ScriptError, AnnexEError) as error:
        return report_error(PROGRAM, error)
    return emit(report, args, PROGRAM)


def emit(report: ConformanceReport, args: argparse.Namespace, program: str) -> ExitCode:
    """Render ``report`` in the requested format; the exit code is the report's."""
    try:
        write_report(render(report, args.format, verbose=args.verbose), args.output)
    except ReportWriteError as error:
        return report_error(program, error)
    return report.exit_code


def render(report: ConformanceReport, output_format: str, verbose: bool = False) -> str:
    """``report`` as text, JSON or HTML."""
    if output_format == "json":
        return to_json_text(report.to_json())
    if output_format == "html":
        return report.to_html()
    return report.to_text(verbose=verbose)
