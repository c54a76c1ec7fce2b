"""Residual-PHI scan of DICOM files: per file and per series, headers only unless pixels are asked for.

For each file the header is read once, up to Pixel Data, as raw elements (``compliance.deid.fastread``;
``dcmread(stop_before_pixels=True)`` for anything unusual) and inspected without converting values:
presence and length decide "the profile says this must go"; free-text values are matched as bytes
against compiled identifier patterns; private blocks, Burned In Annotation, RSNA CTP-style burnt-in
rules and overlays are flagged. Values are never reported verbatim. With ``pixels=True`` the file is
read whole and the pixel data checked for bright text bands and overlay bits in unused high bits.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from compliance.annex_e import AnnexERow, format_tag, load_table, row_for_tag
from compliance.deid.fastread import read_header_elements
from compliance.deid.patterns import PERSON_NAME, find_identifiers, redact
from compliance.exit_codes import ExitCode
from compliance.reports import count_by_severity

TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "SH", "UC", "PN"})
SCANNED_VRS = TEXT_VRS | {"SQ"}
MUST_GO = frozenset({"X", "X/Z"})  # no value may remain (Z and D allow a dummy value)
REPLACE = frozenset({"Z", "D", "Z/D", "X/D", "X/Z/D"})
DATE_VRS = frozenset({"DA", "DT", "TM"})
# Rule checks decided by presence alone: (severity, code); the message is prepared with the rule.
PREPARED_FINDINGS = {"must-go": ("error", "attribute-must-go"), "date": ("warning", "date-retained")}
EMPTY_VALUES = frozenset({b"", b" ", b"\x00"})

BURNED_IN_ANNOTATION = 0x00280301
RECOGNIZABLE_FEATURES = 0x00280302
PATIENT_IDENTITY_REMOVED = 0x00120062
IMAGE_TYPE = 0x00080008
SERIES_DESCRIPTION = 0x0008103E
MODALITY = 0x00080060
SOP_CLASS = 0x00080016
SERIES_UID = 0x0020000E
SECONDARY_CAPTURE_TAGS = (0x00181010, 0x00181012, 0x00181016, 0x00181018, 0x00181019)
BURNT_IN_WORDS = (b"SAVE", b"SCREEN", b"DOSE", b"PATIENT PROTOCOL", b"REPORT")
SECONDARY_CAPTURE_PREFIX = b"1.2.840.10008.5.1.4.1.1.7"
# Values the file-level rules need, collected during the one pass over the header.
HEADER_TAGS = frozenset(
    {
        BURNED_IN_ANNOTATION,
        RECOGNIZABLE_FEATURES,
        PATIENT_IDENTITY_REMOVED,
        IMAGE_TYPE,
        SERIES_DESCRIPTION,
        MODALITY,
        SOP_CLASS,
        *SECONDARY_CAPTURE_TAGS,
    }
)


_REPLACE_WORDS = {
    "Z": "empty or a dummy",
    "D": "replaced by a dummy",
    "Z/D": "empty or a dummy",
    "X/D": "removed or a dummy",
    "X/Z/D": "removed, empty or a dummy",
}


@dataclass(slots=True)
class FileFinding:
    file: str
    tag: str
    severity: str
    code: str
    message: str
    series: str

    def to_json(self) -> dict[str, str]:
        return {
            "file": self.file,
            "tag": self.tag,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "series": self.series,
        }


@dataclass
class SeriesSummary:
    series_uid: str
    modality: str = ""
    files: int = 0
    files_with_findings: int = 0
    findings: dict[str, int] = field(default_factory=lambda: {"error": 0, "warning": 0, "info": 0})

    def to_json(self) -> dict[str, Any]:
        return {
            "series_uid": self.series_uid,
            "modality": self.modality,
            "files": self.files,
            "files_with_findings": self.files_with_findings,
            "findings": self.findings,
        }


@dataclass
class ScanReport:
    paths: list[str]
    options: tuple[str, ...]
    pixels: bool
    files: int = 0
    findings: list[FileFinding] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    series: dict[str, SeriesSummary] = field(default_factory=dict)
    files_with_findings: int = 0

    @property
    def exit_code(self) -> ExitCode:
        if self.files == 0 and self.skipped:
            return ExitCode.ERROR
        if any(f.severity in {"error", "warning"} for f in self.findings):
            return ExitCode.FINDINGS
        return ExitCode.CLEAN

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "clean": self.exit_code == ExitCode.CLEAN,
            "files": self.files,
            "files_with_findings": self.files_with_findings,
            "series": len(self.series),
            "series_with_findings": sum(1 for s in self.series.values() if s.files_with_findings),
            "skipped": len(self.skipped),
            "findings": count_by_severity(f.to_json() for f in self.findings),
            "pixels_checked": self.pixels,
            "options": list(self.options),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "files": self.files,
            "files_with_findings": self.files_with_findings,
            "summary": self.summary,
            "findings": [finding.to_json() for finding in self.findings],
            "series": [summary.to_json() for summary in self.series.values()],
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Rule:
    """A table row with its required action and its finding text, prepared once per scan."""

    row: AnnexERow
    required: str
    check: str  # "must-go", "date", "name", "text", "nested" or "none" (UIDs: not judged per file)
    message: str


@cache
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ", maxsplit=1)[0]
    except KeyError:
        return "UN"


def build_rules(options: Sequence[str]) -> dict[int, Rule]:
    """Fixed-tag rows whose required action (given the options) removes or replaces the value."""
    rules = {}
    for row in load_table():
        tag = row.tag_value
        required = row.required_action(options)
        if tag is not None and required not in {"K", "C"}:
            rules[tag] = Rule(row, required, _rule_check(row, required), _rule_message(row, required))
    return rules


def _rule_check(row: AnnexERow, required: str) -> str:
    vr = (row.vr or "UN").split(" or ", maxsplit=1)[0]
    if required in MUST_GO:
        return "must-go"
    if required not in REPLACE:
        return "none"
    if vr in DATE_VRS:
        return "date"
    if vr == "PN":
        return "name"
    if vr in TEXT_VRS:
        return "text"
    return "nested" if vr == "SQ" else "none"


def _rule_message(row: AnnexERow, required: str) -> str:
    if required in MUST_GO:
        action = "removed" if required == "X" else "removed or emptied"
        return f"{row.name} has a value; the profile requires it {action} ({required})"
    return (
        f"{row.name} holds a date/time; the profile requires it {_REPLACE_WORDS.get(required, required)} "
        "unless a retain-longitudinal option applies (check it is a dummy or a shifted value)"
    )


class Scanner:
    """Scans files with rules built once for the declared Annex E options."""

    def __init__(self, options: Sequence[str] = (), pixels: bool = False) -> None:
        self.options = tuple(options)
        self.pixels = pixels
        self.rules = build_rules(self.options)
        self.private_allowed = "retain-safe-private" in self.options

    def scan(self, paths: Sequence[Path]) -> ScanReport:
        report = ScanReport([str(path) for path in paths], self.options, self.pixels)
        for path in iter_files(paths, report.skipped):
            self.scan_file(path, report)
        return report

    def scan_file(self, path: Path, report: ScanReport) -> None:
        name = str(path)
        elements = None if self.pixels else _fast_header(path)
        ds = None
        if elements is None:
            try:
                ds = dcmread(name, stop_before_pixels=not self.pixels)
            except (InvalidDicomError, OSError, ValueError, EOFError) as error:
                report.skipped.append({"file": name, "reason": f"not readable as DICOM: {error}"})
                return
            elements = _element_map(ds)
        series_uid = _text(elements, SERIES_UID) or "(no Series Instance UID)"
        findings = self.check_elements(elements, name, series_uid)
        if ds is not None and self.pixels:
            from compliance.deid.pixels import check_pixels  # noqa: PLC0415 - numpy only when asked for

            findings.extend(
                FileFinding(name, tag, severity, code, message, series_uid)
                for tag, severity, code, message in check_pixels(ds)
            )
        report.files += 1
        summary = report.series.get(series_uid)
        if summary is None:
            summary = report.series[series_uid] = SeriesSummary(series_uid, _text(elements, MODALITY))
        summary.files += 1
        if findings:
            report.findings.extend(findings)
            report.files_with_findings += 1
            summary.files_with_findings += 1
            for finding in findings:
                summary.findings[finding.severity] += 1

    def check_elements(self, elements: Mapping[int, Any], name: str, series: str) -> list[FileFinding]:
        """Every finding for one file's top-level elements; the common path appends prepared findings."""
        found: list[FileFinding] = []
        header: dict[int, bytes] = {}
        private_groups: dict[int, int] = {}
        creator_tags: list[int] = []
        rules = self.rules
        for element_tag, raw in elements.items():
            tag = element_tag.real  # a plain int: dict lookups then compare in C, not via BaseTag.__eq__
            group = tag >> 16
            if group & 1:
                private_groups[group] = private_groups.get(group, 0) + 1
                if 0x10 <= tag & 0xFFFF <= 0xFF:
                    creator_tags.append(tag)
                continue
            value = raw.value if type(raw) is RawDataElement else getattr(raw, "value", None)
            if not value or (type(value) is bytes and value in EMPTY_VALUES):
                continue
            if tag in HEADER_TAGS:
                header[tag] = value if isinstance(value, bytes) else str(value).encode("latin-1", "replace")
            rule = rules.get(tag)
            if rule is not None:
                prepared = PREPARED_FINDINGS.get(rule.check)
                if prepared is not None:
                    found.append(FileFinding(name, rule.row.tag, *prepared, rule.message, series))
                elif rule.check != "none" and isinstance(value, bytes):
                    found.extend(self._check_replaced(rule, tag, value, name, series))
            elif type(value) is bytes and (
                0x5000 <= group <= 0x60FF or (raw.VR or _dictionary_vr(tag)) in SCANNED_VRS
            ):
                found.extend(self._check_unlisted(raw, value, name, series))
        if private_groups and not self.private_allowed:
            found.extend(self._private(elements, private_groups, creator_tags, name, series))
        found.extend(self._burnt_in(header, name, series))
        if _header_text(header, PATIENT_IDENTITY_REMOVED).upper() != "YES":
            found.append(
                FileFinding(
                    name,
                    format_tag(PATIENT_IDENTITY_REMOVED),
                    "warning",
                    "not-marked-deidentified",
                    "Patient Identity Removed (0012,0062) is not YES: the file does not claim to be "
                    "de-identified",
                    series,
                )
            )
        return found

    def _check_unlisted(
        self, raw: RawDataElement, value: bytes, name: str, series: str
    ) -> Iterator[FileFinding]:
        """Attributes without a fixed table row: overlays/curves by group, free text by pattern."""
        tag = int(raw.tag)
        if 0x5000 <= tag >> 16 <= 0x60FF:
            yield from self._check_repeating(tag, value, name, series)
            return
        vr = raw.VR or _dictionary_vr(tag)
        if vr in TEXT_VRS or vr == "SQ":
            yield from self._check_text(tag, value, name, series, nested=vr == "SQ")

    def _check_replaced(
        self, rule: Rule, tag: int, value: bytes, name: str, series: str
    ) -> Iterator[FileFinding]:
        """Text the profile lets hold a dummy: real-looking names and identifiers are still suspect."""
        if rule.check == "name" and PERSON_NAME.match(value):
            yield FileFinding(
                name,
                rule.row.tag,
                "warning",
                "real-looking-name",
                f"{rule.row.name} looks like a real FAMILY^GIVEN name "
                f"({redact(value.decode('latin-1'))}); the profile requires a dummy value",
                series,
            )
        if rule.check != "name":  # a PN value is a name by definition: judged by its shape above
            yield from self._check_text(tag, value, name, series, nested=rule.check == "nested", row=rule.row)

    def _check_text(
        self,
        tag: int,
        value: bytes,
        name: str,
        series: str,
        *,
        nested: bool = False,
        row: AnnexERow | None = None,
    ) -> Iterator[FileFinding]:
        for pattern, redacted in find_identifiers(value, nested=nested):
            label = row.name if row else (row_for_tag(tag).name if row_for_tag(tag) else "attribute")
            where = "inside the sequence " if nested else ""
            yield FileFinding(
                name,
                format_tag(tag),
                pattern.severity,
                pattern.code,
                f"{where}{label} contains {pattern.description}: {redacted}",
                series,
            )

    def _check_repeating(
        self, tag: int, value: bytes | None, name: str, series: str
    ) -> Iterator[FileFinding]:
        element = tag & 0xFFFF
        if tag >> 16 >= 0x6000 and element in {0x3000, 0x4000} and value:
            what = (
                "Overlay Data (may carry burnt-in graphics or text)"
                if element == 0x3000
                else "Overlay Comments"
            )
            yield FileFinding(
                name, format_tag(tag), "error", "overlay", f"{what} present; the profile removes it", series
            )
        elif tag >> 16 < 0x5100 and value:
            yield FileFinding(
                name, format_tag(tag), "error", "curve-data", "Curve Data present (retired)", series
            )

    def _private(
        self, elements: Mapping[int, Any], groups: dict[int, int], creators: list[int], name: str, series: str
    ) -> Iterator[FileFinding]:
        for group, count in sorted(groups.items()):
            names = sorted({_text(elements, tag) for tag in creators if tag >> 16 == group} - {""})
            label = ", ".join(names) if names else "no private creator"
            yield FileFinding(
                name,
                f"({group:04X},xxxx)",
                "warning",
                "private-attributes",
                f"{count} private element(s) in group {group:04X} ({label}); the Basic Profile removes "
                "private attributes unless they are known safe (--option retain-safe-private)",
                series,
            )

    def _burnt_in(self, header: dict[int, bytes], name: str, series: str) -> Iterator[FileFinding]:
        burned = _header_text(header, BURNED_IN_ANNOTATION).upper()
        if burned == "YES":
            yield FileFinding(
                name,
                format_tag(BURNED_IN_ANNOTATION),
                "error",
                "burned-in-annotation",
                "Burned In Annotation is YES: the pixels carry identifying text; clean the pixel data "
                "(alterPixels) or exclude the image",
                series,
            )
            return
        if _header_text(header, RECOGNIZABLE_FEATURES).upper() == "YES":
            yield FileFinding(
                name,
                format_tag(RECOGNIZABLE_FEATURES),
                "warning",
                "recognizable-visual-features",
                "Recognizable Visual Features is YES (e.g. a face): needs review",
                series,
            )
        reason = _burnt_in_reason(header)
        if reason and burned != "NO":
            yield FileFinding(
                name,
                format_tag(BURNED_IN_ANNOTATION),
                "warning",
                "burnt-in-risk",
                f"likely burnt-in text ({reason}, CTP-style rule) and Burned In Annotation is not NO: "
                "review the pixels or check with --pixels",
                series,
            )


def _burnt_in_reason(header: dict[int, bytes]) -> str:
    image_type = header.get(IMAGE_TYPE, b"").upper()
    description = header.get(SERIES_DESCRIPTION, b"").upper()
    for word in BURNT_IN_WORDS:
        if word in image_type:
            return f"Image Type contains {word.decode()}"
        if word in description:
            return f"Series Description contains {word.decode()}"
    if header.get(SOP_CLASS, b"").startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary capture SOP class"
    if any(tag in header for tag in SECONDARY_CAPTURE_TAGS):
        return "secondary capture attributes present"
    if header.get(MODALITY, b"").strip() == b"US":
        return "ultrasound"
    return ""


def _element_map(ds: Dataset) -> Mapping[int, Any]:
    """Tag -> element without converting raw elements to values.

    pydicom keeps elements in ``Dataset._dict``; reading it directly avoids a tag conversion per
    element (``keys()`` + ``get_item``). Falls back to the public API if that attribute goes away.
    """
    elements = getattr(ds, "_dict", None)
    if isinstance(elements, dict):
        return elements
    return {tag: ds.get_item(tag) for tag in ds.keys()}  # noqa: SIM118 - iterating would convert


def _fast_header(path: Path) -> Mapping[int, Any] | None:
    """The raw header via :mod:`compliance.deid.fastread`, or None to let ``dcmread`` handle the file."""
    try:
        return read_header_elements(path)
    except (OSError, EOFError, ValueError, KeyError, struct.error, NotImplementedError):
        return None


def _header_text(header: dict[int, bytes], tag: int) -> str:
    return header.get(tag, b"").decode("latin-1").strip(" \x00")


def _raw_bytes(elements: Mapping[int, Any], tag: int) -> bytes:
    raw = elements.get(tag)
    value = getattr(raw, "value", None)
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value.rstrip(b" \x00")
    return str(value).encode("latin-1", "replace")


def _text(elements: Mapping[int, Any], tag: int) -> str:
    return _raw_bytes(elements, tag).decode("latin-1").strip()


def iter_files(paths: Iterable[Path], skipped: list[dict[str, str]]) -> Iterator[Path]:
    """Files named directly and every file below named directories, in a stable order."""
    for path in paths:
        if path.is_dir():
            for root, directories, files in os.walk(path):
                directories.sort()
                for file_name in sorted(files):
                    yield Path(root) / file_name
        elif path.is_file():
            yield path
        else:
            skipped.append({"file": str(path), "reason": "no such file or directory"})


def scan_paths(paths: Sequence[Path], options: Sequence[str] = (), pixels: bool = False) -> ScanReport:
    return Scanner(options, pixels).scan(paths)
