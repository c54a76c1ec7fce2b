"""The archive of the double: subjects, image sessions, scans, resources and files, with files on disk.

One ``ArchiveStore`` lives on each ``DoubleState`` (``state.archive``); callers hold ``state.lock``. Files
are written under a temporary directory created on first use and removed when the store is garbage
collected, so many doubles can run in one process. The directory layout is XNAT's
(``archive/{project}/arc001/{session}/SCANS/{scan}/{resource}/…``, prearchive
``prearchive/{project}/{timestamp}/{folder}/…``), so the ``legacy`` zip structure and any later
container stand-in see real paths.

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg/xnat):
- ids: ``XnatSubjectdata.CreateNewID`` / ``XnatExperimentdata.CreateNewID`` give ``{siteId}_S00001`` and
  ``{siteId}_E00001``; scan ids default to the lowest free integer
  (``…/restlet/resources/ScanResource.java``).
- deletion: ``…/restlet/resources/SecureResource.java`` ``delete``/``deleteItem``: files go only with
  ``removeFiles=true`` (``XnatAbstractresource.deleteWithBackup``), and to ``{cache}/DELETED`` when the site
  preference ``backupDeletedToCache`` is on (``libs/xdat/…/xft/utils/FileUtils.MoveToCache``; the exact
  sub-path under DELETED is unverified). A resource DELETE always removes its files
  (``…/files/CatalogResource``).
- digests: MD5 of the content, stored when the ``checksums`` preference is on (``CatalogUtils``).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from .archive_types import IMAGE_SESSION, is_instance_of

CHUNK = 1024 * 1024
UNASSIGNED = "Unassigned"
_ROOT_LOCK = threading.Lock()  # the root is made on first use, maybe by a receiver staging outside state.lock


class ArchiveError(Exception):
    """A request the archive refuses: ``status`` is the HTTP status XNAT answers, ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SiteSettings(Protocol):
    """What the archive reads from the double's state (``DoubleState`` satisfies it)."""

    site_config: dict[str, Any]


def timestamp_now() -> str:
    """XNAT's table timestamp format, e.g. ``2024-01-05 10:15:00.123``."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def safe_relative_path(path: str, where: str) -> str:
    """A file path inside a resource: relative, POSIX, no ``..``; else ArchiveError 400 naming ``where``."""
    cleaned = path.replace("\\", "/").strip("/")
    parts = PurePosixPath(cleaned).parts
    if not cleaned or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ArchiveError(400, f"{where}: {path!r} is not a relative file path inside the resource")
    return "/".join(parts)


@dataclass
class StoredFile:
    path: str  # relative POSIX path inside its resource, e.g. "1-1-abc.dcm" or "sub/a.json"
    size: int
    digest: str  # MD5 hex; "" when the checksums preference is off
    format: str = ""
    content: str = ""
    tags: str = ""

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass
class Resource:
    """An xnat:resourceCatalog: a labelled folder of files on a project, subject, session or scan."""

    id: int
    label: str
    directory: Path
    format: str = ""
    content: str = ""
    description: str = ""
    tags: str = ""
    files: dict[str, StoredFile] = field(default_factory=dict)

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def file_size(self) -> int:
        return sum(stored.size for stored in self.files.values())

    def disk_path(self, stored: StoredFile) -> Path:
        return self.directory.joinpath(*stored.path.split("/"))


@dataclass
class ResourceOwner:
    """Anything that holds resources (project, subject, session, scan)."""

    resources: dict[int, Resource] = field(default_factory=dict, kw_only=True)

    def resource(self, id_or_label: str) -> Resource | None:
        if id_or_label.isdigit() and int(id_or_label) in self.resources:
            return self.resources[int(id_or_label)]
        return next((res for res in self.resources.values() if res.label == id_or_label), None)


@dataclass
class Scan(ResourceOwner):
    id: str
    xsi_type: str
    xnat_id: int  # xnat_imagescandata_id
    session_id: str
    directory: Path
    type: str = ""
    series_description: str = ""
    modality: str = ""
    uid: str = ""
    quality: str = "usable"
    note: str = ""
    frames: int | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Experiment(ResourceOwner):
    """An image session (xnat:imageSessionData and its modality subtypes)."""

    id: str
    label: str
    project: str
    subject_id: str
    xsi_type: str
    directory: Path
    date: str = ""  # YYYY-MM-DD
    time: str = ""  # HH:MM:SS
    uid: str = ""  # DICOM Study Instance UID (0020,000D)
    accession_number: str = ""  # dcmAccessionNumber (0008,0050)
    patient_id: str = ""  # dcmPatientId (0010,0020), as received (after anonymisation)
    patient_name: str = ""  # dcmPatientName (0010,0010)
    modality: str = ""
    study_id: str = ""
    scanner: str = ""
    note: str = ""
    insert_date: str = field(default_factory=timestamp_now)
    insert_user: str = "admin"
    fields: dict[str, str] = field(default_factory=dict)
    scans: dict[str, Scan] = field(default_factory=dict)

    @property
    def is_image_session(self) -> bool:
        return is_instance_of(self.xsi_type, IMAGE_SESSION)

    def all_resources(self) -> Iterator[tuple[ResourceOwner, Resource]]:
        for owner in (self, *self.scans.values()):
            for resource in owner.resources.values():
                yield owner, resource


@dataclass
class Subject(ResourceOwner):
    id: str
    label: str
    project: str
    directory: Path
    group: str = ""
    src: str = ""
    insert_date: str = field(default_factory=timestamp_now)
    insert_user: str = "admin"
    fields: dict[str, str] = field(default_factory=dict)
    experiment_ids: list[str] = field(default_factory=list)


@dataclass
class ProjectArchive(ResourceOwner):
    """The data of one project; the project itself (members, settings) lives in ``DoubleState.projects``."""

    project_id: str
    directory: Path
    subjects: dict[str, Subject] = field(default_factory=dict)
    subject_ids_by_label: dict[str, str] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)
    experiment_ids_by_label: dict[str, str] = field(default_factory=dict)


@dataclass
class PrearchiveSession:
    """A session waiting in the prearchive: a draft ``Experiment`` plus the prearchive table's columns
    (FW ``…/helpers/prearchive/DatabaseSession.java``)."""

    project: str | None  # None = the Unassigned folder
    timestamp: str  # e.g. 20240105_101500123
    folder: str
    subject: str
    draft: Experiment
    status: str = "READY"
    uploaded: str = field(default_factory=timestamp_now)
    lastmod: str = field(default_factory=timestamp_now)
    autoarchive: str = "Manual"  # PrearchiveCode name; unverified spelling
    prevent_anon: bool = False
    prevent_auto_commit: bool = False
    source: str = ""
    visit: str = ""
    protocol: str = ""
    timezone: str = ""

    @property
    def project_folder(self) -> str:
        return self.project or UNASSIGNED

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.project_folder, self.timestamp, self.folder)

    @property
    def url(self) -> str:
        return f"/prearchive/projects/{self.project_folder}/{self.timestamp}/{self.folder}"


class ArchiveStore:
    """The archive and prearchive of one double. Not thread-safe on its own: hold ``state.lock``."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self.projects: dict[str, ProjectArchive] = {}
        self.experiments: dict[str, Experiment] = {}
        self.subjects: dict[str, Subject] = {}
        self.prearchive: dict[tuple[str, str, str], PrearchiveSession] = {}
        self._subject_numbers = itertools.count(1)
        self._experiment_numbers = itertools.count(1)
        self._resource_ids = itertools.count(1)
        self._scan_ids = itertools.count(1)

    # --- disk -----------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        """The directory holding archive/, prearchive/ and cache/ (a temporary one, made on first use)."""
        if self._root is None:
            with _ROOT_LOCK:
                if self._root is None:
                    self._root = Path(tempfile.mkdtemp(prefix="xnat-double-archive-"))
                    weakref.finalize(self, shutil.rmtree, str(self._root), True)
        return self._root

    def staging_directory(self) -> Path:
        """Where received bytes are written before they are filed (on the same file system: a rename files
        them)."""
        return self.root / "cache" / "STAGING"

    def project_directory(self, project_id: str) -> Path:
        return self.root / "archive" / project_id

    def prearchive_directory(self, project_folder: str, timestamp: str, folder: str) -> Path:
        return self.root / "prearchive" / project_folder / timestamp / folder

    def deleted_directory(self) -> Path:
        return self.root / "cache" / "DELETED"

    # --- ids ------------------------------------------------------------------------------------
    def new_subject_id(self, site_id: str) -> str:
        return f"{site_id}_S{next(self._subject_numbers):05d}"

    def new_experiment_id(self, site_id: str) -> str:
        return f"{site_id}_E{next(self._experiment_numbers):05d}"

    def new_resource_id(self) -> int:
        return next(self._resource_ids)

    def new_scan_xnat_id(self) -> int:
        return next(self._scan_ids)

    def delete_project(self, site: SiteSettings, project_id: str, remove_files: str | bool | None) -> None:
        """The hook of DELETE /data/projects/{P} (projects.py), ``remove_files`` the raw ``removeFiles``
        query value (true, case-insensitive, removes the files): see ``delete_project_data``."""
        wanted = remove_files if isinstance(remove_files, bool) else str(remove_files or "").lower() == "true"
        delete_project_data(self, site, project_id, wanted)

    # --- lookups --------------------------------------------------------------------------------
    def project(self, project_id: str) -> ProjectArchive:
        """The project's archive, created empty on first use."""
        archive = self.projects.get(project_id)
        if archive is None:
            archive = ProjectArchive(project_id=project_id, directory=self.project_directory(project_id))
            self.projects[project_id] = archive
        return archive

    def find_subject(self, project_id: str, id_or_label: str) -> Subject | None:
        """By label in the project, else by ID when the subject belongs to the project (SubjectResource)."""
        archive = self.projects.get(project_id)
        if archive is None:
            return None
        subject_id = archive.subject_ids_by_label.get(id_or_label, id_or_label)
        return archive.subjects.get(subject_id)

    def find_experiment(self, project_id: str | None, id_or_label: str) -> Experiment | None:
        """By ID (in the project when one is given), else by label in the project (ExperimentResource)."""
        experiment = self.experiments.get(id_or_label)
        if project_id is None:
            return experiment
        if experiment is not None and experiment.project == project_id:
            return experiment
        archive = self.projects.get(project_id)
        if archive is None:
            return None
        experiment_id = archive.experiment_ids_by_label.get(id_or_label)
        return archive.experiments.get(experiment_id) if experiment_id else None


def scan_directory(experiment: Experiment, scan_id: str) -> Path:
    return experiment.directory / "SCANS" / scan_id


def resource_directory(owner: ResourceOwner, label: str) -> Path:
    """Where XNAT puts a resource's files for each kind of owner."""
    if isinstance(owner, Experiment):
        return owner.directory / "RESOURCES" / label
    if isinstance(owner, Scan | Subject | ProjectArchive):
        base = owner.directory / "resources" if isinstance(owner, ProjectArchive) else owner.directory
        return base / label
    raise TypeError(f"not a resource owner: {owner!r}")


def add_resource(
    store: ArchiveStore,
    owner: ResourceOwner,
    label: str,
    *,
    format: str = "",
    content: str = "",
    **extra: str,
) -> Resource:
    """Create a resource catalog on ``owner``; 409 when the label is taken (CatalogResource.handlePost)."""
    if owner.resource(label) is not None:
        raise ArchiveError(409, "Specified resource already exists.")
    resource = Resource(
        id=store.new_resource_id(),
        label=label,
        directory=resource_directory(owner, label),
        format=format,
        content=content,
        description=extra.get("description", ""),
        tags=extra.get("tags", ""),
    )
    owner.resources[resource.id] = resource
    return resource


def write_file(
    site: SiteSettings,
    resource: Resource,
    path: str,
    data: bytes | BinaryIO,
    *,
    overwrite: bool = False,
    **metadata: str,
) -> StoredFile | None:
    """Store ``data`` at ``path`` in the resource; None (nothing written) when it exists and not
    ``overwrite``."""
    path, target = _disk_target(resource, path)
    if path in resource.files and not overwrite:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        content = _copy_hashing(data, out)
    return _register(site, resource, path, content, metadata)


@dataclass(frozen=True)
class StagedFile:
    """Bytes already on disk in the store's staging folder, with their size and MD5: written without
    ``state.lock``, so that filing them under it is a rename."""

    path: Path
    size: int
    digest: str


def stage_file(store: ArchiveStore, data: bytes) -> StagedFile:
    """Write ``data`` to a new file in the staging folder (no lock needed: the name is unique)."""
    directory = store.staging_directory()
    try:
        handle, name = tempfile.mkstemp(dir=directory, suffix=".part")
    except FileNotFoundError:  # the first file staged in this store
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=directory, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        size, digest = _copy_hashing(data, out)
    return StagedFile(Path(name), size, digest)


def place_staged_file(
    site: SiteSettings, resource: Resource, path: str, staged: StagedFile, **metadata: str
) -> StoredFile:
    """File a staged file at ``path`` in the resource, replacing a file of that name (hold state.lock)."""
    path, target = _disk_target(resource, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged.path.replace(target)
    return _register(site, resource, path, (staged.size, staged.digest), metadata)


def _disk_target(resource: Resource, path: str) -> tuple[str, Path]:
    """The checked relative path of a file in the resource, and where it lies on disk."""
    path = safe_relative_path(path, f"resource {resource.label}")
    return path, resource.directory.joinpath(*path.split("/"))


def _copy_hashing(data: bytes | BinaryIO, out: BinaryIO) -> tuple[int, str]:
    hasher = hashlib.md5(usedforsecurity=False)
    size = 0
    chunks = [data] if isinstance(data, bytes) else iter(lambda: data.read(CHUNK), b"")
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return size, hasher.hexdigest()


def _register(
    site: SiteSettings, resource: Resource, path: str, content: tuple[int, str], metadata: dict[str, str]
) -> StoredFile:
    size, digest = content
    checksums = site.site_config.get("checksums", True) not in (False, "false")
    stored = StoredFile(
        path=path,
        size=size,
        digest=digest if checksums else "",
        format=metadata.get("format", ""),
        content=metadata.get("content", ""),
        tags=metadata.get("tags", ""),
    )
    resource.files[path] = stored
    return stored


# --- deletion -------------------------------------------------------------------------------------
def discard(store: ArchiveStore, site: SiteSettings, target: Path) -> None:
    """Remove a file or directory, or move it under cache/DELETED when backupDeletedToCache is on."""
    if not target.exists():
        return
    if site.site_config.get("backupDeletedToCache") in (True, "true"):
        try:
            relative = target.relative_to(store.root)
        except ValueError:
            relative = Path(target.name)
        destination = store.deleted_directory() / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), str(destination))
    elif target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()


def delete_file(store: ArchiveStore, site: SiteSettings, resource: Resource, path: str) -> None:
    stored = resource.files.pop(path, None)
    if stored is None:
        raise ArchiveError(404, "Unable to find file.")
    discard(store, site, resource.disk_path(stored))


def delete_resource(
    store: ArchiveStore, site: SiteSettings, owner: ResourceOwner, resource: Resource
) -> None:
    owner.resources.pop(resource.id, None)
    discard(store, site, resource.directory)


def delete_scan(
    store: ArchiveStore, site: SiteSettings, experiment: Experiment, scan: Scan, remove_files: bool
) -> None:
    experiment.scans.pop(scan.id, None)
    if remove_files:
        discard(store, site, scan.directory)


def delete_experiment(
    store: ArchiveStore, site: SiteSettings, experiment: Experiment, remove_files: bool
) -> None:
    archive = store.projects.get(experiment.project)
    if archive is not None:
        archive.experiments.pop(experiment.id, None)
        archive.experiment_ids_by_label.pop(experiment.label, None)
        subject = archive.subjects.get(experiment.subject_id)
        if subject is not None and experiment.id in subject.experiment_ids:
            subject.experiment_ids.remove(experiment.id)
    store.experiments.pop(experiment.id, None)
    if remove_files:
        discard(store, site, experiment.directory)


def delete_subject(store: ArchiveStore, site: SiteSettings, subject: Subject, remove_files: bool) -> None:
    """Delete a subject with its sessions (XnatSubjectdata.delete in the subject's own project)."""
    archive = store.projects.get(subject.project)
    for experiment_id in list(subject.experiment_ids):
        experiment = store.experiments.get(experiment_id)
        if experiment is not None:
            delete_experiment(store, site, experiment, remove_files)
    if archive is not None:
        archive.subjects.pop(subject.id, None)
        archive.subject_ids_by_label.pop(subject.label, None)
    store.subjects.pop(subject.id, None)
    if remove_files:
        discard(store, site, subject.directory)


def delete_project_data(store: ArchiveStore, site: SiteSettings, project_id: str, remove_files: bool) -> None:
    """The cascade of DELETE /data/projects/{P}: subjects, sessions and project resources go; their files
    only with ``removeFiles=true``. Prearchive sessions of the project stay (XNAT does not touch them)."""
    archive = store.projects.pop(project_id, None)
    if archive is None:
        return
    for subject in list(archive.subjects.values()):
        store.subjects.pop(subject.id, None)
    for experiment_id in archive.experiments:
        store.experiments.pop(experiment_id, None)
    if remove_files:
        discard(store, site, archive.directory)


# --- fields ---------------------------------------------------------------------------------------
# Query/seed field names (lower-cased) that are attributes of the model classes; others stay in .fields.
EXPERIMENT_ATTRIBUTES = {
    "label": "label", "date": "date", "time": "time", "note": "note", "uid": "uid",
    "dcmaccessionnumber": "accession_number", "dcmpatientid": "patient_id", "dcmpatientname": "patient_name",
    "modality": "modality", "study_id": "study_id", "scanner": "scanner",
}  # fmt: skip
SCAN_ATTRIBUTES = {
    "type": "type", "series_description": "series_description", "uid": "uid", "modality": "modality",
    "quality": "quality", "note": "note", "frames": "frames",
}  # fmt: skip
SUBJECT_ATTRIBUTES = {"label": "label", "group": "group", "src": "src"}


def apply_fields(target: Any, fields: dict[str, str], attributes: dict[str, str], skip: set[str]) -> None:
    """Set known attributes (case-insensitive), keep the rest as extra data fields; "NULL" clears."""
    for path, value in fields.items():
        if path in skip or path.lower() in skip:
            continue
        attribute = attributes.get(path.lower())
        cleared = value == "NULL"
        if attribute == "frames":
            target.frames = None if cleared or not value.strip().lstrip("-").isdigit() else int(value)
        elif attribute is not None:
            setattr(target, attribute, "" if cleared else value)
        elif cleared:
            target.fields.pop(path, None)
        else:
            target.fields[path] = value


# --- creation -------------------------------------------------------------------------------------
def check_label(label: str, kind: str) -> str:
    """XNAT labels and ids are letters, digits, ``_`` and ``-`` (XftStringUtils.isValidId): else 417."""
    if not label or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in label):
        raise ArchiveError(417, f"Invalid character in {kind} label {label!r}: use letters, digits, _ and -.")
    return label


def create_subject(store: ArchiveStore, site_id: str, project_id: str, label: str, user: str) -> Subject:
    archive = store.project(project_id)
    check_label(label, "subject")
    if label in archive.subject_ids_by_label:
        raise ArchiveError(409, "Subject already exists.")
    subject = Subject(
        id=store.new_subject_id(site_id),
        label=label,
        project=project_id,
        directory=archive.directory / "subjects" / label,
        insert_user=user,
    )
    archive.subjects[subject.id] = subject
    archive.subject_ids_by_label[label] = subject.id
    store.subjects[subject.id] = subject
    return subject


def new_experiment(store: ArchiveStore, subject: Subject, label: str, xsi_type: str, user: str) -> Experiment:
    """An experiment of ``subject`` that is not yet registered (see ``register_experiment``)."""
    check_label(label, "experiment")
    archive = store.project(subject.project)
    return Experiment(
        id="",
        label=label,
        project=subject.project,
        subject_id=subject.id,
        xsi_type=xsi_type,
        directory=archive.directory / "arc001" / label,
        insert_user=user,
    )


def register_experiment(store: ArchiveStore, site_id: str, experiment: Experiment) -> Experiment:
    """Give the experiment an ID and add it to its project and subject; 409 when the label is taken."""
    archive = store.project(experiment.project)
    if experiment.label in archive.experiment_ids_by_label:
        raise ArchiveError(409, "Specified experiment already exists.")
    experiment.id = experiment.id or store.new_experiment_id(site_id)
    for scan in experiment.scans.values():
        scan.session_id = experiment.id
    archive.experiments[experiment.id] = experiment
    archive.experiment_ids_by_label[experiment.label] = experiment.id
    store.experiments[experiment.id] = experiment
    subject = archive.subjects[experiment.subject_id]
    subject.experiment_ids.append(experiment.id)
    return experiment


def create_scan(store: ArchiveStore, experiment: Experiment, scan_id: str, xsi_type: str) -> Scan:
    check_label(scan_id, "scan")
    if scan_id in experiment.scans:
        raise ArchiveError(409, "Specified scan already exists.")
    scan = Scan(
        id=scan_id,
        xsi_type=xsi_type,
        xnat_id=store.new_scan_xnat_id(),
        session_id=experiment.id,
        directory=scan_directory(experiment, scan_id),
    )
    experiment.scans[scan_id] = scan
    return scan


def next_scan_id(experiment: Experiment) -> str:
    """The lowest positive integer not used as a scan ID (ScanResource/ScanList)."""
    number = 1
    while str(number) in experiment.scans:
        number += 1
    return str(number)


def move_experiment_directory(experiment: Experiment, target: Path) -> None:
    """Move an experiment's files to ``target`` and rebase every scan and resource directory."""
    source = experiment.directory
    if source.exists():
        if target.exists():
            raise ArchiveError(
                409, f"The archive already holds files at {target.name}; not moving over them."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
    experiment.directory = target
    for scan in experiment.scans.values():
        scan.directory = target / scan.directory.relative_to(source)
    for _owner, resource in experiment.all_resources():
        resource.directory = target / resource.directory.relative_to(source)
