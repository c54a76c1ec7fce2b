"""DQR query and import in the double, with real DICOM networking (issue 12 step 1, DQR part).

Layer (a): a small pynetdicom Query/Retrieve SCP started here (C-FIND answers, C-MOVE whose sub-operations
C-STORE to a destination SCP also started here), every port picked at run time on 127.0.0.1. The
destination stands in for the double's DICOM receiver: it reports each stored instance to
``xnat_double.dqr_requests`` as the receiver does. Layer (b): the same import against Debian's Orthanc run
by ``scripts/orthanc-pacs`` (skipped, with the reason, when Orthanc cannot start here).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tests.orthanc_pacs import Orthanc, orthanc_pacs
from xnat_double import dqr_requests
from xnat_double.archive_synthetic import synthetic_series

ROOT = Path(__file__).resolve().parents[2]
Client = Callable[..., requests.Response]  # the conftest's Client: client(method, path, **kwargs)
RECEIVER_AE = "XNAT"
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def study(number: int, *, dose: bool = False, referring: str = "") -> list[Dataset]:
    """A CT study full of PHI (two image series; ``dose`` adds a "Dose Report" secondary capture)."""
    uid = f"1.2.826.0.1.3680043.8.498.77{number:04d}"
    fields = {"accession_number": f"ACC{number:05d}", "study_date": "20210105"}
    series = synthetic_series(uid, 1, 3, description="Axial 1.25mm", **fields)
    series += synthetic_series(uid, 2, 2, description="Coronal MPR", **fields)
    if dose:
        series += synthetic_series(uid, 999, 1, modality="OT", description="Dose Report", **fields)
    for dataset in series:
        dataset.PatientID = f"PID{number:05d}"
        dataset.PatientName = f"PATIENTNAME{number:03d}^FIRSTNAME{number:03d}"
        dataset.PatientSex = "F"
        dataset.StudyDescription = "CT CHEST"
        if referring:
            dataset.ReferringPhysicianName = referring
    return series


class Destination:
    """A Storage SCP standing in for the double's receiver: it reports what it stores to dqr_requests."""

    def __init__(self, ae_title: str = RECEIVER_AE) -> None:
        self.ae_title = ae_title
        self.port = free_port()
        self.stored: list[Dataset] = []
        ae = AE(ae_title=ae_title)
        ae.supported_contexts = StoragePresentationContexts
        self._server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )

    def _store(self, event: Any) -> int:
        dataset = event.dataset
        self.stored.append(dataset)
        if dqr_requests.target_for(self.ae_title, dataset.StudyInstanceUID) is not None:
            dqr_requests.record(self.ae_title, dataset.StudyInstanceUID, filed=1)
        return 0x0000

    def series_descriptions(self) -> set[str]:
        return {str(dataset.SeriesDescription) for dataset in self.stored}

    def stop(self) -> None:
        self._server.shutdown()


class QueryRetrieveScp:
    """A minimal PACS: C-ECHO, Study/Patient Root C-FIND and Study Root C-MOVE over its datasets."""

    def __init__(
        self, datasets: list[Dataset], destinations: dict[str, int], ae_title: str = "TESTPACS"
    ) -> None:
        self.ae_title = ae_title
        self.port = free_port()
        self.datasets = datasets
        self.destinations = destinations
        self.calling_aes: list[str] = []
        self.moves: list[tuple[str, str, str]] = []  # (destination, level, uid)
        self.move_nothing = False
        self.move_delay = 0.0
        self.active = self.max_active = 0  # C-MOVEs being served at once
        self.move_spans: list[tuple[float, float]] = []  # (start, end) of each C-MOVE served
        self._lock = threading.Lock()
        ae = AE(ae_title=ae_title)
        ae.require_called_aet = True
        for context in (
            Verification,
            StudyRootQueryRetrieveInformationModelFind,
            PatientRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelMove,
        ):
            ae.add_supported_context(context)
        ae.requested_contexts = StoragePresentationContexts
        handlers = [
            (evt.EVT_C_FIND, self._find),
            (evt.EVT_C_MOVE, self._move),
            (evt.EVT_ACCEPTED, self._requested),
        ]
        self.ae = ae
        self._server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)

    def refuse_calling_aes_but(self, *allowed: str) -> None:
        """From now on associations from any other calling AE are rejected (A-ASSOCIATE-RJ)."""
        self.ae.require_calling_aet = list(allowed)

    def _requested(self, event: Any) -> None:
        calling = event.assoc.requestor.ae_title.strip()
        self.calling_aes.append(calling)

    def _matches(self, identifier: Dataset, dataset: Dataset) -> bool:
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber", "PatientID"):
            wanted = str(identifier.get(keyword) or "")
            if wanted and str(dataset.get(keyword) or "") != wanted:
                return False
        return True

    def _find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        identifier = event.identifier
        level = identifier.QueryRetrieveLevel
        key = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID"}[level]
        seen: dict[str, list[Dataset]] = {}
        for dataset in self.datasets:
            if self._matches(identifier, dataset):
                seen.setdefault(str(dataset.get(key)), []).append(dataset)
        for members in seen.values():
            first = members[0]
            answer = Dataset()
            answer.QueryRetrieveLevel = level
            for element in identifier:
                if element.keyword in (
                    "QueryRetrieveLevel",
                    "ModalitiesInStudy",
                    "NumberOfSeriesRelatedInstances",
                ):
                    continue
                setattr(answer, element.keyword, first.get(element.keyword, ""))
            if "ModalitiesInStudy" in identifier:
                answer.ModalitiesInStudy = sorted({str(d.Modality) for d in members})
            if "NumberOfSeriesRelatedInstances" in identifier:
                answer.NumberOfSeriesRelatedInstances = len(members)
            yield 0xFF00, answer

    def _move(self, event: Any) -> Iterator[Any]:
        identifier = event.identifier
        destination = (
            event.move_destination.decode().strip()
            if isinstance(event.move_destination, bytes)
            else str(event.move_destination).strip()
        )
        uid = str(identifier.get("SeriesInstanceUID") or identifier.get("StudyInstanceUID"))
        self.moves.append((destination, identifier.QueryRetrieveLevel, uid))
        if destination not in self.destinations:
            yield None, None  # pynetdicom answers 0xA801, move destination unknown
            return
        yield "127.0.0.1", self.destinations[destination]
        matches = [] if self.move_nothing else [d for d in self.datasets if self._matches(identifier, d)]
        yield len(matches)
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        started = time.monotonic()
        try:
            time.sleep(self.move_delay)
            for dataset in matches:
                yield 0xFF00, dataset
        finally:
            with self._lock:
                self.active -= 1
                self.move_spans.append((started, time.monotonic()))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None


@pytest.fixture
def destination() -> Iterator[Destination]:
    receiver = Destination()
    yield receiver
    receiver.stop()
    dqr_requests.clear()


@pytest.fixture
def pacs_scp(destination: Destination) -> Iterator[QueryRetrieveScp]:
    scp = QueryRetrieveScp(study(1, dose=True) + study(2), {RECEIVER_AE: destination.port})
    yield scp
    scp.stop()


def _seed_dqr(site: Any, receiver_port: int, **double: Any) -> None:
    """A DQR user (role Dqr, member of CARDIO01), one receiver XNAT:receiver_port, a fast scheduler."""
    site.seed(
        {
            "users": [
                {"username": "dqruser", "password": "pw", "roles": ["Dqr"], "groups": ["CARDIO01_member"]}
            ],
            "receivers": [
                {
                    "aeTitle": RECEIVER_AE,
                    "port": receiver_port,
                    "enabled": True,
                    "customProcessing": True,
                    "identifier": "dqrObjectIdentifier",
                }
            ],
            "double": {"dqr_tick": 0.05, "dqr_receive_wait": 1.0, **double},
        }
    )


@pytest.fixture
def dqr(site: Any, admin: Client, pacs_scp: QueryRetrieveScp) -> int:
    """Configure the double (DQR settings, a receiver, the test PACS); returns the PACS id."""
    receiver_port = free_port()  # the receiver entry; the PACS sends to the test destination
    _seed_dqr(site, receiver_port)
    admin("POST", "/xapi/dqr/settings", json={"dqrCallingAe": "DQRCALLER", "allowAllProjectsToUseDqr": True})
    created = admin(
        "POST",
        "/xapi/pacs",
        json={
            "aeTitle": pacs_scp.ae_title,
            "host": "127.0.0.1",
            "queryRetrievePort": pacs_scp.port,
            "label": "TESTPACS",
        },
    )
    assert created.status_code == 200, created.text
    site.receiver_port = receiver_port
    return created.json()["id"]


def import_body(
    pacs_id: int, port: int, *studies: dict[str, Any], request_id: str = "job-1:row-1"
) -> dict[str, Any]:
    return {
        "pacsId": pacs_id,
        "aeTitle": RECEIVER_AE,
        "port": port,
        "projectId": "CARDIO01",
        "requestId": request_id,
        "forceImport": False,
        "studies": list(studies),
    }


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {check}")


def history_status(client: Client, request_id: int, wanted: tuple[str, ...] = ("RECEIVED", "FAILED")) -> Any:
    def check() -> Any:
        response = client("GET", f"/xapi/dqr/import/history/{request_id}")
        return (
            response.json() if response.status_code == 200 and response.json()["status"] in wanted else None
        )

    return wait_for(check)


def close_today(admin: Client, pacs_id: int) -> int:
    """An availability window on another day only, so nothing may leave the queue now."""
    other_day = DAYS[(datetime.now() + timedelta(days=2)).weekday()]
    body = {
        "dayOfWeek": other_day,
        "availabilityStart": "00:00",
        "availabilityEnd": "00:00",
        "threads": 1,
        "utilizationPercent": 100,
    }
    response = admin("POST", f"/xapi/pacs/{pacs_id}/availability", json=body)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def open_today(admin: Client, pacs_id: int, threads: int = 2, utilization: int = 100) -> None:
    body = {
        "dayOfWeek": DAYS[datetime.now().weekday()],
        "availabilityStart": "00:00",
        "availabilityEnd": "00:00",
        "threads": threads,
        "utilizationPercent": utilization,
    }
    response = admin("POST", f"/xapi/pacs/{pacs_id}/availability", json=body)
    assert response.status_code == 200, response.text


STUDY1 = "1.2.826.0.1.3680043.8.498.770001"
STUDY2 = "1.2.826.0.1.3680043.8.498.770002"


# --- queries -----------------------------------------------------------------------------------------------
def test_query_studies_is_a_real_c_find_serialised_like_study_serializer(dqr, as_user, pacs_scp):
    client = as_user("dqruser")
    response = client("POST", "/xapi/dqr/query/studies", json={"pacsId": dqr, "accessionNumber": "ACC00001"})
    assert response.status_code == 200, response.text
    [found] = response.json()
    assert found == {
        "studyInstanceUid": STUDY1,
        "studyId": "1",
        "studyDescription": "CT CHEST",
        "accessionNumber": "ACC00001",
        "studyDate": "2021-01-05",
        "modalitiesInStudy": ["CT", "OT"],
        "patient": {"id": "PID00001", "name": "PATIENTNAME001,FIRSTNAME001", "sex": "F"},
    }  # blank referringPhysicianName left out
    assert "DQRCALLER" in pacs_scp.calling_aes  # the calling AE is dqrCallingAe
    empty = client("POST", "/xapi/dqr/query/studies", json={"pacsId": dqr, "accessionNumber": "NOPE"})
    assert empty.status_code == 204 and empty.content == b""


def test_query_needs_the_dqr_role_and_a_reachable_pacs(dqr, as_user, admin, pacs_scp):
    assert as_user("carol")("POST", "/xapi/dqr/query/studies", json={"pacsId": dqr}).status_code == 403
    pacs_scp.stop()
    failed = admin("POST", "/xapi/dqr/query/studies", json={"pacsId": dqr, "accessionNumber": "ACC00001"})
    assert failed.status_code == 500 and "DQR run-time exception" in failed.text


def test_query_series_answers_per_study_and_204_for_no_uids(dqr, as_user):
    client = as_user("dqruser")
    response = client(
        "POST", "/xapi/dqr/query/series", json={"pacsId": dqr, "studyInstanceUids": [STUDY1, "9.9"]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["9.9"] == {"hasLimitedResultSetSize": False, "studyDateRangeLimitResults": None}
    series = {entry["seriesDescription"]: entry for entry in body[STUDY1]["results"]}
    assert set(series) == {"Axial 1.25mm", "Coronal MPR", "Dose Report"}
    assert (
        series["Dose Report"]["modality"] == "OT" and series["Axial 1.25mm"]["numberOfRelatedInstances"] == 3
    )
    assert series["Axial 1.25mm"]["seriesNumber"] == 1 and series["Axial 1.25mm"]["patientId"] == "PID00001"
    assert (
        client("POST", "/xapi/dqr/query/series", json={"pacsId": dqr, "studyInstanceUids": []}).status_code
        == 204
    )


def test_query_batch_reads_dqr_csv_headers_and_warns_without_relabels(dqr, as_user):
    client = as_user("dqruser")
    csv_text = (
        "Accession Number,Study Date,Subject,Session\nACC00001,20210105,S001,S001_CT1\n,,,\nACC00002,,,\n"
    )
    response = client(
        "POST",
        "/xapi/dqr/query/batch",
        data={"pacsId": str(dqr)},
        files={"csv_to_store": ("rows.csv", csv_text)},
    )
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [row["relabelMap"] for row in rows] == [{"Subject": "S001", "Session": "S001_CT1"}, {}]
    assert rows[0]["criteria"]["accessionNumber"] == "ACC00001"
    assert [study["studyInstanceUid"] for study in rows[0]["studies"]] == [STUDY1]
    assert "Warning" not in response.headers
    bare = client(
        "POST",
        "/xapi/dqr/query/batch",
        data={"pacsId": str(dqr)},
        files={"csv_to_store": ("r.csv", "Accession Number\nACC00002\n")},
    )
    assert bare.headers["Warning"] == "The generated JSON has no anon script."


# --- import ---------------------------------------------------------------------------------------------
def test_import_excludes_series_moves_the_rest_and_ends_received(dqr, site, as_user, destination, pacs_scp):
    client = as_user("dqruser")
    series = client(
        "POST", "/xapi/dqr/query/series", json={"pacsId": dqr, "studyInstanceUids": [STUDY1]}
    ).json()
    keep = [
        s["seriesInstanceUid"] for s in series[STUDY1]["results"] if s["seriesDescription"] != "Dose Report"
    ]
    relabel = {"Subject": "S001", "Session": "S001_CT1", "Relabel Study Date": '""'}
    body = import_body(
        dqr,
        site.receiver_port,
        {"studyInstanceUid": STUDY1, "seriesInstanceUids": keep, "relabelMap": relabel},
    )
    response = client("POST", "/xapi/dqr/import", json=body)
    assert response.status_code == 200, response.text
    [queued] = response.json()
    assert queued["status"] == "QUEUED" and queued["priority"] == 1
    assert sorted(queued["seriesIds"]) == sorted(keep)
    assert (
        queued["destinationAeTitle"] == f"XNAT:{site.receiver_port}"
        and queued["userDefinedId"] == "job-1:row-1"
    )
    assert queued["remappingScript"].splitlines() == [
        'version "6.1"',
        '(0010,0010) := "S001"',
        '(0010,0020) := "S001"',
        '(0020,0010) := "S001_CT1"',
        '(0008,0050) := "S001_CT1"',
        '(0008,0020) := ""',
    ]
    done = history_status(client, queued["id"])
    assert done["status"] == "RECEIVED", done
    # PHI carried into the history, as XNAT does
    assert (done["patientName"], done["patientId"], done["accessionNumber"]) == (
        "PATIENTNAME001^FIRSTNAME001",
        "PID00001",
        "ACC00001",
    )
    assert "executedTime" in done and done["id"] == queued["id"]
    assert destination.series_descriptions() == {
        "Axial 1.25mm",
        "Coronal MPR",
    }  # the dose report never left the PACS
    assert len(destination.stored) == 5
    assert {(dest, level) for dest, level, _uid in pacs_scp.moves} == {("XNAT", "SERIES")}
    assert client("GET", "/xapi/dqr/import/queue").json() == []
    status = client("GET", "/xapi/dqr/import/status").json()
    assert {row["seriesInstanceUid"]: row["instancesArchived"] for row in status} == {
        keep[0]: 3,
        keep[1]: 2,
    } or {row["instancesArchived"] for row in status} == {3, 2}
    assert {row["userDefinedId"] for row in status} == {"job-1:row-1"}


def test_a_study_whose_series_are_all_filtered_out_is_dropped(dqr, site, as_user):
    client = as_user("dqruser")
    body = import_body(
        dqr,
        site.receiver_port,
        {"studyInstanceUid": STUDY1, "seriesDescriptions": ["No Such Series"]},
        {"studyInstanceUid": STUDY2},
    )
    response = client("POST", "/xapi/dqr/import", json=body)
    assert response.status_code == 200, response.text
    assert [entry["studyInstanceUid"] for entry in response.json()] == [STUDY2]
    assert response.json()[0]["priority"] == 10  # a multi-study request


def test_import_validation(dqr, site, as_user, admin):
    body = import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY1, "relabelMap": {"Subject": "S1"}})
    assert as_user("carol")("POST", "/xapi/dqr/import", json=body).status_code == 403  # no Dqr role
    site.seed({"users": [{"username": "carol", "roles": ["Dqr"]}]})
    assert as_user("carol")("POST", "/xapi/dqr/import", json=body).status_code == 403  # cannot edit CARDIO01
    admin("POST", "/xapi/dqr/settings", json={"allowAllProjectsToUseDqr": False})
    assert (
        as_user("dqruser")("POST", "/xapi/dqr/import", json=body).status_code == 403
    )  # DQR off for the project
    assert admin("PUT", "/xapi/dqr/settings/project/CARDIO01", json={"enabled": True}).status_code == 200
    assert admin("GET", "/xapi/dqr/settings/project/CARDIO01/enabled").json() is True
    assert admin("POST", "/xapi/dqr/import", json={**body, "projectId": "NOPE"}).status_code == 404
    assert admin("POST", "/xapi/dqr/import", json={**body, "pacsId": 999}).status_code == 404
    receivers = admin("GET", "/xapi/dicomscp").json()
    receiver = {**receivers[0], "customProcessing": False}
    assert admin("PUT", f"/xapi/dicomscp/{receiver['id']}", json=receiver).status_code == 200
    refused = as_user("dqruser")("POST", "/xapi/dqr/import", json=body)
    assert refused.status_code == 400 and "custom processing" in refused.text
    forced = as_user("dqruser")("POST", "/xapi/dqr/import", json={**body, "forceImport": True})
    assert forced.status_code == 200 and len(forced.json()) == 1
    bad_key = {"studyInstanceUid": STUDY2, "relabelMap": {"Nickname": "x"}}
    assert (
        admin(
            "POST", "/xapi/dqr/import", json={**body, "forceImport": True, "studies": [bad_key]}
        ).status_code
        == 500
    )


def test_zero_files_is_failed_with_dqr_message(dqr, site, as_user, pacs_scp, destination):
    pacs_scp.move_nothing = True  # the PACS reports success but sends no instance
    client = as_user("dqruser")
    [queued] = client(
        "POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY2})
    ).json()
    done = history_status(client, queued["id"])
    assert done["status"] == "FAILED"
    assert done["errorMessage"] == f"Received zero files for study {STUDY2} in project CARDIO01"
    assert destination.stored == [] and pacs_scp.moves  # a C-MOVE was really issued


def test_a_refused_move_fails_after_the_configured_attempts(dqr, site, as_user, admin, pacs_scp):
    admin(
        "POST",
        "/xapi/dqr/settings",
        json={"dqrMaxPacsRequestAttempts": "2", "dqrWaitToRetryRequestInSeconds": "0"},
    )
    pacs_scp.destinations.clear()  # the PACS does not know the move destination: 0xA801
    client = as_user("dqruser")
    [queued] = client(
        "POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY2})
    ).json()
    wait_for(lambda: len(pacs_scp.moves) >= 2 and client("GET", "/xapi/dqr/import/queue").json() == [])
    done = history_status(client, queued["id"], ("FAILED",))
    assert "0xA801" in done["errorMessage"]
    assert len(pacs_scp.moves) == 2  # one retry, then closed


def test_a_rejected_association_fails_the_request(dqr, site, as_user, admin, pacs_scp):
    admin("POST", "/xapi/dqr/settings", json={"dqrMaxPacsRequestAttempts": "1"})
    window = close_today(admin, dqr)
    client = as_user("dqruser")
    [queued] = client(
        "POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY2})
    ).json()
    pacs_scp.refuse_calling_aes_but("SOMEONEELSE")  # the PACS now refuses XNAT's calling AE
    open_today(admin, dqr)
    done = history_status(client, queued["id"])
    assert done["status"] == "FAILED" and "rejected" in done["errorMessage"], done
    assert window


def test_the_availability_window_holds_requests_in_the_queue(dqr, site, as_user, admin, destination):
    close_today(admin, dqr)
    client = as_user("dqruser")
    [queued] = client(
        "POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY2})
    ).json()
    time.sleep(0.6)  # a dozen scheduler ticks
    assert [entry["status"] for entry in client("GET", "/xapi/dqr/import/queue").json()] == ["QUEUED"]
    assert client("GET", f"/xapi/dqr/import/history/{queued['id']}").status_code == 404
    assert destination.stored == []
    open_today(admin, dqr)
    assert history_status(client, queued["id"])["status"] == "RECEIVED"


@pytest.mark.parametrize("threads", [1, 2])
def test_the_window_threads_cap_the_c_moves_in_flight(threads, dqr, site, as_user, pacs_scp):
    pacs_scp.move_delay = 0.4
    session = requests.Session()
    session.auth = ("admin", "admin")
    open_today(
        lambda method, path, **kw: session.request(method, site.url + path, timeout=10, **kw), dqr, threads
    )
    client = as_user("dqruser")
    studies = [{"studyInstanceUid": uid} for uid in (STUDY1, STUDY2)]
    queued = client("POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, *studies)).json()
    for entry in queued:
        assert history_status(client, entry["id"])["status"] == "RECEIVED"
    assert pacs_scp.max_active == threads


def test_utilization_percent_rests_the_pacs_between_requests(dqr, site, as_user, admin, pacs_scp):
    pacs_scp.move_delay = 0.3
    open_today(admin, dqr, threads=1, utilization=25)  # rest 3x the time of each request
    client = as_user("dqruser")
    studies = [{"studyInstanceUid": uid} for uid in (STUDY1, STUDY2)]
    queued = client("POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, *studies)).json()
    for entry in queued:
        assert history_status(client, entry["id"])["status"] == "RECEIVED"
    assert len(pacs_scp.move_spans) == 5  # study 1: three series, then study 2: two (one thread)
    first_start, first_end = pacs_scp.move_spans[0][0], pacs_scp.move_spans[2][1]
    second_start = pacs_scp.move_spans[3][0]
    # (100 / 25 - 1) x the first request's time (3 series of 0.3 s) before the PACS is asked again
    assert second_start - first_end >= 2.5 * (first_end - first_start), pacs_scp.move_spans


def test_queue_paging_sort_cancel_and_delete(dqr, site, as_user, admin):
    close_today(admin, dqr)
    client = as_user("dqruser")
    ids = []
    for index in range(3):
        body = import_body(
            dqr, site.receiver_port, {"studyInstanceUid": STUDY2}, request_id=f"job-1:row-{index}"
        )
        ids.append(client("POST", "/xapi/dqr/import", json=body).json()[0]["id"])
    asc = client("GET", "/xapi/dqr/import/queue", params={"sort": "ASC", "page": 1, "pageSize": 2}).json()
    assert [entry["id"] for entry in asc] == ids[:2]
    desc = client("GET", "/xapi/dqr/import/queue", params={"sort": "desc", "page": 2, "pageSize": 2}).json()
    assert [entry["id"] for entry in desc] == ids[:1]
    bad = client("GET", "/xapi/dqr/import/queue", params={"sort": "newest"})
    assert bad.status_code == 400 and "Invalid value for sort order" in bad.text
    assert client("GET", "/xapi/dqr/import/queue", params={"all": "true"}).status_code == 403
    assert client("GET", "/xapi/dqr/import/queue/count").json() == 3
    assert admin("GET", "/xapi/dqr/import/queue").json() == []  # admin's own requests only
    assert len(admin("GET", "/xapi/dqr/import/queue", params={"all": "true"}).json()) == 3
    site.seed({"users": [{"username": "carol", "roles": ["Dqr"]}]})
    assert as_user("carol")("DELETE", f"/xapi/dqr/import/queue/{ids[0]}").status_code == 403
    assert client("POST", "/xapi/dqr/import/queue", json=[ids[0], 424242]).status_code == 404
    assert client("POST", "/xapi/dqr/import/queue", json=[ids[1]]).json() is True
    assert client("DELETE", f"/xapi/dqr/import/queue/{ids[2]}").json() is True
    assert client("GET", "/xapi/dqr/import/queue").json() == []
    assert client("GET", "/xapi/dqr/import/history").json() == []  # cancelled requests never ran


def test_fault_switches_wedge_and_issued_forever(dqr, site, as_user, admin, destination):
    site.seed({"double": {"dqr_faults": {"wedge_after": 1, "issued_forever": [STUDY1]}}})
    client = as_user("dqruser")
    body = import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY1}, {"studyInstanceUid": STUDY2})
    first, second = client("POST", "/xapi/dqr/import", json=body).json()
    wait_for(lambda: client("GET", f"/xapi/dqr/import/history/{first['id']}").status_code == 200)
    time.sleep(0.6)
    assert client("GET", f"/xapi/dqr/import/history/{first['id']}").json()["status"] == "ISSUED"
    [wedged] = client("GET", "/xapi/dqr/import/queue").json()
    assert (wedged["id"], wedged["status"]) == (second["id"], "PROCESSING")  # FLIP#662: PROCESSING for ever
    assert not [key for key in wedged if key.startswith("_")]  # the scheduler's bookkeeping stays inside
    assert destination.stored == []


def test_zero_files_fault_switch(dqr, site, as_user):
    site.seed({"double": {"dqr_faults": {"zero_files": True}}})
    client = as_user("dqruser")
    [queued] = client(
        "POST", "/xapi/dqr/import", json=import_body(dqr, site.receiver_port, {"studyInstanceUid": STUDY2})
    ).json()
    assert history_status(client, queued["id"])["status"] == "FAILED"


# --- Orthanc --------------------------------------------------------------------------------------------
@pytest.fixture
def receiver_port() -> int:
    """The port of the double's own listening receiver (AE DOUBLE), a move destination of Orthanc."""
    return free_port()


@pytest.fixture
def orthanc(tmp_path: Path, destination: Destination, receiver_port: int) -> Iterator[Orthanc]:
    moves = {RECEIVER_AE: destination.port, "DOUBLE": receiver_port}
    with orthanc_pacs(tmp_path / "orthanc", "ORTHANCPACS", moves) as started:
        yield started


def test_query_and_import_against_orthanc(site, admin, as_user, orthanc, destination):
    seeded = subprocess.run(  # noqa: PLW1510 (returncode asserted)
        [
            str(ROOT / ".venv" / "bin" / "python"),
            str(ROOT / "scripts" / "seed-pacs"),
            "--port",
            str(orthanc.port),
            "--called-ae",
            orthanc.ae,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert seeded.returncode == 0, seeded.stderr
    receiver_port = free_port()
    _seed_dqr(site, receiver_port, dqr_receive_wait=3.0)
    admin(
        "POST",
        "/xapi/dqr/settings",
        json={"allowAllProjectsToUseDqr": True, "dqrMaxPacsRequestAttempts": "1"},
    )
    pacs = admin(
        "POST",
        "/xapi/pacs",
        json={
            "aeTitle": orthanc.ae,
            "host": "127.0.0.1",
            "queryRetrievePort": orthanc.port,
            "label": "ORTHANC",
        },
    )
    pacs_id = pacs.json()["id"]
    client = as_user("dqruser")
    found = client("POST", "/xapi/dqr/query/studies", json={"pacsId": pacs_id, "modality": "CT"})
    assert found.status_code == 200, found.text
    dose_studies = []
    for entry in found.json():
        results = client(
            "POST",
            "/xapi/dqr/query/series",
            json={"pacsId": pacs_id, "studyInstanceUids": [entry["studyInstanceUid"]]},
        ).json()
        series = results[entry["studyInstanceUid"]].get("results", [])
        if any(s.get("seriesDescription") == "Dose Report" for s in series):
            dose_studies.append((entry, series))
    assert dose_studies, "scripts/seed-pacs must seed a CT study with a Dose Report series"
    entry, series = dose_studies[0]
    keep = [s["seriesInstanceUid"] for s in series if s.get("seriesDescription") != "Dose Report"]
    body = import_body(
        pacs_id,
        receiver_port,
        {
            "studyInstanceUid": entry["studyInstanceUid"],
            "seriesInstanceUids": keep,
            "relabelMap": {"Subject": "S1", "Session": "S1_CT"},
        },
    )
    [queued] = client("POST", "/xapi/dqr/import", json=body).json()
    done = history_status(client, queued["id"])
    assert done["status"] == "RECEIVED", done
    assert destination.stored and "Dose Report" not in destination.series_descriptions()
    assert {str(d.StudyInstanceUID) for d in destination.stored} == {entry["studyInstanceUid"]}
    assert done["accessionNumber"] == entry.get("accessionNumber")


# --- the toolkit's client --------------------------------------------------------------------------------
def test_the_importers_dqr_client_works_against_the_double(dqr, site, pacs_scp, destination):
    """compliance.importer.dqr.DqrClient (tested against a fake) reads the double's real answers."""
    from compliance.importer.dqr import DqrClient, ImportRequest, ImportStudy  # noqa: PLC0415
    from compliance.importer.redact import Redactor  # noqa: PLC0415
    from compliance.xnat.session import Credentials, connect, disconnect  # noqa: PLC0415

    session = connect(site.url, Credentials("dqruser", "pw", "test"))
    try:
        client = DqrClient(session, site.url, Redactor(), sleep=lambda seconds: None, read_retry_delays=(0,))
        pacs = client.pacs("TESTPACS")
        [receiver] = client.receivers()
        assert (receiver.ae_title, receiver.custom_processing) == (RECEIVER_AE, True)
        [found] = client.query_studies(pacs.id, {"accessionNumber": "ACC00001"})
        assert (found.study_date, found.modalities, found.patient_id) == (
            "2021-01-05",
            ("CT", "OT"),
            "PID00001",
        )
        assert client.query_studies(pacs.id, {"accessionNumber": "NONE"}) == []
        series = client.query_series(pacs.id, [STUDY1])[STUDY1]
        keep = tuple(s.series_instance_uid for s in series if s.description != "Dose Report")
        request = ImportRequest(
            pacs.id,
            RECEIVER_AE,
            site.receiver_port,
            "CARDIO01",
            "job-9:row-0001",
            (ImportStudy(STUDY1, keep, {"Subject": "S9", "Session": "S9_CT"}),),
        )
        [queued] = client.submit(request)
        assert (queued.status, queued.user_defined_id) == ("QUEUED", "job-9:row-0001")

        def received() -> bool:
            entry = client.queue_entry(queued.id) or client.history_entry(queued.id)
            return entry is not None and entry.status == "RECEIVED"

        wait_for(received)
        assert client.queued() == [] and client.history_since(0)[0].id == queued.id
        progress = client.series_progress()
        assert {p.series_instance_uid for p in progress} == set(keep)
        assert sorted(p.archived for p in progress) == [2, 3]
        assert destination.series_descriptions() == {"Axial 1.25mm", "Coronal MPR"}
    finally:
        disconnect(session, site.url)


# --- the double's own receiver ---------------------------------------------------------------------------
def test_import_through_the_doubles_own_receiver_into_the_prearchive(site, admin, as_user):
    """The whole data path: C-MOVE from the PACS to the double's listening receiver, relabelled on receipt."""
    receiver_port = free_port()
    scp = QueryRetrieveScp(study(1, dose=True), {RECEIVER_AE: receiver_port})
    try:
        _seed_dqr(site, receiver_port, dicom_listen=True)
        site.start_dicom_listeners()
        admin("POST", "/xapi/dqr/settings", json={"allowAllProjectsToUseDqr": True})
        pacs = admin(
            "POST",
            "/xapi/pacs",
            json={"aeTitle": scp.ae_title, "host": "127.0.0.1", "queryRetrievePort": scp.port},
        ).json()
        client = as_user("dqruser")
        series = client(
            "POST", "/xapi/dqr/query/series", json={"pacsId": pacs["id"], "studyInstanceUids": [STUDY1]}
        )
        keep = [
            s["seriesInstanceUid"]
            for s in series.json()[STUDY1]["results"]
            if s["seriesDescription"] != "Dose Report"
        ]
        relabel = {"Subject": "S001", "Session": "S001_CT1"}
        body = import_body(
            pacs["id"],
            receiver_port,
            {"studyInstanceUid": STUDY1, "seriesInstanceUids": keep, "relabelMap": relabel},
        )
        [queued] = client("POST", "/xapi/dqr/import", json=body).json()
        done = history_status(client, queued["id"])
        assert done["status"] == "RECEIVED", done
        sessions = admin("GET", "/data/prearchive/projects/CARDIO01", params={"format": "json"}).json()
        rows = sessions["ResultSet"]["Result"]
        assert [(row["subject"], row["name"]) for row in rows] == [("S001", "S001_CT1")]
        scans = admin("GET", f"/data{rows[0]['url']}/scans", params={"format": "json"}).json()
        descriptions = {
            row.get("series_description") or row.get("xnat:imagescandata/series_description")
            for row in scans["ResultSet"]["Result"]
        }
        assert descriptions == {"Axial 1.25mm", "Coronal MPR"}, scans  # the dose report never arrived
    finally:
        scp.stop()
        dqr_requests.clear()


def test_orthanc_to_the_doubles_receiver_excluding_the_dose_report(
    site, admin, as_user, orthanc, receiver_port
):
    """Real Orthanc C-MOVEs through its reverse bridge to the double's listening receiver (AE DOUBLE)."""
    seeded = subprocess.run(  # noqa: PLW1510 (returncode asserted)
        [
            str(ROOT / ".venv" / "bin" / "python"),
            str(ROOT / "scripts" / "seed-pacs"),
            "--port",
            str(orthanc.port),
            "--called-ae",
            orthanc.ae,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert seeded.returncode == 0, seeded.stderr
    site.seed(
        {
            "users": [
                {"username": "dqruser", "password": "pw", "roles": ["Dqr"], "groups": ["CARDIO01_member"]}
            ],
            "receivers": [
                {
                    "aeTitle": "DOUBLE",
                    "port": receiver_port,
                    "customProcessing": True,
                    "identifier": "dqrObjectIdentifier",
                }
            ],
            "double": {"dqr_tick": 0.05, "dqr_receive_wait": 3.0, "dicom_listen": True},
        }
    )
    site.start_dicom_listeners()
    admin(
        "POST",
        "/xapi/dqr/settings",
        json={"allowAllProjectsToUseDqr": True, "dqrMaxPacsRequestAttempts": "1"},
    )
    pacs = admin(
        "POST",
        "/xapi/pacs",
        json={"aeTitle": orthanc.ae, "host": "127.0.0.1", "queryRetrievePort": orthanc.port},
    ).json()
    client = as_user("dqruser")
    [found] = client(
        "POST", "/xapi/dqr/query/studies", json={"pacsId": pacs["id"], "accessionNumber": "ACC00999"}
    ).json()
    assert found["patient"] == {"id": "PID00999", "name": "PATIENT,DOSE", "sex": "M"}
    uid = found["studyInstanceUid"]
    series = client(
        "POST", "/xapi/dqr/query/series", json={"pacsId": pacs["id"], "studyInstanceUids": [uid]}
    ).json()
    keep = [
        s["seriesInstanceUid"] for s in series[uid]["results"] if s.get("seriesDescription") != "Dose Report"
    ]
    assert len(keep) == len(series[uid]["results"]) - 1
    relabel = {"Subject": "S0999", "Session": "S0999_CT1"}
    body = {
        **import_body(
            pacs["id"],
            receiver_port,
            {"studyInstanceUid": uid, "seriesInstanceUids": keep, "relabelMap": relabel},
        ),
        "aeTitle": "DOUBLE",
    }
    [queued] = client("POST", "/xapi/dqr/import", json=body).json()
    done = history_status(client, queued["id"])
    assert done["status"] == "RECEIVED", done
    [row] = admin("GET", "/data/prearchive/projects/CARDIO01", params={"format": "json"}).json()["ResultSet"][
        "Result"
    ]
    assert (row["subject"], row["name"]) == ("S0999", "S0999_CT1")
    scans = admin("GET", f"/data{row['url']}/scans", params={"format": "json"}).json()["ResultSet"]["Result"]
    assert {scan.get("series_description") for scan in scans} == {"Axial 2.5mm"}  # no Dose Report
