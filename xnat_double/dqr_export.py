"""DICOM query-retrieve plugin: export (send archived scans to a PACS entry) — PUT /xapi/dqr/export.

Sources (DQR = NrgXnat/dicom-query-retrieve, `…` = src/main/java/org/nrg/xnatx/dqr):
- DQR …/rest/DicomQueryRetrieveApi.java (7d14062) ``export(pacsId, session, scansToExport)``:
  ``restrictTo = Authorizer`` with ``DqrUserXapiAuthorization`` (403 otherwise); no body; a blank
  ``session`` or no ``scansToExport`` → DataFormatException (400); the PACS is looked up
  (PacsNotFoundException, ``@ResponseStatus(NOT_FOUND)``), must be ``storable`` (PacsNotStorableException,
  ``CONFLICT``: 409, whose message says "does not permit query operations", upstream's wording) and must
  answer a C-ECHO (``canConnect``; PacsNotAvailableException, ``SERVICE_UNAVAILABLE``: 503); then the
  session by experiment ID (…/messaging/PacsSessionExportRequest.java ``getSession``: NotFoundException
  404, no read access → InsufficientPrivilegesException 403); answers 200
  ``{"session": id, "scans": [ids], "workflow": workflowId}``.
- DQR …/services/impl/basic/BasicDicomQueryRetrieveService.java (0654fce) ``exportSession`` /
  ``createExportWorkflow``: an open workflow ``EXPORT_TO_PACS_REQUEST`` (data type
  ``xnat:mrSessionData`` whatever the session's type, upstream's constant), status ``Queued``, comment
  ``Pacs: N, session: E, scans: 1, 2``; then a JMS message. Nothing ever updates that workflow.
- DQR …/messaging/PacsSessionExportRequestListener.java: re-checks ``isStorable``, C-STOREs each scan and
  only e-mails completion (fire-and-forget: completion is not observable over REST).
- DQR …/dicom/command/cstore/BasicCStoreSCU.java: the files of the scan's **first resource whose format is
  DICOM** (whatever its label: a ``DICOM_CLEANED`` resource is not chosen over the original), sent to the
  PACS's ``host``:``queryRetrievePort`` (DicomConnectionProperties.getRemoteStoragePort), called AE
  ``aeTitle``, calling AE ``dqrCallingAe``; a failed C-STORE stops the send.
- DQR CHANGELOG 3.1.0 (PLUGINS-354, per xnat-data-lifecycle.md §3.1): every object of a request over **one
  association**, in its stored transfer syntax; a status that is neither success nor warning fails the send.

Stand-ins, not upstream: the worker is a thread per request (XNAT: a JMS listener); a scan id the session
does not have, or a scan without a DICOM-format resource, is skipped and noted on the export record
(XNAT's listener logs an error); Spring's messages for a missing or unparsable query parameter are
paraphrased (status 400 as Spring answers); the workflow route (``/data/services/workflows/…``) is not
served — the rows are read with ``workflows(state)`` or ``GET /__double__/dqr/exports`` (no auth, not
logged), which also lists what each request sent. The older DQR revision's export is not modelled
(the route is served whatever ``dqr_api`` says).

Fault switches (seed ``double.dqr_export_faults``), so a client can see an export that lost instances:
``drop_instances`` (N: the last N instances of every export request are not sent, the association is
released normally; or a list of SOP Instance UIDs never sent) and ``abort_after`` (N: the association is
aborted after N instances, as a send that fails mid-way).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from flask import Blueprint, Response, request
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from .common import can_read_project, json_response, stop
from .common import state as current_state
from .dqr import c_echo
from .dqr_query import Peer, peer_for, require_dqr_user
from .state import DoubleState, now_ms

blueprint = Blueprint("dqr_export", __name__)

WORKFLOW_ACTION = "EXPORT_TO_PACS_REQUEST"
WORKFLOW_DATA_TYPE = "xnat:mrSessionData"  # XnatMrsessiondata.SCHEMA_ELEMENT_NAME, for every session type
DICOM_FORMAT = "DICOM"
SUCCESS_OR_WARNING = frozenset({0x0000, 0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007})
MAX_CONTEXTS = 128  # presentation contexts one association can propose
FAULTS = ("drop_instances", "abort_after")


@dataclass
class ExportFaults:
    drop_instances: int | set[str] = 0
    abort_after: int | None = None


@dataclass
class ExportService:
    """The DQR export side of one DoubleState: workflow rows, what each request sent, the switches."""

    workflows: dict[int, dict[str, Any]] = field(default_factory=dict)
    exports: dict[int, dict[str, Any]] = field(default_factory=dict)  # workflow id -> what was sent
    faults: ExportFaults = field(default_factory=ExportFaults)
    workers: list[threading.Thread] = field(default_factory=list)


_services: weakref.WeakKeyDictionary[DoubleState, ExportService] = weakref.WeakKeyDictionary()
_services_lock = threading.Lock()


def service_for(current: DoubleState) -> ExportService:
    with _services_lock:
        found = _services.get(current)
        if found is None:
            found = _services[current] = ExportService()
        return found


def workflows(current: DoubleState) -> list[dict[str, Any]]:
    """The EXPORT_TO_PACS_REQUEST workflow rows, oldest first."""
    with current.lock:
        return [dict(row) for _, row in sorted(service_for(current).workflows.items())]


def exports(current: DoubleState) -> list[dict[str, Any]]:
    """What each export request sent (the double's own record), oldest first."""
    with current.lock:
        return [dict(row) for _, row in sorted(service_for(current).exports.items())]


def wait_idle(current: DoubleState, timeout: float = 30.0) -> None:
    """Wait until every export worker of ``current`` has finished (tests)."""
    deadline = time.monotonic() + timeout
    for worker in list(service_for(current).workers):
        worker.join(max(0.0, deadline - time.monotonic()))


def apply_seed_options(current: DoubleState, options: dict[str, Any]) -> None:
    """Seed ``double.dqr_export_faults`` (seed.py): ``drop_instances`` and ``abort_after``."""
    faults = options.get("dqr_export_faults")
    if faults is None:
        return
    if not isinstance(faults, dict):
        raise ValueError("double.dqr_export_faults: expected a mapping")
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(
            f"double.dqr_export_faults: unknown switches {sorted(unknown)}; known {list(FAULTS)}"
        )
    service = service_for(current)
    drop = faults.get("drop_instances", 0)
    service.faults.drop_instances = set(map(str, drop)) if isinstance(drop, list) else int(drop or 0)
    abort = faults.get("abort_after")
    service.faults.abort_after = None if abort is None else int(abort)


# --- the route ------------------------------------------------------------------------------------------
def _required(name: str, kind: str) -> str:
    if name not in request.args:
        stop(400, f"Required request parameter '{name}' for method parameter type {kind} is not present")
    return str(request.args.get(name))


def _pacs_id() -> int:
    raw = _required("pacsId", "long")
    try:
        return int(raw)
    except ValueError:
        stop(
            400,
            "Failed to convert value of type 'java.lang.String' to required type 'long'; "
            f'For input string: "{raw}"',
        )


def _scan_ids() -> list[str]:
    """``scansToExport`` repeated, or comma-separated (Spring splits a List parameter on commas)."""
    _required("scansToExport", "List")
    return [
        part.strip()
        for value in request.args.getlist("scansToExport")
        for part in value.split(",")
        if part.strip()
    ]


@blueprint.route("/xapi/dqr/export", methods=["PUT"])
def export_session() -> Response:
    user = require_dqr_user()
    pacs_id = _pacs_id()
    session_id = _required("session", "String")
    scan_ids = _scan_ids()
    if not session_id.strip():
        stop(400, "You must specify a session ID for this operation.")
    if not scan_ids:
        stop(400, f"You must specify one or more IDs of scans from the session {session_id} to export.")
    current = current_state()
    with current.lock:
        pacs = current.pacs.get(pacs_id)
        pacs = dict(pacs) if pacs is not None else None
    if pacs is None:
        stop(404, f'The specified PACS system "{pacs_id}" was not found')
    if not pacs["storable"]:
        stop(409, f'The specified PACS system "{pacs_id}" does not permit query operations')
    peer = peer_for(current, pacs)
    if not c_echo(peer.calling_ae, peer.called_ae, peer.host, peer.port, current.options.echo_timeout):
        stop(503, f'The specified PACS system "{pacs_id}" is not currently available')
    with current.lock:
        experiment = current.archive.find_experiment(None, session_id)
        project = current.projects.get(experiment.project) if experiment is not None else None
        if experiment is None or project is None:
            stop(404, f"Unable to find the xnat:imageSessionData object with ID {session_id}")
        if not can_read_project(user, project):
            stop(403, f"User {user.username} has insufficient privileges for {session_id}")
        workflow_id = _create_workflow(
            current, user.username, pacs_id, experiment.id, experiment.project, scan_ids
        )
    _start_worker(current, workflow_id, pacs_id, experiment.id, scan_ids)
    return json_response({"session": session_id, "scans": scan_ids, "workflow": workflow_id})


@blueprint.route("/__double__/dqr/exports", methods=["GET"])
def list_exports() -> Response:
    """The double's own view (no auth, not logged): the workflow rows and what each request sent."""
    current = current_state()
    return json_response({"workflows": workflows(current), "exports": exports(current)})


def _create_workflow(  # noqa: PLR0917 (the fields of one workflow row)
    current: DoubleState, username: str, pacs_id: int, session_id: str, project: str, scan_ids: list[str]
) -> int:
    """Under the state lock: PersistentWorkflowUtils.buildOpenWorkflow(…EXPORT_TO_PACS_REQUEST…), Queued."""
    service = service_for(current)
    workflow_id = current.next_id()
    service.workflows[workflow_id] = {
        "wrk_workflowData_id": workflow_id,
        "data_type": WORKFLOW_DATA_TYPE,
        "ID": session_id,
        "ExternalID": project,
        "pipeline_name": WORKFLOW_ACTION,
        "category": "DATA",
        "type": "PROCESS",
        "status": "Queued",
        "comments": f"Pacs: {pacs_id}, session: {session_id}, scans: {', '.join(scan_ids)}",
        "launch_time": now_ms(),
        "create_user": username,
    }
    service.exports[workflow_id] = {
        "workflow": workflow_id,
        "pacsId": pacs_id,
        "session": session_id,
        "scans": list(scan_ids),
        "status": "queued",
        "sent": 0,
        "dropped": 0,
        "skipped_scans": [],
        "errors": [],
    }
    return workflow_id


def _start_worker(
    current: DoubleState, workflow_id: int, pacs_id: int, session_id: str, scan_ids: list[str]
) -> None:
    service = service_for(current)
    worker = threading.Thread(
        target=_send,
        args=(weakref.ref(current), workflow_id, pacs_id, session_id, scan_ids),
        name=f"dqr-export-{workflow_id}",
        daemon=True,
    )
    with current.lock:
        service.workers = [thread for thread in service.workers if thread.is_alive()] + [worker]
    worker.start()


# --- the listener ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outgoing:
    scan: str
    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str


def _send(
    state_ref: weakref.ref[DoubleState], workflow_id: int, pacs_id: int, session_id: str, scans: list[str]
) -> None:
    """PacsSessionExportRequestListener: every file of the named scans over one association."""
    current = state_ref()
    if current is None:
        return
    service = service_for(current)
    with current.lock:
        record = service.exports[workflow_id]
        record["status"] = "sending"
        pacs = current.pacs.get(pacs_id)
        pacs = dict(pacs) if pacs is not None else None
        files = _scan_files(current, session_id, scans, record)
        faults = service.faults
    try:
        if pacs is None or not pacs["storable"]:
            raise _SendError(f'The specified PACS system "{pacs_id}" does not permit query operations')
        outgoing = [_header(item) for item in files]
        sending, dropped = _apply_drop(outgoing, faults.drop_instances)
        sent = _store_all(peer_for(current, pacs), sending, faults.abort_after, record, current)
        with current.lock:
            record["dropped"] = len(dropped)
            record["status"] = "sent" if sent == len(sending) else "failed"
    except _SendError as error:
        with current.lock:
            record["errors"].append(str(error))
            record["status"] = "failed"
    with current.lock:
        record["finished"] = now_ms()  # the workflow row stays Queued: XNAT never updates it


class _SendError(Exception):
    """The export could not be sent (no association, refused context, failed C-STORE)."""


def _scan_files(
    current: DoubleState, session_id: str, scans: list[str], record: dict[str, Any]
) -> list[tuple[str, Path]]:
    """Under the state lock: (scan, path) of each named scan's first DICOM-format resource, in path order."""
    experiment = current.archive.find_experiment(None, session_id)
    found: list[tuple[str, Path]] = []
    if experiment is None:
        record["errors"].append(f"session {session_id} no longer exists")
        return found
    for scan_id in scans:
        scan = experiment.scans.get(scan_id)
        resource = None
        if scan is not None:
            resource = next(
                (res for _, res in sorted(scan.resources.items()) if res.format == DICOM_FORMAT), None
            )
        if resource is None:
            why = "no such scan" if scan is None else "no DICOM-format resource"
            record["skipped_scans"].append({"scan": scan_id, "reason": why})
            continue
        found += [(scan_id, resource.disk_path(stored)) for _, stored in sorted(resource.files.items())]
    return found


def _header(item: tuple[str, Path]) -> _Outgoing:
    scan, path = item
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, InvalidDicomError) as error:
        raise _SendError(f"scan {scan}: cannot read {path.name}: {error}") from error
    syntax = str(getattr(dataset.file_meta, "TransferSyntaxUID", "") or ExplicitVRLittleEndian)
    return _Outgoing(scan, path, str(dataset.SOPClassUID), str(dataset.SOPInstanceUID), syntax)


def _apply_drop(outgoing: list[_Outgoing], drop: int | set[str]) -> tuple[list[_Outgoing], list[_Outgoing]]:
    if isinstance(drop, set):
        return [o for o in outgoing if o.sop_instance not in drop], [
            o for o in outgoing if o.sop_instance in drop
        ]
    keep = max(0, len(outgoing) - drop)
    return outgoing[:keep], outgoing[keep:]


def _store_all(
    peer: Peer,
    outgoing: list[_Outgoing],
    abort_after: int | None,
    record: dict[str, Any],
    current: DoubleState,
) -> int:
    """One association, one C-STORE per file in its stored transfer syntax; the number sent."""
    if not outgoing:
        return 0
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ae = AE(ae_title=peer.calling_ae)
    ae.connection_timeout = peer.connect_timeout
    ae.acse_timeout = peer.accept_timeout
    ae.dimse_timeout = ae.network_timeout = peer.response_timeout
    syntaxes: dict[str, set[str]] = {}
    for item in outgoing:
        syntaxes.setdefault(item.sop_class, set()).add(item.transfer_syntax)
    for sop_class, transfer in list(syntaxes.items())[:MAX_CONTEXTS]:
        ae.add_requested_context(sop_class, sorted(transfer))
    try:
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.called_ae)
    except (OSError, ValueError) as error:
        raise _SendError(f"could not connect to {peer.called_ae}@{peer.host}:{peer.port}: {error}") from error
    if not assoc.is_established:
        raise _SendError(f"association with {peer.called_ae}@{peer.host}:{peer.port} rejected or refused")
    sent = 0
    try:
        for item in outgoing:
            if abort_after is not None and sent >= abort_after:
                assoc.abort()
                raise _SendError(f"association aborted after {sent} instances (fault switch abort_after)")
            status = _store_one(assoc, item)
            if status not in SUCCESS_OR_WARNING:
                raise _SendError(f"scan {item.scan}: C-STORE of {item.path.name} answered 0x{status:04X}")
            sent += 1
            with current.lock:
                record["sent"] = sent
    finally:
        with contextlib.suppress(Exception):
            if assoc.is_established:
                assoc.release()
    return sent


def _store_one(assoc: Any, item: _Outgoing) -> int:
    try:
        status = assoc.send_c_store(item.path)
    except (ValueError, RuntimeError, OSError) as error:
        raise _SendError(f"scan {item.scan}: cannot send {item.path.name}: {error}") from error
    code = getattr(status, "Status", None)
    if code is None:
        raise _SendError(f"scan {item.scan}: no C-STORE response for {item.path.name} (timeout or aborted)")
    return int(code)
