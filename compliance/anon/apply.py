"""`enclave anon apply`: run a DicomEdit script over DICOM files, as XNAT would on receipt.

For rehearsals and reviews: shows what a site or project script does to real files before the
script goes live, and feeds `enclave deid scan`. Inputs are never modified; each output file is
written under --out with the input's path relative to the argument it was found under.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

EXIT_ERROR = 2


@dataclass(frozen=True)
class ApplyResult:
    written: int
    skipped: list[tuple[Path, str]]
    notes: list[str] = field(default_factory=list)


def add_parser(commands: argparse._SubParsersAction) -> None:
    apply = commands.add_parser(
        "apply",
        help="apply a DicomEdit script to DICOM files (inputs untouched)",
        description=(
            "Apply a DicomEdit 6 script to DICOM files or directories with the interpreter the audit "
            "uses, writing the results under --out. Exit 0 all written, 1 some inputs skipped, "
            "2 unreadable script or syntax error."
        ),
    )
    apply.add_argument("script", type=Path, help="DicomEdit script file (.das)")
    apply.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="DICOM files or directories")
    apply.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory for the results")
    apply.add_argument("--project", default="", help="value of the script variable `project`")
    apply.add_argument("--subject", default="", help="value of the script variable `subject`")
    apply.add_argument("--session", default="", help="value of the script variable `session`")
    apply.add_argument("--verbose", action="store_true", help="list every interpreter note")
    apply.set_defaults(func=run_apply)


def input_files(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to the output root) for every file under the given paths, sorted."""
    for root in paths:
        if root.is_dir():
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                yield file, file.relative_to(root)
        else:
            yield root, Path(root.name)


def apply_to_files(
    script_text: str, source: str, paths: list[Path], out: Path, variables: dict[str, str]
) -> ApplyResult:
    from compliance.dicomedit import collected_messages, parse  # noqa: PLC0415 - the parser loads on use
    from compliance.dicomedit.interpreter import Interpreter  # noqa: PLC0415

    interpreter = Interpreter(parse(script_text, source=source), variables)
    written = 0
    skipped: list[tuple[Path, str]] = []
    with collected_messages(logging.INFO) as notes:
        for file, relative in input_files(paths):
            try:
                dataset = dcmread(file)
            except (InvalidDicomError, OSError) as error:
                skipped.append((file, f"not a readable DICOM file ({error})"))
                continue
            interpreter.apply(dataset)
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(target, enforce_file_format=False)
            written += 1
    return ApplyResult(written, skipped, list(dict.fromkeys(notes)))


def run_apply(args: argparse.Namespace) -> int:
    from compliance.dicomedit import DicomEditSyntaxError, DicomEditVersionError  # noqa: PLC0415
    from compliance.dicomedit.errors import DicomEditRuntimeError  # noqa: PLC0415

    program = "enclave anon apply"
    try:
        text = args.script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"{program}: cannot read {args.script}: {error}", file=sys.stderr)
        return EXIT_ERROR
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        print(f"{program}: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    variables = {"project": args.project, "subject": args.subject, "session": args.session}
    try:
        result = apply_to_files(text, str(args.script), args.paths, args.out, variables)
    except (DicomEditSyntaxError, DicomEditVersionError, DicomEditRuntimeError) as error:
        print(f"{program}: {error}", file=sys.stderr)
        return EXIT_ERROR
    for file, reason in result.skipped:
        print(f"{program}: skipped {file}: {reason}", file=sys.stderr)
    if result.notes and args.verbose:
        for note in result.notes:
            print(f"{program}: note: {note}", file=sys.stderr)
    elif result.notes:
        print(
            f"{program}: {len(result.notes)} script lines had nothing to act on in some files "
            f"(first: {result.notes[0]}); --verbose lists them",
            file=sys.stderr,
        )
    print(
        f"{program}: wrote {result.written} files to {args.out}"
        + (f"; skipped {len(result.skipped)}" if result.skipped else "")
    )
    return 1 if result.skipped else 0
