"""The export's XNAT traffic through a logged-in xnatpy session: the PACS entries, the project's release
marker, its sessions, their scans and scan resources, and the DQR export call, counted per route.

Every URL comes from the route table (``compliance.xnat.routes``); every failure names the call and the URL.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from compliance.export.errors import ExportError
from compliance.xnat import routes

ANY_STATUS = tuple(range(100, 600))
EXCERPT = 300
IMAGE_SESSION_SUFFIX = "SessionData"  # xnat:ctSessionData, xnat:mrSessionData, ...


@dataclass(frozen=True)
class PacsEntry:
    id: int
    label: str
    ae_title: str
    host: str
    port: int
    storable: bool

    def describe(self) -> str:
        return f"PACS entry {self.label!r} (id {self.id}, AE {self.ae_title} at {self.host}:{self.port})"


@dataclass(frozen=True)
class SessionRef:
    id: str  # the experiment ID, what DQR export takes
    label: str  # the session label (a pseudonym for imported studies)
    project: str
    study_uid: str = ""


@dataclass(frozen=True)
class ScanResource:
    label: str
    format: str
    files: int | None


@dataclass(frozen=True)
class ScanRow:
    id: str
    xsi_type: str
    type: str
    modality: str
    series_uid: str
    frames: int | None
    resources: tuple[ScanResource, ...]  # in XNAT's order (resource id), which DQR export follows

    def gate_row(self) -> dict[str, Any]:
        """The scan as compliance.pixels.gate reads it."""
        return {
            "ID": self.id,
            "xsiType": self.xsi_type,
            "type": self.type,
            "series_description": self.type,
            "modality": self.modality,
            "resources": [{"label": r.label, "file_count": r.files} for r in self.resources],
        }


class ExportXnat:
    """XNAT as the export sees it; ``calls`` counts requests by ``METHOD template``."""

    def __init__(self, session: Any, url: str) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    # --- reads ---------------------------------------------------------------------------------------
    def pacs(self, label: str) -> PacsEntry:
        """The PACS entry labelled ``label`` (an error naming the known labels otherwise)."""
        entries = [routes.parse_pacs_entry(entry) for entry in self._json("GET", routes.PACS_LIST) or []]
        for entry in entries:
            if entry["label"] == label:
                return PacsEntry(
                    entry["id"], label, entry["ae_title"], entry["host"], entry["port"], entry["storable"]
                )
        known = ", ".join(sorted(str(entry["label"]) for entry in entries if entry["label"])) or "none"
        raise ExportError(
            f"{self._url}{routes.PACS_LIST} has no PACS entry labelled {label!r} (known: {known})"
        )

    def project_keywords(self, project: str) -> str:
        payload = self._json("GET", routes.PROJECT, {"project": project}, query={"format": "json"})
        try:
            return str(routes.parse_item_fields(payload).get("keywords") or "")
        except ValueError as error:
            raise ExportError(
                f"GET {self._url}{routes.path(routes.PROJECT, project=project)}: {error}"
            ) from error

    def sessions(self, project: str) -> list[SessionRef]:
        """The project's image sessions (the site listing with ?project=, as enclave fetch does, FLIP#612)."""
        query = {"project": project, "columns": routes.EXPORT_SESSION_COLUMNS}
        rows = self._rows(routes.EXPERIMENTS, {}, query)
        return [
            SessionRef(str(row["ID"]), str(row.get("label") or ""), project, str(row.get("UID") or ""))
            for row in rows
            if str(row.get("project", project)) == project
            and str(row.get("xsiType") or "").endswith(IMAGE_SESSION_SUFFIX)
        ]

    def scans(self, session: SessionRef) -> list[ScanRow]:
        """The session's scans with their resources (label, format, file count) in XNAT's order."""
        segments = {"experiment": session.id}
        scan_rows = self._rows(routes.EXPERIMENT_SCANS, segments, {"columns": routes.EXPORT_SCAN_COLUMNS})
        resource_rows = self._rows(routes.EXPERIMENT_SCAN_RESOURCES, {**segments, "scans": "ALL"}, {})
        by_scan: dict[str, list[tuple[int, ScanResource]]] = {}
        for row in resource_rows:
            resource = ScanResource(
                str(row.get("label") or ""), str(row.get("format") or ""), _int(row.get("file_count"))
            )
            order = _int(row.get("xnat_abstractresource_id")) or 0
            by_scan.setdefault(str(row.get("cat_id")), []).append((order, resource))
        return [
            ScanRow(
                id=str(row.get("ID")),
                xsi_type=str(row.get("xsiType") or ""),
                type=str(row.get("type") or row.get("series_description") or ""),
                modality=str(row.get("modality") or ""),
                series_uid=str(row.get("UID") or ""),
                frames=_int(row.get("frames")),
                resources=tuple(
                    resource for _, resource in sorted(by_scan.get(str(row.get("ID")), []), key=_first)
                ),
            )
            for row in scan_rows
        ]

    # --- the export ----------------------------------------------------------------------------------
    def export(self, pacs: PacsEntry, session: SessionRef, scan_ids: list[str]) -> int | None:
        """One DQR export of the session's scans; the workflow id XNAT answers with."""
        query = routes.export_query(pacs.id, session.id, scan_ids)
        payload = self._json("PUT", routes.DQR_EXPORT, {}, query=query, advice=_export_advice(pacs))
        try:
            _session, _scans, workflow = routes.parse_export_answer(payload)
        except ValueError as error:
            raise ExportError(
                f"PUT {self._url}{routes.DQR_EXPORT} for session {session.label}: {error}"
            ) from error
        return workflow

    # --- HTTP ----------------------------------------------------------------------------------------
    def _rows(self, template: str, segments: dict[str, Any], query: dict[str, str]) -> list[dict[str, Any]]:
        payload = self._json("GET", template, segments, query={**query, "format": "json"})
        try:
            return routes.parse_result_set(payload)
        except ValueError as error:
            raise ExportError(f"GET {self._url}{routes.path(template, **segments)}: {error}") from error

    def _json(
        self,
        method: str,
        template: str,
        segments: dict[str, Any] | None = None,
        *,
        query: dict[str, Any] | None = None,
        advice: dict[int, str] | None = None,
    ) -> Any:
        path = routes.path(template, **(segments or {}))
        with self._lock:
            self.calls[f"{method} {template}"] += 1
        try:
            if method == "PUT":
                response = self._session.put(path, query=query, accepted_status=ANY_STATUS)
            else:
                response = self._session.get(path, query=query, accepted_status=ANY_STATUS)
        except Exception as error:  # xnatpy and requests raise their own error types
            raise ExportError(
                f"{method} {self._url}{path}: XNAT did not answer ({error}); check that it is up"
            ) from error
        if not 200 <= response.status_code < 300:
            raise ExportError(_failure(method, self._url + path, response, advice or {}))
        try:
            return routes.parse_json_body(response.text or "")
        except ValueError as error:
            raise ExportError(f"{method} {self._url}{path}: the answer is not JSON ({error})") from error


def _failure(method: str, url: str, response: Any, advice: dict[int, str]) -> str:
    excerpt = " ".join(str(response.text or "").split())[:EXCERPT]
    message = f"{method} {url} failed: status {response.status_code}" + (f": {excerpt}" if excerpt else "")
    if response.status_code in (401, 403):
        message += "; the account needs XNAT's Dqr role (or Administrator) and read access to the project"
    hint = advice.get(response.status_code)
    return f"{message}; {hint}" if hint else message


def _export_advice(pacs: PacsEntry) -> dict[int, str]:
    """What DQR's export errors mean (DicomQueryRetrieveApi.export)."""
    return {
        400: "DQR needs a session id and at least one scan id",
        404: f"XNAT has no {pacs.describe()} or no such session",
        409: f"the {pacs.describe()} is not storable in XNAT",
        503: f"XNAT could not C-ECHO the {pacs.describe()}: is the node up and does it accept XNAT's AE?",
    }


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _first(item: tuple[int, ScanResource]) -> int:
    return item[0]
