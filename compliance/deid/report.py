"""What a residual-PHI scan found: per file (the drill-down), per series and per attribute (the review).

Findings are of two kinds. ``phi``: an identifying value is still there (a name, an NHS number, a real
date, an attribute the profile removes holding a value) - only these make the verdict "RESIDUAL PHI
FOUND". ``review``: something a person must look at that the scan cannot decide (private attributes,
burnt-in text risk, overlays, a file not marked de-identified, values kept under an option the file
declares). Reports list one row per attribute and finding (how many files, which series, a few
redacted examples); the JSON also lists every finding per file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from pydicom.datadict import dictionary_description

from compliance.annex_e import row_for_tag
from compliance.exit_codes import ExitCode
from compliance.reports import SEVERITIES

PHI, REVIEW = "phi", "review"
KINDS = (PHI, REVIEW)
MAX_EXAMPLES = 3
# Skipped files that count against a complete scan: any file (DICOM, NIfTI, sidecar) not read or scanned.
INCOMPLETE = frozenset({"unreadable"})


# One finding as a worker sends it: (tag, severity, code, message, kind, example), a plain tuple because
# tuples cross process boundaries several times faster than objects; the file and series are the result's.
Finding = tuple[str, str, str, str, str, str]
TAG, SEVERITY, CODE, MESSAGE, KIND, EXAMPLE = range(6)


class FileFinding(NamedTuple):
    """A finding with the file and series it belongs to (the per-file drill-down)."""

    file: str
    tag: str
    severity: str
    code: str
    message: str
    series: str
    kind: str = PHI
    example: str = ""  # the value redacted (first character and length), never the value itself

    def to_json(self) -> dict[str, str]:
        return self._asdict()


class PixelText(NamedTuple):
    """One line of text OCR read in a file's pixels (``--pixels``): where, what it matches, redacted."""

    code: str  # "burnt-in-identifier" (matches a header identifier or is an NHS number) or "burnt-in-text"
    frame: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame's pixels (x1, y1 exclusive)
    identifiers: tuple[str, ...] = ()  # header attributes it matches, e.g. ("PatientName", "PatientID")
    text: str = ""  # each word redacted (first character and length)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "frame": self.frame,
            "box": list(self.box),
            "identifiers": list(self.identifiers),
            "matches_header": bool(self.identifiers),
            "text": self.text,
        }


class FileResult(NamedTuple):
    """One file's contribution to a report (small and picklable: workers send these back)."""

    file: str
    series: str = ""
    modality: str = ""
    findings: tuple[Finding, ...] = ()
    recognised: tuple[tuple[str, int], ...] = ()  # (why a value was recognised as set on purpose, count)
    skipped: str = ""  # why the file was not scanned; empty when it was
    skip_kind: str = ""  # "not-dicom", "not-regular", "unreadable", "broken-link" or "missing"
    pixel_text: tuple[PixelText, ...] = ()  # --pixels: the text lines OCR read, in frame order


@dataclass
class SeriesSummary:
    series_uid: str
    modality: str = ""
    files: int = 0
    files_with_findings: int = 0
    findings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    number: int = 0  # position in the report, for references from the attribute rows

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "series_uid": self.series_uid,
            "modality": self.modality,
            "files": self.files,
            "files_with_findings": self.files_with_findings,
            "findings": self.findings,
        }


@dataclass
class AttributeRow:
    """Every finding of one code on one attribute, across files."""

    kind: str
    severity: str
    tag: str
    name: str
    code: str
    message: str
    files: int = 0
    series: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    first_files: list[str] = field(default_factory=list)  # where to start looking; the JSON lists them all

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "tag": self.tag,
            "name": self.name,
            "code": self.code,
            "message": self.message,
            "files": self.files,
            "series": self.series,
            "examples": self.examples,
            "first_files": self.first_files,
        }


@dataclass
class ScanReport:
    paths: list[str]
    options: tuple[str, ...]
    pixels: bool
    jobs: int = 1
    fail_on_review: bool = False
    files: int = 0
    results: list[FileResult] = field(default_factory=list)  # scanned files with findings, in order
    skipped: list[dict[str, str]] = field(default_factory=list)
    series: dict[str, SeriesSummary] = field(default_factory=dict)
    recognised: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    source: dict[str, Any] | None = None  # where the files came from when not local (``--xnat``)
    pixel_checks: str = ""  # what --pixels checked (recipes, OCR bounds); "" when pixels were not checked
    pixel_text: list[dict[str, Any]] = field(default_factory=list)  # every OCR text line, in scan order

    def add(self, result: FileResult) -> None:
        """Merge one file's result (in scan order: the report is the same however many processes ran)."""
        if result.skipped:
            self.skipped.append({"file": result.file, "reason": result.skipped, "kind": result.skip_kind})
            return
        self.files += 1
        if result.recognised:
            self.recognised.update(dict(result.recognised))
        summary = self.series.get(result.series)
        if summary is None:
            summary = SeriesSummary(result.series, result.modality, number=len(self.series) + 1)
            self.series[result.series] = summary
        summary.files += 1
        for line in result.pixel_text:
            self.pixel_text.append({"file": result.file, "series": result.series, **line.to_json()})
        if result.findings:
            self.results.append(result)
            summary.files_with_findings += 1
            severities = summary.findings
            for finding in result.findings:
                severities[finding[SEVERITY]] += 1
                self.kinds[finding[KIND]] += 1

    @property
    def files_with_findings(self) -> int:
        return len(self.results)

    @property
    def findings(self) -> list[FileFinding]:
        """Every finding with its file, in scan order (the drill-down)."""
        return [
            FileFinding(result.file, tag, severity, code, message, result.series, kind, example)
            for result in self.results
            for tag, severity, code, message, kind, example in result.findings
        ]

    @property
    def unreadable(self) -> list[dict[str, str]]:
        return [item for item in self.skipped if item["kind"] in INCOMPLETE]

    @property
    def verdict(self) -> str:
        if self.kinds[PHI]:
            return "RESIDUAL PHI FOUND"
        if self.unreadable:
            return "INCOMPLETE"
        if self.kinds[REVIEW]:
            return "NO RESIDUAL PHI FOUND, ITEMS TO REVIEW"
        return "CLEAN"

    @property
    def exit_code(self) -> ExitCode:
        if self.files == 0 and self.skipped:
            return ExitCode.ERROR
        verdict = self.verdict
        if verdict in {"RESIDUAL PHI FOUND", "INCOMPLETE"}:
            return ExitCode.FINDINGS
        if verdict != "CLEAN" and self.fail_on_review:
            return ExitCode.FINDINGS
        return ExitCode.CLEAN

    def attribute_rows(self, kind: str | None = None) -> list[AttributeRow]:
        """One row per (attribute, code), identifying values first, then by severity and tag."""
        rows: dict[tuple[str, str, str], AttributeRow] = {}
        files: Counter[tuple[str, str, str]] = Counter()
        for result in self.results:
            seen_here = set()
            for tag, severity, code, message, finding_kind, example in result.findings:
                if kind is not None and finding_kind != kind:
                    continue
                key = (finding_kind, tag, code)
                row = rows.get(key)
                if row is None:
                    row = rows[key] = AttributeRow(
                        finding_kind, severity, tag, attribute_name(tag), code, message
                    )
                if key not in seen_here:
                    seen_here.add(key)
                    files[key] += 1
                    if len(row.first_files) < MAX_EXAMPLES:
                        row.first_files.append(result.file)
                    if result.series not in row.series:
                        row.series.append(result.series)
                if SEVERITIES.index(severity) < SEVERITIES.index(row.severity):
                    row.severity = severity
                if example and example not in row.examples and len(row.examples) < MAX_EXAMPLES:
                    row.examples.append(example)
        for key, row in rows.items():
            row.files = files[key]
        return sorted(
            rows.values(),
            key=lambda row: (KINDS.index(row.kind), SEVERITIES.index(row.severity), row.tag, row.code),
        )

    @property
    def summary(self) -> dict[str, Any]:
        rows = self.attribute_rows()
        severities = Counter(finding[SEVERITY] for result in self.results for finding in result.findings)
        return {
            "verdict": self.verdict,
            "clean": self.verdict == "CLEAN",
            "files": self.files,
            "files_with_findings": self.files_with_findings,
            "series": len(self.series),
            "series_with_findings": sum(1 for s in self.series.values() if s.files_with_findings),
            "skipped": len(self.skipped),
            "unreadable": len(self.unreadable),
            "findings": {severity: severities.get(severity, 0) for severity in SEVERITIES},
            "phi_findings": self.kinds[PHI],
            "review_findings": self.kinds[REVIEW],
            "phi_attributes": sum(1 for row in rows if row.kind == PHI),
            "review_attributes": sum(1 for row in rows if row.kind == REVIEW),
            "recognised_values": dict(sorted(self.recognised.items())),
            "pixels_checked": self.pixels,
            "pixel_checks": self.pixel_description,
            "pixel_text_lines": len(self.pixel_text),
            "pixel_text_matching_header": sum(1 for line in self.pixel_text if line["identifiers"]),
            "pixels_not_decoded": sum(
                1
                for result in self.results
                if any(finding[CODE] == "pixels-not-decoded" for finding in result.findings)
            ),
            "options": list(self.options),
            "jobs": self.jobs,
        }

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"xnat": self.source} if self.source is not None else {}
        return document | {
            "paths": self.paths,
            "files": self.files,
            "files_with_findings": self.files_with_findings,
            "summary": self.summary,
            "attributes": [row.to_json() for row in self.attribute_rows()],
            "series": [summary.to_json() for summary in self.series.values()],
            "findings": [finding.to_json() for finding in self.findings],
            "pixel_text": self.pixel_text,
            "skipped": self.skipped,
        }

    @property
    def pixel_description(self) -> str:
        """What the report says about pixel data: "not checked (headers only)" only without --pixels."""
        if not self.pixels:
            return "not checked (headers only)"
        return f"checked ({self.pixel_checks})" if self.pixel_checks else "checked"


@cache
def attribute_name(tag_text: str) -> str:
    """The attribute's name for a report row: ``(0010,0010)`` Patient's Name, ``(0009,xxxx)`` a group.

    Findings outside DICOM headers have tags of their own: ``name`` (file and folder names), ``json`` and
    ``json:KEY`` (a JSON sidecar, one of its keys), ``nifti:descrip`` and ``nifti:aux_file``.
    """
    if not tag_text.startswith("("):
        return _non_dicom_name(tag_text)
    group, _, element = tag_text.strip("()").partition(",")
    if element.lower() == "xxxx":
        return f"private group {group}"
    try:
        tag = int(group + element, 16)
    except ValueError:
        return ""
    row = row_for_tag(tag)
    if row is not None:
        return row.name
    try:
        return dictionary_description(tag)
    except KeyError:
        return "private attribute" if tag >> 16 & 1 else "unknown attribute"


NON_DICOM_NAMES = {
    "name": "file or folder name",
    "json": "JSON sidecar",
    "nifti:descrip": "NIfTI header descrip (80 bytes)",
    "nifti:aux_file": "NIfTI header aux_file (24 bytes)",
}


def _non_dicom_name(tag_text: str) -> str:
    if tag_text in NON_DICOM_NAMES:
        return NON_DICOM_NAMES[tag_text]
    kind, _, key = tag_text.partition(":")
    if kind != "json":
        return "unknown attribute"
    from pydicom.datadict import tag_for_keyword  # noqa: PLC0415

    from compliance.deid.nifti import SIDECAR_ALIASES  # noqa: PLC0415 - nifti imports this module

    tag = tag_for_keyword(SIDECAR_ALIASES.get(key, key))
    row = row_for_tag(tag) if tag is not None else None
    return f"JSON sidecar key {key}" + (f" = {row.name} {row.tag}" if row is not None else "")
