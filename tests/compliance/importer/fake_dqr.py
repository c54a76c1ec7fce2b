"""A small in-process fake of XNAT's DQR import API and prearchive, for the import tests only.

It answers in the shapes of xnat-data-lifecycle.md §2.1 (Study/Series JSON with blank fields omitted,
204 when nothing matched, ``[QueuedPacsRequest]`` from /import, queue → history with the same ids,
QUEUED → PROCESSING → ISSUED → RECEIVED / FAILED, the prearchive ResultSet, /data/services/archive as
text/uri-list) and carries the PHI fields DQR carries, so the tests can check that none leaks. It is a
stand-in until the XNAT double serves these routes with real C-FIND/C-MOVE; the client must stay honest
to §2.1, not to this file.

The scheduler moves every request one state per poll of the queue list (deterministic for tests), or
only when a test calls ``advance()`` (``auto_advance = False``); at most ``threads`` requests leave the
queue per step. Switches: ``fail_times[uid]`` (FAILED that many times, zero files), ``wedged`` (study
UIDs) and ``wedged_requests`` (ids) stay PROCESSING (the FLIP#662 livelock), ``auto_archive``
(prearchive_code 4: no prearchive), ``echo_request_id`` (userDefinedId in answers), ``refuse_imports``
(status, body), ``canned[(METHOD, path)]`` (answers given, in order, instead of the real ones).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

PROJECT = "CARDIO01"
TOKEN = "FAKE-JSESSION-0001"
USER, PASSWORD = "dqruser", "dqr-pass"


@dataclass
class FakeSeries:
    uid: str
    number: int
    modality: str
    description: str
    instances: int = 3


@dataclass
class FakeStudy:
    uid: str
    accession: str
    patient_id: str
    patient_name: str  # DICOM form LAST^FIRST
    date: str  # YYYYMMDD
    modalities: tuple[str, ...]
    description: str = ""
    series: list[FakeSeries] = field(default_factory=list)


def study(
    number: int, *, patient: int | None = None, date: str = "20210105", dose: bool = False
) -> FakeStudy:
    """A CT study full of PHI; ``dose`` adds a dose-report series and an SR."""
    patient = number if patient is None else patient
    uid = f"1.2.826.0.1.3680043.8.498.{1000 + number}"
    series = [
        FakeSeries(f"{uid}.1", 1, "CT", "Axial 1.25mm"),
        FakeSeries(f"{uid}.2", 2, "CT", "Coronal MPR"),
    ]
    if dose:
        series += [
            FakeSeries(f"{uid}.999", 999, "CT", "Dose Report"),
            FakeSeries(f"{uid}.998", 998, "SR", "Dose SR"),
        ]
    return FakeStudy(
        uid=uid,
        accession=f"ACC{number:05d}",
        patient_id=f"PID{patient:05d}",
        patient_name=f"PATIENTNAME{patient:03d}^FIRSTNAME{patient:03d}",
        date=date,
        modalities=("CT", "SR") if dose else ("CT",),
        description="CT CHEST",
        series=series,
    )


class _KeepAlive(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # one connection per client, as a real XNAT behind nginx keeps it


class FakeDqr:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.studies: dict[str, FakeStudy] = {}
        self.pacs = [
            {
                "id": 1,
                "label": "TRUSTPACS",
                "aeTitle": "TRUSTPACS",
                "host": "127.0.0.1",
                "queryRetrievePort": 11112,
                "queryable": True,
                "storable": False,
                "retrieveLevel": None,
            }
        ]
        self.receivers = [
            {
                "id": 1,
                "aeTitle": "XNAT",
                "port": 8104,
                "enabled": True,
                "customProcessing": True,
                "identifier": "dqrObjectIdentifier",
            }
        ]
        self.queue: dict[int, dict[str, Any]] = {}
        self.history: dict[int, dict[str, Any]] = {}
        self.relabels: dict[int, dict[str, str]] = {}
        self.prearchive: list[dict[str, Any]] = []
        self.experiments: list[dict[str, Any]] = []
        self.next_id = 1
        self.fail_times: Counter[str] = Counter()
        self.wedged: set[str] = set()
        self.wedged_requests: set[int] = set()
        self.auto_advance = True
        self.threads = 1000
        self.canned: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.auto_archive = False
        self.echo_request_id = True
        self.refuse_imports: tuple[int, str] | None = None
        self.import_bodies: list[dict[str, Any]] = []
        self.imports_by_study: Counter[str] = Counter()
        self.archives_by_label: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()  # job -> most requests at XNAT at once
        self.cancelled: list[int] = []
        self.responses: list[str] = []  # every body sent, to check the client never repeats PHI
        self.calls: list[str] = []  # "METHOD /path" of every request
        self.app = self._build_app()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_KeepAlive)
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.02), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> FakeDqr:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, *studies: FakeStudy) -> None:
        for entry in studies:
            self.studies[entry.uid] = entry

    def phi(self) -> list[str]:
        """Every identifier the fake PACS holds: none may appear in what the import writes or prints."""
        return [
            value
            for entry in self.studies.values()
            for value in (entry.accession, entry.patient_id, *entry.patient_name.split("^"), entry.uid)
        ]

    def count(self, call: str) -> int:
        return sum(1 for made in self.calls if made == call)

    # --- scheduler ------------------------------------------------------------------------------------
    def advance(self) -> None:
        with self.lock:
            for request_id, entry in list(self.history.items()):
                uid = entry["studyInstanceUid"]
                if entry["status"] == "ISSUED":
                    if self.fail_times[uid] > 0:
                        self.fail_times[uid] -= 1
                        entry["status"] = "FAILED"
                        entry["errorMessage"] = (
                            f"Received zero files for study {uid} in project {entry['xnatProject']}"
                            f" (patient {entry['patientName']}, accession {entry['accessionNumber']})"
                        )
                    else:
                        entry["status"] = "RECEIVED"
                        self._deliver(request_id, entry)
                elif (
                    entry["status"] == "PROCESSING"
                    and uid not in self.wedged
                    and request_id not in self.wedged_requests
                ):
                    entry["status"] = "ISSUED"
            for session in self.prearchive:
                if session["status"] == "RECEIVING":
                    session["status"] = "READY"
            for request_id in sorted(self.queue)[: self.threads]:
                entry = self.queue.pop(request_id)
                self.history[request_id] = {
                    **entry,
                    "status": "PROCESSING",
                    "executedTime": _now_ms(),
                    "errorMessage": "",
                }

    def _deliver(self, request_id: int, entry: dict[str, Any]) -> None:
        labels = self.relabels[request_id]
        if self.auto_archive:
            self._archive(
                entry["xnatProject"], labels["Subject"], labels["Session"], entry["studyInstanceUid"]
            )
            return
        stamp = f"20240101_{request_id:09d}"
        self.prearchive.append(
            {
                "project": entry["xnatProject"],
                "timestamp": stamp,
                "lastmod": "",
                "uploaded": "",
                "scan_date": "2021-01-05",
                "scan_time": "",
                "subject": labels["Subject"],
                "folderName": labels["Session"],
                "name": labels["Session"],
                "tag": entry["studyInstanceUid"],
                "status": "RECEIVING",
                "url": f"/prearchive/projects/{entry['xnatProject']}/{stamp}/{labels['Session']}",
                "autoarchive": "Manual",
                "prevent_anon": "false",
                "prevent_auto_commit": "false",
                "SOURCE": "",
                "VISIT": "",
                "PROTOCOL": "",
                "TIMEZONE": "",
            }
        )

    def _archive(self, project: str, subject: str, label: str, uid: str) -> str:
        experiment_id = f"XNAT_E{len(self.experiments) + 1:05d}"
        self.experiments.append(
            {
                "ID": experiment_id,
                "label": label,
                "project": project,
                "subject_label": subject,
                "UID": uid,
                "xsiType": "xnat:ctSessionData",
            }
        )
        self.archives_by_label[label] += 1
        return f"/data/archive/projects/{project}/subjects/{subject}/experiments/{experiment_id}"

    def in_flight(self, job: str) -> int:
        live = [
            *self.queue.values(),
            *(e for e in self.history.values() if e["status"] in ("PROCESSING", "ISSUED")),
        ]
        return sum(1 for entry in live if str(entry.get("userDefinedId") or "").startswith(f"{job}:"))

    # --- the app --------------------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("fake_dqr")

        @app.before_request
        def authenticate() -> Response | None:
            if request.path in ("/", "/data/services/auth", "/data/JSESSION"):
                return None
            basic = request.authorization
            if request.cookies.get("JSESSIONID") == TOKEN or (
                basic and (basic.username, basic.password) == (USER, PASSWORD)
            ):
                return self._canned()
            return Response("Unauthorized", status=401)

        @app.after_request
        def record(response: Response) -> Response:
            self.calls.append(f"{request.method} {request.path}")
            if not response.direct_passthrough:
                self.responses.append(response.get_data(as_text=True))
            return response

        @app.route("/")
        def root() -> str:
            return "XNAT"

        @app.route("/data/services/auth", methods=["PUT", "POST"])
        def login() -> Response:
            if (request.form.get("username"), request.form.get("password")) != (USER, PASSWORD):
                return Response("<h3>Login attempt failed</h3>", status=401)
            response = Response(TOKEN, mimetype="text/plain")
            response.set_cookie("JSESSIONID", TOKEN, path="/")
            return response

        @app.route("/data/auth")
        def whoami() -> str:
            return f"User '{USER}' is logged in"

        @app.route("/data/JSESSION", methods=["GET", "DELETE"])
        def jsession() -> str:
            return TOKEN

        @app.route("/xapi/pacs")
        def pacs() -> Response:
            return jsonify(self.pacs)

        @app.route("/xapi/dicomscp")
        def receivers() -> Response:
            return jsonify(self.receivers)

        @app.route("/xapi/dqr/query/studies", methods=["POST"])
        def query_studies() -> Response:
            criteria = request.get_json()
            with self.lock:
                found = [entry for entry in self.studies.values() if _matches(entry, criteria)]
            if not found:
                return Response(status=204)
            return jsonify([_study_json(entry) for entry in found])

        @app.route("/xapi/dqr/query/series", methods=["POST"])
        def query_series() -> Response:
            uids = request.get_json().get("studyInstanceUids") or []
            if not uids:
                return Response(status=204)
            answer = {}
            for uid in uids:
                entry = self.studies.get(uid)
                results = [_series_json(entry, series) for series in entry.series] if entry else []
                answer[uid] = {"hasLimitedResultSetSize": False, **({"results": results} if results else {})}
            return jsonify(answer)

        @app.route("/xapi/dqr/import", methods=["POST"])
        def import_() -> Response:
            body = request.get_json()
            if self.refuse_imports:
                return Response(self.refuse_imports[1], status=self.refuse_imports[0])
            receiver = next(
                (r for r in self.receivers if (r["aeTitle"], r["port"]) == (body["aeTitle"], body["port"])),
                None,
            )
            if receiver is None or not receiver["customProcessing"]:
                return Response(
                    f"The DICOM receiver {body['aeTitle']}:{body['port']} has custom processing off",
                    status=400,
                )
            with self.lock:
                self.import_bodies.append(body)
                created = [
                    entry
                    for study_body in body["studies"]
                    if (entry := self._queue(body, study_body, len(body["studies"])))
                ]
                job = str(body.get("requestId") or "").split(":")[0]
                self.max_in_flight[job] = max(self.max_in_flight[job], self.in_flight(job))
            return jsonify(created)

        @app.route("/xapi/dqr/import/queue", methods=["GET"])
        def queue() -> Response:
            if self.auto_advance:
                self.advance()
            with self.lock:
                return _page(list(self.queue.values()))

        @app.route("/xapi/dqr/import/queue", methods=["POST"])
        def cancel() -> Response:
            ids = [int(value) for value in request.get_json()]
            with self.lock:
                missing = [request_id for request_id in ids if request_id not in self.queue]
                if missing:
                    return Response(f"No queued requests with IDs {missing}", status=404)
                for request_id in ids:
                    del self.queue[request_id]
                    self.cancelled.append(request_id)
            return jsonify(True)

        @app.route("/xapi/dqr/import/queue/<int:request_id>")
        def queue_entry(request_id: int) -> Response:
            with self.lock:
                entry = self.queue.get(request_id)
            return jsonify(entry) if entry else Response(status=404)

        @app.route("/xapi/dqr/import/history")
        def history() -> Response:
            with self.lock:
                return _page(list(self.history.values()))

        @app.route("/xapi/dqr/import/history/<int:request_id>")
        def history_entry(request_id: int) -> Response:
            with self.lock:
                entry = self.history.get(request_id)
            return jsonify(entry) if entry else Response(status=404)

        @app.route("/xapi/dqr/import/status")
        def series_status() -> Response:
            with self.lock:
                rows = [
                    {
                        "userDefinedId": entry["userDefinedId"],
                        "seriesInstanceUid": uid,
                        "expectedInstances": 3,
                        "instancesArchived": 3 if entry["status"] == "RECEIVED" else 0,
                        "created": entry["created"],
                    }
                    for entry in self.history.values()
                    for uid in entry["seriesIds"]
                ]
            return jsonify(rows)

        @app.route("/data/prearchive/projects/<project>")
        def prearchive(project: str) -> Response:
            with self.lock:
                rows = [dict(session) for session in self.prearchive if session["project"] == project]
            return jsonify({"ResultSet": {"Result": rows, "totalRecords": str(len(rows))}})

        @app.route("/data/services/archive", methods=["POST"])
        def archive() -> Response:
            source = unquote(request.args["src"])
            with self.lock:
                session = next((s for s in self.prearchive if "/data" + s["url"] == source), None)
                if session is None:
                    return Response(f"No prearchive session at {source}", status=404)
                if session["status"] != "READY":
                    return Response("Operation already in progress on this prearchive entry.", status=403)
                label = request.args["session"]
                if any(
                    e["label"] == label and e["project"] == request.args["project"] for e in self.experiments
                ):
                    return Response(f"Session {label} already exists", status=409)
                self.prearchive.remove(session)
                uri = self._archive(request.args["project"], request.args["subject"], label, session["tag"])
            return Response(uri + "\n", mimetype="text/uri-list")

        @app.route("/data/experiments")
        def experiments() -> Response:
            with self.lock:
                rows = [
                    dict(e)
                    for e in self.experiments
                    if e["project"] == request.args.get("project")
                    and request.args.get("label") in (None, e["label"])
                ]
            return jsonify({"ResultSet": {"Result": rows, "totalRecords": str(len(rows))}})

        return app

    def _canned(self) -> Response | None:
        answers = self.canned.get((request.method, request.path))
        if not answers:
            return None
        status, body = answers.pop(0)
        return Response(body, status=status, mimetype="application/json")

    def _queue(self, body: dict[str, Any], study_body: dict[str, Any], studies: int) -> dict[str, Any] | None:
        entry = self.studies.get(study_body["studyInstanceUid"])
        if entry is None:
            return None
        wanted = study_body.get("seriesInstanceUids") or []
        series = [s for s in entry.series if not wanted or s.uid in wanted]
        if not series:
            return None  # DQR drops a study with no matching series (Optional.empty())
        request_id = self.next_id
        self.next_id += 1
        relabel = study_body.get("relabelMap") or {}
        script = 'version "6.1"\n' + "\n".join(f'{key} := "{value}"' for key, value in relabel.items())
        queued = {
            "id": request_id,
            "created": _now_ms(),
            "timestamp": _now_ms(),
            "enabled": True,
            "disabled": 0,
            "username": USER,
            "userDefinedId": body.get("requestId") if self.echo_request_id else None,
            "pacsId": body["pacsId"],
            "xnatProject": body["projectId"],
            "studyInstanceUid": entry.uid,
            "seriesIds": [s.uid for s in series],
            "remappingScript": script,
            "destinationAeTitle": f"{body['aeTitle']}:{body['port']}",
            "status": "QUEUED",
            "priority": 1 if studies == 1 else 10,
            "queuedTime": _now_ms(),
            "studyDate": entry.date,
            "studyId": entry.accession,
            "accessionNumber": entry.accession,
            "patientId": entry.patient_id,
            "patientName": entry.patient_name,
        }
        self.queue[request_id] = queued
        self.relabels[request_id] = relabel
        self.imports_by_study[entry.uid] += 1
        return dict(queued)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _page(entries: list[dict[str, Any]]) -> Response:
    sort = request.args.get("sort", "desc").lower()
    if sort not in ("asc", "desc"):
        return Response(f"Invalid sort {sort}", status=400)
    page, size = int(request.args.get("page", 1)), int(request.args.get("pageSize", 100))
    ordered = sorted(entries, key=lambda entry: entry["id"], reverse=sort == "desc")
    return jsonify(ordered[(page - 1) * size : page * size])


def _matches(entry: FakeStudy, criteria: dict[str, Any]) -> bool:
    checks = [
        criteria.get("accessionNumber") in (None, entry.accession),
        criteria.get("patientId") in (None, entry.patient_id),
        criteria.get("studyInstanceUid") in (None, entry.uid),
        criteria.get("modality") in (None, *entry.modalities),
        entry.date >= criteria.get("studyDateFrom", "00000000"),
        entry.date <= criteria.get("studyDateTo", "99999999"),
    ]
    return all(checks)


def _study_json(entry: FakeStudy) -> dict[str, Any]:
    date = f"{entry.date[:4]}-{entry.date[4:6]}-{entry.date[6:]}"
    patient = {"id": entry.patient_id, "name": entry.patient_name.replace("^", ","), "sex": "F"}
    answer = {
        "studyInstanceUid": entry.uid,
        "studyId": entry.accession,
        "studyDescription": entry.description,
        "accessionNumber": entry.accession,
        "studyDate": date,
        "modalitiesInStudy": list(entry.modalities),
        "patient": patient,
    }
    return {
        key: value for key, value in answer.items() if value not in ("", None, [])
    }  # blank fields omitted


def _series_json(entry: FakeStudy, series: FakeSeries) -> dict[str, Any]:
    return {
        "seriesInstanceUid": series.uid,
        "seriesNumber": series.number,
        "modality": series.modality,
        "seriesDescription": series.description,
        "studyDate": entry.date,
        "studyId": entry.accession,
        "accessionNumber": entry.accession,
        "patientId": entry.patient_id,
        "patientName": entry.patient_name,
        "numberOfRelatedInstances": series.instances,
    }
