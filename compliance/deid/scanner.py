"""Residual-PHI scan of DICOM files: per file, per series and per attribute, headers only unless asked.

Each file's header is read once, up to Pixel Data, as raw elements (``compliance.deid.fastread``;
pydicom for anything unusual) and inspected without converting values: presence decides "the profile
says this must go"; dates are judged only on the attributes Annex E lists that describe the patient's
timeline, and only when they are not dummies; free-text values are matched as bytes against compiled
identifier patterns; private blocks, Burned In Annotation, RSNA CTP-style burnt-in rules and overlays
are review items. Values set on purpose are recognised (``compliance.deid.dummies``): the profile's
dummies, the constants the anonymisation script writes, and the options the file declares it applied.
Values are never reported verbatim. With ``pixels=True`` the pixel data is decoded and checked too:
heuristics on the first frame (``compliance.deid.pixels``) and the burnt-in text detectors of
``compliance.pixels.detect`` - deid's filter recipes (plus a trust recipe, ``recipe_file``) and tesseract
OCR of at most ``max_frames`` frames per file downscaled to ``max_side`` pixels, each text line with its
bounding box and the header identifiers it matches, redacted. The recipe is loaded once per process.

dcm2niix's outputs in a scan (NIfTI images, their JSON sidecars) are judged by ``compliance.deid.nifti``
after the DICOM, with the identifiers and declared options of the DICOM around them
(``compliance.deid.context``), and every file's name by ``compliance.deid.names``.

Every file is scanned on its own: a file that cannot be read (not regular, malformed, hostile) becomes
a skipped entry and the scan goes on. ``jobs`` > 1 spreads files over processes
(``compliance.deid.parallel``) with the same report, in the same order, as one process.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from compliance.annex_e import OPTIONS_BY_NAME, AnnexERow, format_tag, load_table, row_for_tag
from compliance.deid.dummies import KnownValues, declared_options, is_dummy
from compliance.deid.fastread import (
    BINARY_VRS,
    NOT_READ,
    Header,
    NeedsPydicom,
    NotDicom,
    NotRegularFile,
    UnreadableFile,
    read_header_elements,
)
from compliance.deid.patterns import PERSON_NAME, find_identifiers, redact
from compliance.deid.report import PHI, REVIEW, FileResult, Finding, PixelText, ScanReport

if TYPE_CHECKING:
    from compliance.deid.context import IdentifierContext, ListedFile

TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "SH", "UC", "PN"})
SCANNED_VRS = TEXT_VRS | {"SQ"}
MUST_GO = frozenset({"X", "X/Z"})  # no value may remain (Z and D allow a dummy value)
REPLACE = frozenset({"Z", "D", "Z/D", "X/D", "X/Z/D"})
DATE_VRS = frozenset({"DA", "DT", "TM"})
EMPTY_VALUES = frozenset({b"", b" ", b"\x00"})
NO_KNOWN_VALUES: frozenset[bytes] = frozenset()
# Table rows whose dates version a coding resource or a template, not anything about the patient:
# Annex E lists them (a dummy replaces them), but a real value there identifies nobody.
NOT_PATIENT_DATA = frozenset({0x00080106, 0x00080107, 0x0040DB06, 0x0040DB07})

BURNED_IN_ANNOTATION = 0x00280301
RECOGNIZABLE_FEATURES = 0x00280302
PATIENT_IDENTITY_REMOVED = 0x00120062
DEIDENTIFICATION_CODES = 0x00120064
LONGITUDINAL_MODIFIED = 0x00280303
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
# Why a value was recognised as set on purpose (the report counts them).
PLACEHOLDER, SCRIPT_VALUE, SHIFTED, NOT_PATIENT = "dummy", "script value", "shifted as declared", "version"

_REPLACE_WORDS = {
    "Z": "empty or a dummy",
    "D": "replaced by a dummy",
    "Z/D": "empty or a dummy",
    "X/D": "removed or a dummy",
    "X/Z/D": "removed, empty or a dummy",
}


@dataclass(frozen=True)
class Rule:
    """A table row with its required action and its finding text, prepared once per option set."""

    row: AnnexERow
    required: str
    check: str  # "must-go", "date", "name", "text", "nested" or "none" (UIDs: not judged per file)
    vr: str
    message: str


@cache
def build_rules(options: frozenset[str]) -> dict[int, Rule]:
    """Fixed-tag rows whose required action (given the options) removes or replaces the value."""
    rules = {}
    for row in load_table():
        tag = row.tag_value
        required = row.required_action(sorted(options))
        if tag is not None and required not in {"K", "C"}:
            vr = (row.vr or "UN").split(" or ", maxsplit=1)[0]
            check = _rule_check(vr, required)
            rules[tag] = Rule(row, required, check, vr, _rule_message(row, required))
    return rules


def _rule_check(vr: str, required: str) -> str:
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
        f"{row.name} holds a real-looking date/time; the profile requires it "
        f"{_REPLACE_WORDS.get(required, required)} unless a retain-longitudinal option applies"
    )


@dataclass(frozen=True)
class ScanSettings:
    """Everything a scanning process needs (picklable, so worker processes build the same Scanner)."""

    options: tuple[str, ...] = ()
    pixels: bool = False
    known_values: tuple[tuple[int, frozenset[bytes]], ...] = ()
    pixel: PixelSettings | None = None


@dataclass(frozen=True)
class PixelSettings:
    """How ``--pixels`` looks for burnt-in text; every bound on its work is here."""

    recipe_file: str | None = None  # a trust's deid recipe, evaluated after deid's shipped one
    ocr: bool = True
    max_frames: int = 3  # frames OCR reads per file (first, middle, last)
    max_side: int = 1024  # frames are downscaled to this longest side before OCR
    timeout: float = 30.0  # seconds one tesseract call may take

    def describe(self) -> str:
        recipes = "deid.dicom" + (f" + {Path(self.recipe_file).name}" if self.recipe_file else "")
        ocr = (
            f"OCR of up to {self.max_frames} frame(s) per file at {self.max_side} px"
            if self.ocr
            else "no OCR"
        )
        return f"heuristics, deid recipe {recipes}, {ocr}"


# Loaded recipes by file ("" for deid's shipped recipe alone): once per process. Forked workers inherit
# what the parent loaded before they started; spawned ones load it once, when they start.
_RECIPES: dict[str, object] = {}


def pixel_recipe(recipe_file: str | None) -> object:
    key = recipe_file or ""
    if key not in _RECIPES:
        from compliance.pixels.recipes import load_recipe  # noqa: PLC0415 - deid loads on use

        _RECIPES[key] = load_recipe(Path(recipe_file) if recipe_file else None)
    return _RECIPES[key]


class Scanner:
    """Scans files with rules built once for the declared Annex E options."""

    def __init__(
        self,
        options: Sequence[str] = (),
        pixels: bool = False,
        known_values: KnownValues | None = None,
        jobs: int = 1,
        fail_on_review: bool = False,
        *,
        pixel: PixelSettings | None = None,
    ) -> None:
        self.options = tuple(options)
        self.pixels = pixels
        self.pixel = pixel or PixelSettings()
        self.known_values: KnownValues = dict(known_values or {})
        self.jobs = max(1, jobs)
        self.fail_on_review = fail_on_review
        self.rules = build_rules(frozenset(self.options))
        self.private_allowed = "retain-safe-private" in self.options

    @classmethod
    def from_settings(cls, settings: ScanSettings) -> Scanner:
        return cls(settings.options, settings.pixels, dict(settings.known_values), pixel=settings.pixel)

    @property
    def settings(self) -> ScanSettings:
        return ScanSettings(self.options, self.pixels, tuple(sorted(self.known_values.items())), self.pixel)

    def prepare(self) -> None:
        """Before any file: load the recipe (``RecipeError``) and find tesseract (``OcrUnavailableError``)."""
        if self.pixels:
            pixel_recipe(self.pixel.recipe_file)
            if self.pixel.ocr:
                from compliance.pixels.ocr import tesseract_path  # noqa: PLC0415

                tesseract_path()

    def _report(self, paths: list[str]) -> ScanReport:
        self.prepare()
        report = ScanReport(paths, self.options, self.pixels, self.jobs, self.fail_on_review)
        report.pixel_checks = self.pixel.describe() if self.pixels else ""
        return report

    def scan(self, paths: Sequence[Path | str]) -> ScanReport:
        from compliance.deid.context import list_local  # noqa: PLC0415 - avoids an import cycle

        report = self._report([display_name(str(path)) for path in paths])
        self.scan_listed(report, list_local(paths))
        return report

    def scan_named(self, files: Sequence[ListedFile | tuple[str, str]], label: str) -> ScanReport:
        """Scan local copies, each reported under its own name (``(local path, name)``, e.g. an XNAT URL).

        A :class:`~compliance.deid.context.ListedFile` also says the file's kind (DICOM or a dcm2niix
        output), the name parts judged and where its DICOM context is (``compliance.deid.xnat_source``).
        """
        from compliance.deid.context import ListedFile  # noqa: PLC0415

        report = self._report([label])
        listed = [item if isinstance(item, ListedFile) else ListedFile(item[0], item[1]) for item in files]
        self.scan_listed(report, listed)
        return report

    def scan_listed(self, report: ScanReport, listed: Sequence[ListedFile]) -> None:
        """DICOM files first (on every core, in listing order), then the dcm2niix outputs (in order).

        Each DICOM result teaches the context the identifiers of its group (the first file of each series);
        every file's name parts are judged with its context; the outputs are judged once all DICOM is in.
        """
        from compliance.deid.context import DICOM, IdentifierContext  # noqa: PLC0415
        from compliance.deid.nifti import scan_output  # noqa: PLC0415
        from compliance.deid.parallel import scan_all  # noqa: PLC0415 - avoids an import cycle

        context = IdentifierContext(self)
        dicom = [item for item in listed if item.kind == DICOM]
        for item, result in zip(
            dicom, scan_all(self, [item.entry for item in dicom], self.jobs), strict=True
        ):
            context.learn(item, result)
            report.add(self._named(item, result, context))
        for item in listed:
            if item.kind != DICOM:
                report.add(self._named(item, scan_output(self, item, context.around(item)), context))

    def _named(self, item: ListedFile, result: FileResult, context: IdentifierContext) -> FileResult:
        """The result under the item's name, with the findings in its name parts (and those masked)."""
        from compliance.deid.names import check_names, masked_display  # noqa: PLC0415

        contexts = context.around(item)
        findings, masked, shifted = check_names(item.parts, contexts, self)
        display = masked_display(item.display, item.parts, masked)
        if result.skipped:
            return result._replace(file=display)
        recognised = result.recognised
        if shifted:
            recognised = tuple((Counter(dict(recognised)) + Counter({SHIFTED: shifted})).items())
        return result._replace(
            file=display, findings=result.findings + tuple(findings), recognised=recognised
        )

    def scan_file(self, path: str) -> FileResult:
        """One file's findings, or why it was skipped; never raises for a bad file."""
        name = display_name(path)
        try:
            return self._scan_file(path, name)
        except Exception as error:  # one odd file must not end the scan of the others
            kind, reason = why_skipped(error)
            return FileResult(name, skipped=reason, skip_kind=kind)

    def _scan_file(self, path: str, name: str) -> FileResult:
        try:
            header = read_header_elements(path)
        except NeedsPydicom:
            from compliance.deid.pydicom_read import header_from_dataset, read_dataset  # noqa: PLC0415

            header = header_from_dataset(read_dataset(path))
        series = _text(header, SERIES_UID) or "(no Series Instance UID)"
        checks = FileChecks(self, header, name, series)
        findings = checks.run()
        lines: tuple[PixelText, ...] = ()
        if self.pixels:
            burned_in_no = _text(header, BURNED_IN_ANNOTATION).upper() == "NO"
            pixel_findings, lines = self._pixel_findings(path, burned_in_no)
            findings.extend(pixel_findings)
        return FileResult(
            name,
            series,
            _text(header, MODALITY),
            tuple(findings),
            tuple(checks.recognised.items()),
            pixel_text=lines,
        )

    def _pixel_findings(self, path: str, burned_in_no: bool) -> tuple[list[Finding], tuple[PixelText, ...]]:
        from compliance.deid.pixels import burnt_in, check_pixels  # noqa: PLC0415 - numpy only when asked for
        from compliance.deid.pydicom_read import read_dataset  # noqa: PLC0415

        dataset = read_dataset(path, pixels=True)
        findings: list[Finding] = []
        decoded = True
        for tag, severity, code, message in check_pixels(dataset):
            decoded = decoded and code != "pixels-not-decoded"
            findings.append((tag, severity, code, message, REVIEW, ""))
        settings = self.pixel
        more, lines = burnt_in(
            dataset,
            pixel_recipe(settings.recipe_file),  # type: ignore[arg-type]
            use_ocr=settings.ocr and decoded,  # what could not be decoded is not decoded again for OCR
            max_frames=settings.max_frames,
            max_side=settings.max_side,
            timeout=settings.timeout,
            burned_in_no=burned_in_no,
        )
        findings.extend(more)
        return findings, lines


class FileChecks:
    """The checks of one file's header: one pass over its elements, then the file-level rules."""

    def __init__(self, scanner: Scanner, header: Header, name: str, series: str) -> None:
        self.header = header
        self.name = name
        self.series = series
        self.known = scanner.known_values
        self.private_allowed = scanner.private_allowed
        self.pixels = scanner.pixels
        self.recognised: Counter[str] = Counter()
        self.found: list[Finding] = []
        self.rules = scanner.rules
        declared = declared_options(_raw(header, DEIDENTIFICATION_CODES), _raw(header, LONGITUDINAL_MODIFIED))
        self.declared = tuple(sorted(declared - set(scanner.options)))
        self.effective_options = tuple(sorted({*scanner.options, *self.declared}))
        self.effective_rules = build_rules(frozenset(self.effective_options)) if self.declared else self.rules

    def add(self, tag: str, severity: str, code: str, message: str, *, kind: str, example: str = "") -> None:
        self.found.append((tag, severity, code, message, kind, example))

    def run(self) -> list[Finding]:
        header_values: dict[int, bytes] = {}
        private_groups: dict[int, int] = {}
        creator_tags: list[int] = []
        rules = self.rules
        for tag, (vr, value) in self.header.items():
            group = tag >> 16
            if group & 1:
                private_groups[group] = private_groups.get(group, 0) + 1
                if 0x10 <= tag & 0xFFFF <= 0xFF:
                    creator_tags.append(tag)
                elif vr in TEXT_VRS and value not in EMPTY_VALUES:
                    self.check_text(tag, value)
                continue
            if value in EMPTY_VALUES:
                continue
            if tag in HEADER_TAGS:
                header_values[tag] = value
            rule = rules.get(tag)
            if rule is not None:
                self.judge(tag, vr, value, rule)
            elif 0x5000 <= group <= 0x60FF:
                self.check_repeating(tag, value)
            elif vr in SCANNED_VRS:
                self.check_text(tag, value, nested=vr == "SQ")
        if private_groups and not self.private_allowed:
            self.report_private(private_groups, creator_tags)
        self.check_burnt_in(header_values)
        if _header_text(header_values, PATIENT_IDENTITY_REMOVED).upper() != "YES":
            self.add(
                tag_text(PATIENT_IDENTITY_REMOVED),
                "warning",
                "not-marked-deidentified",
                "Patient Identity Removed (0012,0062) is not YES: the file does not claim to be "
                "de-identified",
                kind=REVIEW,
            )
        return self.found

    def judge(self, tag: int, vr: str, value: bytes, rule: Rule) -> None:
        """An attribute with a table row the profile removes or replaces."""
        if self.declared:
            effective = self.effective_rules.get(tag)
            if effective is None:
                self.judge_declared(tag, vr, value, rule.row)
                return
            rule = effective
        check = rule.check
        if check == "none":
            return
        why = self.set_on_purpose(tag, rule.vr if vr == "UN" else vr, value)
        if check == "must-go":
            self.judge_must_go(tag, value, rule, why)
        elif why:
            self.recognised[why] += 1
        elif check == "date":
            self.add(
                rule.row.tag,
                "warning",
                "date-retained",
                rule.message,
                kind=PHI,
                example=redact(_latin1(value)),
            )
        elif check == "name":
            if PERSON_NAME.match(value):
                self.add(
                    rule.row.tag,
                    "warning",
                    "real-looking-name",
                    f"{rule.row.name} looks like a real FAMILY^GIVEN name; the profile requires a dummy "
                    "value",
                    kind=PHI,
                    example=redact(_latin1(value)),
                )
        else:
            self.check_text(tag, value, nested=check == "nested", row=rule.row)

    def set_on_purpose(self, tag: int, vr: str, value: bytes) -> str:
        """Why ``value`` is known not to be patient data ("" when it may be)."""
        if tag in NOT_PATIENT_DATA:
            return NOT_PATIENT
        known = self.known.get(tag, NO_KNOWN_VALUES)
        if known and value.strip(b" \x00") in known:
            return SCRIPT_VALUE
        return PLACEHOLDER if is_dummy(vr, value, known) else ""

    def judge_must_go(self, tag: int, value: bytes, rule: Rule, why: str) -> None:
        row = rule.row
        if why == NOT_PATIENT:
            message = f"{row.name} versions a coding resource or template (not patient data); {rule.message}"
            self.add(row.tag, "info", "version-kept", message, kind=REVIEW)
        elif why:
            message = (
                f"{row.name} holds a placeholder value; the profile requires it removed ({rule.required})"
            )
            self.add(
                row.tag,
                "info",
                "dummy-instead-of-removal",
                message,
                kind=REVIEW,
                example=example(rule.vr, value),
            )
        else:
            self.add(
                row.tag, "error", "attribute-must-go", rule.message, kind=PHI, example=example(rule.vr, value)
            )

    def judge_declared(self, tag: int, vr: str, value: bytes, row: AnnexERow) -> None:
        """The file declares an option (in (0012,0064)) under which this attribute is kept or cleaned."""
        action = row.required_action(self.effective_options)
        if action == "C":
            value_vr = vr if vr != "UN" else (row.vr or "UN").split(" or ", maxsplit=1)[0]
            if value_vr in DATE_VRS:  # the option's dates are modified (shifted), not real ones
                self.recognised[self.set_on_purpose(tag, value_vr, value) or SHIFTED] += 1
            elif vr in SCANNED_VRS:
                self.check_text(tag, value, nested=vr == "SQ", row=row)
            return
        name = row.governing_option(self.effective_options) or ", ".join(self.declared)
        option = OPTIONS_BY_NAME.get(name)
        meaning = f"{option.meaning} ({option.code})" if option else name
        self.add(
            row.tag,
            "info",
            "kept-under-declared-option",
            f"{row.name} is kept under the {meaning} the file declares in (0012,0064); scan with "
            f"--option {name} if that option is approved for this data",
            kind=REVIEW,
            example=example(vr if vr != "UN" else row.vr or "UN", value),
        )

    def check_text(
        self, tag: int, value: bytes, *, nested: bool = False, row: AnnexERow | None = None
    ) -> None:
        hits = find_identifiers(value, nested=nested)
        for pattern, redacted in hits:
            message = _text_message(tag, row.name if row else None, pattern.description, nested)
            self.add(tag_text(tag), pattern.severity, pattern.code, message, kind=PHI, example=redacted)

    def check_repeating(self, tag: int, value: bytes) -> None:
        """Overlay and curve groups (60xx, 50xx): what the profile removes, left for a person to look at."""
        element = tag & 0xFFFF
        if tag >> 16 >= 0x6000 and element in {0x3000, 0x4000}:
            if element == 0x4000:
                self.check_text(tag, value)
            what = (
                "Overlay Data (may carry burnt-in graphics or text)"
                if element == 0x3000
                else "Overlay Comments"
            )
            self.add(
                tag_text(tag), "warning", "overlay", f"{what} present; the profile removes it", kind=REVIEW
            )
        elif tag >> 16 < 0x5100:
            self.add(tag_text(tag), "warning", "curve-data", "Curve Data present (retired)", kind=REVIEW)

    def report_private(self, groups: dict[int, int], creators: list[int]) -> None:
        for group, count in sorted(groups.items()):
            names = sorted({_text(self.header, tag) for tag in creators if tag >> 16 == group} - {""})
            self.add(
                f"({group:04X},xxxx)",
                "warning",
                "private-attributes",
                f"private elements in group {group:04X}; the Basic Profile removes private attributes unless "
                "they are known safe (--option retain-safe-private)",
                kind=REVIEW,
                example=f"{count} element(s), creator {', '.join(names)}"
                if names
                else f"{count} element(s), no creator",
            )

    def check_burnt_in(self, header: dict[int, bytes]) -> None:
        burned = _header_text(header, BURNED_IN_ANNOTATION).upper()
        if burned == "YES":
            self.add(
                tag_text(BURNED_IN_ANNOTATION),
                "error",
                "burned-in-annotation",
                "Burned In Annotation is YES: the pixels carry identifying text; clean the pixel data "
                "(alterPixels) or exclude the image",
                kind=PHI,
            )
            return
        if _header_text(header, RECOGNIZABLE_FEATURES).upper() == "YES":
            self.add(
                tag_text(RECOGNIZABLE_FEATURES),
                "warning",
                "recognizable-visual-features",
                "Recognizable Visual Features is YES (e.g. a face): needs review",
                kind=REVIEW,
            )
        reason = _burnt_in_reason(header)
        if reason and burned != "NO":
            self.add(
                tag_text(BURNED_IN_ANNOTATION),
                "warning",
                "burnt-in-risk",
                f"likely burnt-in text ({reason}, CTP-style rule) and Burned In Annotation is not NO: "
                + ("see the pixel findings" if self.pixels else "review the pixels or check with --pixels"),
                kind=REVIEW,
            )


def why_skipped(error: Exception) -> tuple[str, str]:
    """(skip kind, reason) for a file that could not be scanned."""
    if isinstance(error, NotRegularFile):
        return "not-regular", str(error)
    if isinstance(error, UnreadableFile):
        return "unreadable", f"not readable as DICOM: {error}"
    if isinstance(error, NotDicom):
        return "not-dicom", f"not DICOM: {error}"
    if isinstance(error, FileNotFoundError):
        return "missing", "no such file or directory"
    if isinstance(error, OSError):
        return "unreadable", f"cannot be read: {error.strerror or error}"
    return "unreadable", f"could not be scanned ({type(error).__name__}: {error})"


# Cached so that the same text is the same object: a worker's results then pickle each string once.
tag_text = cache(format_tag)


@cache
def _text_message(tag: int, row_name: str | None, description: str, nested: bool) -> str:
    governing = row_for_tag(tag)
    label = row_name or (
        governing.name if governing else "private attribute" if tag >> 16 & 1 else "attribute"
    )
    return f"{'inside the sequence ' if nested else ''}{label} contains {description}"


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


def _latin1(value: bytes) -> str:
    return value.decode("latin-1")


def example(vr: str, value: bytes) -> str:
    """What a report may show of a value: text redacted, binary and sequences by size only."""
    if vr == "SQ":
        return f"a sequence of {len(value)} bytes"
    if vr in BINARY_VRS:
        return "a large binary value" if value == NOT_READ else f"{len(value)} bytes"
    return redact(_latin1(value))


def _header_text(header: dict[int, bytes], tag: int) -> str:
    return header.get(tag, b"").decode("latin-1").strip(" \x00")


def _raw(header: Header, tag: int) -> bytes:
    element = header.get(tag)
    return element[1] if element else b""


def _text(header: Header, tag: int) -> str:
    return _raw(header, tag).rstrip(b" \x00").decode("latin-1").strip()


def display_name(path: str) -> str:
    """The path as text for reports: bytes that are not UTF-8 shown as \\xNN escapes, never an error."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def scan_paths(
    paths: Sequence[Path | str],
    options: Sequence[str] = (),
    pixels: bool = False,
    jobs: int = 1,
    pixel: PixelSettings | None = None,
) -> ScanReport:
    return Scanner(options, pixels, jobs=jobs, pixel=pixel).scan(paths)
