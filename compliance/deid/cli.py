"""Check de-identification on data: a script on synthetic PHI, or files for residual PHI.

Sub-command ``scan``: with ``--script`` measure the script on synthetic datasets (same report as
``enclave anon lint``, measured instead of inferred); with paths, scan DICOM files and directories.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from compliance.annex_e import AnnexEError
from compliance.anon.cli import add_report_arguments, emit
from compliance.exit_codes import ExitCode, report_error
from compliance.reports import (
    ReportWriteError,
    render_html,
    report_metadata,
    text_table,
    to_json_text,
    write_report,
)

if TYPE_CHECKING:
    from compliance.deid.scanner import ScanReport

PROGRAM = "enclave deid scan"


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    scan = commands.add_parser(
        "scan",
        help="measure a script on synthetic PHI (--script) or scan DICOM files for residual PHI",
        description=(
            "With --script: run a DicomEdit script on synthetic PHI-filled datasets (CT, MR, US, SC) and "
            "judge every PS3.15 Table E.1-1 attribute. With PATHs: scan DICOM files/directories for "
            "residual PHI (headers only unless --pixels). Exit 0 clean, 1 findings, 2 unreadable input or "
            "unusable script."
        ),
    )
    scan.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="DICOM files or directories")
    scan.add_argument("--script", type=Path, help="DicomEdit script to measure on synthetic PHI")
    scan.add_argument("--project", help="XNAT project variable for --script (default SYNTH_PROJECT)")
    scan.add_argument("--subject", help="XNAT subject variable for --script (default SYNTH_SUBJECT)")
    scan.add_argument(
        "--session", help="XNAT session variable for --script (default: the synthetic accession number)"
    )
    scan.add_argument("--pixels", action="store_true", help="files: also decode and check pixel data")
    add_report_arguments(scan)
    scan.set_defaults(func=run_scan)


def run_scan(args: argparse.Namespace) -> ExitCode:
    if args.script and args.paths:
        return report_error(PROGRAM, "give either --script or PATHs, not both")
    if args.script:
        return _run_measure(args)
    from compliance.deid.scanner import Scanner  # noqa: PLC0415 - pydicom loads on use

    if not args.paths:
        return report_error(PROGRAM, "nothing to scan: give DICOM files/directories or --script SCRIPT")
    report = Scanner(args.options, pixels=args.pixels).scan(args.paths)
    for skipped in report.skipped:
        if skipped["reason"] == "no such file or directory":
            return report_error(PROGRAM, f"{skipped['file']}: no such file or directory")
    return _emit_scan(report, args)


def _run_measure(args: argparse.Namespace) -> ExitCode:
    from compliance.deid.measure import measure_script  # noqa: PLC0415 - engine and pydicom load on use
    from compliance.dicomedit import ScriptError, load_script  # noqa: PLC0415

    variables = {"project": args.project, "subject": args.subject, "session": args.session}
    try:
        report = measure_script(load_script(args.script), args.options, variables)
    except (ScriptError, AnnexEError) as error:
        return report_error(PROGRAM, error)
    return emit(report, args, PROGRAM)


def _emit_scan(report: ScanReport, args: argparse.Namespace) -> ExitCode:
    if args.format == "json":
        rendered = to_json_text(report.to_json())
    elif args.format == "html":
        subject = ", ".join(report.paths)
        rendered = render_html(
            "deid_scan.html.j2",
            report=report,
            summary=report.summary,
            **report_metadata("Residual PHI scan of DICOM files", subject),
        )
    else:
        rendered = scan_text(report)
    try:
        write_report(rendered, args.output)
    except ReportWriteError as error:
        return report_error(PROGRAM, error)
    return report.exit_code


def scan_text(report: ScanReport) -> str:
    summary = report.summary
    counts = ", ".join(f"{count} {severity}" for severity, count in summary["findings"].items())
    lines = [
        f"Residual PHI scan: {', '.join(report.paths)}",
        f"Result: {'CLEAN' if summary['clean'] else 'FINDINGS'} — {report.files} file(s), "
        f"{report.files_with_findings} with findings, {summary['series']} series "
        f"({summary['series_with_findings']} with findings), {len(report.skipped)} skipped",
        f"Findings: {counts}; pixels {'checked' if report.pixels else 'not checked (headers only)'}",
        "",
    ]
    if report.series:
        lines.append("Series")
        rows = (
            [s.series_uid, s.modality, str(s.files), str(s.files_with_findings), str(s.findings["error"])]
            for s in report.series.values()
        )
        lines.extend(
            "  " + line
            for line in text_table(["series", "modality", "files", "with findings", "errors"], rows)
        )
        lines.append("")
    if report.findings:
        lines.append("Findings")
        current = None
        for finding in report.findings:
            if finding.file != current:
                current = finding.file
                lines.append(f"  {current}")
            lines.append(
                f"    {finding.severity.upper():7} {finding.tag:13} {finding.code}: {finding.message}"
            )
        lines.append("")
    if report.skipped:
        lines.append("Skipped")
        lines.extend(f"  {item['file']}: {item['reason']}" for item in report.skipped)
    return "\n".join(lines) + "\n"
