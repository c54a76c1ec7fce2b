"""How the archive's objects look on the wire: Restlet table rows (``?format=json`` ResultSets, ``columns=``,
shortcut filters) and single-item documents (``{"items": [...]}``).

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg/xnat):
- ``…/restlet/resources/QueryOrganizerResource.java``: ``columns=`` (comma list; blank or DEFAULT = the
  resource's default fields) names shortcut keys or xpaths; unknown names are dropped; ``URI`` is always
  appended (``formatHeaders``). Query keys that are shortcuts (or xpaths) filter rows: comma = OR, ``*``/``%``
  = LIKE. ``xsiType=`` picks the root element; a shortcut of a subtype (e.g. ``UID`` of imageSessionData)
  narrows the root to that subtype (``getRootElementName``).
- ``…/helpers/xmlpath/XMLPathShortcuts.java``: the shortcut keys and xpaths of subjects, experiments, scans.
- ``…/restlet/resources/ProjectSubjectList.java`` (subject defaults ID, project, label, insert_date,
  insert_user; URI /data/subjects/{ID}), ``SubjAssessmentAbst.java`` (project experiments: ID, project, date,
  xsiType, label, insert_date), ``ExperimentListResource.java`` (the same, plus subject_ID and subject_label
  when the root element is a subject assessor; URI /data/experiments/{ID}), ``ScanList.java``
  (xnat_imagescandata_id, ID, type, quality, xsiType, note, series_description; URI
  /data/experiments/{E}/scans/{ID}).
- ``libs/xdat/…/xft/presentation/ItemJSONBuilder.java``: items with ``meta`` (isHistory, xsi:type,
  start_date) and ``data_fields``. The double leaves ``children`` empty (XNAT nests the child collections).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .archive_model import Experiment, ProjectArchive, Resource, ResourceOwner, Scan, StoredFile, Subject
from .archive_types import EXPERIMENT, IMAGE_SCAN, SUBJECT, SUBJECT_ASSESSOR, is_instance_of

Getter = Callable[[Any], Any]


@dataclass(frozen=True)
class Shortcut:
    """A Restlet shortcut key: the element it belongs to and how to read it from a model object."""

    element: str
    xpath: str
    read: Getter


def _field(name: str) -> Getter:
    return lambda obj: obj.fields.get(name, "")


SUBJECT_SHORTCUTS: dict[str, Shortcut] = {
    "ID": Shortcut(SUBJECT, "xnat:subjectData/ID", lambda s: s.id),
    "project": Shortcut(SUBJECT, "xnat:subjectData/project", lambda s: s.project),
    "label": Shortcut(SUBJECT, "xnat:subjectData/label", lambda s: s.label),
    "group": Shortcut(SUBJECT, "xnat:subjectData/group", lambda s: s.group),
    "src": Shortcut(SUBJECT, "xnat:subjectData/src", lambda s: s.src),
    "insert_date": Shortcut(SUBJECT, "xnat:subjectData/meta/insert_date", lambda s: s.insert_date),
    "insert_user": Shortcut(SUBJECT, "xnat:subjectData/meta/insert_user/login", lambda s: s.insert_user),
    "last_modified": Shortcut(SUBJECT, "xnat:subjectData/meta/last_modified", lambda s: s.insert_date),
}
SUBJECT_DEFAULTS = ("ID", "project", "label", "insert_date", "insert_user")

IMAGE_SESSION = "xnat:imageSessionData"
EXPERIMENT_SHORTCUTS: dict[str, Shortcut] = {
    "ID": Shortcut(EXPERIMENT, "xnat:experimentdata/id", lambda e: e.id),
    "project": Shortcut(EXPERIMENT, "xnat:experimentdata/project", lambda e: e.project),
    "label": Shortcut(EXPERIMENT, "xnat:experimentdata/label", lambda e: e.label),
    "date": Shortcut(EXPERIMENT, "xnat:experimentdata/date", lambda e: e.date),
    "time": Shortcut(EXPERIMENT, "xnat:experimentdata/time", lambda e: e.time),
    "note": Shortcut(EXPERIMENT, "xnat:experimentdata/note", lambda e: e.note),
    "visit_id": Shortcut(EXPERIMENT, "xnat:experimentdata/visit_id", _field("visit_id")),
    "protocol": Shortcut(EXPERIMENT, "xnat:experimentdata/protocol", _field("protocol")),
    "insert_date": Shortcut(EXPERIMENT, "xnat:experimentData/meta/insert_date", lambda e: e.insert_date),
    "insert_user": Shortcut(
        EXPERIMENT, "xnat:experimentData/meta/insert_user/login", lambda e: e.insert_user
    ),
    "last_modified": Shortcut(EXPERIMENT, "xnat:experimentData/meta/last_modified", lambda e: e.insert_date),
    "xsiType": Shortcut(EXPERIMENT, "xnat:experimentData/extension_item/element_name", lambda e: e.xsi_type),
    "subject_ID": Shortcut(SUBJECT_ASSESSOR, "xnat:subjectassessordata/subject_id", lambda e: e.subject_id),
    "scanner": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/scanner", lambda e: e.scanner),
    "operator": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/operator", _field("operator")),
    "dcmAccessionNumber": Shortcut(
        IMAGE_SESSION, "xnat:imagesessiondata/dcmaccessionnumber", lambda e: e.accession_number
    ),
    "dcmPatientId": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/dcmpatientid", lambda e: e.patient_id),
    "dcmPatientName": Shortcut(
        IMAGE_SESSION, "xnat:imagesessiondata/dcmpatientname", lambda e: e.patient_name
    ),
    "session_type": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/session_type", _field("session_type")),
    "modality": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/modality", lambda e: e.modality),
    "UID": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/uid", lambda e: e.uid),
    "studyInstanceUID": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/uid", lambda e: e.uid),
    "session_ID": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/id", lambda e: e.id),
    "session_label": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/label", lambda e: e.label),
    "session_project": Shortcut(IMAGE_SESSION, "xnat:imagesessiondata/project", lambda e: e.project),
    "coil": Shortcut("xnat:mrSessionData", "xnat:mrsessiondata/coil", _field("coil")),
    "fieldStrength": Shortcut(
        "xnat:mrSessionData", "xnat:mrsessiondata/fieldstrength", _field("fieldStrength")
    ),
    # Read from the experiment's subject by experiment_values (readonly shortcuts of XMLPathShortcuts).
    "subject_label": Shortcut(SUBJECT, "xnat:subjectdata/label", lambda e: ""),
    "subject_project": Shortcut(SUBJECT, "xnat:subjectdata/project", lambda e: ""),
}
SUBJECT_OF_EXPERIMENT = {"subject_label": "label", "subject_project": "project"}
PROJECT_EXPERIMENT_DEFAULTS = ("ID", "project", "date", "xsiType", "label", "insert_date")
SUBJECT_ASSESSOR_EXTRA_DEFAULTS = ("subject_ID", "subject_label")

SCAN_SHORTCUTS: dict[str, Shortcut] = {
    "xnat_imagescandata_id": Shortcut(
        IMAGE_SCAN, "xnat:imageScanData/xnat_imagescandata_id", lambda s: s.xnat_id
    ),
    "ID": Shortcut(IMAGE_SCAN, "xnat:imageScanData/ID", lambda s: s.id),
    "type": Shortcut(IMAGE_SCAN, "xnat:imageScanData/type", lambda s: s.type),
    "UID": Shortcut(IMAGE_SCAN, "xnat:imageScanData/UID", lambda s: s.uid),
    "note": Shortcut(IMAGE_SCAN, "xnat:imageScanData/note", lambda s: s.note),
    "quality": Shortcut(IMAGE_SCAN, "xnat:imageScanData/quality", lambda s: s.quality),
    "condition": Shortcut(IMAGE_SCAN, "xnat:imageScanData/condition", _field("condition")),
    "series_description": Shortcut(
        IMAGE_SCAN, "xnat:imageScanData/series_description", lambda s: s.series_description
    ),
    "documentation": Shortcut(IMAGE_SCAN, "xnat:imageScanData/documentation", _field("documentation")),
    "scanner": Shortcut(IMAGE_SCAN, "xnat:imageScanData/scanner", _field("scanner")),
    "modality": Shortcut(IMAGE_SCAN, "xnat:imageScanData/modality", lambda s: s.modality),
    "frames": Shortcut(IMAGE_SCAN, "xnat:imageScanData/frames", lambda s: s.frames),
    "xsiType": Shortcut(IMAGE_SCAN, "xnat:imageScanData/extension_item/element_name", lambda s: s.xsi_type),
}
SCAN_DEFAULTS = ("xnat_imagescandata_id", "ID", "type", "quality", "xsiType", "note", "series_description")


def requested_columns(query: Mapping[str, str], defaults: tuple[str, ...]) -> list[str]:
    raw = (query.get("columns") or "").strip()
    if not raw or raw == "DEFAULT":
        return list(defaults)
    return [column.strip() for column in raw.split(",") if column.strip()]


def _alias(name: str, shortcuts: Mapping[str, Shortcut]) -> str | None:
    """The shortcut key for a column or query name given as a key or as one of the xpaths."""
    if name in shortcuts:
        return name
    lowered = name.lower()
    return next((key for key, cut in shortcuts.items() if cut.xpath.lower() == lowered), None)


def root_element(query: Mapping[str, str], default: str, shortcuts: Mapping[str, Shortcut]) -> str:
    """QueryOrganizerResource.getRootElementName: ``xsiType=`` or the most specific shortcut element used."""
    xsi_type = query.get("xsiType")
    if xsi_type and "," not in xsi_type:
        return xsi_type
    names = [key for key in query if key != "columns"]
    names += [column for column in (query.get("columns") or "").split(",") if column]
    root = default
    for name in names:
        key = _alias(name.strip(), shortcuts)
        element = shortcuts[key].element if key in shortcuts else None
        if element and element != root and is_instance_of(element, root):
            root = element
    return root


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if ch in "*%" else re.escape(ch) for ch in pattern) + r"\Z")


def row_filters(query: Mapping[str, str], shortcuts: Mapping[str, Shortcut]) -> list[tuple[str, list[str]]]:
    """The (shortcut key, accepted values) pairs a listing must satisfy (AND of ORs)."""
    filters = []
    for name, raw in query.items():
        key = _alias(name, shortcuts) if (name in shortcuts or "/" in name) else None
        if key is None or key == "xsiType" or raw is None:
            continue
        filters.append((key, [value.strip() for value in raw.split(",")]))
    return filters


def matches(values: dict[str, str], filters: list[tuple[str, list[str]]]) -> bool:
    return all(
        any(_like(option).match(values.get(key, "")) for option in options) for key, options in filters
    )


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def select(
    full: dict[str, str], columns: list[str], shortcuts: Mapping[str, Shortcut], uri: str
) -> dict[str, str]:
    """The row with only the requested (known) columns, plus URI (formatHeaders)."""
    row = {}
    for column in columns:
        key = _alias(column, shortcuts)
        if key is not None and key in full:
            row[key] = full[key]
    row["URI"] = uri
    return row


def subject_values(subject: Subject) -> dict[str, str]:
    return {key: _cell(cut.read(subject)) for key, cut in SUBJECT_SHORTCUTS.items()}


def experiment_values(experiment: Experiment, subject: Subject | None) -> dict[str, str]:
    values = {key: _cell(cut.read(experiment)) for key, cut in EXPERIMENT_SHORTCUTS.items()}
    for key, attribute in SUBJECT_OF_EXPERIMENT.items():
        values[key] = _cell(getattr(subject, attribute, ""))
    return values


def scan_values(scan: Scan) -> dict[str, str]:
    return {key: _cell(cut.read(scan)) for key, cut in SCAN_SHORTCUTS.items()}


def resource_row(resource: Resource, owner: ResourceOwner) -> dict[str, str]:
    """CatalogUtils.populateTable columns. category/cat_id/cat_desc for non-scan owners are unverified."""
    if isinstance(owner, Scan):
        category, cat_id, cat_desc = "scans", owner.id, owner.type
    else:
        owner_id = getattr(owner, "id", None) or getattr(owner, "project_id", "")
        category, cat_id, cat_desc = "resources", owner_id, ""
    return {
        "xnat_abstractresource_id": str(resource.id),
        "label": resource.label,
        "element_name": "xnat:resourceCatalog",
        "category": category,
        "cat_id": cat_id,
        "cat_desc": cat_desc,
        "file_count": str(resource.file_count),
        "file_size": str(resource.file_size),
        "tags": resource.tags,
        "content": resource.content,
        "format": resource.format,
    }


def file_row(resource: Resource, stored: StoredFile, uri: str) -> dict[str, str]:
    """CatalogUtils.FILE_HEADERS: Name, Size, URI, collection, file_tags, file_format, file_content, cat_ID,
    digest."""
    return {
        "Name": stored.name,
        "Size": str(stored.size),
        "URI": uri,
        "collection": resource.label,
        "file_tags": stored.tags,
        "file_format": stored.format,
        "file_content": stored.content,
        "cat_ID": str(resource.id),
        "digest": stored.digest,
    }


# --- single items ---------------------------------------------------------------------------------
def _non_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in (None, "")}


def item_document(xsi_type: str, data_fields: dict[str, Any], start_date: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"isHistory": False, "xsi:type": xsi_type}
    if start_date:
        meta["start_date"] = start_date
    return {"items": [{"children": [], "meta": meta, "data_fields": _non_empty(data_fields)}]}


def subject_item(subject: Subject) -> dict[str, Any]:
    fields = {"ID": subject.id, "label": subject.label, "project": subject.project, "group": subject.group}
    return item_document(SUBJECT, {**fields, "src": subject.src, **subject.fields}, subject.insert_date)


def experiment_item(experiment: Experiment) -> dict[str, Any]:
    fields = {
        "ID": experiment.id,
        "label": experiment.label,
        "project": experiment.project,
        "subject_ID": experiment.subject_id,
        "date": experiment.date,
        "time": experiment.time,
        "UID": experiment.uid,
        "dcmAccessionNumber": experiment.accession_number,
        "dcmPatientId": experiment.patient_id,
        "dcmPatientName": experiment.patient_name,
        "modality": experiment.modality,
        "study_id": experiment.study_id,
        "scanner": experiment.scanner,
        "note": experiment.note,
    }
    return item_document(experiment.xsi_type, {**fields, **experiment.fields}, experiment.insert_date)


def scan_item(scan: Scan, experiment: Experiment) -> dict[str, Any]:
    fields = {
        "ID": scan.id,
        "type": scan.type,
        "UID": scan.uid,
        "series_description": scan.series_description,
        "modality": scan.modality,
        "quality": scan.quality,
        "note": scan.note,
        "frames": scan.frames,
        "image_session_ID": experiment.id,
        "project": experiment.project,
        "xnat_imagescandata_id": scan.xnat_id,
    }
    return item_document(scan.xsi_type, {**fields, **scan.fields})


def owner_label(owner: ResourceOwner) -> str:
    if isinstance(owner, ProjectArchive):
        return owner.project_id
    return getattr(owner, "label", "") or getattr(owner, "id", "")
