"""What a scan lists and what it knows around each file: its kind, the name parts judged, the DICOM nearby.

A scan covers DICOM files and what dcm2niix makes of them: NIfTI images (``.nii``, ``.nii.gz``; their
header's text fields are read), JSON sidecars (a ``.json`` beside a NIfTI image of the same stem, or any
``.json`` of an XNAT ``NIFTI`` resource) and ``.bval``/``.bvec`` files beside a NIfTI image (only their
names are judged). Every file is a :class:`ListedFile`: what to read, how reports name it, the path
components whose text is judged (below the scanned directory, or the path inside an XNAT resource), and
where its DICOM context comes from.

That context (:class:`IdentifierContext`) is the patient's identifiers read from the header of the first
DICOM file scanned in a ``group`` (a directory; in XNAT a scan of a session), one per series: name
components, patient ID, other IDs, birth date and accession number, each with whether the DICOM scan
itself judged the value identifying (a ``phi`` finding on that attribute) or not (a pseudonym, a label).
A NIfTI output with no DICOM in its own group takes the identifiers of its ``family`` (the parent
directory and its other subdirectories: ``scan/NIFTI`` beside ``scan/DICOM``; in XNAT the session).
Values are matched as normalised tokens (letters and digits, upper case; one, two or three adjacent
tokens joined) and never reported: only the attribute and a redacted form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from compliance.deid.dummies import declared_options, is_dummy
from compliance.deid.fastread import Header, NeedsPydicom, read_header_elements
from compliance.deid.patterns import redact
from compliance.deid.report import KIND, PHI, TAG, FileResult

if TYPE_CHECKING:
    from compliance.deid.scanner import Scanner

DICOM, NIFTI, SIDECAR, NAME_ONLY = "dicom", "nifti", "sidecar", "name-only"
OUTPUT_KINDS = frozenset({NIFTI, SIDECAR, NAME_ONLY})
NIFTI_SUFFIXES = (".nii", ".nii.gz")
SIDECAR_SUFFIX = ".json"
NAME_ONLY_SUFFIXES = (".bval", ".bvec")
MAX_SERIES_PER_GROUP = 8  # identifiers kept per directory (one per series): a mixed folder stays bounded

PATIENT_NAME, PATIENT_ID, OTHER_IDS, BIRTH_DATE, ACCESSION = (
    0x00100010,
    0x00100020,
    0x00101000,
    0x00100030,
    0x00080050,
)
SERIES_UID, MODALITY = 0x0020000E, 0x00080060
DEIDENTIFICATION_CODES, LONGITUDINAL_MODIFIED = 0x00120064, 0x00280303
ID_ATTRIBUTES = ((PATIENT_ID, "PatientID"), (ACCESSION, "AccessionNumber"), (OTHER_IDS, "OtherPatientIDs"))
MIN_NAME_PART = 3  # shorter name components (initials) would match too much
MIN_ID_LENGTH = 3
NOT_COMPARED_VRS = frozenset({"SQ", "OB", "OW", "OD", "OF", "OL", "OV", "UN"})
MAX_COMPARED = 1024  # longer values are not kept for comparing with sidecars
MIN_ID_WITHIN = 6  # IDs at least this long are also found inside a longer token ("ID9434765919")
_TOKEN = re.compile(r"[0-9A-Za-z]+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
UID_SHAPED = re.compile(
    r"(?<![0-9A-Za-z.])\d+(?:\.\d+){3,}(?![0-9A-Za-z]|\.\d)"
)  # UIDs: not judged, as in DICOM


class ListedFile(NamedTuple):
    """One file of a scan: what to read, how reports name it, what of its name is judged, its context."""

    entry: str | FileResult  # a local path to read, or a file the listing already set aside
    display: str  # how reports name it (a path, an XNAT URL); ends with "/".join(parts)
    parts: tuple[str, ...] = ()  # the path components judged for identifiers
    kind: str = DICOM
    group: str = ""  # DICOM of the same group give the identifiers (a directory; XNAT: session/scan)
    family: str = ""  # else DICOM of the same family (the parent directory; XNAT: the session)


class Known(NamedTuple):
    """One identifier from a DICOM header, in the forms it is matched in; never reported as is."""

    attribute: str  # e.g. "PatientName"
    tag: int
    forms: frozenset[str]  # normalised (letters and digits, upper case)
    redacted: str
    identifying: bool  # the DICOM scan judged this value identifying (a phi finding on the attribute)
    within: bool = False  # also looked for inside longer tokens


class HeaderContext(NamedTuple):
    """What the first scanned DICOM of a series in a group tells the checks of files around it."""

    identifiers: tuple[Known, ...]
    declared: frozenset[str]  # Annex E options the DICOM declares in (0012,0064) / (0028,0303)
    series: str
    modality: str
    values: dict[int, bytes]  # the header's values of attributes the profile removes or replaces


def output_kind(name: str, sibling: Path | None = None) -> str:
    """The kind of a file by its name; a ``.json`` (``.bval``, ``.bvec``) needs a NIfTI image beside it."""
    lower = name.lower()
    if lower.endswith(NIFTI_SUFFIXES):
        return NIFTI
    for suffixes, kind in ((SIDECAR_SUFFIX,), SIDECAR), (NAME_ONLY_SUFFIXES, NAME_ONLY):
        suffix = next((suffix for suffix in suffixes if lower.endswith(suffix)), None)
        if suffix is None:
            continue
        stem = name[: -len(suffix)]
        if sibling is None or any((sibling / f"{stem}{nifti}").is_file() for nifti in NIFTI_SUFFIXES):
            return kind
    return DICOM


def list_local(paths: Sequence[Path | str]) -> list[ListedFile]:
    """Every file below the named paths (as :func:`compliance.deid.parallel.list_files` lists them)."""
    from compliance.deid.parallel import list_files  # noqa: PLC0415 - parallel imports the scanner
    from compliance.deid.scanner import display_name  # noqa: PLC0415

    listed = []
    for root in map(str, paths):
        shown_root = display_name(root).rstrip("/") or "/"
        for entry in list_files([root]):
            path = entry if isinstance(entry, str) else None
            shown = display_name(path) if path is not None else entry.file  # type: ignore[union-attr]
            below = shown[len(shown_root) :] if shown.startswith(shown_root) else ""
            parts = tuple(part for part in below.split("/") if part) or (shown.rsplit("/", 1)[-1],)
            directory = Path(path if path is not None else shown).parent
            kind = output_kind(parts[-1], directory) if path is not None else DICOM
            listed.append(ListedFile(entry, shown, parts, kind, str(directory), str(directory.parent)))
    return listed


def _normalise(text: str) -> str:
    return _NOT_ALNUM.sub("", text).upper()


def _text(header: Header, tag: int) -> str:
    element = header.get(tag)
    return element[1].rstrip(b" \x00").decode("latin-1").strip() if element else ""


def identifiers_from_header(header: Header, phi_tags: frozenset[str], scanner: Scanner) -> tuple[Known, ...]:
    """The patient's identifiers in a DICOM header; dummies and the script's own values are left out."""
    from compliance.deid.scanner import tag_text  # noqa: PLC0415
    from compliance.pixels.identifiers import date_forms  # noqa: PLC0415

    found: list[Known] = []

    def wanted(tag: int, vr: str, raw: bytes) -> bool:
        value = raw.strip(b" \x00")
        return bool(value) and not is_dummy(vr, value, scanner.known_values.get(tag, frozenset()))

    name = header.get(PATIENT_NAME)
    if name and wanted(PATIENT_NAME, "PN", name[1]):
        identifying = tag_text(PATIENT_NAME) in phi_tags
        for part in re.split(r"[\^= ]+", _text(header, PATIENT_NAME)):
            if len(_normalise(part)) >= MIN_NAME_PART and not is_dummy("PN", part.encode("latin-1")):
                found.append(
                    Known(
                        "PatientName", PATIENT_NAME, frozenset({_normalise(part)}), redact(part), identifying
                    )
                )
    for tag, attribute in ID_ATTRIBUTES:
        element = header.get(tag)
        if not element or not wanted(tag, "LO", element[1]):
            continue
        for value in _text(header, tag).split("\\"):
            normal = _normalise(value)
            if len(normal) >= MIN_ID_LENGTH:
                identifying = tag_text(tag) in phi_tags
                found.append(
                    Known(
                        attribute,
                        tag,
                        frozenset({normal}),
                        redact(value),
                        identifying,
                        len(normal) >= MIN_ID_WITHIN,
                    )
                )
    birth = _text(header, BIRTH_DATE)
    if re.fullmatch(r"\d{8}", birth) and wanted(BIRTH_DATE, "DA", birth.encode()):
        identifying = tag_text(BIRTH_DATE) in phi_tags
        found.append(Known("PatientBirthDate", BIRTH_DATE, date_forms(birth), redact(birth), identifying))
    return tuple(found)


def without_uids(text: str) -> str:
    """``text`` with UID-shaped runs (``1.2.840.…``) blanked, positions kept."""
    return UID_SHAPED.sub(lambda match: " " * len(match.group()), text)


def _readings(text: str) -> dict[str, tuple[int, int]]:
    """Tokens and runs of two or three adjacent tokens, joined, each with where it first is in ``text``."""
    tokens = [(match.group().upper(), match.start(), match.end()) for match in _TOKEN.finditer(text)]
    readings: dict[str, tuple[int, int]] = {}
    for size in (1, 2, 3):
        for index in range(len(tokens) - size + 1):
            run = tokens[index : index + size]
            readings.setdefault("".join(token for token, _, _ in run), (run[0][1], run[-1][2]))
    return readings


def matching(text: str, identifiers: Iterable[Known]) -> list[tuple[Known, tuple[int, int]]]:
    """The identifiers ``text`` holds, each with the first place it is found (start, end)."""
    identifiers = tuple(identifiers)
    if not identifiers or not text:
        return []
    readings = _readings(without_uids(text))
    hits = []
    for known in identifiers:
        span = next((readings[form] for form in known.forms if form in readings), None)
        if span is None and known.within:
            span = next(
                (where for reading, where in readings.items() for form in known.forms if form in reading),
                None,
            )
        if span is not None:
            hits.append((known, span))
    return hits


class IdentifierContext:
    """The identifiers (and declared options) of the DICOM around each file, learnt while scanning."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.by_group: dict[str, list[HeaderContext]] = {}
        self.family_groups: dict[str, list[str]] = {}

    def learn(self, item: ListedFile, result: FileResult) -> None:
        """Read the identifiers of a scanned DICOM file, the first of its series in its group."""
        if result.skipped or not isinstance(item.entry, str):
            return
        known = self.by_group.get(item.group)
        if known is None:
            known = self.by_group[item.group] = []
            self.family_groups.setdefault(item.family, []).append(item.group)
        if len(known) >= MAX_SERIES_PER_GROUP or any(context.series == result.series for context in known):
            return
        header = _read_header(item.entry)
        if header is None:
            return
        phi_tags = frozenset(finding[TAG] for finding in result.findings if finding[KIND] == PHI)
        declared = declared_options(
            header.get(DEIDENTIFICATION_CODES, ("", b""))[1], header.get(LONGITUDINAL_MODIFIED, ("", b""))[1]
        )
        known.append(
            HeaderContext(
                identifiers_from_header(header, phi_tags, self.scanner),
                declared,
                result.series,
                result.modality,
                {
                    tag: value.strip(b" \x00")
                    for tag, (vr, value) in header.items()
                    if tag in self.scanner.rules and vr not in NOT_COMPARED_VRS and len(value) <= MAX_COMPARED
                },
            )
        )

    def around(self, item: ListedFile) -> list[HeaderContext]:
        """The DICOM context of a file: its own group's, else its family's (siblings and parent)."""
        own = self.by_group.get(item.group)
        if own:
            return own
        groups = [*self.family_groups.get(item.family, ()), item.family]
        return [context for group in dict.fromkeys(groups) for context in self.by_group.get(group, ())]


def _read_header(path: str) -> Header | None:
    try:
        return read_header_elements(path)
    except NeedsPydicom:
        from compliance.deid.pydicom_read import header_from_dataset, read_dataset  # noqa: PLC0415

        try:
            return header_from_dataset(read_dataset(path))
        except Exception:  # already scanned (and reported) once; no context is the safe outcome
            return None
    except Exception:
        return None
