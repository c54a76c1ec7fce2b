"""dcm2niix outputs as things to check: JSON sidecars and the text fields of NIfTI headers.

**Sidecars.** Every top-level key that is a DICOM keyword (dcm2niix's BIDS names are DICOM keywords,
``ProcedureStepDescription`` aside) and has a row in Annex E is judged as the DICOM attribute would be,
under the options in force (``--option``, what the DICOM around the file declares and what the sidecar
itself copies from (0012,0064)): a value the profile removes (``X``, ``X/Z``) is ``attribute-must-go``,
dates and times are ``date-retained`` unless dummies, names ``real-looking-name``, text is searched for
identifiers. A sidecar of dcm2niix's anonymising mode (``-ba y``) leaves out the patient's attributes; a
key the profile removes or replaces that still holds a value the DICOM beside it does not hold (or with no
DICOM scanned beside it) is ``identifying-key-in-sidecar``: the scan cannot tell a dummy from a real
value there. A sidecar with the keys only ``-ba n`` writes (``PatientName``, ``AccessionNumber``,
``AcquisitionDateTime``…) is a review item, ``sidecar-not-anonymised``. Other string values are searched
for identifier patterns; every value for the identifiers of the DICOM around it. Placeholders (dcm2niix
writes ``"None"`` for an empty department) are recognised values, not findings.

**NIfTI headers** (NIfTI-1 and ANALYZE: 348 bytes; NIfTI-2: 540; gzip for ``.nii.gz``; only the header
is read). ``descrip`` (80 bytes), where dcm2niix writes ``TE=…;Time=hhmmss.fff``: a time of day that is
not zero is Acquisition Time (0008,0032) kept, ``time-of-day-retained``, an error as the attribute itself
would be (the profile removes it, X/Z), unless a retain-longitudinal option keeps or shifts times. The
rest of ``descrip`` and ``aux_file`` (24 bytes; dcm2niix copies Image Comments there) are searched for
identifiers; text in ``aux_file`` is also a review item (``header-text``).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

from compliance.annex_e import rows_by_tag
from compliance.deid.context import NAME_ONLY, NIFTI, SIDECAR, HeaderContext, Known, ListedFile, matching
from compliance.deid.dummies import is_dummy
from compliance.deid.fastread import Header, UnreadableFile, open_regular_file
from compliance.deid.names import effective_options, identifier_findings
from compliance.deid.patterns import find_identifiers, redact
from compliance.deid.report import CODE, KIND, PHI, REVIEW, FileResult, Finding

MAX_SIDECAR_BYTES = 4 * 1024 * 1024  # dcm2niix's sidecars are a few KiB; larger ones are not read
MAX_STRINGS = 20_000  # string values searched per sidecar
NIFTI1_SIZE, NIFTI2_SIZE = 348, 540
HEADER_FIELDS = {  # (offset, length) of descrip and aux_file
    NIFTI1_SIZE: ((148, 80), (228, 24)),
    NIFTI2_SIZE: ((240, 80), (320, 24)),
}
GZIP_MAGIC = b"\x1f\x8b"
DESCRIP, AUX_FILE, SIDECAR_TAG = "nifti:descrip", "nifti:aux_file", "json"
ACQUISITION_TIME = 0x00080032
TIME_IN_DESCRIP = re.compile(r"(?:^|;)\s*Time=([0-9.]*)")
# dcm2niix's BIDS names that are not the DICOM keyword of the attribute they copy.
SIDECAR_ALIASES = {
    "ProcedureStepDescription": "PerformedProcedureStepDescription",
    "ManufacturersModelName": "ManufacturerModelName",
}
# What dcm2niix writes only without anonymisation (-ba n): the keys observed from 1.0.20260724.
NOT_ANONYMISED_KEYS = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientAge",
        "PatientWeight",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "AcquisitionDateTime",
    }
)
PLACEHOLDER = "dummy"  # as compliance.deid.scanner counts values set on purpose
SAFE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,63}")
DATE_VRS = frozenset({"DA", "DT", "TM"})
SCANNED_VRS = frozenset({"LO", "LT", "ST", "UT", "SH", "UC", "PN", "SQ"})  # as the DICOM scan searches
KEEP_ACTIONS = frozenset({"K", "C", "U"})
_ACTION_WORDS = {
    "X": "removed",
    "X/Z": "removed or emptied",
    "Z": "emptied or a dummy",
    "D": "replaced by a dummy",
    "Z/D": "emptied or a dummy",
    "X/D": "removed or a dummy",
    "X/Z/D": "removed, emptied or a dummy",
}


class NotNifti(Exception):  # noqa: N818 - reads as the outcome it reports
    """The file has a NIfTI name but not a NIfTI-1/NIfTI-2 (or ANALYZE) header."""


class NotJson(Exception):  # noqa: N818
    """A sidecar that is not a JSON object."""


class NiftiText(NamedTuple):
    version: int  # 1 (NIfTI-1 or ANALYZE 7.5) or 2
    descrip: str
    aux_file: str


def read_nifti_text(path: str) -> NiftiText:
    """``descrip`` and ``aux_file`` of a NIfTI header (the header only; gzip read just that far)."""
    with os.fdopen(open_regular_file(path), "rb") as handle:
        start = handle.read(2)
        handle.seek(0)
        try:
            if start == GZIP_MAGIC:
                with gzip.GzipFile(fileobj=handle) as stream:
                    data = stream.read(NIFTI2_SIZE)
            else:
                data = handle.read(NIFTI2_SIZE)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise UnreadableFile(
                f"the gzip stream ends or is corrupt before the NIfTI header: {error}"
            ) from error
    if len(data) < 4:
        raise NotNifti("too short for a NIfTI header")
    size = next(
        (value for order in "<>" if (value := struct.unpack_from(f"{order}i", data)[0]) in HEADER_FIELDS),
        None,
    )
    if size is None:
        raise NotNifti("no NIfTI-1 (348) or NIfTI-2 (540) header size at the start")
    if len(data) < size:
        raise UnreadableFile(f"the NIfTI header is cut short ({len(data)} of {size} bytes)")
    (descrip_at, descrip_length), (aux_at, aux_length) = HEADER_FIELDS[size]
    return NiftiText(
        1 if size == NIFTI1_SIZE else 2,
        _field(data, descrip_at, descrip_length),
        _field(data, aux_at, aux_length),
    )


def _field(data: bytes, offset: int, length: int) -> str:
    return data[offset : offset + length].split(b"\x00", 1)[0].decode("latin-1").strip()


def read_sidecar(path: str) -> dict[str, Any]:
    with os.fdopen(open_regular_file(path), "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_SIDECAR_BYTES:
            raise UnreadableFile(f"sidecar of {size} bytes, more than {MAX_SIDECAR_BYTES} read: not scanned")
        data = handle.read(MAX_SIDECAR_BYTES + 1)
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise NotJson(f"not JSON: {type(error).__name__}") from error
    if not isinstance(document, dict):
        raise NotJson("not a JSON object")
    return document


def scan_output(scanner: Any, item: ListedFile, contexts: list[HeaderContext]) -> FileResult:
    """One dcm2niix output's findings (names are judged by the caller); never raises for a bad file."""
    from compliance.deid.scanner import why_skipped  # noqa: PLC0415 - the scanner imports this module

    series, modality = _series_of(contexts)
    if item.kind == NAME_ONLY or not isinstance(item.entry, str):
        return FileResult(item.display, series, modality)
    try:
        if item.kind == NIFTI:
            findings, recognised = header_findings(scanner, read_nifti_text(item.entry), contexts)
        elif item.kind == SIDECAR:
            document = read_sidecar(item.entry)
            checks = SidecarChecks(scanner, document, contexts)
            findings, recognised = checks.run()
            series = str(document.get("SeriesInstanceUID") or series)
            modality = str(document.get("Modality") or modality)
        else:  # pragma: no cover - the listing sends only output kinds here
            return FileResult(item.display, series, modality)
    except NotNifti as error:
        return FileResult(item.display, skipped=f"not NIfTI: {error}", skip_kind="not-nifti")
    except NotJson as error:
        return FileResult(item.display, skipped=f"sidecar {error}", skip_kind="not-json")
    except Exception as error:  # one odd file must not end the scan of the others
        kind, reason = why_skipped(error)
        if kind == "unreadable" and reason.startswith("not readable as DICOM: "):
            reason = f"not readable: {reason.removeprefix('not readable as DICOM: ')}"
        return FileResult(item.display, skipped=reason, skip_kind=kind)
    return FileResult(item.display, series, modality, tuple(findings), tuple(recognised.items()))


def _series_of(contexts: list[HeaderContext]) -> tuple[str, str]:
    """The DICOM series an output comes from, when the DICOM around it is one series."""
    if len({context.series for context in contexts}) == 1:
        return contexts[0].series, contexts[0].modality
    return "(no Series Instance UID)", ""


def header_findings(
    scanner: Any, text: NiftiText, contexts: list[HeaderContext]
) -> tuple[list[Finding], Counter[str]]:
    from compliance.deid.scanner import SHIFTED  # noqa: PLC0415

    findings: list[Finding] = []
    recognised: Counter[str] = Counter()
    identifiers = [known for context in contexts for known in context.identifiers]
    descrip = text.descrip
    time = TIME_IN_DESCRIP.search(descrip)
    if time is not None:
        descrip = descrip[: time.start()] + descrip[time.end() :]
        row = rows_by_tag()[ACQUISITION_TIME]
        action = row.required_action(sorted(effective_options(scanner, contexts)))
        value = time.group(1)
        if action == "K":  # kept under a retain-longitudinal option: nothing to judge
            pass
        elif action == "C":
            recognised[SHIFTED] += 1
        elif _is_zero(value) or is_dummy("TM", value.encode()):
            recognised[PLACEHOLDER] += 1
        else:
            findings.append(
                (
                    DESCRIP,
                    "error",
                    "time-of-day-retained",
                    "the NIfTI header's descrip holds a time of day (Time=…, dcm2niix's copy of Acquisition "
                    "Time (0008,0032)); the profile requires Acquisition Time "
                    f"{_ACTION_WORDS.get(action, action)} ({action}): convert DICOM whose acquisition times "
                    "are removed",
                    PHI,
                    redact(value),
                )
            )
    findings += _text_findings(DESCRIP, "the NIfTI header's descrip", descrip, identifiers)
    aux = text.aux_file
    if aux and not is_dummy("LO", aux.encode("latin-1")):
        findings.append(
            (
                AUX_FILE,
                "warning",
                "header-text",
                "the NIfTI header's aux_file holds text (dcm2niix copies Image Comments (0020,4000) there, "
                "which the profile removes): review it",
                REVIEW,
                redact(aux),
            )
        )
        findings += _text_findings(AUX_FILE, "the NIfTI header's aux_file", aux, identifiers)
    return findings, recognised


def _is_zero(value: str) -> bool:
    try:
        return float(value or "0") == 0
    except ValueError:
        return False


def _text_findings(where: str, what: str, text: str, identifiers: list[Known]) -> list[Finding]:
    """Identifier patterns and the DICOM's identifiers in some text."""
    findings: list[Finding] = [
        (where, pattern.severity, pattern.code, f"{what} contains {pattern.description}", PHI, redacted)
        for pattern, redacted in find_identifiers(text.encode("utf-8", "replace"))
    ]
    findings += identifier_findings(where, what, matching(text, identifiers))
    return findings


class SidecarChecks:
    """A JSON sidecar judged key by key with the rules of the DICOM attributes its keys name."""

    def __init__(self, scanner: Any, document: dict[str, Any], contexts: list[HeaderContext]) -> None:
        from compliance.deid.scanner import FileChecks, build_rules  # noqa: PLC0415 - it imports this module

        self.document = document
        self.contexts = contexts
        self.identifiers = [known for context in contexts for known in context.identifiers]
        self.found: list[Finding] = []
        self.recognised: Counter[str] = Counter()
        self.header: Header = {}
        self.keys: dict[int, str] = {}
        self.textual: set[int] = set()  # attributes whose sidecar value is text (compared with identifiers)
        for key, value in document.items():
            tag, vr = _attribute(key)
            if tag is None or value in (None, "", [], {}):
                continue
            raw = _dicom_bytes(value, vr)
            if raw.strip(b" \x00\\"):
                self.header[tag] = (vr, raw)
                self.keys[tag] = key
                if isinstance(value, str) or (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    self.textual.add(tag)
        # The sidecar's copies of (0012,0064) and (0028,0303) declare options as the DICOM's do.
        self.checks = FileChecks(scanner, self.header, "", "")
        around = {option for context in contexts for option in context.declared}
        extra = tuple(sorted(around - set(scanner.options) - set(self.checks.declared)))
        if extra:  # options the DICOM beside it declares: judged as the DICOM itself is
            checks = self.checks
            checks.declared = tuple(sorted({*checks.declared, *extra}))
            checks.effective_options = tuple(sorted({*scanner.options, *checks.declared}))
            checks.effective_rules = build_rules(frozenset(checks.effective_options))
        self.options = frozenset(self.checks.effective_options)

    def run(self) -> tuple[list[Finding], Counter[str]]:
        checks = self.checks
        for tag, (vr, value) in self.header.items():
            key = self.keys[tag]
            before = len(checks.found)
            rule = checks.rules.get(tag)
            if rule is not None:
                checks.judge(tag, vr, value, rule)
            elif vr in SCANNED_VRS:
                checks.check_text(tag, value, nested=vr == "SQ")
            new = checks.found[before:]
            del checks.found[before:]
            # A placeholder where the profile removes the attribute: the DICOM's own review item, not
            # repeated per sidecar (dcm2niix writes "None" for an empty department).
            kept = [finding for finding in new if finding[CODE] != "dummy-instead-of-removal"]
            if len(kept) < len(new):
                self.recognised[PLACEHOLDER] += len(new) - len(kept)
            shown = self._shown_key(key)
            self.found += [(f"json:{shown}", *finding[1:]) for finding in kept]
            if not any(finding[KIND] == PHI for finding in kept) and self._identifying_leftover(
                tag, vr, value
            ):
                self.found.append(self._leftover_finding(tag, shown))
            if tag in self.textual:
                hits = matching(value_text(value), self.identifiers)
                self.found += identifier_findings(
                    f"json:{shown}", f"the sidecar's {shown}", hits, skip_tags=frozenset({tag})
                )
        self.recognised.update(checks.recognised)
        for key, text in _strings(self.document, {self.keys[tag] for tag in self.header}):
            shown = self._shown_key(key)
            self.found += _text_findings(f"json:{shown}", f"the sidecar's {shown}", text, self.identifiers)
        not_anonymised = sorted(
            key for key in NOT_ANONYMISED_KEYS if self.document.get(key) not in (None, "")
        )
        if not_anonymised:
            self.found.append(
                (
                    SIDECAR_TAG,
                    "warning",
                    "sidecar-not-anonymised",
                    "the sidecar has keys dcm2niix writes only without anonymisation (-ba n): "
                    f"{', '.join(not_anonymised)}; convert with -b y -ba y",
                    REVIEW,
                    "",
                )
            )
        return list(dict.fromkeys(self.found)), self.recognised

    def _identifying_leftover(self, tag: int, vr: str, value: bytes) -> bool:
        """A value of an attribute the profile removes or replaces, not set on purpose, not the DICOM's."""
        row = rows_by_tag().get(tag)
        if row is None or row.required_action(sorted(self.options)) in KEEP_ACTIONS:
            return False
        if self.checks.set_on_purpose(tag, vr, value):
            return False
        return not any(context.values.get(tag) == value.strip() for context in self.contexts)

    def _leftover_finding(self, tag: int, shown: str) -> Finding:
        row = rows_by_tag()[tag]
        action = row.required_action(sorted(self.options))
        beside = "the DICOM beside it does not hold" if self.contexts else "no DICOM was scanned beside it"
        return (
            f"json:{shown}",
            "warning",
            "identifying-key-in-sidecar",
            f"the sidecar keeps {row.name} {row.tag} with a value {beside}; the profile requires it "
            f"{_ACTION_WORDS.get(action, action)} ({action}), and the scan cannot tell a dummy from a real "
            "value here: convert de-identified DICOM with -ba y",
            PHI,
            redact(value_text(self.header[tag][1])),
        )

    def _shown_key(self, key: str) -> str:
        """The key as reports show it: a key that looks like an identifier itself is redacted."""
        if (
            SAFE_KEY.fullmatch(key)
            and not find_identifiers(key.encode())
            and not matching(key, self.identifiers)
        ):
            return key
        return redact(key)


def value_text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _attribute(key: str) -> tuple[int | None, str]:
    """The DICOM tag and VR of a sidecar key, or (None, "") for keys that name no attribute."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword  # noqa: PLC0415

    tag = tag_for_keyword(SIDECAR_ALIASES.get(key, key))
    if tag is None:
        return None, ""
    row = rows_by_tag().get(tag)
    vr = (row.vr if row is not None else None) or dictionary_VR(tag)
    return tag, (vr or "UN").split(" or ", maxsplit=1)[0]


def _dicom_bytes(value: Any, vr: str) -> bytes:
    """A sidecar value as the DICOM element's bytes: BIDS dates and times back in DICOM form."""
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(item, dict | list) for item in value)
    ):
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    items = value if isinstance(value, list) else [value]
    texts = [_scalar_text(item) for item in items]
    if vr in DATE_VRS:
        texts = [text.replace("-", "").replace(":", "").replace("T", "") for text in texts]
    return "\\".join(texts).encode("utf-8", "replace")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _strings(document: dict[str, Any], judged: set[str]) -> Iterator[tuple[str, str]]:
    """(top-level key, string) for every string below the keys not judged as attributes, bounded."""
    count = 0
    for key, value in document.items():
        if key in judged:
            continue
        stack = [value]
        while stack and count < MAX_STRINGS:
            current = stack.pop()
            if isinstance(current, str):
                count += 1
                yield key, current
            elif isinstance(current, dict):
                stack.extend(current.values())
            elif isinstance(current, list):
                stack.extend(reversed(current))
