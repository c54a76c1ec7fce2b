"""The prearchive: sessions waiting to be archived, their REST listings, and the archive/move/delete services.

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg/xnat; W18 = oncai/xnat 1.8.10.1):
- ``…/restlet/XNATApplication.java``: /prearchive, /prearchive/projects/{P},
  …/{TS}/{FOLDER}[/scans[/{S}/resources[/{R}/files]]], /services/archive,
  /services/prearchive/{move,delete,rebuild}.
- ``…/restlet/resources/prearchive/PrearcSessionListResource.java``: the listing holds the projects the user
  can edit (plus the Unassigned folder for all-data access); ``?tag=`` (study UID) needs all-data access,
  else 403; a named project the user cannot read → 403. Columns from ``…/helpers/prearchive/DatabaseSession``:
  project, timestamp, lastmod, uploaded, scan_date, scan_time, subject, folderName, name, tag, status, url,
  autoarchive, prevent_anon, prevent_auto_commit, SOURCE, VISIT, PROTOCOL, TIMEZONE.
- ``…/resources/prearchive/PrearcSessionResource.java``: GET ``?format=json`` = the session's table row,
  ``?format=zip`` = the session folder; DELETE removes it; POST ``?action=`` build|reset-status|move|commit.
- ``PrearcScansListResource`` (ID, xsiType, series_description), ``PrearcScanResourceList`` (label,
  file_count, file_size), ``PrearcSessionResourceFiles`` (Name, Size, URI).
- ``…/restlet/services/Archiver.java`` + ``BatchPrearchiveActionsA.java``: ``src`` (repeatable) names sessions
  by URL; ``project``/``subject``/``session`` relabel; ``overwrite=none|append|delete``; one session → 200
  ``text/uri-list`` with the archived URI; a session already in progress → 403 "Operation already in
  progress on this prearchive entry."; the Unassigned folder without ``project`` → 400 "Cannot archive
  sessions from the Unassigned folder."; an unknown session → 404. An existing session label with
  ``overwrite=none`` → 409 (PrearcSessionArchiver; the exact message is unverified).
- ``…/services/prearchive/PrearchiveBatchMove.java``: ``newProject`` (400 without), 409 when the target
  exists,
  answers the table of the moved sessions (XNAT queues the move; the double moves at once).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request

from . import archive_files as files
from .archive_model import (
    UNASSIGNED,
    ArchiveError,
    ArchiveStore,
    Experiment,
    PrearchiveSession,
    Resource,
    Scan,
    SiteSettings,
    StoredFile,
    add_resource,
    create_scan,
    create_subject,
    delete_experiment,
    discard,
    move_experiment_directory,
    register_experiment,
    timestamp_now,
)
from .common import can_edit_project, can_read_project, current_user, result_set, state, stop_tomcat, text
from .container_launch import scans_created
from .state import DoubleState

blueprint = Blueprint("prearchive", __name__)

IN_PROGRESS = frozenset(
    {"ARCHIVING", "MOVING", "DELETING", "QUEUED_ARCHIVING", "QUEUED_MOVING", "QUEUED_DELETING"}
)
OVERWRITE_MODES = ("none", "append", "delete")
SESSION_PATH = "/data/prearchive/projects/<project>/<timestamp>/<folder>"


# --- model operations (also used in-process by the DICOM data path) ---------------------------------
def new_timestamp() -> str:
    """A prearchive timestamp folder name, e.g. 20240105_101500123."""
    return datetime.now().strftime("%Y%m%d_%H%M%S%f")[:-3]


def add_prearchive_session(
    store: ArchiveStore,
    project_id: str | None,
    *,
    subject: str,
    label: str,
    xsi_type: str,
    timestamp: str | None = None,
    source: str = "",
) -> PrearchiveSession:
    """An empty prearchive session (``project_id`` None = Unassigned); fill ``session.draft`` scans and
    resources with archive_model.create_scan/add_resource/write_file."""
    timestamp = timestamp or new_timestamp()
    folder_project = project_id or UNASSIGNED
    if (folder_project, timestamp, label) in store.prearchive:
        raise ArchiveError(409, f"The prearchive already holds {folder_project}/{timestamp}/{label}")
    draft = Experiment(
        id="",
        label=label,
        project=project_id or "",
        subject_id="",
        xsi_type=xsi_type,
        directory=store.prearchive_directory(folder_project, timestamp, label),
    )
    session = PrearchiveSession(
        project=project_id, timestamp=timestamp, folder=label, subject=subject, draft=draft, source=source
    )
    store.prearchive[session.key] = session
    return session


def session_from_uri(store: ArchiveStore, uri: str) -> PrearchiveSession:
    """The session a ``src`` URL names (/prearchive/projects/P/TS/F, with or without /data)."""
    parts = [part for part in uri.removeprefix("/data").split("/") if part]
    if len(parts) != 5 or parts[:2] != ["prearchive", "projects"]:
        raise ArchiveError(400, f"Invalid src URI ({uri})")
    session = store.prearchive.get((parts[2], parts[3], parts[4]))
    if session is None:
        raise ArchiveError(404, f"{uri} not found.")
    return session


def delete_prearchive_session(store: ArchiveStore, site: SiteSettings, session: PrearchiveSession) -> None:
    store.prearchive.pop(session.key, None)
    discard(store, site, session.draft.directory)


def move_prearchive_session(
    store: ArchiveStore, session: PrearchiveSession, new_project: str
) -> PrearchiveSession:
    if session.status in IN_PROGRESS:
        raise ArchiveError(403, f"Can't move session {session.folder}: it has an invalid status")
    key = (new_project, session.timestamp, session.folder)
    if key in store.prearchive:
        raise ArchiveError(
            409,
            f"A prearchive resource with session {session.folder} and timestamp {session.timestamp} "
            f"already exists in the project {new_project}",
        )
    store.prearchive.pop(session.key, None)
    move_experiment_directory(
        session.draft, store.prearchive_directory(new_project, session.timestamp, session.folder)
    )
    session.project = new_project
    session.draft.project = new_project
    session.lastmod = timestamp_now()
    store.prearchive[session.key] = session
    return session


def archive_prearchive_session(
    current: DoubleState,
    session: PrearchiveSession,
    *,
    project: str | None = None,
    subject: str | None = None,
    label: str | None = None,
    overwrite: str = "none",
    user: str = "admin",
) -> Experiment:
    """Move a prearchive session into the archive (Archiver / PrearcSessionArchiver), creating the subject
    when needed; ``overwrite`` none (409 when the session exists), append (merge, same paths replaced) or
    delete (replace the existing session)."""
    if overwrite not in OVERWRITE_MODES:
        raise ArchiveError(400, f"overwrite must be one of {', '.join(OVERWRITE_MODES)}, not {overwrite!r}")
    if session.status in IN_PROGRESS:
        raise ArchiveError(403, "Operation already in progress on this prearchive entry.")
    project_id = project or session.project
    if not project_id:
        raise ArchiveError(400, "Cannot archive sessions from the Unassigned folder.")
    if project_id not in current.projects:
        raise ArchiveError(404, f"Unable to identify project {project_id}")
    store = current.archive
    site_id = str(current.site_config.get("siteId") or "XNAT")
    subject_label = subject or session.subject or session.folder
    session_label = label or session.draft.label
    subject_record = store.find_subject(project_id, subject_label) or create_subject(
        store, site_id, project_id, subject_label, user
    )
    existing = store.find_experiment(project_id, session_label)
    if existing is not None and overwrite == "none":
        raise ArchiveError(
            409,
            f"Session {session_label} already exists in project {project_id}; archive with overwrite=append "
            "or overwrite=delete to add to or replace it.",
        )
    if existing is not None and overwrite == "delete":
        delete_experiment(store, current, existing, remove_files=True)
        existing = None
    if existing is not None:
        _merge_into(store, session.draft, existing)
        store.prearchive.pop(session.key, None)
        discard(store, current, session.draft.directory)
        return existing
    draft = session.draft
    move_experiment_directory(draft, store.project(project_id).directory / "arc001" / session_label)
    store.prearchive.pop(session.key, None)
    draft.project, draft.label, draft.subject_id, draft.insert_user = (
        project_id,
        session_label,
        subject_record.id,
        user,
    )
    return register_experiment(store, site_id, draft)


def _merge_into(store: ArchiveStore, source: Experiment, target: Experiment) -> None:
    """overwrite=append: add the draft's scans, resources and files to the archived session."""
    for scan in source.scans.values():
        existing_scan = target.scans.get(scan.id)
        if existing_scan is None:
            existing_scan = create_scan(store, target, scan.id, scan.xsi_type)
            for name in ("type", "series_description", "modality", "uid", "quality", "note", "frames"):
                setattr(existing_scan, name, getattr(scan, name))
        for resource in scan.resources.values():
            into = existing_scan.resource(resource.label) or add_resource(
                store, existing_scan, resource.label, format=resource.format, content=resource.content
            )
            _move_files(resource, into)


def _move_files(source: Resource, target: Resource) -> None:
    for stored in source.files.values():
        destination = target.directory.joinpath(*stored.path.split("/"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source.disk_path(stored)), str(destination))
        target.files[stored.path] = StoredFile(**vars(stored))


# --- rows -------------------------------------------------------------------------------------------
def session_row(session: PrearchiveSession) -> dict[str, str]:
    draft = session.draft
    return {
        "project": session.project_folder,
        "timestamp": session.timestamp,
        "lastmod": session.lastmod,
        "uploaded": session.uploaded,
        "scan_date": draft.date,
        "scan_time": draft.time,
        "subject": session.subject,
        "folderName": session.folder,
        "name": draft.label,
        "tag": draft.uid,
        "status": session.status,
        "url": session.url,
        "autoarchive": session.autoarchive,
        "prevent_anon": "true" if session.prevent_anon else "false",
        "prevent_auto_commit": "true" if session.prevent_auto_commit else "false",
        "SOURCE": session.source,
        "VISIT": session.visit,
        "PROTOCOL": session.protocol,
        "TIMEZONE": session.timezone,
    }


# --- access -----------------------------------------------------------------------------------------
def _has_all_data_access() -> bool:
    user = current_user()
    return user is not None and (user.is_admin or bool({"ALL_DATA_ACCESS", "ALL_DATA_ADMIN"} & user.groups))


def _can_edit(current: DoubleState, project_folder: str) -> bool:
    project = current.projects.get(project_folder)
    if project is None:
        return project_folder == UNASSIGNED and _has_all_data_access()
    return can_edit_project(current_user(), project)


def _require_edit(current: DoubleState, project_folder: str) -> None:
    if not _can_edit(current, project_folder):
        raise ArchiveError(403, f"Invalid permissions for project {project_folder}.")


def _run(action: Any) -> Response:
    current = state()
    try:
        with current.lock:
            return action(current)
    except ArchiveError as error:
        stop_tomcat(error.status, error.message)


# --- listing routes ---------------------------------------------------------------------------------
@blueprint.route("/data/prearchive", methods=["GET"])
@blueprint.route("/data/prearchive/projects", methods=["GET"])
@blueprint.route("/data/prearchive/projects/<projects>", methods=["GET"])
def list_sessions(projects: str | None = None) -> Response:
    def action(current: DoubleState) -> Response:
        tag = request.args.get("tag")
        if tag and not _has_all_data_access():
            raise ArchiveError(403, "Only site or data administrators and reviewers can query by tag")
        wanted = None if projects is None else {name.strip() for name in projects.split(",")}
        if wanted is not None:
            for name in wanted:
                project = current.projects.get(name)
                if not _has_all_data_access() and (
                    project is None or not can_read_project(current_user(), project)
                ):
                    raise ArchiveError(
                        403, f"The current user does not have access to the requested project: {name}"
                    )
        rows = []
        for session in current.archive.prearchive.values():
            if tag and session.draft.uid != tag:
                continue
            if wanted is not None and session.project_folder not in wanted:
                continue
            if wanted is None and not tag and not _can_edit(current, session.project_folder):
                continue
            rows.append(session_row(session))
        return result_set(rows)

    return _run(action)


def _session(current: DoubleState, project: str, timestamp: str, folder: str) -> PrearchiveSession:
    session = current.archive.prearchive.get((project, timestamp, folder))
    if session is None:
        raise ArchiveError(404, f"/prearchive/projects/{project}/{timestamp}/{folder} not found.")
    if not _can_edit(current, project):
        raise ArchiveError(403, f"Invalid permissions for project {project}.")
    return session


@blueprint.route(SESSION_PATH, methods=["GET", "DELETE", "POST"])
def session_resource(project: str, timestamp: str, folder: str) -> Response:
    def action(current: DoubleState) -> Response:
        session = _session(current, project, timestamp, folder)
        if request.method == "DELETE":
            delete_prearchive_session(current.archive, current, session)
            return text("")
        if request.method == "POST":
            return _session_action(current, session)
        if (request.args.get("format") or "").lower() == "zip":
            base = session.draft.directory
            members = [(f"{folder}/{path.relative_to(base).as_posix()}", str(path)) for path in _walk(base)]
            if not members:
                return files.not_found_response()
            return files.zip_response(members, folder)
        return result_set([session_row(session)])

    return _run(action)


def _walk(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file()) if directory.is_dir() else []


def _session_action(current: DoubleState, session: PrearchiveSession) -> Response:
    action = request.args.get("action") or request.form.get("action") or "uninitialized"
    if action in ("build", "reset-status"):
        session.status = "READY"
        return text("")
    if action == "move":
        new_project = request.args.get("newProject")
        if not new_project:
            raise ArchiveError(400, f"No project specified to move session {session.folder}")
        _require_edit(current, new_project)
        move_prearchive_session(current.archive, session, new_project)
        return text("")
    if action == "commit":
        experiment = _archive_from_request(current, session)
        return text(_archived_uri(experiment), mimetype="text/uri-list")
    who = current_user().username if current_user() else "guest"
    raise ArchiveError(400, f"User {who} requested an unsupported action on prearchive session: {action}")


@blueprint.route(SESSION_PATH + "/scans", methods=["GET"])
def list_scans(project: str, timestamp: str, folder: str) -> Response:
    def action(current: DoubleState) -> Response:
        session = _session(current, project, timestamp, folder)
        rows = [
            {"ID": scan.id, "xsiType": scan.xsi_type, "series_description": scan.series_description}
            for scan in session.draft.scans.values()
        ]
        return result_set(rows)

    return _run(action)


def _scan(session: PrearchiveSession, scan_id: str) -> Scan:
    scan = session.draft.scans.get(scan_id)
    if scan is None:
        raise ArchiveError(404, f"Unable to find scan {scan_id}")
    return scan


@blueprint.route(SESSION_PATH + "/scans/<scan_id>/resources", methods=["GET"])
def list_resources(project: str, timestamp: str, folder: str, scan_id: str) -> Response:
    def action(current: DoubleState) -> Response:
        scan = _scan(_session(current, project, timestamp, folder), scan_id)
        rows = [
            {"label": res.label, "file_count": str(res.file_count), "file_size": str(res.file_size)}
            for res in scan.resources.values()
        ]
        return result_set(rows)

    return _run(action)


@blueprint.route(SESSION_PATH + "/scans/<scan_id>/resources/<label>/files", methods=["GET"])
@blueprint.route(SESSION_PATH + "/scans/<scan_id>/resources/<label>/files/<path:file_path>", methods=["GET"])
def resource_files(
    project: str, timestamp: str, folder: str, scan_id: str, label: str, *, file_path: str = ""
) -> Response:
    def action(current: DoubleState) -> Response:
        session = _session(current, project, timestamp, folder)
        resource = _scan(session, scan_id).resource(label)
        if resource is None:
            raise ArchiveError(404, f"Unable to find resource {label}")
        base = f"/data{session.url}/scans/{scan_id}/resources/{label}/files"
        if file_path:
            stored = resource.files.get(file_path)
            if stored is None:
                raise ArchiveError(404, "Unable to find file.")
            return files.single_file_response(resource, stored, folder)
        rows = [
            {"Name": stored.name, "Size": str(stored.size), "URI": f"{base}/{stored.path}"}
            for stored in resource.files.values()
        ]
        return result_set(rows)

    return _run(action)


# --- services ---------------------------------------------------------------------------------------
def _status_table(rows: list[dict[str, str]]) -> Response:
    """BatchPrearchiveActionsA.updatedStatusRepresentation renders ``getPreferredVariant()``: for a client
    sending ``Accept: */*`` (requests, xnatpy) that is the first variant, JSON (variant order unverified)."""
    return result_set(rows, default_format="json")


def _sources(current: DoubleState) -> list[PrearchiveSession]:
    sources = request.args.getlist("src") or request.form.getlist("src")
    if not sources:
        raise ArchiveError(
            400, "Specify the prearchive sessions with src=/prearchive/projects/P/TIMESTAMP/FOLDER"
        )
    sessions = [session_from_uri(current.archive, source) for source in sources]
    for session in sessions:
        _require_edit(current, session.project_folder)
    return sessions


def _archive_from_request(current: DoubleState, session: PrearchiveSession) -> Experiment:
    target = request.args.get("project") or session.project
    if target:
        _require_edit(current, target)
    user = current_user()
    username = user.username if user else "guest"
    overwrite = (request.args.get("overwrite") or "none").lower()
    existing = current.archive.find_experiment(target, request.args.get("session") or session.draft.label)
    before = set(existing.scans) if existing is not None and overwrite == "append" else set()
    experiment = archive_prearchive_session(
        current,
        session,
        project=request.args.get("project"),
        subject=request.args.get("subject"),
        label=request.args.get("session"),
        overwrite=overwrite,
        user=username,
    )
    # XNAT's EventServiceItemSaveAspect: the scans the archive created fire ScanEvents (container_launch).
    scans_created(current, experiment, [scan for scan in experiment.scans if scan not in before], username)
    return experiment


def _archived_uri(experiment: Experiment) -> str:
    subject = state().archive.subjects.get(experiment.subject_id)
    subject_label = subject.label if subject else experiment.subject_id
    project = experiment.project
    return f"/data/archive/projects/{project}/subjects/{subject_label}/experiments/{experiment.label}\r\n"


@blueprint.route("/data/services/archive", methods=["POST", "PUT"])
def archive_service() -> Response:
    def action(current: DoubleState) -> Response:
        sessions = _sources(current)
        if len(sessions) == 1:
            return text(_archived_uri(_archive_from_request(current, sessions[0])), mimetype="text/uri-list")
        rows = [session_row(session) for session in sessions]
        for session in sessions:
            _archive_from_request(current, session)
        return _status_table(rows)

    return _run(action)


@blueprint.route("/data/services/prearchive/move", methods=["POST", "PUT"])
def move_service() -> Response:
    def action(current: DoubleState) -> Response:
        new_project = request.args.get("newProject") or request.form.get("newProject")
        sessions = _sources(current)
        if not new_project:
            raise ArchiveError(400, f"No project specified to move session {sessions[0].folder}")
        if new_project not in current.projects:
            raise ArchiveError(404, f"One or more specified projects does not exist: {new_project}.")
        _require_edit(current, new_project)
        moved = [move_prearchive_session(current.archive, session, new_project) for session in sessions]
        return _status_table([session_row(session) for session in moved])

    return _run(action)


@blueprint.route("/data/services/prearchive/delete", methods=["POST", "PUT"])
def delete_service() -> Response:
    def action(current: DoubleState) -> Response:
        for session in _sources(current):
            delete_prearchive_session(current.archive, current, session)
        return _status_table([])

    return _run(action)


@blueprint.route("/data/services/prearchive/rebuild", methods=["POST", "PUT"])
def rebuild_service() -> Response:
    def action(current: DoubleState) -> Response:
        sessions = _sources(current)
        for session in sessions:
            session.status = "READY"
            session.lastmod = timestamp_now()
        return _status_table([session_row(session) for session in sessions])

    return _run(action)
