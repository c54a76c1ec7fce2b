"""`enclave anon clean-pixels` and `enclave anon detect-pixels`: burnt-in text in pixel data.

``detect-pixels`` reports, per file, why it is likely to carry burnt-in text (header, SOP class and
series, deid's recipe, OCR with bounding boxes and the header identifiers the text matches, redacted).
``clean-pixels`` blanks the recipe's regions and the OCR-found text, verifies by OCR and stamps the
output (compliance.pixels.clean). Neither ever writes to its inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from compliance.exit_codes import ExitCode, report_error

if TYPE_CHECKING:
    from compliance.pixels.detect import Finding

# The detectors (numpy, pydicom's decoders, deid and matplotlib) load when a command runs, not for --help.
MAX_FRAMES = 3  # compliance.pixels.detect.MAX_FRAMES
CLEAN_PROGRAM = "enclave anon clean-pixels"
DETECT_PROGRAM = "enclave anon detect-pixels"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    clean = commands.add_parser(
        "clean-pixels",
        help="blank burnt-in text in pixel data, verify by OCR, write new instances (inputs untouched)",
        description=(
            "Blank the regions deid's recipe names (plus a trust recipe) and the text tesseract finds, "
            "verify by OCR that no text remains in the cleaned regions, and write each instance under --out "
            "with a new SOP Instance UID; Burned In Annotation is set to NO only when verification passed. "
            "Exit 0 all verified, 1 some need review or were skipped, 2 error (missing input, --out inside "
            "an input, tesseract missing, unreadable recipe)."
        ),
    )
    clean.add_argument("paths", type=Path, nargs="+", metavar="IN", help="DICOM files or directories")
    clean.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory for the results")
    _common(clean)
    clean.add_argument("--report", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    clean.set_defaults(func=run_clean)

    scan = commands.add_parser(
        "detect-pixels",
        help="report likely burnt-in text in pixel data (header, recipe, OCR; redacted)",
        description=(
            "Report, per DICOM file, the reasons to think its pixels carry burnt-in text, with OCR "
            "bounding boxes and the header identifiers the text matches (redacted). Exit 0 none found, "
            "1 findings, 2 error."
        ),
    )
    scan.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="DICOM files or directories")
    _common(scan)
    scan.add_argument("--format", choices=("text", "json"), default="text", help="report format")
    scan.set_defaults(func=run_detect)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe", type=Path, metavar="FILE", help="a trust's deid recipe, read after deid's shipped one"
    )
    parser.add_argument(
        "--max-frames", type=int, default=MAX_FRAMES, help="frames OCR reads per instance (default 3)"
    )


def run_clean(args: argparse.Namespace) -> ExitCode:
    from compliance.anon.apply import UnsafeOutputError  # noqa: PLC0415
    from compliance.pixels import ocr  # noqa: PLC0415
    from compliance.pixels.clean import clean_files  # noqa: PLC0415 - deid and numpy load on use
    from compliance.pixels.recipes import RecipeError  # noqa: PLC0415

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        return report_error(CLEAN_PROGRAM, f"no such file or directory: {', '.join(missing)}")
    if args.report is not None and any(args.report.resolve() == p.resolve() for p in args.paths):
        return report_error(CLEAN_PROGRAM, f"--report {args.report} is an input")
    try:
        result = clean_files(args.paths, args.out, args.recipe, max_frames=max(args.max_frames, 1))
    except (UnsafeOutputError, RecipeError, ocr.OcrUnavailableError) as error:
        return report_error(CLEAN_PROGRAM, error)
    for outcome in result.outcomes:
        where = outcome.target or outcome.source
        detail = f" ({outcome.reason})" if outcome.reason else ""
        print(
            f"{outcome.status}: {where}: {len(outcome.regions)} region(s) blanked, "
            f"{outcome.cleaned_fraction:.1%} of the frame{detail}"
        )
    if args.report is not None:
        try:
            args.report.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            return report_error(CLEAN_PROGRAM, f"cannot write --report {args.report}: {error}")
    print(
        f"{CLEAN_PROGRAM}: wrote {len(result.outcomes) - len(result.skipped)} files to {args.out}: "
        f"{len(result.verified)} verified, {len(result.unverified)} need review"
        + (f", skipped {len(result.skipped)}" if result.skipped else ""),
        file=sys.stderr,
    )
    return ExitCode.FINDINGS if result.unverified or result.skipped else ExitCode.CLEAN


def run_detect(args: argparse.Namespace) -> ExitCode:
    from pydicom import dcmread  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    from compliance.anon.apply import input_files  # noqa: PLC0415
    from compliance.pixels import detect, ocr  # noqa: PLC0415
    from compliance.pixels.recipes import RecipeError, load_recipe  # noqa: PLC0415

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        return report_error(DETECT_PROGRAM, f"no such file or directory: {', '.join(missing)}")
    try:
        ocr.tesseract_path()
        recipe = load_recipe(args.recipe)
    except (RecipeError, ocr.OcrUnavailableError) as error:
        return report_error(DETECT_PROGRAM, error)
    files: dict[str, list[Finding] | str] = {}
    for file, _ in input_files(args.paths):
        try:
            dataset = dcmread(file)
        except (InvalidDicomError, OSError) as error:
            files[str(file)] = f"not a readable DICOM file ({error})"
            continue
        try:
            files[str(file)] = detect.detect_burnt_in(
                dataset, recipe=recipe, max_frames=max(args.max_frames, 1)
            )
        except ocr.OcrUnavailableError as error:
            return report_error(DETECT_PROGRAM, error)
    if args.format == "json":
        document = {
            name: ({"skipped": found} if isinstance(found, str) else [f.to_json() for f in found])
            for name, found in files.items()
        }
        print(json.dumps(document, indent=2))
    else:
        for name, found in files.items():
            if isinstance(found, str):
                print(f"{name}: skipped: {found}")
                continue
            print(f"{name}: {len(found)} finding(s)" if found else f"{name}: no burnt-in text found")
            for finding in found:
                print(f"  {finding.severity}: {finding.code}: {finding.message}")
    flagged = any(found for found in files.values())
    return ExitCode.FINDINGS if flagged else ExitCode.CLEAN
