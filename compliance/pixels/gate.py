"""The release gate: which scans of a session may leave XNAT when the project requires pixel cleaning.

A project is marked in XNAT through its keywords (Project > Edit > Keywords; the REST project document's
``keywords`` field, ``/data/projects/P?format=json`` -> ``items[0].data_fields.keywords``):

* ``enclave-requires-pixel-cleaning`` — scans of the kinds that carry burnt-in text (ultrasound,
  secondary capture, other/document objects, dose reports, patient protocols, screen saves and reports,
  by XNAT scan type, modality or series description) are released only through their cleaned resource:
  DICOM as ``DICOM_CLEANED`` (the pixel-cleaning command's output, ``enclave anon clean-pixels``), any
  other resource ``R`` only as ``R_CLEANED`` (a NIfTI made from uncleaned DICOM carries the same text);
* ``enclave-requires-pixel-cleaning-all`` — the same for every scan of the project;
* ``enclave-requires-defacing`` — MR and CT scans are released only through a ``DEFACED*`` resource
  (the defacing container's output; the originals stay in XNAT). A scan of a kind that carries burnt-in
  text (a CT dose screen) is judged by the pixel-cleaning rule instead, when the project has one.

:func:`release_decisions` applies the marker to a session's scans and resources and says, per scan,
which resource may be downloaded instead of the one asked for, or why none may; it reads nothing
itself. A cleaned resource without files does not count. Without a marker every scan is released as
asked (when it has the resource).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PIXEL_CLEANING_MARKER = "enclave-requires-pixel-cleaning"
PIXEL_CLEANING_ALL_MARKER = "enclave-requires-pixel-cleaning-all"
DEFACING_MARKER = "enclave-requires-defacing"
CLEANED_SUFFIX = "_CLEANED"
DEFACED_PREFIX = "DEFACED"
REPORT_RESOURCE = "PIXEL_CLEAN_REPORT"  # what was blanked and verified: no PHI, always releasable
# XNAT scan data types and DICOM modalities whose images typically carry burnt-in text.
CARRIER_TYPES = frozenset(
    {"xnat:usScanData", "xnat:scScanData", "xnat:otherDicomScanData", "xnat:xcScanData", "xnat:esScanData"}
)
CARRIER_MODALITIES = frozenset({"US", "SC", "OT", "DOC", "XC", "ES", "SR"})
FACE_TYPES = frozenset({"xnat:mrScanData", "xnat:ctScanData", "xnat:petmrSessionData"})
FACE_MODALITIES = frozenset({"MR", "CT"})
# Scanners and XNAT write these with spaces, underscores or hyphens ("Dose Report", "Dose_Report").
CARRIER_DESCRIPTION = re.compile(
    r"dose[\s_-]*(report|info|summary|screen|sr)|patient[\s_-]*protocol|screen[\s_-]*(save|capture|shot)"
    r"|(?<![a-z])report(?![a-z])|worksheet|exam[\s_-]*summary",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReleaseMarker:
    """What a project requires before its scans are released."""

    pixel_cleaning: bool = False
    pixel_cleaning_all: bool = False  # every scan, not only the kinds that carry burnt-in text
    defacing: bool = False

    @property
    def any(self) -> bool:
        return self.pixel_cleaning or self.pixel_cleaning_all or self.defacing


def marker_from_keywords(keywords: str | Iterable[str] | None) -> ReleaseMarker:
    """The marker in an XNAT project's keywords (space- or comma-separated; case does not matter)."""
    if keywords is None:
        return ReleaseMarker()
    words = keywords if not isinstance(keywords, str) else re.split(r"[\s,;]+", keywords)
    found = {str(word).strip().lower() for word in words}
    everything = PIXEL_CLEANING_ALL_MARKER in found
    return ReleaseMarker(
        pixel_cleaning=everything or PIXEL_CLEANING_MARKER in found,
        pixel_cleaning_all=everything,
        defacing=DEFACING_MARKER in found,
    )


@dataclass(frozen=True)
class ScanRelease:
    """The gate's decision for one scan."""

    scan: str  # the scan's id
    allowed: bool
    resource: str | None  # the resource to download (the cleaned one when the marker asks); None if refused
    reason: str  # why (always given, so a report can say it)
    by_policy: bool = False  # refused by the project's marker (not merely a missing resource)

    def to_json(self) -> dict[str, Any]:
        return {
            "scan": self.scan,
            "allowed": self.allowed,
            "resource": self.resource,
            "reason": self.reason,
            "by_policy": self.by_policy,
        }


def _field(scan: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = scan.get(name)
        if value not in (None, ""):
            return str(value)
    return ""


def _resources(scan: Mapping[str, Any]) -> dict[str, int | None]:
    """Resource label -> file count (None when the listing does not say)."""
    found: dict[str, int | None] = {}
    for item in scan.get("resources") or ():
        if isinstance(item, str):
            found[item] = None
            continue
        label = _field(item, "label", "xnat_abstractresource_label")
        if not label:
            continue
        count = item.get("file_count", item.get("files"))
        if isinstance(count, list):
            count = len(count)
        try:
            found[label] = None if count in (None, "") else int(count)
        except (TypeError, ValueError):
            found[label] = None
    return found


def carries_burnt_in_text(scan: Mapping[str, Any]) -> bool:
    """Whether a scan is of a kind that typically carries burnt-in text (type, modality, description)."""
    xsi_type = _field(scan, "xsiType", "xsi_type", "xsiTYPE")
    modality = _field(scan, "modality", "Modality").upper()
    description = " ".join(
        _field(scan, name)
        for name in ("type", "series_description", "seriesDescription", "SeriesDescription")
    )
    return (
        xsi_type in CARRIER_TYPES
        or modality in CARRIER_MODALITIES
        or bool(CARRIER_DESCRIPTION.search(description))
    )


def shows_a_face(scan: Mapping[str, Any]) -> bool:
    """MR and CT scans: the kinds a defacing requirement applies to."""
    xsi_type = _field(scan, "xsiType", "xsi_type", "xsiTYPE")
    return xsi_type in FACE_TYPES or _field(scan, "modality", "Modality").upper() in FACE_MODALITIES


def cleaned_label(resource: str) -> str:
    """The cleaned counterpart of a resource: DICOM -> DICOM_CLEANED, NIFTI -> NIFTI_CLEANED."""
    return resource if resource.upper().endswith(CLEANED_SUFFIX) else f"{resource}{CLEANED_SUFFIX}"


def release_decisions(
    scans: Iterable[Mapping[str, Any]], marker: ReleaseMarker | None, resource: str = "DICOM"
) -> list[ScanRelease]:
    """Per scan (in the given order), whether ``resource`` may be released, and as which resource.

    ``scans``: XNAT's scan listing rows of one session, each with ``ID`` (or ``id``), ``xsiType``,
    ``type`` / ``series_description``, optionally ``modality``, and ``resources`` (labels, or mappings
    with ``label`` and ``file_count``). ``marker``: the project's (:func:`marker_from_keywords`), None
    for none.
    """
    marker = marker or ReleaseMarker()
    return [_decide(scan, marker, resource) for scan in scans]


def releasable(
    scans: Iterable[Mapping[str, Any]], marker: ReleaseMarker | None, resource: str = "DICOM"
) -> dict[str, str]:
    """Scan id -> the resource to download, for the scans the gate releases."""
    return {
        decision.scan: decision.resource
        for decision in release_decisions(scans, marker, resource)
        if decision.allowed and decision.resource
    }


def _decide(scan: Mapping[str, Any], marker: ReleaseMarker, resource: str) -> ScanRelease:
    scan_id = _field(scan, "ID", "id")
    resources = _resources(scan)
    carrier = carries_burnt_in_text(scan)
    if resource == REPORT_RESOURCE:  # the cleaning report: what was blanked and verified, no PHI
        return _as_asked(scan_id, resources, resource, "the cleaning report carries no PHI")
    if marker.pixel_cleaning_all or (marker.pixel_cleaning and carrier):
        return _cleaned(scan_id, resources, resource)
    if marker.defacing and shows_a_face(scan) and not carrier:
        return _defaced(scan_id, resources, resource)
    return _as_asked(scan_id, resources, resource, "no cleaning required for this scan")


def _present(resources: dict[str, int | None], label: str) -> bool:
    return label in resources and resources[label] != 0


def _as_asked(scan_id: str, resources: dict[str, int | None], resource: str, why: str) -> ScanRelease:
    if _present(resources, resource):
        return ScanRelease(scan_id, True, resource, why)
    files = " with files" if resource in resources else ""
    return ScanRelease(scan_id, False, None, f"the scan has no {resource} resource{files}")


def _cleaned(scan_id: str, resources: dict[str, int | None], resource: str) -> ScanRelease:
    cleaned = cleaned_label(resource)
    if _present(resources, cleaned):
        reason = (
            "cleaned resource"
            if cleaned == resource
            else f"the project requires pixel cleaning: {cleaned} instead of {resource}"
        )
        return ScanRelease(scan_id, True, cleaned, reason)
    files = " with files" if cleaned in resources else ""
    return ScanRelease(
        scan_id,
        False,
        None,
        f"the project requires pixel cleaning for this kind of scan and it has no {cleaned} resource{files}",
        by_policy=True,
    )


def _defaced(scan_id: str, resources: dict[str, int | None], resource: str) -> ScanRelease:
    if resource.upper().startswith(DEFACED_PREFIX) and _present(resources, resource):
        return ScanRelease(scan_id, True, resource, "defaced resource")
    defaced = sorted(
        label
        for label in resources
        if label.upper().startswith(DEFACED_PREFIX) and _present(resources, label)
    )
    if defaced:
        why = f"the project requires defacing: {defaced[0]} instead of {resource}"
        return ScanRelease(scan_id, True, defaced[0], why)
    return ScanRelease(
        scan_id,
        False,
        None,
        f"the project requires defacing and the scan has no {DEFACED_PREFIX}* resource with files",
        by_policy=True,
    )
