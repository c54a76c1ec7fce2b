"""In-process building blocks for the DICOM data path: file received instances into the prearchive or the
archive of a project, the way XNAT's DICOM importer builds sessions, and read them back.

A DICOM receiver (or a test) calls these with the instances of one study; every function takes
``state.lock`` itself. Nothing here anonymises or relabels: the caller applies DicomEdit first. A study's
instances are parsed and their bytes written to the store's staging folder before the lock is taken
(``prepare_study``), so that under it filing a file is a rename: a receiver's C-STORE handlers and every
REST request wait on that one lock.

What XNAT does, and the double follows (FW = NrgXnat/xnat monorepo; the session builder lives in
xnat-web ``org/nrg/dcm/xnat`` and ``…/archive/GradualDicomImporter.java``, read only in part, details marked
unverified):
- one session per Study Instance UID: ``UID`` = (0020,000D), ``date``/``time`` from StudyDate/StudyTime,
  ``dcmAccessionNumber`` (0008,0050), ``dcmPatientId`` (0010,0020), ``dcmPatientName`` (0010,0010),
  ``study_id``
  (0020,0010), ``modality`` and the session xsi type from the series modalities (archive_types);
- one scan per Series Instance UID: ID = SeriesNumber (a taken number becomes ``{n}-{MODALITY}{k}``, the
  clash rule xnatpy's ``ImageScanData.expected_data_dir`` cites from PrearcSessionArchiver), ``type`` and
  ``series_description`` = SeriesDescription, ``UID`` = (0020,000E), ``modality``, ``frames`` = instances;
- the files in the scan's ``DICOM`` resource (format DICOM, content RAW), named
  ``{StudyInstanceUID}-{SeriesNumber}-{InstanceNumber}-{hash}.dcm`` like XNAT's default file namer
  (``${StudyInstanceUID}-${SeriesNumber}-${InstanceNumber}-${HashSOPClassUIDWithSOPInstanceUID}``; the hash
  function is unverified);
- the project's prearchive code decides: 0 → prearchive, 4 → archive (an existing session stays in the
  prearchive with status CONFLICT), 5 → archive, appending to an existing session
  (W18 ``…/archive/FinishImageUpload.java``); no project → the prearchive's Unassigned folder.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from .archive_model import (
    ArchiveError,
    ArchiveStore,
    Experiment,
    PrearchiveSession,
    Resource,
    Scan,
    SiteSettings,
    StagedFile,
    StoredFile,
    add_resource,
    create_scan,
    create_subject,
    new_experiment,
    place_staged_file,
    register_experiment,
    stage_file,
)
from .archive_types import scan_type_for, session_type_for
from .container_launch import scans_created
from .prearchive import add_prearchive_session, archive_prearchive_session
from .state import DoubleState

DICOM_RESOURCE = "DICOM"
Instance = Dataset | bytes | Path


@dataclass(frozen=True)
class SessionTarget:
    """Where a study goes: project (None = the prearchive's Unassigned folder), subject and session labels."""

    project: str | None
    subject: str
    session: str


@dataclass(frozen=True)
class ReceivedInstance:
    """One instance as received: its Part-10 bytes and the header fields XNAT builds sessions from."""

    data: bytes
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    series_number: str
    instance_number: str
    series_description: str
    study_date: str  # YYYY-MM-DD or ""
    study_time: str  # HH:MM:SS or ""
    accession_number: str
    patient_id: str
    patient_name: str
    study_id: str

    @property
    def file_name(self) -> str:
        digest = hashlib.sha1(f"{self.sop_class_uid}{self.sop_instance_uid}".encode(), usedforsecurity=False)
        return f"{self.study_uid}-{self.series_number}-{self.instance_number}-{digest.hexdigest()[:8]}.dcm"


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value).strip()


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) >= 8 and value[:8].isdigit() else ""


def _time(value: str) -> str:
    digits = value.split(".", maxsplit=1)[0]
    return f"{digits[:2]}:{digits[2:4]}:{digits[4:6]}" if len(digits) >= 6 and digits.isdigit() else ""


def encode(dataset: Dataset) -> bytes:
    """The dataset as a DICOM Part-10 file (explicit VR little endian when it has no transfer syntax)."""
    if not hasattr(dataset, "file_meta") or "TransferSyntaxUID" not in dataset.file_meta:
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.file_meta = meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def read_instance(instance: Instance) -> ReceivedInstance:
    """Parse a pydicom Dataset, Part-10 bytes or a file path; ArchiveError 400 when the study, series or
    instance UID is missing."""
    if isinstance(instance, Dataset):
        dataset, data = instance, encode(instance)
    else:
        data = instance.read_bytes() if isinstance(instance, Path) else instance
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    received = ReceivedInstance(
        data=data,
        study_uid=_text(dataset, "StudyInstanceUID"),
        series_uid=_text(dataset, "SeriesInstanceUID"),
        sop_instance_uid=_text(dataset, "SOPInstanceUID"),
        sop_class_uid=_text(dataset, "SOPClassUID"),
        modality=_text(dataset, "Modality").upper(),
        series_number=_text(dataset, "SeriesNumber") or "0",
        instance_number=_text(dataset, "InstanceNumber") or "0",
        series_description=_text(dataset, "SeriesDescription"),
        study_date=_date(_text(dataset, "StudyDate")),
        study_time=_time(_text(dataset, "StudyTime")),
        accession_number=_text(dataset, "AccessionNumber"),
        patient_id=_text(dataset, "PatientID"),
        patient_name=_text(dataset, "PatientName"),
        study_id=_text(dataset, "StudyID"),
    )
    if not (received.study_uid and received.series_uid and received.sop_instance_uid):
        raise ArchiveError(
            400, "A DICOM instance needs StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID"
        )
    return received


@dataclass(frozen=True)
class PreparedStudy:
    """The instances of one study, parsed and staged on disk: what filing needs, ready before the lock."""

    instances: tuple[tuple[ReceivedInstance, StagedFile], ...]

    @property
    def received(self) -> list[ReceivedInstance]:
        return [item for item, _ in self.instances]

    def discard(self) -> None:
        """Remove what was staged and not filed (filing moves a staged file away)."""
        for _, staged in self.instances:
            staged.path.unlink(missing_ok=True)


def prepare_study(store: ArchiveStore, instances: Iterable[Instance]) -> PreparedStudy:
    """Parse the instances of one study and stage their bytes; ArchiveError 400 for none, or several
    studies. Call without ``state.lock``; ``discard`` what is not filed."""
    received = [read_instance(instance) for instance in instances]
    if not received:
        raise ArchiveError(400, "No DICOM instances to file")
    studies = {item.study_uid for item in received}
    if len(studies) > 1:
        raise ArchiveError(400, f"Instances of {len(studies)} studies given; file one study at a time")
    return PreparedStudy(tuple((item, stage_file(store, item.data)) for item in received))


@contextmanager
def _prepared(current: DoubleState, instances: Iterable[Instance] | PreparedStudy) -> Iterator[PreparedStudy]:
    """The study prepared (unless it already is: then its preparer discards it), leftovers discarded."""
    if isinstance(instances, PreparedStudy):
        yield instances
        return
    study = prepare_study(current.archive, instances)
    try:
        yield study
    finally:
        study.discard()


def _scan_for_series(store: ArchiveStore, experiment: Experiment, item: ReceivedInstance) -> Scan:
    for scan in experiment.scans.values():
        if scan.uid == item.series_uid:
            return scan
    scan_id, clash = item.series_number, 1
    while scan_id in experiment.scans:
        scan_id = f"{item.series_number}-{item.modality or 'OT'}{clash}"
        clash += 1
    scan = create_scan(store, experiment, scan_id, scan_type_for(item.modality, item.sop_class_uid))
    scan.type = scan.series_description = item.series_description
    scan.uid, scan.modality = item.series_uid, item.modality
    return scan


def file_instances(
    store: ArchiveStore, site: SiteSettings, experiment: Experiment, study: PreparedStudy
) -> list[StoredFile]:
    """Add a study's instances to a session (archived or a prearchive draft): session fields from the
    study, a scan per series, files in each scan's DICOM resource (an existing file of the same name is
    replaced)."""
    first = study.instances[0][0]
    experiment.uid = experiment.uid or first.study_uid
    for name, value in (
        ("date", first.study_date),
        ("time", first.study_time),
        ("accession_number", first.accession_number),
        ("patient_id", first.patient_id),
        ("patient_name", first.patient_name),
        ("study_id", first.study_id),
    ):
        if not getattr(experiment, name):
            setattr(experiment, name, value)
    stored_files = []
    for item, staged in study.instances:
        scan = _scan_for_series(store, experiment, item)
        resource = scan.resource(DICOM_RESOURCE) or add_resource(
            store, scan, DICOM_RESOURCE, format="DICOM", content="RAW"
        )
        stored = place_staged_file(site, resource, item.file_name, staged, format="DICOM")
        scan.frames = resource.file_count
        stored_files.append(stored)
    modalities = [scan.modality for scan in experiment.scans.values()]
    experiment.modality = experiment.modality or _primary_modality(modalities)
    return stored_files


def _primary_modality(modalities: list[str]) -> str:
    chosen = session_type_for(modalities)
    return next(
        (m for m in modalities if session_type_for([m]) == chosen), modalities[0] if modalities else ""
    )


def file_into_archive(
    current: DoubleState,
    target: SessionTarget,
    instances: Iterable[Instance] | PreparedStudy,
    *,
    append: bool = True,
    user: str = "admin",
) -> Experiment:
    """File one study straight into the archive of ``target.project`` (subject created when missing). An
    existing session of that label gets the instances added when ``append``, else ArchiveError 409."""
    with _prepared(current, instances) as study, current.lock:
        received = study.received
        if not target.project or target.project not in current.projects:
            raise ArchiveError(404, f"Unable to identify project {target.project}")
        store = current.archive
        site_id = str(current.site_config.get("siteId") or "XNAT")
        subject = store.find_subject(target.project, target.subject) or create_subject(
            store, site_id, target.project, target.subject, user
        )
        experiment = store.find_experiment(target.project, target.session)
        if experiment is not None and not append:
            raise ArchiveError(409, f"Session {target.session} already exists in project {target.project}")
        before = set(experiment.scans) if experiment is not None else set()
        if experiment is None:
            xsi_type = session_type_for([item.modality for item in received])
            experiment = new_experiment(store, subject, target.session, xsi_type, user)
            register_experiment(store, site_id, experiment)
        file_instances(store, current, experiment, study)
        scans_created(current, experiment, [scan for scan in experiment.scans if scan not in before], user)
        return experiment


def file_into_prearchive(
    current: DoubleState,
    target: SessionTarget,
    instances: Iterable[Instance] | PreparedStudy,
    *,
    source: str = "",
) -> PrearchiveSession:
    """File one study into the prearchive (``target.project`` None = Unassigned). Instances of a study already
    waiting there under the same session label are added to that session, as XNAT does for a study that
    arrives in several associations."""
    with _prepared(current, instances) as study, current.lock:
        received = study.received
        store = current.archive
        folder = target.project or "Unassigned"
        session = next(
            (
                waiting
                for waiting in store.prearchive.values()
                if waiting.project_folder == folder
                and waiting.folder == target.session
                and waiting.draft.uid == received[0].study_uid
            ),
            None,
        )
        if session is None:
            xsi_type = session_type_for([item.modality for item in received])
            session = add_prearchive_session(
                store,
                target.project,
                subject=target.subject,
                label=target.session,
                xsi_type=xsi_type,
                source=source,
            )
        file_instances(store, current, session.draft, study)
        return session


def receive_study(
    current: DoubleState,
    target: SessionTarget,
    instances: Iterable[Instance] | PreparedStudy,
    *,
    user: str = "admin",
) -> Experiment | PrearchiveSession:
    """File a received study where the project's prearchive code sends it (0 prearchive, 4 archive unless the
    session exists, 5 archive appending); an unknown or missing project → the Unassigned folder."""
    with _prepared(current, instances) as study, current.lock:
        project = current.projects.get(target.project or "")
        code = project.prearchive_code if project is not None else 0
        unassigned = SessionTarget(None, target.subject, target.session)
        if project is None:
            return file_into_prearchive(current, unassigned, study)
        if code == 0:
            return file_into_prearchive(current, target, study)
        exists = current.archive.find_experiment(project.id, target.session) is not None
        if code == 4 and exists:
            session = file_into_prearchive(current, target, study)
            session.status = "CONFLICT"
            return session
        return file_into_archive(current, target, study, append=True, user=user)


def archive_waiting_session(
    current: DoubleState,
    session: PrearchiveSession,
    target: SessionTarget | None = None,
    *,
    overwrite: str = "none",
    user: str = "admin",
) -> Experiment:
    """Archive a prearchive session (what POST /data/services/archive does), optionally relabelled."""
    with current.lock:
        existing = current.archive.find_experiment(
            (target.project if target else None) or session.project,
            (target.session if target else None) or session.draft.label,
        )
        before = set(existing.scans) if existing is not None and overwrite == "append" else set()
        experiment = archive_prearchive_session(
            current,
            session,
            project=target.project if target else None,
            subject=target.subject if target else None,
            label=target.session if target else None,
            overwrite=overwrite,
            user=user,
        )
        scans_created(current, experiment, [scan for scan in experiment.scans if scan not in before], user)
        return experiment


@dataclass(frozen=True)
class FiledFile:
    """A file of an archived session, for readers (export, conversion, tests)."""

    scan: Scan
    resource: Resource
    stored: StoredFile
    path: Path


def session_files(
    current: DoubleState,
    project: str,
    session: str,
    *,
    resource: str = DICOM_RESOURCE,
    scan_id: str | None = None,
) -> list[FiledFile]:
    """The files of a session's scans in ``resource`` (by label), in scan then path order; 404 when the
    session does not exist."""
    with current.lock:
        experiment = current.archive.find_experiment(project, session)
        if experiment is None:
            raise ArchiveError(404, f"Unable to find session {session} in project {project}")
        found = []
        for scan in experiment.scans.values():
            if scan_id is not None and scan.id != scan_id:
                continue
            catalog = scan.resource(resource)
            if catalog is None:
                continue
            for stored in sorted(catalog.files.values(), key=lambda item: item.path):
                found.append(FiledFile(scan, catalog, stored, catalog.disk_path(stored)))
        return found


def find_sessions(
    current: DoubleState, *, accession_number: str | None = None, uid: str | None = None
) -> list[Experiment]:
    """Archived sessions by dcmAccessionNumber and/or Study Instance UID (like /data/experiments?…)."""
    with current.lock:
        return [
            experiment
            for experiment in current.archive.experiments.values()
            if (accession_number is None or experiment.accession_number == accession_number)
            and (uid is None or experiment.uid == uid)
        ]
