"""DICOM query-retrieve plugin: import (queue, scheduler with a real C-MOVE, history, series status).

Sources (DQR = NrgXnat/dicom-query-retrieve, `…` = src/main/java/org/nrg/xnatx/dqr):
- DQR …/rest/DicomQueryRetrieveApi.java (7d14062): ``POST /dqr/import`` refuses (403,
  InsufficientPrivilegesException) unless DQR is on for the project (``allowAllProjectsToUseDqr`` or the
  project setting) and the user can edit the project, is an Administrator or has all-data access;
  ``import/queue`` and ``import/history`` take ``all`` (all-data access only, else 403), ``sort``
  (``^(DESC|ASC)$`` case-insensitive, else 400 "Invalid value for sort order …"), ``page`` (1) and
  ``pageSize`` (100); ``…/count``; ``…/{id}`` (a site admin sees any, others their own, else 404);
  ``POST import/queue`` with ``[ids]`` deletes them (404 naming the ids not found, 403 naming how many
  were someone else's); ``DELETE import/queue/{id}``; ``import/status`` (SeriesRetrievalStatus).
- DQR …/services/impl/basic/BasicDicomQueryRetrieveService.java (0654fce): ``importFromPacs`` (PACS
  found and queryable; ``validateDicomScpInstance`` unless ``forceImport`` or no study has a script:
  the receiver exists, is enabled, has custom processing), ``queueStudyImport`` (one series C-FIND per
  study, the ``IncludeSeries`` filter on ``seriesInstanceUids`` AND ``seriesDescriptions``, empty =
  all; no series left → the study is dropped; PHI fields from the first series; destination
  ``AE:port``; priority 10 for a multi-study request, 1 otherwise), ``getAnonScript`` (``anonScript``
  wins, else ``version "6.1"`` and one ``tag := "value"`` line per tag of each non-blank relabel entry,
  ``""`` clears), ``importFromPacsRequest`` (``isAeStorable``: an enabled receiver with that AE:port;
  one C-MOVE per series to the receiver's AE title).
- DQR …/events/PacsDequeueThread.java: per PACS, while an availability window is open now and its
  ``threads`` are not all busy, take the first QUEUED request by priority then date, mark it
  PROCESSING, create the executed (history) request as ISSUED, C-MOVE, delete the queue entry; on an
  error the history request is FAILED with the error and the queue entry goes back to its prior status
  with one more retry until ``dqrMaxPacsRequestAttempts``, after sleeping ``dqrWaitToRetryRequestInSeconds``
  (or longer for the window's ``utilizationPercent``); after each request the thread sleeps
  ``(100 / utilizationPercent - 1) * the request's duration``.
- DQR CHANGELOG.md 2.4.1/3.1.0 (PLUGINS-323): a C-MOVE that delivers zero files is FAILED with
  ``Received zero files for study <uid> in project <project>``.
- DQR …/domain/entities/PacsRequest.java, QueuedPacsRequest.java, ExecutedPacsRequest.java: the JSON
  fields (PHI included: ``patientId``, ``patientName``, ``accessionNumber``, ``studyId``, ``studyDate``).

Stand-ins, not upstream (README "DQR query and import"): the queue and history share ids (as the
reference's RT test expects); a PACS without any availability window is always open with one thread;
the scheduler polls every ``double.dqr_tick`` seconds (XNAT: ``pacsAvailabilityCheckFrequency``) and at once
when a request is queued or a worker frees its thread (a DQR dequeue thread goes on to the next request); XNAT
C-ECHOs before each request and leaves it QUEUED when the PACS does not answer, the double goes straight
to the C-MOVE and fails the request when the association is refused; RECEIVED is set when the DICOM
receiver reports files for the study in ``dqr_requests`` (XNAT: an archive processor), within
``double.dqr_receive_wait`` seconds of the C-MOVE; archive processors are not modelled; an unknown
project answers 404; an unknown relabel key answers 500 (XNAT: a NullPointerException).
Fault switches (seed ``double.dqr_faults``): ``issued_forever``, ``zero_files``, ``association_rejected``
(each ``true`` or a list of Study Instance UIDs) and ``wedge_after`` (N: from the N+1th dequeued
request on, requests stay PROCESSING, the FLIP#662 livelock).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request
from pydicom.dataset import Dataset
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)

from . import dqr_requests
from .common import (
    can_edit_project,
    json_response,
    parse_bool,
    request_json,
    state,
    stop,
)
from .dicom_receivers import prepare_script, remapping_source
from .dqr import DAYS
from .dqr_query import (
    CLEAR_SIGNIFIER,
    CLEAR_SIGNIFIER_3X,
    HEADER_TO_TAGS,
    Peer,
    QueryError,
    association,
    find_series,
    find_studies,
    peer_for,
    require_dqr_user,
    runtime_error,
)
from .state import DoubleState, User, now_ms

blueprint = Blueprint("dqr_import", __name__)

HIGH_PRIORITY, STANDARD_PRIORITY = 1, 10
SORT = re.compile(r"^(DESC|ASC)$", re.IGNORECASE)
FAULTS = ("issued_forever", "zero_files", "association_rejected")


class MoveError(Exception):
    """The C-MOVE failed: no association, a refusal, or a failure status."""


@dataclass
class Faults:
    issued_forever: bool | set[str] = False
    zero_files: bool | set[str] = False
    association_rejected: bool | set[str] = False
    wedge_after: int | None = None

    def hits(self, name: str, study_uid: str) -> bool:
        value = getattr(self, name)
        return value is True or (isinstance(value, set) and study_uid in value)


@dataclass
class ImportService:
    """The DQR import side of one DoubleState: the queue, the history and the scheduler."""

    queue: dict[int, dict[str, Any]] = field(default_factory=dict)
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Per request: the relabel map (for the receiver's routing) and per-series counts for /import/status.
    relabels: dict[int, dict[str, str]] = field(default_factory=dict)
    series: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    project_dqr: dict[str, bool] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    tick: float = 0.2
    receive_wait: float = 2.0
    dequeued: int = 0
    busy: dict[int, int] = field(default_factory=dict)  # PACS id → requests being worked on
    next_start: dict[int, float] = field(default_factory=dict)  # PACS id → earliest next dequeue
    thread: threading.Thread | None = None
    # Set when a request is queued or a worker frees its thread: the scheduler dequeues at once instead of
    # at its next tick (as a DQR dequeue thread takes the next request when it is done with one).
    wake: threading.Event = field(default_factory=threading.Event)


_services: weakref.WeakKeyDictionary[DoubleState, ImportService] = weakref.WeakKeyDictionary()
_services_lock = threading.Lock()


def service_for(current: DoubleState) -> ImportService:
    with _services_lock:
        found = _services.get(current)
        if found is None:
            found = _services[current] = ImportService()
        return found


def apply_seed_options(current: DoubleState, options: dict[str, Any]) -> None:
    """Seed ``double.dqr_tick``, ``double.dqr_receive_wait`` and ``double.dqr_faults`` (seed.py)."""
    service = service_for(current)
    if "dqr_tick" in options:
        service.tick = float(options["dqr_tick"])
    if "dqr_receive_wait" in options:
        service.receive_wait = float(options["dqr_receive_wait"])
    faults = options.get("dqr_faults")
    if faults is not None:
        if not isinstance(faults, dict):
            raise ValueError("double.dqr_faults: expected a mapping")
        unknown = set(faults) - {*FAULTS, "wedge_after"}
        if unknown:
            raise ValueError(f"double.dqr_faults: unknown switches {sorted(unknown)}")
        for name in FAULTS:
            value = faults.get(name, False)
            setattr(service.faults, name, set(map(str, value)) if isinstance(value, list) else bool(value))
        wedge = faults.get("wedge_after")
        service.faults.wedge_after = None if wedge is None else int(wedge)


# --- requests -------------------------------------------------------------------------------------------
def anon_script(study: dict[str, Any]) -> str | None:
    """BasicDicomQueryRetrieveService.getAnonScript(StudyImportInformation)."""
    script = study.get("anonScript")
    if script and str(script).strip():
        return str(script)
    relabel = study.get("relabelMap") or {}
    if not relabel:
        return None
    lines = []
    for key, value in relabel.items():
        if value is None or not str(value).strip():
            continue
        tags = HEADER_TO_TAGS.get(key)
        if tags is None:
            stop(500, f"java.lang.NullPointerException: no DICOM tag for relabel key {key!r}")
        text = str(value)
        assign = ' := ""' if text in (CLEAR_SIGNIFIER, CLEAR_SIGNIFIER_3X) else f' := "{text}"'
        lines.extend(tag + assign for tag in tags)
    return 'version "6.1"\n' + "\n".join(lines)


def include_series(series: dict[str, Any], uids: list[str], descriptions: list[str]) -> bool:
    """IncludeSeries: both filters ANDed, an empty filter matches everything."""
    return (not uids or series.get("seriesInstanceUid", "") in uids) and (
        not descriptions or series.get("seriesDescription", "") in descriptions
    )


def _receiver(current: DoubleState, ae_title: str, port: int) -> dict[str, Any] | None:
    with current.lock:
        for receiver in current.receivers.values():
            if receiver.get("aeTitle") == ae_title and int(receiver.get("port") or 0) == port:
                return dict(receiver)
    return None


def _validate_receiver(current: DoubleState, ae_title: str, port: int) -> None:
    """validateDicomScpInstance (statuses unverified; archive processors not modelled)."""
    receiver = _receiver(current, ae_title, port)
    if receiver is None or not receiver.get("enabled"):
        stop(404, f"Unknown DICOM SCP instance {ae_title}:{port}")
    if not receiver.get("customProcessing"):
        stop(
            400,
            f"The DICOM SCP receiver {ae_title}:{port} does not have custom processing enabled, so the "
            "remapping script cannot be applied",
        )


def _project_allowed(current: DoubleState, user: User, project_id: str) -> None:
    service = service_for(current)
    with current.lock:
        project = current.projects.get(project_id)
        if project is None:
            stop(404, f"No project with ID {project_id}")
        enabled = parse_bool(current.dqr_settings.get("allowAllProjectsToUseDqr", "false")) or (
            service.project_dqr.get(project_id, False)
        )
        all_data = "ALL_DATA_ACCESS" in user.groups or "ALL_DATA_ADMIN" in user.groups
        if not enabled or not (can_edit_project(user, project) or user.is_admin or all_data):
            stop(403, f"User {user.username} has insufficient privileges for project {project_id}")


def _queued_request(  # noqa: PLR0917 (the fields of one QueuedPacsRequest)
    user: User,
    body: dict[str, Any],
    pacs_id: int,
    study_uid: str,
    series: list[dict[str, Any]],
    multi: bool,
    script: str | None,
) -> dict[str, Any]:
    created = now_ms()
    first = series[0]
    destination = str(body.get("aeTitle") or "")
    port = int(body.get("port") or 0)
    return {
        "id": 0,
        "created": created,
        "timestamp": created,
        "enabled": True,
        "disabled": 0,
        "username": user.username,
        "userDefinedId": body.get("requestId"),
        "pacsId": pacs_id,
        "xnatProject": body.get("projectId"),
        "studyInstanceUid": study_uid,
        "seriesIds": [entry["seriesInstanceUid"] for entry in series],
        "remappingScript": script,
        "destinationAeTitle": destination if port == 0 else f"{destination}:{port}",
        "status": "QUEUED",
        "priority": STANDARD_PRIORITY if multi else HIGH_PRIORITY,
        "queuedTime": created,
        "studyDate": first.get("studyDate"),
        "studyId": first.get("studyId"),
        "accessionNumber": first.get("accessionNumber"),
        "patientId": first.get("patientId"),
        "patientName": first.get("patientName"),
    }


def _fill_phi(peer: Peer, study_uid: str, series: list[dict[str, Any]], assoc: Any = None) -> None:
    """Some PACS leave study attributes out of series answers: take them from the study (Orthanc)."""
    if all(series[0].get(key) for key in ("patientId", "accessionNumber")):
        return
    studies = find_studies(peer, {"studyInstanceUid": study_uid}, assoc)
    if not studies:
        return
    study = studies[0]
    patient = study.get("patient") or {}
    raw_date = (study.get("studyDate") or "").replace("-", "")
    extra = {
        "studyDate": raw_date,
        "studyId": study.get("studyId"),
        "accessionNumber": study.get("accessionNumber"),
        "patientId": patient.get("id"),
        "patientName": (patient.get("name") or "").replace(",", "^"),
    }
    for key, value in extra.items():
        if value and not series[0].get(key):
            series[0][key] = value


@blueprint.route("/xapi/dqr/import", methods=["POST"])
def import_from_pacs() -> Response:
    user = require_dqr_user()
    body = request_json()
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a PacsImportRequest object")
    current = state()
    project_id = str(body.get("projectId") or "")
    _project_allowed(current, user, project_id)
    try:
        pacs_id = int(body.get("pacsId") or 0)
    except (TypeError, ValueError):
        stop(400, f"Bad request: invalid pacsId {body.get('pacsId')!r}")
    with current.lock:
        pacs = current.pacs.get(pacs_id)
        pacs = dict(pacs) if pacs else None
    if pacs is None:
        stop(404, f"No PACS with ID {pacs_id}")
    if not pacs["queryable"]:
        stop(400, f"The PACS {pacs_id} is not queryable")
    studies = body.get("studies") or []
    if not isinstance(studies, list) or not all(isinstance(s, dict) for s in studies):
        stop(400, "Bad request: studies must be a list of StudyImportInformation objects")
    scripts = {str(s.get("studyInstanceUid")): anon_script(s) for s in studies}
    if not parse_bool(body.get("forceImport", False)) and any(scripts.values()):
        _validate_receiver(current, str(body.get("aeTitle") or ""), int(body.get("port") or 0))
    peer = peer_for(current, pacs)
    try:
        receiver = _receiver(current, str(body.get("aeTitle") or ""), int(body.get("port") or 0))
    except (TypeError, ValueError):
        receiver = None  # a bad port fails further on, as it did
    receiver_remaps = bool(receiver and receiver.get("customProcessing"))
    created = []
    for study in studies:
        uid = str(study.get("studyInstanceUid") or "")
        uids = [str(value) for value in study.get("seriesInstanceUids") or []]
        descriptions = [str(value) for value in study.get("seriesDescriptions") or []]
        try:  # the series C-FIND and any study C-FIND for the PHI fields share one association
            with association(
                peer, StudyRootQueryRetrieveInformationModelFind, peer.response_timeout
            ) as assoc:
                found = find_series(peer, uid, assoc)
                series = [entry for entry in found if include_series(entry, uids, descriptions)]
                if series:
                    _fill_phi(peer, uid, series, assoc)
        except QueryError as error:
            runtime_error(error, {"studyInstanceUid": uid})
        if not series:
            continue  # queueStudyImport → Optional.empty(): the study is silently dropped
        entry = _queued_request(user, body, pacs_id, uid, series, len(studies) > 1, scripts.get(uid))
        service = service_for(current)
        with current.lock:
            entry["id"] = current.next_id()
            service.queue[entry["id"]] = entry
            service.relabels[entry["id"]] = {
                str(k): str(v) for k, v in (study.get("relabelMap") or {}).items() if v is not None
            }
            service.series[entry["id"]] = [
                {
                    "seriesInstanceUid": s["seriesInstanceUid"],
                    "modality": s.get("modality"),
                    "seriesNumber": s.get("seriesNumber"),
                    "expectedInstances": s.get("numberOfRelatedInstances"),
                    "instancesArchived": 0,
                    "created": entry["created"],
                }
                for s in series
            ]
            created.append(dict(entry))
        if receiver_remaps and entry["remappingScript"]:  # parsed now, not while the PACS waits for a C-STORE
            prepare_script(entry["remappingScript"], remapping_source(entry["id"]))
    if created:
        _ensure_scheduler(current)
    return json_response(created)


# --- listing --------------------------------------------------------------------------------------------
def _all_data(user: User) -> bool:
    return "ALL_DATA_ACCESS" in user.groups or "ALL_DATA_ADMIN" in user.groups


def _paging(user: User) -> tuple[bool, bool, int, int]:
    all_requests = parse_bool(request.args.get("all", "false"))
    if all_requests is None:
        stop(400, f"Bad request: invalid boolean value [{request.args.get('all')}]")
    if all_requests and not _all_data(user):
        stop(403, "You must have all data access privileges to view all PACS requests.")
    sort = request.args.get("sort", "desc")
    if not SORT.match(sort):
        stop(400, f'Invalid value for sort order (must be "desc" or "asc"): {sort}')
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("pageSize", 100))
    except ValueError:
        stop(400, "Bad request: page and pageSize must be integers")
    return all_requests, sort.lower() == "desc", max(page, 1), max(size, 1)


def _page(entries: list[dict[str, Any]], user: User) -> Response:
    all_requests, descending, page, size = _paging(user)
    mine = [e for e in entries if all_requests or e["username"] == user.username]
    mine.sort(key=lambda e: (e["created"], e["id"]), reverse=descending)
    return json_response([_public(e) for e in mine[(page - 1) * size : page * size]])


def _count(entries: list[dict[str, Any]], user: User) -> Response:
    all_requests = parse_bool(request.args.get("all", "false"))
    if all_requests and not _all_data(user):
        stop(403, "You must have all data access privileges to count all PACS requests.")
    return json_response(sum(1 for e in entries if all_requests or e["username"] == user.username))


def _one(entries: dict[int, dict[str, Any]], request_id: int, user: User, kind: str) -> Response:
    entry = entries.get(request_id)
    if entry is None or not (user.is_admin or entry["username"] == user.username):
        stop(404, f"No {kind} PACS request with ID {request_id} found")
    return json_response(_public(entry))


@blueprint.route("/xapi/dqr/import/queue", methods=["GET"])
def list_queue() -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        return _page(list(service_for(current).queue.values()), user)


@blueprint.route("/xapi/dqr/import/queue/count", methods=["GET"])
def count_queue() -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        return _count(list(service_for(current).queue.values()), user)


@blueprint.route("/xapi/dqr/import/queue/<int:request_id>", methods=["GET"])
def get_queued(request_id: int) -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        return _one(service_for(current).queue, request_id, user, "queued")


def _delete(current: DoubleState, user: User, request_id: int) -> str:
    """ "deleted", "missing" or "forbidden" (deleteQueuedRequest: the owner or a site admin)."""
    service = service_for(current)
    entry = service.queue.get(request_id)
    if entry is None:
        return "missing"
    if not user.is_admin and entry["username"] != user.username:
        return "forbidden"
    del service.queue[request_id]
    return "deleted"


@blueprint.route("/xapi/dqr/import/queue", methods=["POST"])
def cancel_queued() -> Response:
    user = require_dqr_user()
    ids = request_json()
    if not isinstance(ids, list):
        stop(400, "Bad request: expected a list of queued request IDs")
    current = state()
    with current.lock:
        outcomes = {int(value): _delete(current, user, int(value)) for value in ids}
    missing = [str(i) for i, outcome in outcomes.items() if outcome == "missing"]
    forbidden = [i for i, outcome in outcomes.items() if outcome == "forbidden"]
    if missing:
        stop(
            404,
            f"Deleted {len(ids) - len(missing)} queued requests, but the remaining IDs were not found: "
            + ", ".join(missing),
        )
    if forbidden:
        stop(
            403,
            f"The current user does not have permissions to delete {len(forbidden)} of the queued PACS "
            "requests that were requested to be deleted: " + ", ".join(map(str, forbidden)),
        )
    return json_response(True)


@blueprint.route("/xapi/dqr/import/queue/<int:request_id>", methods=["DELETE"])
def delete_queued(request_id: int) -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        outcome = _delete(current, user, request_id)
    if outcome == "missing":
        stop(404, f"No queued PACS request with ID {request_id} found")
    if outcome == "forbidden":
        stop(403, f"User {user.username} may not delete queued PACS request {request_id}")
    return json_response(True)


@blueprint.route("/xapi/dqr/import/history", methods=["GET"])
def list_history() -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        return _page(list(service_for(current).history.values()), user)


@blueprint.route("/xapi/dqr/import/history/count", methods=["GET"])
def count_history() -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        return _count(list(service_for(current).history.values()), user)


@blueprint.route("/xapi/dqr/import/history/<int:request_id>", methods=["GET"])
def get_history(request_id: int) -> Response:
    user = require_dqr_user()
    current = state()
    with current.lock:
        return _one(service_for(current).history, request_id, user, "executed")


@blueprint.route("/xapi/dqr/import/status", methods=["GET"])
def series_status() -> Response:
    """SeriesRetrievalStatus rows, newest first (findReverseChronological); bytesArchived not modelled."""
    user = require_dqr_user()
    all_requests, _descending, page, size = _paging(user)
    current = state()
    with current.lock:
        service = service_for(current)
        rows = []
        for request_id in sorted(service.series, reverse=True):
            owner = service.queue.get(request_id) or service.history.get(request_id)
            if owner is None or not (all_requests or owner["username"] == user.username):
                continue
            for entry in service.series[request_id]:
                rows.append({"userDefinedId": owner.get("userDefinedId"), **entry})
    return json_response(rows[(page - 1) * size : page * size])


@blueprint.route("/xapi/dqr/settings/project/<project_id>", methods=["PUT"])
def put_project_settings(project_id: str) -> Response:
    """PUT {"enabled": b} (DicomQueryRetrieveApi: Admin; no ``enabled`` → 304)."""
    current = state()
    user = require_dqr_user()
    if not user.is_admin:
        stop(403)
    body = request_json({})
    if not isinstance(body, dict) or body.get("enabled") is None:
        return Response(b"", status=304)
    with current.lock:
        if project_id not in current.projects:
            stop(404, f"No project with ID {project_id}")
        service_for(current).project_dqr[project_id] = bool(parse_bool(body["enabled"]))
        enabled = service_for(current).project_dqr[project_id]
    return json_response({"projectId": project_id, "dqrEnabled": enabled})


@blueprint.route("/xapi/dqr/settings/project/<project_id>/enabled", methods=["GET"])
def get_project_enabled(project_id: str) -> Response:
    current = state()
    require_dqr_user()
    with current.lock:
        if project_id not in current.projects:
            stop(404, f"No project with ID {project_id}")
        allowed = parse_bool(current.dqr_settings.get("allowAllProjectsToUseDqr", "false"))
        return json_response(bool(allowed or service_for(current).project_dqr.get(project_id, False)))


# --- the scheduler --------------------------------------------------------------------------------------
def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def open_window(current: DoubleState, pacs_id: int, moment: datetime | None = None) -> dict[str, Any] | None:
    """PacsAvailabilityService.findAvailableNow: the enabled window of today that holds now, or None.

    A PACS without any window is taken as always open with one thread (stand-in, unverified)."""
    moment = moment or datetime.now()
    intervals = current.pacs_availability.get(pacs_id, {})
    if not intervals:
        return {"threads": 1, "utilizationPercent": 100}
    day, minute = DAYS[moment.weekday()], moment.hour * 60 + moment.minute
    for interval in intervals.values():
        if not interval.get("enabled", True) or interval["dayOfWeek"] != day:
            continue
        start, end = _minutes(interval["availabilityStart"]), _minutes(interval["availabilityEnd"]) or 24 * 60
        if start <= minute < end:
            return interval
    return None


def _ensure_scheduler(current: DoubleState) -> None:
    service = service_for(current)
    service.wake.set()
    with current.lock:
        if service.thread is not None and service.thread.is_alive():
            return
        service.thread = threading.Thread(
            target=_schedule, args=(weakref.ref(current),), name="dqr-scheduler", daemon=True
        )
        service.thread.start()


def _schedule(state_ref: weakref.ref[DoubleState]) -> None:
    """Start a worker per dequeued request while windows and threads allow; end when nothing is left."""
    while True:
        current = state_ref()
        if current is None:
            return
        service = service_for(current)
        service.wake.clear()  # a wake-up from here on makes the next pass start at once
        with current.lock:
            if not service.queue and not any(service.busy.values()):
                service.thread = None
                return
            started = _dequeue(current, service)
            tick = service.tick
        for request_id in started:
            threading.Thread(
                target=_work, args=(state_ref, request_id), name=f"dqr-request-{request_id}", daemon=True
            ).start()
        wake = service.wake
        del current, service
        wake.wait(tick)


def _dequeue(current: DoubleState, service: ImportService) -> list[int]:
    """Under the state lock: mark the next requests of each open PACS PROCESSING (priority, then date)."""
    started = []
    waiting = sorted(
        (
            e
            for e in service.queue.values()
            if e["status"] == "QUEUED" and e.get("_retry_at", 0) <= time.time()
        ),
        key=lambda e: (e["priority"], e["queuedTime"], e["id"]),
    )
    for entry in waiting:
        pacs_id = entry["pacsId"]
        window = open_window(current, pacs_id)
        if window is None or time.time() < service.next_start.get(pacs_id, 0):
            continue
        if service.busy.get(pacs_id, 0) >= max(1, int(window.get("threads") or 1)):
            continue
        entry["status"] = "PROCESSING"
        entry["timestamp"] = now_ms()
        service.busy[pacs_id] = service.busy.get(pacs_id, 0) + 1
        service.dequeued += 1
        entry["_wedged"] = (
            service.faults.wedge_after is not None and service.dequeued > service.faults.wedge_after
        )
        started.append(entry["id"])
    return started


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if not key.startswith("_")}


def _work(state_ref: weakref.ref[DoubleState], request_id: int) -> None:
    current = state_ref()
    if current is None:
        return
    service = service_for(current)
    with current.lock:
        entry = service.queue.get(request_id)
        if entry is None:
            return
        pacs_id = entry["pacsId"]
    started = time.monotonic()
    try:
        if entry.get("_wedged"):
            return  # the FLIP#662 livelock: PROCESSING for ever (the worker never frees its thread)
        _execute(current, service, entry)
    finally:
        if not entry.get("_wedged"):
            with current.lock:
                service.busy[pacs_id] = max(0, service.busy.get(pacs_id, 1) - 1)
                window = open_window(current, pacs_id) or {"utilizationPercent": 100}
                utilization = int(window.get("utilizationPercent") or 100)
                pause = (100 / max(utilization, 1) - 1) * (time.monotonic() - started)
                service.next_start[pacs_id] = max(service.next_start.get(pacs_id, 0), time.time() + pause)
            service.wake.set()


def _execute(current: DoubleState, service: ImportService, entry: dict[str, Any]) -> None:
    request_id, uid, project = entry["id"], entry["studyInstanceUid"], entry["xnatProject"]
    ae_title, _, port_text = str(entry["destinationAeTitle"]).partition(":")
    with current.lock:
        pacs = current.pacs.get(entry["pacsId"])
        executed = {
            **_public(entry),
            "status": "ISSUED",
            "executedTime": now_ms(),
            "timestamp": now_ms(),
            "errorMessage": None,
        }
        if request_id not in service.queue:
            return  # cancelled while it was being dequeued
        service.history[request_id] = executed
        relabel = dict(service.relabels.get(request_id, {}))
    target = dqr_requests.ImportTarget(
        request_id=request_id,
        study_instance_uid=uid,
        receiver_ae=ae_title,
        project=project or "",
        subject=relabel.get("Subject", ""),
        session=relabel.get("Session", ""),
        remapping_script=entry.get("remappingScript") or "",
    )
    try:
        if pacs is None or not pacs["queryable"]:
            raise MoveError(f"The PACS {entry['pacsId']} is not queryable")
        receiver = _receiver(current, ae_title, int(port_text or 0)) if port_text else None
        if receiver is None or not receiver.get("enabled"):
            raise MoveError(f"The AE {entry['destinationAeTitle']} is not storable")  # isAeStorable
        if service.faults.hits("association_rejected", uid):
            raise MoveError(
                f"Association rejected by {pacs['aeTitle']}@{pacs['host']}:{pacs['queryRetrievePort']}"
            )
        with current.lock:
            service.queue.pop(request_id, None)  # ISSUED: closeRequest
        if service.faults.hits("issued_forever", uid):
            return  # pre-2.4.1: nothing arrives and the request stays ISSUED
        dqr_requests.expect(target)
        completed = {} if service.faults.hits("zero_files", uid) else _move(current, pacs, entry, ae_title)
        _await_files(service, target, sum(completed.values()))
        files = target.received_files
        with current.lock:
            for series in service.series.get(request_id, []):
                series["instancesArchived"] = completed.get(series["seriesInstanceUid"], 0) if files else 0
            if files > 0:
                executed["status"] = "RECEIVED"
            else:
                executed["status"] = "FAILED"
                detail = f" ({'; '.join(target.errors)})" if target.errors else ""
                executed["errorMessage"] = f"Received zero files for study {uid} in project {project}{detail}"
            executed["timestamp"] = now_ms()
    except (MoveError, QueryError) as error:
        _failed(current, service, entry, executed, str(error))
    finally:
        if not service.faults.hits("issued_forever", uid):
            dqr_requests.finish(ae_title, uid)


def _await_files(service: ImportService, target: dqr_requests.ImportTarget, sent: int) -> None:
    """Wait (at most ``receive_wait`` s) until the receiver has accounted for every instance the PACS sent.

    The C-MOVE's final response follows its last C-STORE, but a receiver may file asynchronously; the
    request stays open in ``dqr_requests`` meanwhile so that late instances still find their project."""
    deadline = time.monotonic() + service.receive_wait
    while time.monotonic() < deadline:
        accounted = target.received_files + target.refused_files
        if (sent and accounted >= sent) or (not sent and accounted):
            return
        time.sleep(0.05)


def _failed(
    current: DoubleState,
    service: ImportService,
    entry: dict[str, Any],
    executed: dict[str, Any],
    message: str,
) -> None:
    """History FAILED; the queue entry back to QUEUED with one more retry, or closed after the last."""
    with current.lock:
        executed["status"] = "FAILED"
        executed["errorMessage"] = message
        executed["timestamp"] = now_ms()
        attempts = int(entry.get("retries") or 0) + 1
        try:
            max_attempts = int(current.dqr_settings.get("dqrMaxPacsRequestAttempts", "5"))
            wait = float(current.dqr_settings.get("dqrWaitToRetryRequestInSeconds", "300"))
        except ValueError:
            max_attempts, wait = 5, 300.0
        if attempts < max_attempts:
            entry["retries"] = attempts
            entry["status"] = "QUEUED"
            entry["_retry_at"] = time.time() + wait
            service.queue[entry["id"]] = entry
        else:
            service.queue.pop(entry["id"], None)


def _move(
    current: DoubleState, pacs: dict[str, Any], entry: dict[str, Any], destination: str
) -> dict[str, int]:
    """Real C-MOVEs to the receiver's AE: one per series (or one per study on a STUDY-level PACS).

    Returns the completed sub-operations per series; MoveError on a refusal or failure status."""
    peer = peer_for(current, pacs)
    model = StudyRootQueryRetrieveInformationModelMove
    study_level = str(pacs.get("retrieveLevel") or "").upper() == "STUDY"
    targets = [None] if study_level else list(entry["seriesIds"])
    completed: dict[str, int] = {}
    try:
        with association(peer, model, peer.retrieve_timeout) as assoc:
            for series_uid in targets:
                identifier = Dataset()
                identifier.QueryRetrieveLevel = "STUDY" if series_uid is None else "SERIES"
                identifier.StudyInstanceUID = entry["studyInstanceUid"]
                if series_uid is not None:
                    identifier.SeriesInstanceUID = series_uid
                done = 0
                for status, _identifier in assoc.send_c_move(identifier, destination, model):
                    code = getattr(status, "Status", None)
                    if code is None:
                        raise MoveError(f"no C-MOVE response from {peer.called_ae} (timeout or aborted)")
                    done = int(getattr(status, "NumberOfCompletedSuboperations", done) or done)
                    if code in (0xFF00, 0xFF01):
                        continue
                    if code not in (0x0000, 0xB000):
                        raise MoveError(
                            f"C-MOVE to {destination} refused by {peer.called_ae}: status 0x{code:04X}"
                        )
                completed[series_uid or ""] = done
    except QueryError as error:
        raise MoveError(str(error)) from error
    if study_level:
        share = completed.pop("", 0)
        completed = dict.fromkeys(entry["seriesIds"], share)
    return completed


with contextlib.suppress(Exception):  # keep pynetdicom's C-MOVE SCU quiet like the C-ECHO
    import logging

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
