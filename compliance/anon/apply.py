"""`enclave anon apply`: run a DicomEdit script over DICOM files, as XNAT would on receipt.

For rehearsals and reviews: shows what a site or project script does to real files before the
script goes live, and feeds `enclave deid scan`. Inputs are never modified; each output file is
written under --out with the input's path relative to the argument it was found under. Before
anything is written the run is refused when --out is an input or inside one, when an output would
land on an input file, when two inputs map to the same output, or when a link sits on the way to an
output (a link in --out could send a de-identified copy, or overwrite a file, anywhere).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from compliance.exit_codes import ExitCode, report_error

if TYPE_CHECKING:
    from compliance.dicomedit import ast

PROGRAM = "enclave anon apply"


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
            "2 unusable script (unreadable, not UTF-8, DicomEdit 4, syntax error) or missing input."
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


class UnsafeOutputError(Exception):
    """--out would overwrite an input, merge two inputs into one output, or write through a link."""


def plan_outputs(paths: list[Path], out: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) for every input; UnsafeOutputError before anything is written."""
    out_resolved = out.resolve()
    for root in paths:
        if root.is_dir() and out_resolved.is_relative_to(root.resolve()):
            raise UnsafeOutputError(
                f"--out {out} is inside the input directory {root}: the results would mix with (and could "
                "overwrite) the inputs; choose a directory outside every input"
            )
    plan: list[tuple[Path, Path]] = []
    inputs = set()
    first_input_for: dict[Path, Path] = {}
    for file, relative in input_files(paths):
        target = out / relative
        inputs.add(file.resolve())
        if target in first_input_for:
            raise UnsafeOutputError(
                f"{first_input_for[target]} and {file} would both be written to {target}; "
                "give inputs with distinct names or apply them in separate runs"
            )
        first_input_for[target] = file
        plan.append((file, target))
    for file, target in plan:
        link = _first_link(out, target)
        if link is not None:
            raise UnsafeOutputError(f"{link} is a link; refusing to write {target} through it")
        if target.resolve() in inputs:
            raise UnsafeOutputError(f"writing {target} would overwrite the input {file}")
    return plan


def _first_link(out: Path, target: Path) -> Path | None:
    """The first existing path component from ``out`` (excluded) down to ``target`` that is a link."""
    current = out
    for part in target.relative_to(out).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _write_without_following_links(dataset: object, target: Path) -> None:
    """Write to a new file beside the target, then rename it over the target (a rename replaces a
    link that appeared meanwhile instead of writing through it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            dataset.save_as(stream, enforce_file_format=False)  # type: ignore[attr-defined]
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def apply_to_files(
    script: ast.Script, paths: list[Path], out: Path, variables: dict[str, str]
) -> ApplyResult:
    from compliance.dicomedit import Interpreter, collected_messages  # noqa: PLC0415 - the engine loads on use

    plan = plan_outputs(paths, out)
    interpreter = Interpreter(script, variables)
    written = 0
    skipped: list[tuple[Path, str]] = []
    with collected_messages(logging.INFO) as notes:
        for file, target in plan:
            try:
                dataset = dcmread(file)
            except (InvalidDicomError, OSError) as error:
                skipped.append((file, f"not a readable DICOM file ({error})"))
                continue
            interpreter.apply(dataset)
            _write_without_following_links(dataset, target)
            written += 1
    return ApplyResult(written, skipped, list(dict.fromkeys(notes)))


def run_apply(args: argparse.Namespace) -> ExitCode:
    from compliance.dicomedit import DicomEditRuntimeError, ScriptError, load_script  # noqa: PLC0415

    try:
        script = load_script(args.script)
    except ScriptError as error:
        return report_error(PROGRAM, error)
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        return report_error(PROGRAM, f"no such file or directory: {', '.join(missing)}")
    variables = {"project": args.project, "subject": args.subject, "session": args.session}
    try:
        result = apply_to_files(script, args.paths, args.out, variables)
    except (DicomEditRuntimeError, UnsafeOutputError) as error:
        return report_error(PROGRAM, error)
    _print_outcome(result, args)
    return ExitCode.FINDINGS if result.skipped else ExitCode.CLEAN


def _print_outcome(result: ApplyResult, args: argparse.Namespace) -> None:
    for file, reason in result.skipped:
        print(f"{PROGRAM}: skipped {file}: {reason}", file=sys.stderr)
    if result.notes and args.verbose:
        for note in result.notes:
            print(f"{PROGRAM}: note: {note}", file=sys.stderr)
    elif result.notes:
        print(
            f"{PROGRAM}: {len(result.notes)} script lines had nothing to act on in some files "
            f"(first: {result.notes[0]}); --verbose lists them",
            file=sys.stderr,
        )
    print(
        f"{PROGRAM}: wrote {result.written} files to {args.out}"
        + (f"; skipped {len(result.skipped)}" if result.skipped else "")
    )
