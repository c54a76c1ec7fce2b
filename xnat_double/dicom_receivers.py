"""The DICOM receivers' data plane: a real pynetdicom Storage SCP per port of the enabled receivers.

Switched on by the double option ``dicom_listen`` (seed ``double: {dicom_listen: true}``, or
``python -m xnat_double --dicom-listen``); off by default, because a fresh double has XNAT's receiver
XNAT:8104 and many tests start doubles. Listeners bind **127.0.0.1 only**.

Each port's pynetdicom server runs in a child process (``dicom_front``: the association handling, the
called-AE and whitelist rejections); every C-STORE it receives comes here as the bytes received and is
identified, scripted and filed in the double's process, whose status the child answers with. That stands in
for XNAT's JVM, whose SCP threads run in parallel with its REST API and DQR threads.

Sources (NX = NrgXnat/xnat monorepo at 93d33cb, ``…`` = web/src/main/java/org/nrg; DQR =
NrgXnat/dicom-query-retrieve; DXU = NrgXnat dicom-xnat-util, read through the code index):
- NX …/dcm/scp/DicomSCPManager.java, …/dcm/scp/DicomSCP.java: one listener per **port**, serving the AE
  titles of the enabled receivers on that port (an unknown called AE → association rejected, "called AE
  title not recognised"); Verification and every storage SOP class; the port is cycled (stopped and
  started) when a receiver on it is added, updated, enabled, disabled or deleted; the site preference
  ``enableDicomReceiver`` false stops them all. A port that cannot be bound is logged and the other ports
  still start (here: ``ReceiverListeners.errors``).
- NX web/src/main/java/org/dcm4che2/net/XnatApplicationEntity.java: with ``whitelistEnabled`` an
  association whose calling AE / address matches no whitelist item is rejected (permanent, service user,
  "calling AE title not recognised"). An item ``AE@IP/CIDR`` needs both; an item that parses as an
  IP/CIDR matches the address only; any other item is compared with the calling AE title. (Spring's
  IpAddressMatcher is modelled with ``ipaddress``: host names are not resolved.) Matched in
  ``dicom_front.whitelisted``.
- NX …/dcm/scp/CStoreService.java: ``customProcessing``, ``directArchive`` and ``anonymizationEnabled`` of
  the receiver are passed to the importer per C-STORE; a ClientException answers 0xC000 (cannot
  understand), anything else 0xA700 (out of resources).
- NX …/xnat/archive/GradualDicomImporter.java: files each instance as it is received (the double does
  too: a C-STORE answered 0x0000 is already filed); the site-wide script runs on the written file with the
  session's project, subject and folder name unless the receiver prevents anonymisation; a blank session
  label becomes ``dicom_upload``; no project → the Unassigned prearchive and never direct archive. XNAT
  answers a file the site script **rejects** with success and drops it; the double refuses it (0xA700)
  so that the SCU and the DQR import see it — deliberately different. A script error is refused in both.
- NX …/xnat/helpers/merge/MergePrearcToArchiveSession.java: the project script runs at archive, skipped
  for sessions received with anonymisation prevented. The double, standing in with the toolkit's DicomEdit
  engine (compliance/dicomedit) for XNAT's, applies the project script **at receipt**, after the site
  script, whichever the prearchive code: a session waiting in the double's prearchive has had both.
- ``dicomObjectIdentifier`` (NX …/dcm/id/ClassicDicomObjectIdentifier.java → Xnat15DicomProjectIdentifier,
  XnatDefaultDicomObjectIdentifier; DXU ContainedAssignmentExtractor, DbBackedProjectIdentifier): project
  = ``Project: P`` in (0010,4000) Patient Comments, (0032,4000) Study Comments or (0010,21B0) Additional
  Patient History, else (0008,1030) Study Description, else (0008,0050) Accession Number — the first that
  names an existing project; subject = ``Subject:`` in the same three, else (0010,0010) Patient Name;
  session = ``Session:`` in the same three, else (0010,0020) Patient ID. Labels pass XNAT's
  ``Labels.toLabelChars`` (modelled as: characters outside ``[A-Za-z0-9_-]`` → ``_``; unverified).
- ``dqrObjectIdentifier`` (DQR …/dqr/dicom/id/DqrDicomObjectIdentifierFactory.java,
  OverrideStudyIdExtractor.java; NX …/dcm/id/RoutedStudyDicomProjectIdentifier.java): the project only
  from the study routing an import registered (a study nobody expects → Unassigned), subject = Patient
  Name, session = Study ID else Accession Number.
- A study an import expects (``dqr_requests.target_for(receiver AE, StudyInstanceUID)``) takes the
  request's project, subject and session (blank ones from the identifier) whatever the identifier — the
  double's stand-in for the study routing — and its ``remapping_script`` runs first when the receiver has
  ``customProcessing`` (XNAT's custom processing step at the start of the import). Filed and refused
  instances are reported with ``dqr_requests.record``.

Filing uses archive_ingest: the first instance of a study in an association goes through
``receive_study`` (prearchive code 0 → prearchive, 4 → archive unless the session exists → prearchive
CONFLICT, 5 → archive appending; ``directArchive`` with a known project → archive); the later instances of
that study in the same association follow it there. A study arriving in a new association is decided
again (with code 4 it then conflicts with the archived session, as on XNAT after the session was
archived). A study without a subject label waits in the prearchive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from flask import Flask
from pydicom import dcmread
from pydicom.dataset import Dataset

from compliance.dicomedit import DicomEditError, DicomEditRejectionError, apply_script, ast, load_script_text

from . import dqr_requests
from .archive_ingest import SessionTarget, file_into_archive, file_into_prearchive, receive_study
from .archive_model import ArchiveError, Experiment, PrearchiveSession
from .common import STATE_KEY
from .dicom_front import MAXIMUM_ASSOCIATIONS, OUT_OF_RESOURCES, STOP_TIMEOUT, FrontProcess, truthy
from .state import DoubleState, Project

logger = logging.getLogger("xnat_double.dicom_receivers")

EXTENSION_KEY = "xnat_double.dicom_receivers"
SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC000  # XNAT's answer to a ClientException (unreadable object, no UIDs)
UNASSIGNED = "Unassigned"
DEFAULT_SESSION_LABEL = "dicom_upload"
ASSIGNMENT_TAGS = ("PatientComments", "StudyComments", "AdditionalPatientHistory")
# Fields of a receiver that do not change what its listener does.
IGNORED_FIELDS = ("timestamp", "created")


# --- identification ------------------------------------------------------------------------------------
def contained_assignment(text: str, name: str) -> str:
    """DXU ContainedAssignmentExtractor(tag, name, ":", CASE_INSENSITIVE): ``name: value`` anywhere in the
    text, delimited by start/end, blanks, commas or semicolons; the value is ``[\\w-]*``."""
    pattern = r"(?:\A|(?:.*[\s,;]))" + re.escape(name) + r"\s*:\s*([\w\-]*)(?:(?:[\s,;].*\Z)|\Z)"
    match = re.match(pattern, text, flags=re.IGNORECASE)
    return match.group(1) if match else ""


def label_chars(value: str) -> str:
    """XNAT's Labels.toLabelChars as modelled here (unverified): anything outside [A-Za-z0-9_-] → '_'."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", value.strip())


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    return "" if value is None else str(value).strip()


def _assigned(dataset: Dataset, name: str) -> str:
    for keyword in ASSIGNMENT_TAGS:
        value = contained_assignment(_text(dataset, keyword), name)
        if value:
            return value
    return ""


@dataclass(frozen=True)
class Identified:
    project: str | None  # an existing project id, or None (Unassigned)
    subject: str
    session: str


def identify(current: DoubleState, receiver: dict[str, Any], dataset: Dataset) -> Identified:
    """Project, subject and session of an instance nobody expects, by the receiver's identifier."""
    if receiver.get("identifier") == "dqrObjectIdentifier":
        session = _text(dataset, "StudyID") or _text(dataset, "AccessionNumber")
        return Identified(None, label_chars(_text(dataset, "PatientName")), label_chars(session))
    candidates = [
        *(contained_assignment(_text(dataset, keyword), "Project") for keyword in ASSIGNMENT_TAGS),
        _text(dataset, "StudyDescription"),
        _text(dataset, "AccessionNumber"),
    ]
    with current.lock:
        project = next((name for name in candidates if name and name in current.projects), None)
    subject = _assigned(dataset, "Subject") or _text(dataset, "PatientName")
    session = _assigned(dataset, "Session") or _text(dataset, "PatientID")
    return Identified(project, label_chars(subject), label_chars(session))


# --- anonymisation -------------------------------------------------------------------------------------
class ScriptRefusalError(Exception):
    """An instance not filed because a DicomEdit script rejected it or failed on it."""

    def __init__(self, message: str, *, rejected: bool) -> None:
        super().__init__(message)
        self.rejected = rejected


_script_lock = threading.Lock()
_scripts: OrderedDict[tuple[str, str], ast.Script] = OrderedDict()
SCRIPTS_KEPT = 256  # the site and project scripts and the remapping scripts of the requests in flight


def _parsed(text: str, source: str) -> ast.Script:
    """Scripts parsed once per text (mapReferencedUIDs keeps its map per loaded script, as XNAT does); the
    least recently used goes when more are kept, never the site script every instance uses."""
    key = (source, text)
    with _script_lock:
        script = _scripts.get(key)
        if script is None:
            script = load_script_text(text, source=source)
            _scripts[key] = script
            if len(_scripts) > SCRIPTS_KEPT:
                _scripts.popitem(last=False)
        else:
            _scripts.move_to_end(key)
        return script


def prepare_script(text: str, source: str) -> None:
    """Parse a script before its first instance comes (a DQR request's remapping script, when the request is
    queued), so that a C-STORE does not wait for the parser; one that does not parse is left for the
    receiver to refuse, with its error, when the instance comes."""
    with contextlib.suppress(DicomEditError):
        _parsed(text, source)


def remapping_source(request_id: int) -> str:
    return f"remapping script of DQR request {request_id}"


def run_script(text: str, source: str, dataset: Dataset, variables: dict[str, str]) -> None:
    """Apply one DicomEdit script in place; ScriptRefusalError when it rejects the file or fails."""
    try:
        apply_script(_parsed(text, source), dataset, variables)
    except DicomEditRejectionError as error:
        raise ScriptRefusalError(f"{source} rejected the instance: {error}", rejected=True) from error
    except DicomEditError as error:
        raise ScriptRefusalError(f"{source} failed: {error}", rejected=False) from error
    except Exception as error:  # any failure refuses the file rather than filing it as is
        raise ScriptRefusalError(f"{source} failed: {error}", rejected=False) from error


def scripts_for(current: DoubleState, receiver: dict[str, Any], project: str | None) -> list[tuple[str, str]]:
    """(source, text) of the scripts an instance gets after any relabel: the site-wide one when enabled,
    then the project's when enabled; none when the receiver prevents anonymisation."""
    if not receiver.get("anonymizationEnabled", True):
        return []
    scripts = []
    with current.lock:
        config = current.site_config
        site = str(config.get("sitewideAnonymizationScript") or "")
        if truthy(config.get("enableSitewideAnonymizationScript")) and site.strip():
            scripts.append(("site-wide anonymization script", site))
        found: Project | None = current.projects.get(project or "")
        if found is not None and found.anon_enabled and (found.anon_script or "").strip():
            scripts.append((f"anonymization script of project {found.id}", str(found.anon_script)))
    return scripts


# --- one received instance -----------------------------------------------------------------------------
@dataclass
class _Filed:
    """Where the instances of a study go for the rest of an association."""

    target: SessionTarget
    archive: bool


@dataclass
class StoreOutcome:
    status: int
    message: str = ""
    target: SessionTarget | None = None
    archived: bool = False


def store_instance(
    current: DoubleState,
    receiver: dict[str, Any],
    dataset: Dataset,
    studies: dict[str, _Filed] | None = None,
    *,
    source: str = "",
) -> StoreOutcome:
    """Identify, relabel, anonymise and file one instance received by ``receiver``; ``studies`` carries the
    receiver's studies still receiving (study UID and target → where it went); ``source`` names the sender."""
    studies = {} if studies is None else studies
    study_uid = _text(dataset, "StudyInstanceUID")
    if not (study_uid and _text(dataset, "SeriesInstanceUID") and _text(dataset, "SOPInstanceUID")):
        return StoreOutcome(CANNOT_UNDERSTAND, "object contains no Study, Series or SOP Instance UID")
    ae_title = str(receiver.get("aeTitle") or "")
    expected = dqr_requests.target_for(ae_title, study_uid)
    modality = _text(dataset, "Modality")
    try:
        found = identify(current, receiver, dataset)
        if expected is not None:
            with current.lock:
                project = expected.project if expected.project in current.projects else None
            subject = label_chars(expected.subject) if expected.subject.strip() else found.subject
            session = label_chars(expected.session) if expected.session.strip() else found.session
            found = Identified(project, subject, session)
            if receiver.get("customProcessing") and expected.remapping_script.strip():
                run_script(
                    expected.remapping_script,
                    remapping_source(expected.request_id),
                    dataset,
                    _variables(found, modality),
                )
        for script_source, text in scripts_for(current, receiver, found.project):
            run_script(text, script_source, dataset, _variables(found, modality))
    except ScriptRefusalError as refusal:
        logger.warning("%s: refused an instance of a study: %s", ae_title, refusal)
        if expected is not None:
            dqr_requests.record(ae_title, study_uid, refused=1, error=str(refusal))
        return StoreOutcome(OUT_OF_RESOURCES, str(refusal))
    _sync_file_meta(dataset)
    # A study joins its earlier filing only when it goes to the same place: the same study imported into a
    # second project (another DQR request) is a new session there.
    key = f"{study_uid}|{found.project}|{found.subject}|{found.session}"
    try:
        filed = _file(current, receiver, found, dataset, studies.get(key), source=source)
    except (ArchiveError, OSError, ValueError) as error:
        message = f"unable to file the instance: {error}"
        logger.warning("%s: %s", ae_title, message)
        if expected is not None:
            dqr_requests.record(ae_title, study_uid, refused=1, error=message)
        return StoreOutcome(OUT_OF_RESOURCES, message)
    studies.setdefault(key, filed)
    if expected is not None:
        dqr_requests.record(ae_title, study_uid, filed=1)
    return StoreOutcome(SUCCESS, target=filed.target, archived=filed.archive)


def _variables(found: Identified, modality: str) -> dict[str, str]:
    return {
        "project": found.project or UNASSIGNED,
        "subject": found.subject,
        "session": found.session or DEFAULT_SESSION_LABEL,
        "modalityLabel": modality,
    }


def _sync_file_meta(dataset: Dataset) -> None:
    """A script may have changed the SOP class or instance UID: the file meta follows (pydicom checks)."""
    meta = getattr(dataset, "file_meta", None)
    if meta is None:
        return
    if "SOPInstanceUID" in dataset:
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    if "SOPClassUID" in dataset:
        meta.MediaStorageSOPClassUID = dataset.SOPClassUID


def _file(
    current: DoubleState,
    receiver: dict[str, Any],
    found: Identified,
    dataset: Dataset,
    earlier: _Filed | None,
    *,
    source: str,
) -> _Filed:
    """File one instance; where its study went (the association's later instances follow)."""
    target = SessionTarget(found.project, found.subject, found.session or DEFAULT_SESSION_LABEL)
    if earlier is not None:
        if earlier.archive:
            file_into_archive(current, earlier.target, [dataset], append=True)
        else:
            file_into_prearchive(current, earlier.target, [dataset])
        return earlier
    if found.project is None or not found.subject:
        # No project: the Unassigned folder (never direct archive); no subject: wait in the prearchive.
        waiting = file_into_prearchive(current, target, [dataset], source=source)
        filed: Experiment | PrearchiveSession = waiting
    elif receiver.get("directArchive"):
        filed = file_into_archive(current, target, [dataset], append=True)
    else:
        filed = receive_study(current, target, [dataset])
    if isinstance(filed, PrearchiveSession):
        with current.lock:
            filed.prevent_anon = not truthy(receiver.get("anonymizationEnabled", True))
            filed.source = filed.source or source
        return _Filed(target, archive=False)
    return _Filed(target, archive=True)


# --- listeners -----------------------------------------------------------------------------------------
def _snapshot(receiver: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in receiver.items() if key not in IGNORED_FIELDS}


def desired_ports(current: DoubleState) -> dict[int, list[dict[str, Any]]]:
    """Port → receivers (copies) that should be listening in this state."""
    with current.lock:
        if not current.options.dicom_listen:
            return {}
        if str(current.site_config.get("enableDicomReceiver", True)).strip().lower() == "false":
            return {}
        ports: dict[int, list[dict[str, Any]]] = {}
        for receiver in current.receivers.values():
            if not truthy(receiver.get("enabled", True)):
                continue
            try:
                port = int(receiver.get("port"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            ports.setdefault(port, []).append(_snapshot(receiver))
        for receivers in ports.values():
            receivers.sort(key=lambda item: str(item.get("aeTitle")))
        return ports


class _Listener:
    """One port: its pynetdicom server runs in a child process (``dicom_front``); each C-STORE it receives
    is identified, scripted and filed here, in the double, and the child answers with the status."""

    def __init__(self, current: DoubleState, port: int, receivers: list[dict[str, Any]]) -> None:
        self.state = current
        self.port = port
        self.receivers = {str(item.get("aeTitle") or "").strip(): item for item in receivers}
        self.key = json.dumps(receivers, sort_keys=True, default=str)
        self._lock = threading.Lock()
        # Studies still receiving, per receiver AE: study UID -> where it went, and when it last got a file.
        self._receiving: dict[str, dict[str, _Filed]] = {}
        self._last_file: dict[tuple[str, str], float] = {}
        self._front = FrontProcess(port, receivers)
        self._workers = ThreadPoolExecutor(MAXIMUM_ASSOCIATIONS, thread_name_prefix=f"receiver-{port}")
        self._relay = threading.Thread(target=self._serve_front, name=f"receiver-{port}-relay", daemon=True)
        self._relay.start()

    @property
    def ae_titles(self) -> list[str]:
        return sorted(self.receivers)

    def stop(self) -> None:
        self._front.stop()
        self._relay.join(STOP_TIMEOUT)
        self._workers.shutdown(wait=True, cancel_futures=True)

    def _serve_front(self) -> None:
        for message in self._front.messages():
            if message[0] == "store":
                _, request_id, called, source, data = message
                self._workers.submit(self._answer, request_id, called, source, data)
            elif message[0] == "refused":
                _, calling, address, called, reason = message
                logger.info("%s@%s → %s:%s refused (reason %#x)", calling, address, called, self.port, reason)

    def _answer(self, request_id: int, called: str, source: str, data: bytes) -> None:
        self._front.answer(request_id, self._store(called, source, data))

    def _store(self, called: str, source: str, data: bytes) -> int:
        receiver = self.receivers.get(called)
        if receiver is None:
            return OUT_OF_RESOURCES
        try:
            dataset = dcmread(BytesIO(data))
        except Exception as error:  # an undecodable object is the SCU's problem
            logger.warning("%s: unable to read a C-STORE dataset: %s", called, error)
            return CANNOT_UNDERSTAND
        try:
            studies = self._studies_receiving(called, _text(dataset, "StudyInstanceUID"))
            return store_instance(self.state, receiver, dataset, studies, source=source).status
        except Exception:  # never let a failure look like success
            logger.exception("%s: C-STORE failed", called)
            return OUT_OF_RESOURCES

    def _studies_receiving(self, ae_title: str, study_uid: str) -> dict[str, _Filed]:
        """The receiver's studies still receiving: a study joins its earlier filing, from any association,
        until it has had no file for the site's sessionXmlRebuilderInterval (minutes; XNAT builds and
        auto-archives a prearchive session only once it is that long idle, so a DQR import moved series by
        series lands in one session). After that a file of the study is a new arrival (code 4: CONFLICT)."""
        with self.state.lock:
            idle_minutes = float(self.state.site_config.get("sessionXmlRebuilderInterval") or 0)
        now = time.monotonic()
        with self._lock:
            studies = self._receiving.setdefault(ae_title, {})
            # _last_file is in order of the last file: only its oldest entries can have gone idle.
            while self._last_file:
                (title, uid), last = next(iter(self._last_file.items()))
                if now - last <= idle_minutes * 60:
                    break
                del self._last_file[(title, uid)]
                receiving = self._receiving.get(title, {})
                for key in [key for key in receiving if key.split("|", 1)[0] == uid]:
                    del receiving[key]
            self._last_file.pop((ae_title, study_uid), None)
            self._last_file[(ae_title, study_uid)] = now
            return studies


class ReceiverListeners:
    """The listeners of one app (one double): kept in line with its current state by ``sync``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._listeners: dict[int, _Listener] = {}
        self.errors: dict[int, str] = {}

    def listening(self) -> dict[int, list[str]]:
        """Port → AE titles of every running listener."""
        with self._lock:
            return {port: listener.ae_titles for port, listener in sorted(self._listeners.items())}

    def sync(self) -> None:
        """Start, restart and stop listeners to match the enabled receivers of the current state."""
        current: DoubleState = self.app.config[STATE_KEY]
        with self._lock:
            if not self._listeners and not current.options.dicom_listen:
                self.errors.clear()
                return
            wanted = desired_ports(current)
            for port, listener in list(self._listeners.items()):
                keep = listener.state is current and port in wanted
                if keep and listener.key == json.dumps(wanted[port], sort_keys=True, default=str):
                    continue
                del self._listeners[port]
                listener.stop()
            self.errors = {port: error for port, error in self.errors.items() if port in wanted}
            for port, receivers in wanted.items():
                if port in self._listeners:
                    continue
                try:
                    self._listeners[port] = _Listener(current, port, receivers)
                    self.errors.pop(port, None)
                except OSError as error:
                    logger.error("DICOM receiver port %s cannot be opened: %s", port, error)
                    self.errors[port] = str(error)

    def stop_all(self) -> None:
        with self._lock:
            listeners, self._listeners = list(self._listeners.values()), {}
            self.errors.clear()
        for listener in listeners:
            listener.stop()


def listeners(app: Flask) -> ReceiverListeners:
    """The app's ReceiverListeners (created on first use)."""
    found = app.extensions.get(EXTENSION_KEY)
    if found is None:
        found = app.extensions[EXTENSION_KEY] = ReceiverListeners(app)
    return found


def sync(app: Flask) -> None:
    """Bring the app's listeners in line with its state (after receiver, seed, reset or site changes)."""
    listeners(app).sync()


def stop(app: Flask) -> None:
    """Stop every listener of the app (the double stops)."""
    listeners(app).stop_all()
