"""A small typed client for XNAT's DQR import API and the prearchive, over a logged-in xnatpy session.

Shapes and status codes follow xnat-data-lifecycle.md §2.1 (DQR ``DicomQueryRetrieveApi``,
``StudySerializer``, ``PacsSearchResultsSerializer``, ``PacsImportRequest``, ``QueuedPacsRequest`` /
``ExecutedPacsRequest``; XNAT's prearchive and ``/data/services/archive``). Every URL comes from the route
table (``compliance.xnat.routes``).

PHI: DQR's answers carry patient names, IDs and accession numbers. The parsed types keep only what the
import needs; the identifying fields of a :class:`Study` are hidden from ``repr`` and each one is handed to
the redactor, which masks them in every error text this client raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from compliance.importer.redact import Redactor
from compliance.xnat import routes
from compliance.xnat.session import XnatSessionLike

ANY_STATUS = tuple(range(100, 600))
PAGE_SIZE = 100
TRANSIENT_STATUSES = (502, 503, 504)
READ_RETRY_DELAYS = (1.0, 3.0, 10.0)
ERROR_EXCERPT = 300
IDENTIFYING_CRITERIA = ("accessionNumber", "patientId", "studyInstanceUid", "dob")


class XnatHttp(XnatSessionLike, Protocol):
    """The part of an xnatpy session the client uses: the reads' ``get`` and ``post``."""

    def post(
        self,
        path: str,
        *,
        data: Any = ...,
        json: Any = ...,
        format: str | None = ...,
        query: dict[str, str] | None = ...,
        accepted_status: Any = ...,
    ) -> Any: ...


class DqrError(Exception):
    """A DQR or prearchive call failed; the message names the call and says what to do (no PHI)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DqrAccessError(DqrError):
    """401/403: the account may not do this, so no later call will succeed either."""


class ArchiveBusyError(DqrError):
    """XNAT is already working on the prearchive entry (403 "Operation already in progress")."""


class DqrUnavailableError(DqrError):
    """XNAT did not answer (connection error, timeout, 502/503/504): the outcome of a write is unknown."""


@dataclass(frozen=True)
class Pacs:
    id: int
    label: str
    ae_title: str
    queryable: bool
    retrieve_level: str | None  # DQR 3.2.0: SERIES or STUDY; STUDY refuses imports that name series


@dataclass(frozen=True)
class Receiver:
    ae_title: str
    port: int
    enabled: bool
    custom_processing: bool
    identifier: str


@dataclass(frozen=True)
class Study:
    study_instance_uid: str
    study_date: str = ""  # yyyy-MM-dd as DQR writes it
    modalities: tuple[str, ...] = ()
    description: str = ""
    accession_number: str = field(default="", repr=False)
    patient_id: str = field(default="", repr=False)
    patient_name: str = field(default="", repr=False)


@dataclass(frozen=True)
class Series:
    series_instance_uid: str
    number: str = ""
    modality: str = ""
    description: str = ""
    instances: int | None = None
    sop_classes: tuple[str, ...] = ()  # absent from DQR's Series; kept when an answer has it


@dataclass(frozen=True)
class ImportStudy:
    study_instance_uid: str
    series_instance_uids: tuple[str, ...]
    relabel: dict[str, str]


@dataclass(frozen=True)
class ImportRequest:
    pacs_id: int
    ae_title: str
    port: int
    project: str
    request_id: str
    studies: tuple[ImportStudy, ...]

    def to_json(self) -> dict[str, Any]:
        # forceImport false: XNAT then checks that the receiver has custom processing on, without which the
        # relabel map (the labels, the pseudonyms) would silently not be applied.
        return {
            "pacsId": self.pacs_id,
            "aeTitle": self.ae_title,
            "port": self.port,
            "projectId": self.project,
            "requestId": self.request_id,
            "forceImport": False,
            "studies": [
                {
                    "studyInstanceUid": study.study_instance_uid,
                    "seriesInstanceUids": list(study.series_instance_uids),
                    "relabelMap": dict(study.relabel),
                }
                for study in self.studies
            ],
        }


@dataclass(frozen=True)
class PacsRequest:
    """A QueuedPacsRequest or ExecutedPacsRequest without its PHI fields."""

    id: int
    status: str
    user_defined_id: str | None
    study_instance_uid: str
    project: str
    created_ms: int | None
    error: str = ""  # history errorMessage, redacted


@dataclass(frozen=True)
class SeriesProgress:
    user_defined_id: str | None
    series_instance_uid: str
    expected: int | None
    archived: int | None


@dataclass(frozen=True)
class PrearchiveSession:
    project: str
    timestamp: str
    folder: str
    name: str  # the session label
    subject: str
    status: str


class DqrClient:
    def __init__(
        self,
        session: XnatHttp,
        url: str,
        redactor: Redactor,
        sleep: Callable[[float], None] = time.sleep,
        read_retry_delays: Sequence[float] = READ_RETRY_DELAYS,
    ) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._redact = redactor
        self._sleep = sleep
        self._read_retry_delays = tuple(read_retry_delays)

    # --- PACS and receivers -------------------------------------------------------------------------
    def pacs(self, label: str) -> Pacs:
        entries = self._json("GET", routes.PACS_LIST) or []
        for entry in entries:
            if entry.get("label") == label:
                return Pacs(
                    id=int(entry["id"]),
                    label=label,
                    ae_title=str(entry.get("aeTitle") or ""),
                    queryable=bool(entry.get("queryable", True)),
                    retrieve_level=(entry.get("retrieveLevel") or None),
                )
        known = ", ".join(sorted(str(entry.get("label")) for entry in entries)) or "none"
        raise DqrError(f"{self._url}{routes.PACS_LIST} has no PACS labelled '{label}' (known: {known})")

    def receivers(self) -> list[Receiver]:
        return [
            Receiver(
                ae_title=str(entry.get("aeTitle") or ""),
                port=int(entry.get("port") or 0),
                enabled=bool(entry.get("enabled")),
                custom_processing=bool(entry.get("customProcessing")),
                identifier=str(entry.get("identifier") or ""),
            )
            for entry in self._json("GET", routes.RECEIVERS) or []
        ]

    # --- queries --------------------------------------------------------------------------------------
    def query_studies(self, pacs_id: int, criteria: dict[str, str]) -> list[Study]:
        """C-FIND at study level; DQR answers 204 when nothing matched."""
        self._redact.add(*(criteria.get(name) for name in IDENTIFYING_CRITERIA))
        self._redact.add_name(criteria.get("patientName"))
        body = self._json("POST", routes.DQR_QUERY_STUDIES, body={"pacsId": pacs_id, **criteria}, read=True)
        return [self._study(entry) for entry in body or []]

    def query_series(self, pacs_id: int, study_uids: Sequence[str]) -> dict[str, list[Series]]:
        """One C-FIND per study (DQR loops synchronously): callers send a few UIDs at a time."""
        body = self._json(
            "POST",
            routes.DQR_QUERY_SERIES,
            body={"pacsId": pacs_id, "studyInstanceUids": list(study_uids)},
            read=True,
        )
        return {
            uid: [_series(entry) for entry in (found or {}).get("results") or []]
            for uid, found in (body or {}).items()
        }

    def _study(self, entry: dict[str, Any]) -> Study:
        patient = entry.get("patient") or {}
        self._redact.add(entry.get("accessionNumber"), patient.get("id"), entry.get("studyId"))
        self._redact.add_name(patient.get("name"))
        return Study(
            study_instance_uid=str(entry["studyInstanceUid"]),
            study_date=str(entry.get("studyDate") or ""),
            modalities=tuple(entry.get("modalitiesInStudy") or ()),
            description=str(entry.get("studyDescription") or ""),
            accession_number=str(entry.get("accessionNumber") or ""),
            patient_id=str(patient.get("id") or ""),
            patient_name=str(patient.get("name") or ""),
        )

    # --- import, queue, history ---------------------------------------------------------------------
    def submit(self, request: ImportRequest) -> list[PacsRequest]:
        """POST /import; never retried: after DqrUnavailableError the caller looks the request up instead."""
        body = self._json("POST", routes.DQR_IMPORT, body=request.to_json())
        return [self._request(entry) for entry in body or []]

    def queued(self) -> list[PacsRequest]:
        """The account's whole queue (every page)."""
        return list(self._pages(routes.DQR_IMPORT_QUEUE, "asc"))

    def queue_entry(self, request_id: int) -> PacsRequest | None:
        return self._optional(routes.DQR_IMPORT_QUEUE_ENTRY, request_id)

    def history_entry(self, request_id: int) -> PacsRequest | None:
        return self._optional(routes.DQR_IMPORT_HISTORY_ENTRY, request_id)

    def history_entries(self, request_ids: Sequence[int]) -> dict[int, PacsRequest | None]:
        """The history entries of ``request_ids``: the newest page of the account's history, then one read
        per id it did not hold (None: XNAT has no history entry of that id)."""
        wanted = set(request_ids)
        if not wanted:
            return {}
        query = {"all": "false", "sort": "desc", "page": "1", "pageSize": str(PAGE_SIZE)}
        newest = self._json("GET", routes.DQR_IMPORT_HISTORY, query=query, read=True) or []
        found: dict[int, PacsRequest | None] = {}
        for entry in (self._request(item) for item in newest):
            if entry.id in wanted:
                found[entry.id] = entry
        for request_id in sorted(wanted - set(found)):
            found[request_id] = self.history_entry(request_id)
        return found

    def history_since(self, since_ms: int) -> list[PacsRequest]:
        """History entries created at or after ``since_ms``, newest first (stops at the first older one)."""
        found = []
        for entry in self._pages(routes.DQR_IMPORT_HISTORY, "desc"):
            if entry.created_ms is not None and entry.created_ms < since_ms:
                break
            found.append(entry)
        return found

    def series_progress(self) -> list[SeriesProgress]:
        """GET /import/status (2023+ DQR); an XNAT without the route answers 404 and gets an empty list."""
        response = self._call("GET", routes.DQR_IMPORT_STATUS, query={"all": "false"}, read=True)
        if response.status_code == 404:
            return []
        self._raise_for(response, "GET", routes.DQR_IMPORT_STATUS)
        return [
            SeriesProgress(
                user_defined_id=entry.get("userDefinedId"),
                series_instance_uid=str(entry.get("seriesInstanceUid") or ""),
                expected=_integer(entry.get("expectedInstances")),
                archived=_integer(entry.get("instancesArchived")),
            )
            for entry in _body(response) or []
        ]

    def cancel(self, request_ids: Sequence[int]) -> None:
        """POST /import/queue with the ids deletes (cancels) those queued requests."""
        if request_ids:
            self._json("POST", routes.DQR_IMPORT_QUEUE, body=list(request_ids))

    def _request(self, entry: dict[str, Any]) -> PacsRequest:
        self._redact.add(entry.get("accessionNumber"), entry.get("patientId"), entry.get("studyId"))
        self._redact.add_name(entry.get("patientName"))
        return PacsRequest(
            id=int(entry["id"]),
            status=str(entry.get("status") or "").upper(),
            user_defined_id=entry.get("userDefinedId"),
            study_instance_uid=str(entry.get("studyInstanceUid") or ""),
            project=str(entry.get("xnatProject") or ""),
            created_ms=_integer(entry.get("created")),
            # Redacted only when there is a text: the pattern is rebuilt after each request adds its
            # identifiers, which for every queued request of a big job made submitting quadratic.
            error=self._redact(message) if (message := str(entry.get("errorMessage") or "")) else "",
        )

    def _optional(self, template: str, request_id: int) -> PacsRequest | None:
        response = self._call("GET", template, {"id": request_id}, read=True)
        if response.status_code == 404:
            return None
        self._raise_for(response, "GET", routes.path(template, id=request_id))
        return self._request(_body(response))

    def _pages(self, template: str, sort: str) -> Iterator[PacsRequest]:
        page = 1
        while True:
            query = {"all": "false", "sort": sort, "page": str(page), "pageSize": str(PAGE_SIZE)}
            entries = self._json("GET", template, query=query, read=True) or []
            yield from (self._request(entry) for entry in entries)
            if len(entries) < PAGE_SIZE:
                return
            page += 1

    # --- prearchive and archive ---------------------------------------------------------------------
    def prearchive(self, project: str) -> list[PrearchiveSession]:
        response = self._call(
            "GET", routes.PREARCHIVE_PROJECT, {"project": project}, query={"format": "json"}, read=True
        )
        path = routes.path(routes.PREARCHIVE_PROJECT, project=project)
        self._raise_for(response, "GET", path)
        try:
            rows = routes.parse_result_set(_body(response))
        except ValueError as error:
            raise DqrError(f"GET {self._url}{path}: {error}") from error
        return [
            PrearchiveSession(
                project=str(row.get("project") or project),
                timestamp=str(row.get("timestamp") or ""),
                folder=str(row.get("folderName") or ""),
                name=str(row.get("name") or ""),
                subject=str(row.get("subject") or ""),
                status=str(row.get("status") or "").upper(),
            )
            for row in rows
        ]

    def archive(self, session: PrearchiveSession, project: str, subject: str, label: str) -> str:
        """Archive one prearchive session into ``project`` as ``subject``/``label``; returns the new URI."""
        source = routes.path(
            routes.PREARCHIVE_SESSION,
            project=session.project,
            timestamp=session.timestamp,
            folder=session.folder,
        )
        query = {
            "src": source,
            "project": project,
            "subject": subject,
            "session": label,
            "overwrite": "none",
            "auto-archive": "false",
        }
        response = self._call("POST", routes.ARCHIVE_SERVICE, query=query)
        if response.status_code == 403 and "in progress" in str(response.text).lower():
            raise ArchiveBusyError(
                f"POST {self._url}{routes.ARCHIVE_SERVICE}: XNAT is already archiving the session", 403
            )
        self._raise_for(response, "POST", routes.ARCHIVE_SERVICE)
        return response.text.strip()

    def experiment_labels(self, project: str, label: str | None = None) -> set[str]:
        """Labels of the project's archived experiments (all of them, or just ``label`` if it exists)."""
        query = {"project": project, "format": "json", "columns": "ID,label,project"}
        if label is not None:
            query["label"] = label
        response = self._call("GET", routes.EXPERIMENTS, query=query, read=True)
        self._raise_for(response, "GET", routes.EXPERIMENTS)
        try:
            rows = routes.parse_result_set(_body(response))
        except ValueError as error:
            raise DqrError(f"GET {self._url}{routes.EXPERIMENTS}: {error}") from error
        return {str(row.get("label")) for row in rows if row.get("project", project) == project}

    # --- HTTP -----------------------------------------------------------------------------------------
    def _json(self, method: str, template: str, segments: dict[str, Any] | None = None, **call: Any) -> Any:
        """The decoded body of a successful call (None for 204); ``call`` as for :meth:`_call`."""
        response = self._call(method, template, segments, **call)
        self._raise_for(response, method, routes.path(template, **(segments or {})))
        return None if response.status_code == 204 else _body(response)

    def _call(
        self,
        method: str,
        template: str,
        segments: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        read: bool = False,
    ) -> Any:
        """One request; a read (a GET, or a query POST) is retried while XNAT is unavailable."""
        path = routes.path(template, **(segments or {}))
        delays = self._read_retry_delays if read else ()
        for attempt in range(len(delays) + 1):
            try:
                response = self._send(method, path, query, body)
            except Exception as error:  # xnatpy and requests raise their own error types
                failure: DqrError = DqrUnavailableError(
                    f"{method} {self._url}{path}: XNAT did not answer "
                    f"({self._redact(str(error))[:ERROR_EXCERPT]}); check that XNAT is up and reachable"
                )
            else:
                if response.status_code not in TRANSIENT_STATUSES:
                    return response
                failure = DqrUnavailableError(
                    f"{method} {self._url}{path}: XNAT answered {response.status_code}; it is busy or "
                    "restarting",
                    response.status_code,
                )
            if attempt < len(delays):
                self._sleep(delays[attempt])
        raise failure

    def _send(self, method: str, path: str, query: dict[str, str] | None, body: Any) -> Any:
        if method == "GET":
            return self._session.get(path, query=query, accepted_status=ANY_STATUS)
        return self._session.post(path, json=body, query=query, accepted_status=ANY_STATUS)

    def _raise_for(self, response: Any, method: str, path: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        excerpt = self._redact(" ".join(str(response.text or "").split()))[:ERROR_EXCERPT]
        message = f"{method} {self._url}{path} failed: status {status}: {excerpt}".rstrip(": ")
        if status in (401, 403):
            raise DqrAccessError(
                f"{message}; the account needs XNAT's Dqr role (or Administrator), DQR enabled for the "
                "project and permission to edit the project",
                status,
            )
        raise DqrError(message, status)


def _series(entry: dict[str, Any]) -> Series:
    sop_classes = (
        entry.get("sopClassesInSeries") or entry.get("sopClassUids") or entry.get("sopClassUid") or ()
    )
    if isinstance(sop_classes, str):
        sop_classes = sop_classes.replace(",", "\\").split("\\")
    return Series(
        series_instance_uid=str(entry["seriesInstanceUid"]),
        number=str(entry.get("seriesNumber") or ""),
        modality=str(entry.get("modality") or "").upper(),
        description=str(entry.get("seriesDescription") or ""),
        instances=_integer(entry.get("numberOfRelatedInstances")),
        sop_classes=tuple(str(uid).strip() for uid in sop_classes if str(uid).strip()),
    )


def _body(response: Any) -> Any:
    text = response.text or ""
    return routes.parse_json_body(text)


def _integer(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None
