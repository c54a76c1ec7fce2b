"""The import plan on disk: ``plan.json`` (0600) and, beside it, the re-identification map (0600).

The plan holds what ``run`` needs and nothing that names a patient: per CSV row its outcome, labels, the
StudyInstanceUID, the series to import and those excluded with the rule and reason. The accession numbers
and patient IDs behind each row are only in ``reidentification.csv``, which never goes to XNAT and appears
in reports only with ``--show-identifiers``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from compliance.importer.files import write_private

PLAN_FORMAT = "xnat-enclave/import-plan"
PLAN_VERSION = 1
PLAN_NAME = "plan.json"
REIDENTIFICATION_NAME = "reidentification.csv"
REIDENTIFICATION_COLUMNS = (
    "row",
    "subject",
    "session",
    "accession_number",
    "patient_id",
    "patient_name",  # kept so that every later run can mask it in XNAT's error texts
    "study_instance_uid",
    "study_date",
)
READY = "ready"
REFUSED = "refused"


class PlanError(Exception):
    """The plan file cannot be read or is not an import plan."""


@dataclass(frozen=True)
class SeriesChoice:
    uid: str
    number: str = ""
    modality: str = ""
    description: str = ""
    instances: int | None = None
    rule: str = ""  # set for an excluded series
    reason: str = ""
    matched: str = ""


@dataclass(frozen=True)
class PlanRow:
    row: int
    status: str  # ready | refused
    code: str = ""  # why refused: csv, no-study, many-studies, duplicate-study, no-series, all-excluded, ...
    reason: str = ""
    subject: str = ""
    session: str = ""
    label_source: str = ""  # csv, pseudonym, or csv+pseudonym
    study_uid: str = ""
    modalities: tuple[str, ...] = ()
    series: tuple[SeriesChoice, ...] = ()
    excluded: tuple[SeriesChoice, ...] = ()
    relabel: dict[str, str] = field(default_factory=dict)
    candidates: int = 0  # studies found for the row's search

    @property
    def ready(self) -> bool:
        return self.status == READY


@dataclass(frozen=True)
class Plan:
    job: str
    created_at: str
    xnat: str
    project: str
    pacs_id: int
    pacs_label: str
    pacs_retrieve_level: str  # STUDY: DQR refuses imports that name series, so whole studies are sent
    receiver_ae: str
    receiver_port: int
    csv_source: str
    csv_sha256: str
    key_id: str
    exclusion_rules: dict[str, Any]
    notes: tuple[str, ...]
    rows: tuple[PlanRow, ...]

    def request_id(self, row: PlanRow) -> str:
        """The DQR ``requestId`` (``userDefinedId`` in queue and history): ``<job>:<row>``."""
        return f"{self.job}:{row.row}"

    @property
    def ready_rows(self) -> tuple[PlanRow, ...]:
        return tuple(row for row in self.rows if row.ready)

    def to_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "version": PLAN_VERSION, **asdict(self)}


@dataclass(frozen=True)
class Identifiers:
    """One row of the re-identification map."""

    row: int
    subject: str
    session: str
    accession_number: str
    patient_id: str
    patient_name: str
    study_instance_uid: str
    study_date: str


def plan_text(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n"


def plan_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_plan(directory: Path, plan: Plan, identifiers: list[Identifiers]) -> dict[str, Path]:
    return {
        "plan": write_private(directory / PLAN_NAME, plan_text(plan)),
        "reidentification": write_private(
            directory / REIDENTIFICATION_NAME, reidentification_text(identifiers)
        ),
    }


def reidentification_text(identifiers: list[Identifiers]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REIDENTIFICATION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in identifiers:
        writer.writerow(asdict(entry))
    return buffer.getvalue()


def read_identifiers(plan_path: Path) -> dict[int, Identifiers]:
    path = plan_path.with_name(REIDENTIFICATION_NAME)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanError(
            f"{path}: cannot read the re-identification map ({error.strerror or error})"
        ) from error
    entries = {}
    for record in csv.DictReader(io.StringIO(text)):
        entry = Identifiers(**{**record, "row": int(record["row"])})  # type: ignore[arg-type]
        entries[entry.row] = entry
    return entries


def load_plan(path: Path) -> Plan:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanError(f"{path}: cannot read the plan ({error.strerror or error})") from error
    except ValueError as error:
        raise PlanError(
            f"{path}: not JSON ({error}); give the plan.json written by 'enclave import plan'"
        ) from error
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise PlanError(f'{path}: not an import plan (no "format": "{PLAN_FORMAT}")')
    if document.get("version") != PLAN_VERSION:
        raise PlanError(
            f"{path}: plan version {document.get('version')!r}; this enclave reads version {PLAN_VERSION}"
        )
    try:
        return _plan_from(document)
    except (KeyError, TypeError, ValueError) as error:
        raise PlanError(
            f"{path}: the plan is damaged ({error!r}); write it again with 'enclave import plan'"
        ) from error


def _plan_from(document: dict[str, Any]) -> Plan:
    rows = tuple(_row_from(entry) for entry in document["rows"])
    fields = {name: document[name] for name in Plan.__dataclass_fields__ if name not in ("rows", "notes")}
    return Plan(**fields, notes=tuple(document["notes"]), rows=rows)


def _row_from(entry: dict[str, Any]) -> PlanRow:
    return PlanRow(
        **{
            **entry,
            "modalities": tuple(entry.get("modalities") or ()),
            "series": tuple(SeriesChoice(**series) for series in entry.get("series") or ()),
            "excluded": tuple(SeriesChoice(**series) for series in entry.get("excluded") or ()),
        }
    )
