"""Check de-identification on data: a script on synthetic PHI, or files for residual PHI.

Sub-command ``scan``: with ``--script`` measure the script on synthetic datasets (same report as
``enclave anon lint``, measured instead of inferred); with paths, scan DICOM files and directories, the
dcm2niix outputs among them (JSON sidecars, NIfTI header text: ``compliance.deid.nifti``) and every file's
name (``compliance.deid.names``); with ``--xnat URL --project P``, scan the files XNAT archived, the
scans' NIFTI resources included (``compliance.deid.xnat_source``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from compliance.access.cli import xnat_url
from compliance.annex_e import AnnexEError
from compliance.anon.cli import add_report_arguments
from compliance.anon.cli import render as render_conformance
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
    from compliance.deid.report import AttributeRow, ScanReport
    from compliance.deid.scanner import Scanner

PROGRAM = "enclave deid scan"
PIXEL_TEXT_HEADING = "Burnt-in text in pixel data (OCR, one row per text line; text redacted)"
KIND_HEADINGS = {
    "phi": "Residual PHI: identifying values still present (one row per attribute)",
    "review": "Review items: not PHI findings, but a person should look at them (one row per attribute)",
}
# The format of each file when --output is given more than once (every one of compliance.reports.FORMATS).
SUFFIX_FORMATS = {".txt": "text", ".text": "text", ".json": "json", ".html": "html", ".htm": "html"}


def _jobs_like(option: str, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from error
        if number < 1:
            raise argparse.ArgumentTypeError(f"{option} must be at least 1")
        return number

    return parse


_jobs = _jobs_like("--jobs", "a number of processes")


def _since(text: str) -> datetime:
    from compliance.deid.xnat_source import parse_since  # noqa: PLC0415

    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date (YYYY-MM-DD) nor a number of days (e.g. 2d)"
        ) from error


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    scan = commands.add_parser(
        "scan",
        help="measure a script on synthetic PHI (--script) or scan DICOM files for residual PHI",
        description=(
            "With --script: run a DicomEdit script on synthetic PHI-filled datasets (CT, MR, US, SC) and "
            "judge every PS3.15 Table E.1-1 attribute. With PATHs: scan DICOM files/directories for "
            "residual PHI (headers only unless --pixels), one row per attribute; dummies and values the "
            "--anon-script writes are recognised. dcm2niix outputs are checked too: JSON sidecars (keys "
            "judged as the DICOM attributes they name), NIfTI header text (descrip, aux_file) and every "
            "file and folder name below PATH (dates, identifiers, the identifiers of the DICOM beside "
            "them). With --xnat URL --project P: scan the DICOM files XNAT archived in the project's image "
            "sessions and the files of their NIFTI resources (credentials from XNAT_USER/XNAT_PASS or "
            "~/.netrc). Repeat --output to write several formats from one scan (--output scan.html "
            "--output scan.json: each file in the format its suffix names, the same findings in each). "
            "Exit 0 clean (review items only, unless "
            "--fail-on-review), 1 residual PHI or files that could not be read, 2 unusable input."
        ),
    )
    scan.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="DICOM files or directories (with any dcm2niix outputs: .nii, .nii.gz and their .json sidecars)",
    )
    scan.add_argument("--script", type=Path, help="DicomEdit script to measure on synthetic PHI")
    scan.add_argument(
        "--project",
        help=(
            "with --xnat: the XNAT project to scan; with --script: the project variable "
            "(default SYNTH_PROJECT)"
        ),
    )
    scan.add_argument("--subject", help="XNAT subject variable for --script (default SYNTH_SUBJECT)")
    scan.add_argument(
        "--session", help="XNAT session variable for --script (default: the synthetic accession number)"
    )
    scan.add_argument(
        "--pixels",
        action="store_true",
        help=(
            "files: also decode and check pixel data for burnt-in text (deid's recipes, tesseract OCR of "
            "sampled frames: bounding boxes, header identifiers matched, redacted)"
        ),
    )
    scan.add_argument(
        "--recipe",
        type=Path,
        metavar="FILE",
        help="--pixels: a trust's deid recipe, evaluated after deid's shipped one",
    )
    scan.add_argument(
        "--max-frames",
        type=_jobs_like("--max-frames", "a number of frames"),
        metavar="N",
        help="--pixels: frames OCR reads per file (first, middle, last; default 3)",
    )
    scan.add_argument(
        "--no-ocr", action="store_true", help="--pixels: recipes and heuristics only, no OCR (no tesseract)"
    )
    scan.add_argument(
        "--anon-script",
        type=Path,
        metavar="SCRIPT",
        help="files: the DicomEdit script that produced them; the constant values it writes are dummies",
    )
    scan.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="files: processes to scan with (default: every core this process may use)",
    )
    scan.add_argument(
        "--xnat",
        type=xnat_url,
        metavar="URL",
        help="scan what this XNAT archived in --project (DICOM and NIFTI resources), read through REST",
    )
    scan.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="--xnat: only sessions archived on or after a date (YYYY-MM-DD) or in the last N days (Nd)",
    )
    scan.add_argument(
        "--sample",
        type=_jobs_like("--sample", "a number of files"),
        metavar="N",
        help="--xnat: read at most N files of each session, spread evenly over its scans",
    )
    scan.add_argument("--ca-bundle", metavar="FILE", help="--xnat: CA bundle to verify XNAT's certificate")
    scan.add_argument(
        "--fail-on-review", action="store_true", help="files: exit 1 for review items as well as for PHI"
    )
    add_report_arguments(scan, several_outputs=True)
    scan.set_defaults(func=run_scan)


def run_scan(args: argparse.Namespace) -> ExitCode:
    problem = _source_problem(args) or _output_problem(args)
    if problem:
        return report_error(PROGRAM, problem)
    if args.script:
        return _run_measure(args)
    scanner = _scanner(args)
    if isinstance(scanner, ExitCode):
        return scanner
    if args.xnat:
        return _scan_xnat(scanner, args)
    report = scanner.scan(args.paths)
    for skipped in report.skipped:
        if skipped["kind"] == "missing":
            return report_error(PROGRAM, f"{skipped['file']}: no such file or directory")
    return _emit_scan(report, args)


def _source_problem(args: argparse.Namespace) -> str:
    """What is wrong with the choice of what to scan ("" when nothing is)."""
    given = [
        name
        for name, value in (("--script", args.script), ("PATHs", args.paths), ("--xnat", args.xnat))
        if value
    ]
    if len(given) > 1:
        return f"give one of --script, PATHs or --xnat, not {' and '.join(given)}"
    if not given:
        return "nothing to scan: give DICOM files/directories, --xnat URL --project P, or --script SCRIPT"
    if not args.xnat and (args.since or args.sample):
        return "--since and --sample select what to read from XNAT: use them with --xnat"
    if args.xnat and not args.project:
        return "--xnat needs --project: the XNAT project whose archive to scan"
    if not args.pixels and (args.recipe or args.max_frames or args.no_ocr):
        return "--recipe, --max-frames and --no-ocr say how to check pixel data: use them with --pixels"
    return ""


def _output_problem(args: argparse.Namespace) -> str:
    """What is wrong with --format/--output ("" when nothing is), known before the scan begins."""
    try:
        report_targets(args.format, args.output)
    except ValueError as error:
        return str(error)
    return ""


def report_targets(output_format: str | None, outputs: list[Path] | None) -> list[tuple[str, Path | None]]:
    """Where each report goes and in which format; ValueError says what is wrong with --format/--output.

    No --output: stdout, in --format (default text); one: that file, in --format whatever its suffix;
    several: each file in the format its suffix names, all rendered from the one scan.
    """
    if not outputs or len(outputs) == 1:
        return [(output_format or "text", outputs[0] if outputs else None)]
    if output_format:
        raise ValueError(
            "--format names the format of a single --output; with several --output each file's suffix "
            "names its format (.txt, .json or .html): drop --format"
        )
    targets: list[tuple[str, Path | None]] = []
    seen: dict[Path, Path] = {}
    for output in outputs:
        known = SUFFIX_FORMATS.get(output.suffix.lower())
        if known is None:
            raise ValueError(
                f"{output}: with several --output each file's suffix names its format; give it one of "
                f"{', '.join(SUFFIX_FORMATS)}"
            )
        resolved = output.resolve()
        if resolved in seen:
            raise ValueError(f"--output {seen[resolved]} and {output} name the same file: give each once")
        seen[resolved] = output
        targets.append((known, output))
    return targets


def write_reports(render: Callable[[str], str], args: argparse.Namespace, exit_code: ExitCode) -> ExitCode:
    """Write the report ``render(format)`` makes to each --output (or stdout), each format rendered once;
    ``exit_code``, unless a file cannot be written (2)."""
    rendered: dict[str, str] = {}
    for output_format, output in report_targets(args.format, args.output):
        if output_format not in rendered:
            rendered[output_format] = render(output_format)
        try:
            write_report(rendered[output_format], output)
        except ReportWriteError as error:
            return report_error(PROGRAM, error)
    return exit_code


def _scanner(args: argparse.Namespace) -> Scanner | ExitCode:
    from compliance.deid.parallel import available_cores  # noqa: PLC0415 - pydicom loads on use
    from compliance.deid.scanner import PixelSettings, Scanner  # noqa: PLC0415

    known = {}
    if args.anon_script:
        from compliance.deid.dummies import values_written_by  # noqa: PLC0415
        from compliance.dicomedit import ScriptError, load_script  # noqa: PLC0415

        try:
            known = values_written_by(load_script(args.anon_script))
        except ScriptError as error:
            return report_error(PROGRAM, error)
    jobs = args.jobs or available_cores()
    pixel = PixelSettings(
        recipe_file=str(args.recipe) if args.recipe else None,
        ocr=not args.no_ocr,
        max_frames=args.max_frames or PixelSettings.max_frames,
    )
    scanner = Scanner(args.options, args.pixels, known, jobs, args.fail_on_review, pixel=pixel)
    if args.pixels:
        from compliance.pixels.ocr import OcrUnavailableError  # noqa: PLC0415
        from compliance.pixels.recipes import RecipeError  # noqa: PLC0415

        try:
            scanner.prepare()  # the recipe and tesseract, before the first file (or XNAT request)
        except (RecipeError, OcrUnavailableError) as error:
            hint = "" if isinstance(error, RecipeError) else " (or scan with --no-ocr)"
            return report_error(PROGRAM, f"{error}{hint}")
    return scanner


def _scan_xnat(scanner: Scanner, args: argparse.Namespace) -> ExitCode:
    """Read the selected archived files through REST, scan them, name each by its XNAT URL."""
    from compliance.deid import xnat_source  # noqa: PLC0415 - xnatpy loads on use
    from compliance.xnat import session as xnat_session  # noqa: PLC0415

    try:
        credentials = xnat_session.find_credentials(args.xnat)
        session = xnat_session.connect(args.xnat, credentials, verify=args.ca_bundle or True)
    except xnat_session.XnatReadError as error:
        return report_error(PROGRAM, error)
    try:
        reads = xnat_session.XnatReads(session, args.xnat)
        selection = xnat_source.select(reads, args.xnat, args.project, args.since, args.sample)
        xnat_source.read_counts(reads, selection)
        with xnat_source.downloaded(session, selection) as files:
            report = scanner.scan_named(files, f"{args.xnat} project {args.project}")
    except xnat_session.XnatReadError as error:
        return report_error(PROGRAM, f"cannot read project {args.project} from {args.xnat}: {error}")
    finally:
        xnat_session.disconnect(session, args.xnat)
    report.source = {"description": selection.describe(), **selection.to_json()}
    return _emit_scan(report, args)


def _run_measure(args: argparse.Namespace) -> ExitCode:
    from compliance.deid.measure import measure_script  # noqa: PLC0415 - engine and pydicom load on use
    from compliance.dicomedit import ScriptError, load_script  # noqa: PLC0415

    variables = {"project": args.project, "subject": args.subject, "session": args.session}
    try:
        report = measure_script(load_script(args.script), args.options, variables)
    except (ScriptError, AnnexEError) as error:
        return report_error(PROGRAM, error)
    return write_reports(
        lambda output_format: render_conformance(report, output_format, verbose=args.verbose),
        args,
        report.exit_code,
    )


def _emit_scan(report: ScanReport, args: argparse.Namespace) -> ExitCode:
    """The report in every format asked for, rendered from the one scan."""

    def render(output_format: str) -> str:
        if output_format == "json":
            return to_json_text(report.to_json())
        if output_format == "html":
            return scan_html(report)
        return scan_text(report, verbose=args.verbose)

    return write_reports(render, args, report.exit_code)


def scan_html(report: ScanReport) -> str:
    return render_html(
        "deid_scan.html.j2",
        report=report,
        summary=report.summary,
        rows={kind: report.attribute_rows(kind) for kind in KIND_HEADINGS},
        headings=KIND_HEADINGS,
        pixel_text_heading=PIXEL_TEXT_HEADING,
        series_numbers={uid: summary.number for uid, summary in report.series.items()},
        **report_metadata("Residual PHI scan of DICOM files", ", ".join(report.paths)),
    )


def headline(report: ScanReport) -> str:
    """The verdict with what it rests on, e.g. ``RESIDUAL PHI FOUND — 3 attribute(s) in 2 file(s)``."""
    summary = report.summary
    if summary["phi_attributes"]:
        files = len({finding.file for finding in report.findings if finding.kind == "phi"})
        return f"RESIDUAL PHI FOUND — {summary['phi_attributes']} attribute(s) in {files} file(s)"
    if summary["unreadable"]:
        return f"INCOMPLETE — {summary['unreadable']} file(s) could not be read; no residual PHI in the rest"
    if summary["review_attributes"]:
        return f"NO RESIDUAL PHI FOUND — {summary['review_attributes']} review item(s)"
    return "CLEAN — no residual PHI, nothing to review"


def scan_text(report: ScanReport, verbose: bool = False) -> str:
    summary = report.summary
    recognised = ", ".join(f"{count} {why}" for why, count in summary["recognised_values"].items())
    lines = [
        f"Residual PHI scan: {', '.join(report.paths)}",
        *([report.source["description"]] if report.source else []),
        f"Result: {headline(report)}",
        f"{report.files} file(s), {report.files_with_findings} with findings, {summary['series']} series "
        f"({summary['series_with_findings']} with findings), {len(report.skipped)} skipped; values "
        f"recognised as set on purpose: {recognised or 'none'}; pixels "
        f"{report.pixel_description}; {report.jobs} process(es)",
        "",
    ]
    for kind, heading in KIND_HEADINGS.items():
        rows = report.attribute_rows(kind)
        if rows:
            lines += [heading, *_attribute_table(rows, report), ""]
    if report.pixel_text:
        lines += [PIXEL_TEXT_HEADING, *_pixel_text_table(report), ""]
    if report.series:
        lines.append("Series")
        table = (
            [str(s.number), s.series_uid, s.modality, str(s.files), str(s.files_with_findings)]
            for s in report.series.values()
        )
        lines += [
            "  " + line for line in text_table(["#", "series", "modality", "files", "with findings"], table)
        ]
        lines.append("")
    if report.skipped:
        lines.append("Skipped")
        lines.extend(f"  {item['file']}: {item['reason']}" for item in report.skipped)
        lines.append("")
    if verbose and report.findings:
        lines += ["Findings per file", *_per_file(report)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _attribute_table(rows: list[AttributeRow], report: ScanReport) -> list[str]:
    numbers = {uid: str(summary.number) for uid, summary in report.series.items()}
    table = (
        [
            row.severity,
            row.tag,
            row.name,
            row.code,
            str(row.files),
            ",".join(numbers[uid] for uid in row.series),
            "; ".join(row.examples),
        ]
        for row in rows
    )
    headers = ["severity", "tag", "attribute", "code", "files", "series #", "examples (redacted)"]
    return ["  " + line for line in text_table(headers, table)]


def _pixel_text_table(report: ScanReport) -> list[str]:
    table = (
        [
            line["file"],
            str(line["frame"]),
            ",".join(map(str, line["box"])),
            ", ".join(line["identifiers"]) or "no",
            line["text"],
        ]
        for line in report.pixel_text
    )
    headers = ["file", "frame", "box x0,y0,x1,y1", "matches header", "text (redacted)"]
    return ["  " + line for line in text_table(headers, table)]


def _per_file(report: ScanReport) -> list[str]:
    lines: list[str] = []
    current = None
    for finding in report.findings:
        if finding.file != current:
            current = finding.file
            lines.append(f"  {current}")
        example = f" [{finding.example}]" if finding.example else ""
        lines.append(
            f"    {finding.kind:6} {finding.severity.upper():7} {finding.tag:13} {finding.code}: "
            f"{finding.message}{example}"
        )
    return lines
