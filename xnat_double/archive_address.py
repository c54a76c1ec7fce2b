"""Parse an archive REST path (``…/subjects/S/experiments/E/scans/1/resources/DICOM/files/a.dcm``) into
the objects it names, the way XNAT's Restlet resources resolve their path variables.

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg/xnat): the routes of
``…/restlet/XNATApplication.java`` (every one also under ``/archive``);
``XnatProjectdata.getProjectByIDorAlias``
(an unknown or unreadable project → 404 "Unable to identify project"); ``SubjectResource`` (a subject by
label in the project, else by ID when it belongs to the project); ``ExperimentResource`` /
``SubjAssessmentResource`` / ``ScanList`` (an experiment by ID, else by label in the project);
``…/restlet/resources/files/XNATTemplate.java`` (scans by ID or type, comma lists, ``ALL``/``*``; resources
by ID or label, comma lists; FileList takes the rest of the path as the file path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .archive_model import (
    ArchiveError,
    ArchiveStore,
    Experiment,
    ProjectArchive,
    ResourceOwner,
    Scan,
    Subject,
)
from .common import can_see_project, current_user
from .state import DoubleState, Project

LEVELS_WITH_ID = {
    "subjects": "subject",
    "experiments": "experiment",
    "scans": "scan",
    "resources": "resource",
}


@dataclass
class Address:
    """What a path names. ``level`` is the last part: subjects, subject, experiments, experiment, scans,
    scan, resources, resource, files, file or status; ``target`` is the id of a single last part (it may not
    exist yet, for a PUT that creates it)."""

    level: str
    project: Project | None = None
    subject: Subject | None = None
    experiment: Experiment | None = None
    scans: list[Scan] = field(default_factory=list)
    scan_selector: str | None = None
    owners: list[ResourceOwner] = field(default_factory=list)
    resource_selector: str | None = None
    target: str | None = None
    file_path: str = ""

    @property
    def project_id(self) -> str | None:
        if self.project is not None:
            return self.project.id
        return self.experiment.project if self.experiment is not None else None


def find_project(state: DoubleState, project_id: str) -> Project:
    project = state.projects.get(project_id)
    if project is None or not can_see_project(current_user(), project):
        raise ArchiveError(404, f"Unable to identify project {project_id}")
    return project


def parse(state: DoubleState, project_id: str | None, tokens: list[str]) -> Address:
    """Walk the path tokens; raise ArchiveError 404 naming the first part that does not exist."""
    store = state.archive
    address = Address(level="")
    if project_id is not None:
        address.project = find_project(state, project_id)
        address.owners = [store.project(project_id)]
    index = 0
    while index < len(tokens):
        kind = tokens[index]
        ident = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind == "files":
            address.level = "file" if index + 1 < len(tokens) else "files"
            address.file_path = "/".join(tokens[index + 1 :])
            return address
        if kind == "status" and address.level == "experiment" and ident is None:
            address.level = "status"
            return address
        if kind not in LEVELS_WITH_ID:
            raise ArchiveError(404, f"Unknown archive path part {kind!r}")
        address.level = kind if ident is None else LEVELS_WITH_ID[kind]
        address.target = ident
        if ident is not None and index + 2 < len(tokens):  # a parent: it must exist
            _descend(state, store, address, kind, ident)
        elif ident is not None:
            _resolve_last(state, store, address, kind, ident)
        index += 2
    return address


def _descend(state: DoubleState, store: ArchiveStore, address: Address, kind: str, ident: str) -> None:
    _resolve_last(state, store, address, kind, ident)
    missing = {
        "subject": address.subject is None,
        "experiment": address.experiment is None,
        "scan": not address.scans,
        "resource": False,
    }
    if missing[LEVELS_WITH_ID[kind]]:
        raise ArchiveError(404, f"Unable to identify {LEVELS_WITH_ID[kind]} {ident}")


def _resolve_last(state: DoubleState, store: ArchiveStore, address: Address, kind: str, ident: str) -> None:
    """Resolve ``kind/ident`` if it exists (a missing last part is left for the handler to create or 404)."""
    project_id = address.project_id
    if kind == "subjects":
        subject = store.find_subject(project_id, ident) if project_id else store.subjects.get(ident)
        if subject is not None and project_id is None:
            address.project = find_project(state, subject.project)
        address.subject = subject
        address.owners = [subject] if subject else []
    elif kind == "experiments":
        experiment = store.find_experiment(project_id, ident)
        if (
            experiment is not None
            and address.subject is not None
            and experiment.subject_id != address.subject.id
        ):
            experiment = None
        if experiment is not None and address.project is None:
            address.project = find_project(state, experiment.project)
        address.experiment = experiment
        address.owners = [experiment] if experiment else []
    elif kind == "scans":
        if address.experiment is None:
            raise ArchiveError(404, "Scans need an experiment in the path")
        address.scan_selector = ident
        address.scans = select_scans(address.experiment, ident)
        address.owners = list(address.scans)
    elif kind == "resources":
        address.resource_selector = ident


def select_scans(experiment: Experiment, selector: str) -> list[Scan]:
    """Scans by ``ALL``/``*``, or a comma list of IDs or types (XNATTemplate: ID OR type)."""
    if selector in ("ALL", "*"):
        return list(experiment.scans.values())
    wanted = [part.strip() for part in selector.split(",") if part.strip()]
    return [scan for scan in experiment.scans.values() if scan.id in wanted or scan.type in wanted]


def select_resources(owners: list[ResourceOwner], selector: str | None) -> list[tuple[ResourceOwner, object]]:
    """(owner, resource) pairs, all of them or those whose ID or label is in the comma list."""
    wanted = None if selector is None else [part.strip() for part in selector.split(",") if part.strip()]
    pairs = []
    for owner in owners:
        for resource in owner.resources.values():
            if wanted is None or str(resource.id) in wanted or resource.label in wanted:
                pairs.append((owner, resource))
    return pairs


def single_owner(address: Address) -> ResourceOwner:
    """The one object a resource is created on; 400 when the path selects several or none."""
    if len(address.owners) != 1:
        raise ArchiveError(
            400, "Resources can only be created on exactly one project, subject, session or scan."
        )
    return address.owners[0]


def archive_of(store: ArchiveStore, address: Address) -> ProjectArchive:
    project_id = address.project_id
    if project_id is None:
        raise ArchiveError(404, "No project in the path")
    return store.project(project_id)
