"""Close a project: inventory, freeze, delete with files, verify, and list what XNAT keeps.

The steps follow xnat-data-lifecycle.md §5.2 over REST only:

1. read: the project, the site preferences that keep deleted files (``backupDeletedToCache``,
   ``maintainFileHistory``, ``cachePath``), members, sessions, subjects, project resources, prearchive
   sessions and the DQR queue and history of the project;
2. freeze: accessibility private; the event subscriptions scoped to the project deactivated and its
   container wrappers disabled for it (``compliance.projects.events``), before any delete fires an event;
   every member but the operator removed; the project's queued DQR imports cancelled;
3. per session (in parallel): scans and resources counted (three listings, whatever the number of
   files), then ``DELETE /data/experiments/{E}?removeFiles=true``; then per subject the same; then project
   resources and prearchive sessions;
4. verify: the listings again, each expected empty, and the project's subscriptions and wrappers read
   again, none expected on (before the operator's own membership goes last, so an owner who is not an
   administrator can still read them);
5. what remains: DQR import history rows (original patient names and accession numbers; no REST delete),
   copies under ``{cachePath}/DELETED`` (checked on disk with ``cache_dir``), file history, XNAT's audit
   trail.

REST calls: a fixed number per project, per member, per prearchive session, per registered container
wrapper and per subscription switched off, about four per session and two per subject; none per file. A
dry run makes the reads only. Nothing here holds or writes a patient identifier: sessions are named by
label (a pseudonym), DQR rows by id and by which fields are filled, subscriptions by id, name and event.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.progress import Progress
from compliance.projects.events import (
    Processing,
    SwitchedOff,
    processing_remains,
    read_processing,
    switch_off,
    verify_processing,
)
from compliance.projects.xnat_io import CloseClient, ForbiddenError, XnatWriteError
from compliance.xnat import routes

# DQR request fields that hold what the PACS knew (PacsRequest.java); the record names them, never the values.
DQR_IDENTIFIER_FIELDS = ("patientName", "patientId", "accessionNumber", "studyId", "studyDate")
EXPERIMENT_COLUMNS = "ID,label,project,subject_ID,xsiType"


@dataclass
class SessionCount:
    id: str
    label: str
    subject_id: str
    xsi_type: str
    scans: int = 0
    files: int = 0
    bytes: int = 0
    deleted: bool = False
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "label": self.label,
            "xsiType": self.xsi_type,
            "scans": self.scans,
            "files": self.files,
            "bytes": self.bytes,
            "deleted": self.deleted,
        }
        if self.error:
            entry["error"] = self.error
        return entry


@dataclass
class SubjectCount:
    id: str
    label: str
    files: int = 0
    bytes: int = 0
    deleted: bool = False
    error: str = ""


@dataclass
class Inventory:
    project: str
    preferences: dict[str, Any]
    members: list[dict[str, str]]
    sessions: list[SessionCount]
    shared_in: list[str]
    subjects: list[SubjectCount]
    project_resources: list[dict[str, Any]]
    prearchive: list[dict[str, Any]]
    dqr_queue: list[dict[str, Any]] | None  # None: DQR not installed, or not readable (dqr_error)
    dqr_history: list[dict[str, Any]] | None
    processing: Processing  # event subscriptions and wrapper enablement of the project
    dqr_error: str = ""

    @property
    def totals(self) -> dict[str, int]:
        project_files = sum(_int(row.get("file_count")) for row in self.project_resources)
        project_bytes = sum(_int(row.get("file_size")) for row in self.project_resources)
        return {
            "subjects": len(self.subjects),
            "sessions": len(self.sessions),
            "scans": sum(s.scans for s in self.sessions),
            "files": sum(s.files for s in self.sessions)
            + sum(s.files for s in self.subjects)
            + project_files,
            "bytes": sum(s.bytes for s in self.sessions)
            + sum(s.bytes for s in self.subjects)
            + project_bytes,
            "project_resources": len(self.project_resources),
            "prearchive_sessions": len(self.prearchive),
            "members": len(self.members),
            "dqr_queued": len(self.dqr_queue or []),
            "dqr_history": len(self.dqr_history or []),
        }


@dataclass
class Outcome:
    inventory: Inventory
    members_removed: list[dict[str, str]] = field(default_factory=list)
    dqr_cancelled: list[int] = field(default_factory=list)
    switched_off: SwitchedOff = field(default_factory=SwitchedOff)
    failures: list[str] = field(default_factory=list)
    verification: dict[str, int] = field(default_factory=dict)
    remains: list[dict[str, Any]] = field(default_factory=list)

    def deleted_totals(self) -> dict[str, int]:
        """What was deleted: the inventory (XNAT's listings before the close) less what failed."""
        inventory = self.inventory
        sessions = [s for s in inventory.sessions if s.deleted]
        subjects = [s for s in inventory.subjects if s.deleted]
        left = self.verification.get("project_resources", 0)
        project = inventory.project_resources if not left else []
        return {
            "subjects": len(subjects),
            "sessions": len(sessions),
            "scans": sum(s.scans for s in sessions),
            "files": sum(s.files for s in [*sessions, *subjects])
            + sum(_int(row.get("file_count")) for row in project),
            "bytes": sum(s.bytes for s in [*sessions, *subjects])
            + sum(_int(row.get("file_size")) for row in project),
            "project_resources": len(project),
            "prearchive_sessions": len(inventory.prearchive)
            - self.verification.get("prearchive_sessions", 0),
        }


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _is_true(value: Any) -> bool:
    return value is True or str(value).strip().strip('"').lower() == "true"


def _parallel(
    items: list[Any], work: Callable[[Any], None], workers: int, phase: str, progress: Progress
) -> None:
    progress.start(len(items), phase)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(work, items):
            progress.advance()


# --- 1. read --------------------------------------------------------------------------------------
def read_inventory(client: CloseClient, project: str, workers: int, progress: Progress) -> Inventory:
    preferences = client.get(routes.SITE_CONFIG) or {}
    members = [
        {"user": row.get("login", ""), "group": row.get("GROUP_ID", ""), "role": row.get("displayname", "")}
        for row in client.rows(routes.PROJECT_USERS_WITH_DISABLED, project=project)
    ]
    listed = client.rows(
        routes.PROJECT_EXPERIMENT_LISTING, {"project": project, "columns": EXPERIMENT_COLUMNS}
    )
    sessions, shared_in = [], []
    for row in listed:
        if row.get("project", project) != project:
            shared_in.append(row.get("label", ""))  # owned by another project: XNAT un-shares, never deletes
            continue
        sessions.append(
            SessionCount(row["ID"], row.get("label", ""), row.get("subject_ID", ""), row.get("xsiType", ""))
        )
    subjects = [
        SubjectCount(row["ID"], row.get("label", ""))
        for row in client.rows(routes.PROJECT_SUBJECTS, project=project)
        if row.get("project", project) == project
    ]

    def count_session(session: SessionCount) -> None:
        scans = client.rows(routes.EXPERIMENT_SCANS, experiment=session.id)
        session.scans = len(scans)
        resources = client.rows(routes.EXPERIMENT_RESOURCES, experiment=session.id)
        if scans:
            resources += client.rows(routes.EXPERIMENT_SCAN_RESOURCES, experiment=session.id, scans="ALL")
        session.files = sum(_int(row.get("file_count")) for row in resources)
        session.bytes = sum(_int(row.get("file_size")) for row in resources)

    def count_subject(subject: SubjectCount) -> None:
        resources = client.rows(routes.SUBJECT_RESOURCES, project=project, subject=subject.id)
        subject.files = sum(_int(row.get("file_count")) for row in resources)
        subject.bytes = sum(_int(row.get("file_size")) for row in resources)

    _parallel(sessions, count_session, workers, "counting sessions", progress)
    _parallel(subjects, count_subject, workers, "counting subjects", progress)
    queue = history = None
    dqr_error = ""
    try:
        queue = client.pages(routes.DQR_IMPORT_QUEUE, {"all": "true", "sort": "asc"})
        history = client.pages(routes.DQR_IMPORT_HISTORY, {"all": "true", "sort": "asc"})
    except ForbiddenError as error:
        dqr_error = str(error)
    return Inventory(
        project=project,
        preferences={
            key: preferences.get(key) for key in ("backupDeletedToCache", "maintainFileHistory", "cachePath")
        },
        members=members,
        sessions=sessions,
        shared_in=shared_in,
        subjects=subjects,
        project_resources=client.rows(routes.PROJECT_RESOURCES, project=project),
        prearchive=client.rows(routes.PREARCHIVE_PROJECT, project=project),
        dqr_queue=None if queue is None else [e for e in queue if e.get("xnatProject") == project],
        dqr_history=None if history is None else [e for e in history if e.get("xnatProject") == project],
        processing=read_processing(client, project),
        dqr_error=dqr_error,
    )


# --- 2-3. freeze and delete -----------------------------------------------------------------------
REMOVE_FILES = {"removeFiles": "true"}


def close_project(
    client: CloseClient,
    inventory: Inventory,
    *,
    operator: str,
    workers: int,
    progress: Progress,
    cache_dir: Path | None = None,
) -> Outcome:
    project = inventory.project
    outcome = Outcome(inventory)

    def attempt(what: str, call: Callable[[], int]) -> bool:
        try:
            call()  # a DELETE answered 404 found nothing left to delete: done
        except XnatWriteError as error:
            outcome.failures.append(f"{what}: {error}")
            return False
        return True

    attempt(
        "set accessibility private",
        lambda: client.send("PUT", routes.PROJECT_SET_ACCESSIBILITY, project=project, level="private"),
    )
    # Before any delete: a subscription to SessionEvent DELETED would fire for every session deleted.
    outcome.switched_off = switch_off(client, inventory.processing, attempt)
    own = [m for m in inventory.members if m["user"] == operator]
    for member in [m for m in inventory.members if m["user"] != operator]:
        _remove_member(client, project, member, outcome, attempt)
    if inventory.dqr_queue:
        ids = [int(entry["id"]) for entry in inventory.dqr_queue]
        if attempt(
            "cancel queued DQR imports", lambda: client.send("POST", routes.DQR_IMPORT_QUEUE, json=ids)
        ):
            outcome.dqr_cancelled = ids

    def delete_session(session: SessionCount) -> None:
        try:
            client.send("DELETE", routes.EXPERIMENT, REMOVE_FILES, experiment=session.id)
            session.deleted = True
        except XnatWriteError as error:
            session.error = str(error)

    def delete_subject(subject: SubjectCount) -> None:
        try:
            client.send("DELETE", routes.PROJECT_SUBJECT, REMOVE_FILES, project=project, subject=subject.id)
            subject.deleted = True
        except XnatWriteError as error:
            subject.error = str(error)

    _parallel(inventory.sessions, delete_session, workers, "deleting sessions", progress)
    _parallel(inventory.subjects, delete_subject, workers, "deleting subjects", progress)
    outcome.failures += [f"delete session {s.label}: {s.error}" for s in inventory.sessions if s.error]
    outcome.failures += [f"delete subject {s.label}: {s.error}" for s in inventory.subjects if s.error]
    for resource in inventory.project_resources:
        resource_id = resource.get("xnat_abstractresource_id") or resource.get("label")
        attempt(
            f"delete project resource {resource.get('label')}",
            lambda rid=resource_id: client.send(
                "DELETE", routes.PROJECT_RESOURCE, REMOVE_FILES, project=project, resource=rid
            ),
        )
    if inventory.prearchive:
        sources = [row.get("url", "") for row in inventory.prearchive]
        attempt(
            "delete prearchive sessions",
            lambda: client.send("POST", routes.PREARCHIVE_DELETE, data={"src": sources}),
        )
    outcome.verification = verify(client, project)  # while the operator can still read the project
    outcome.verification.update(verify_processing(client, inventory.processing))
    for member in own:  # last: an owner who is not an administrator needs the role to delete and verify
        if _remove_member(client, project, member, outcome, attempt):
            outcome.verification["members"] -= 1
    if own:
        # A non-admin operator now sees no project (404: no rows); an admin sees what is left. Unreadable
        # (403): the count from the removals stands.
        with contextlib.suppress(XnatWriteError):
            outcome.verification["members"] = len(
                client.rows(routes.PROJECT_USERS_WITH_DISABLED, project=project)
            )
    outcome.remains = what_remains(inventory, outcome, cache_dir)
    return outcome


def _remove_member(
    client: CloseClient,
    project: str,
    member: dict[str, str],
    outcome: Outcome,
    attempt: Callable[[str, Callable[[], int]], bool],
) -> bool:
    group = member["group"] or member["role"]
    if attempt(
        f"remove member {member['user']}",
        lambda: client.send(
            "DELETE", routes.PROJECT_MEMBER, project=project, group=group, username=member["user"]
        ),
    ):
        outcome.members_removed.append({"user": member["user"], "role": member["role"] or group})
        return True
    return False


# --- 4-5. verify and what remains -----------------------------------------------------------------
def verify(client: CloseClient, project: str) -> dict[str, int]:
    """What XNAT still lists for the project after the close; every count should be 0."""
    return {
        "sessions": len(
            client.rows(
                routes.PROJECT_EXPERIMENT_LISTING, {"project": project, "columns": EXPERIMENT_COLUMNS}
            )
        ),
        "subjects": len(client.rows(routes.PROJECT_SUBJECTS, project=project)),
        "project_resources": len(client.rows(routes.PROJECT_RESOURCES, project=project)),
        "members": len(client.rows(routes.PROJECT_USERS_WITH_DISABLED, project=project)),
        "prearchive_sessions": len(client.rows(routes.PREARCHIVE_PROJECT, project=project)),
    }


def deleted_copies(cache_dir: Path, project: str) -> tuple[int, int, list[str]]:
    """Files under ``cache_dir/DELETED`` in a folder named after the project: (files, bytes, folders)."""
    root = cache_dir / "DELETED"
    files = size = 0
    folders: set[str] = set()
    if not root.is_dir():
        return 0, 0, []
    for directory, _dirs, names in os.walk(root):
        relative = Path(directory).relative_to(root)
        if project not in relative.parts or not names:
            continue
        top = relative.parts[: relative.parts.index(project) + 1]
        folders.add(str(root.joinpath(*top)))
        for name in names:
            files += 1
            try:
                size += (Path(directory) / name).lstat().st_size
            except OSError:
                continue
    return files, size, sorted(folders)


def _item(what: str, severity: str, count: int | None, detail: str, **extra: Any) -> dict[str, Any]:
    return {"what": what, "severity": severity, "count": count, **extra, "detail": detail}


def what_remains(inventory: Inventory, outcome: Outcome, cache_dir: Path | None) -> list[dict[str, Any]]:
    """Each item: ``what``, ``severity`` (``finding``: data or access remains; ``note``: kept by design),
    ``count`` and ``detail``. Identifier values are never copied: DQR rows by id and filled field names."""
    remains: list[dict[str, Any]] = []
    project = inventory.project
    for name, count in outcome.verification.items():
        if count:
            listed = f"XNAT still lists {count} {name.replace('_', ' ')} for project {project}"
            remains.append(_item(f"xnat_{name}", "finding", count, listed))
    remains += [_item("failed_call", "finding", 1, failure) for failure in outcome.failures]
    remains += processing_remains(inventory.processing, outcome.switched_off)
    remains += _deleted_file_copies(inventory, cache_dir)
    remains += _dqr_rows(inventory, outcome)
    if inventory.shared_in:
        detail = (
            "sessions shared into the project from other projects were not deleted (their owner project "
            "keeps them): " + ", ".join(sorted(inventory.shared_in))
        )
        remains.append(_item("shared_sessions", "note", len(inventory.shared_in), detail))
    audit = (
        "XNAT keeps the metadata of deleted items in its audit and history tables, and the project id cannot "
        "be reused; no XNAT operation removes them."
    )
    remains.append(_item("xnat_audit_trail", "note", None, audit))
    return remains


def _deleted_file_copies(inventory: Inventory, cache_dir: Path | None) -> list[dict[str, Any]]:
    preferences = inventory.preferences
    cache_path = preferences.get("cachePath") or "the cache"
    backup = _is_true(preferences.get("backupDeletedToCache"))
    found: list[dict[str, Any]] = []
    if backup and cache_dir is None:
        detail = (
            f"backupDeletedToCache is on: XNAT moved the deleted files under {cache_path}/DELETED instead of "
            "erasing them. Not checked on disk (no --cache-dir); purge them on the XNAT host "
            "(no REST call can)."
        )
        found.append(_item("deleted_file_cache", "finding", None, detail))
    elif cache_dir is not None:
        files, size, folders = deleted_copies(cache_dir, inventory.project)
        if files:
            why = "backupDeletedToCache is on: " if backup else ""
            detail = (
                f"{why}{files} deleted files ({size} bytes) of the project are kept under "
                f"{', '.join(folders)}; purge them on the XNAT host (no REST call can)."
            )
            found.append(_item("deleted_file_cache", "finding", files, detail, bytes=size))
    if _is_true(preferences.get("maintainFileHistory")):
        detail = (
            "maintainFileHistory is on: XNAT keeps earlier versions of changed files; check the project's "
            "archive folders on the XNAT host for history copies."
        )
        found.append(_item("file_history", "finding", None, detail))
    return found


def _dqr_rows(inventory: Inventory, outcome: Outcome) -> list[dict[str, Any]]:
    history = inventory.dqr_history
    if history is None and inventory.dqr_error:
        detail = (
            "the DQR import queue and history were not checked: the account is not a DQR user with all-data "
            f"access ({inventory.dqr_error}); rerun as an Administrator"
        )
        return [_item("dqr_import_history", "finding", None, detail)]
    if history is None:
        detail = "the DQR plugin is not installed (no import queue or history to check)"
        return [_item("dqr_import_history", "note", None, detail)]
    found: list[dict[str, Any]] = []
    if history:
        filled = sorted({name for entry in history for name in DQR_IDENTIFIER_FIELDS if entry.get(name)})
        ids = sorted(int(entry["id"]) for entry in history if str(entry.get("id", "")).isdigit())
        detail = (
            f"{len(history)} DQR import history rows of the project keep what the PACS sent "
            f"({', '.join(filled) or 'no identifier fields filled'}); DQR has no REST delete for its "
            "history: purge the rows with a reviewed SQL step (table xhbm_executed_pacs_request) "
            "under a separate IG approval."
        )
        found.append(
            _item("dqr_import_history", "finding", len(history), detail, ids=ids, identifier_fields=filled)
        )
    left = [int(e["id"]) for e in inventory.dqr_queue or [] if int(e["id"]) not in outcome.dqr_cancelled]
    if left:
        detail = "queued DQR imports of the project could not be cancelled"
        found.append(_item("dqr_import_queue", "finding", len(left), detail, ids=left))
    return found
