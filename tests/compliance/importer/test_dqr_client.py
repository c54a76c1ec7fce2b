"""The DQR client keeps to xnat-data-lifecycle.md §2.1: shapes, 204s, errors without PHI, safe retries."""

from __future__ import annotations

import json

import pytest
from fake_dqr import PASSWORD, USER, FakeDqr, study

from compliance.importer.dqr import (
    ArchiveBusyError,
    DqrAccessError,
    DqrClient,
    DqrError,
    DqrUnavailableError,
    ImportRequest,
    ImportStudy,
    PrearchiveSession,
)
from compliance.importer.redact import Redactor
from compliance.xnat.session import Credentials, connect, disconnect


@pytest.fixture
def client(fake_dqr: FakeDqr):
    session = connect(fake_dqr.url, Credentials(USER, PASSWORD, "test"))
    yield DqrClient(session, fake_dqr.url, Redactor(), sleep=lambda seconds: None, read_retry_delays=(0, 0))
    disconnect(session, fake_dqr.url)


def test_studies_and_series_are_read_in_dqrs_shapes(fake_dqr, client):
    fake_dqr.add(study(1, dose=True))
    [found] = client.query_studies(1, {"accessionNumber": "ACC00001"})
    assert (found.study_instance_uid, found.study_date, found.modalities) == (
        study(1).uid,
        "2021-01-05",
        ("CT", "SR"),
    )
    assert "ACC00001" not in repr(found) and "PID00001" not in repr(found), "identifiers stay out of repr"
    assert client.query_studies(1, {"accessionNumber": "NONE"}) == [], "204: nothing matched"
    series = client.query_series(1, [study(1).uid, "1.2.3.4.404"])
    assert [(s.number, s.modality, s.description) for s in series[study(1).uid]][-1] == (
        "998",
        "SR",
        "Dose SR",
    )
    assert series["1.2.3.4.404"] == [], "results are omitted when a study has no series"
    assert client.query_series(1, []) == {}, "204 for an empty list"


def test_a_study_with_only_its_uid_is_accepted(fake_dqr, client):
    fake_dqr.canned[("POST", "/xapi/dqr/query/studies")] = [
        (200, json.dumps([{"studyInstanceUid": "1.2.3.4.5"}]))
    ]
    [found] = client.query_studies(1, {"accessionNumber": "X"})
    assert (found.study_date, found.modalities, found.patient_id) == ("", (), "")


def test_errors_name_the_call_and_never_repeat_phi(fake_dqr, client):
    echo = (
        "A DQR run-time exception occurred. The search criteria for this query is: accessionNumber=ACC00042"
    )
    fake_dqr.canned[("POST", "/xapi/dqr/query/studies")] = [(400, echo)]
    with pytest.raises(DqrError) as error:
        client.query_studies(1, {"accessionNumber": "ACC00042"})
    assert str(error.value).startswith(f"POST {fake_dqr.url}/xapi/dqr/query/studies failed: status 400: ")
    assert "ACC00042" not in str(error.value) and "[redacted]" in str(error.value)
    fake_dqr.canned[("POST", "/xapi/dqr/import")] = [(403, "Insufficient privileges")]
    with pytest.raises(DqrAccessError, match="the account needs XNAT's Dqr role"):
        client.submit(ImportRequest(1, "XNAT", 8104, "P", "job:2", (ImportStudy("1.2.3", (), {}),)))


def test_reads_are_retried_while_xnat_is_busy_but_an_import_never_is(fake_dqr, client):
    fake_dqr.canned[("GET", "/xapi/dqr/import/queue")] = [(503, "busy"), (502, "restarting")]
    assert client.queued() == []
    assert fake_dqr.count("GET /xapi/dqr/import/queue") == 3
    fake_dqr.add(study(1))
    fake_dqr.canned[("POST", "/xapi/dqr/import")] = [(503, "busy")]
    with pytest.raises(DqrUnavailableError):
        client.submit(ImportRequest(1, "XNAT", 8104, "P", "job:2", (ImportStudy(study(1).uid, (), {}),)))
    assert fake_dqr.count("POST /xapi/dqr/import") == 1, "an unanswered import is looked up, not repeated"


def test_queue_history_and_cancel(fake_dqr, client):
    fake_dqr.add(study(1), study(2))
    fake_dqr.auto_advance = False
    queued = client.submit(
        ImportRequest(1, "XNAT", 8104, "CARDIO01", "job-1:2", (ImportStudy(study(1).uid, (), {}),))
    )
    assert [(entry.status, entry.user_defined_id, entry.project) for entry in queued] == [
        ("QUEUED", "job-1:2", "CARDIO01")
    ]
    assert client.queue_entry(queued[0].id).status == "QUEUED" and client.history_entry(queued[0].id) is None
    fake_dqr.advance()
    assert (
        client.queue_entry(queued[0].id) is None and client.history_entry(queued[0].id).status == "PROCESSING"
    )
    assert [entry.id for entry in client.history_since(0)] == [queued[0].id]
    second = client.submit(
        ImportRequest(1, "XNAT", 8104, "CARDIO01", "job-1:3", (ImportStudy(study(2).uid, (), {}),))
    )
    client.cancel([second[0].id])
    assert fake_dqr.cancelled == [second[0].id] and client.queued() == []
    with pytest.raises(DqrError, match="status 404"):
        client.cancel([second[0].id])


def test_history_entries_read_the_newest_page_once_and_only_missing_ids_alone(fake_dqr, client):
    fake_dqr.add(*(study(number) for number in range(1, 4)))
    fake_dqr.auto_advance = False
    ids = [
        client.submit(
            ImportRequest(1, "XNAT", 8104, "CARDIO01", f"job-1:{n}", (ImportStudy(study(n).uid, (), {}),))
        )[0].id
        for n in range(1, 4)
    ]
    fake_dqr.advance()
    before = list(fake_dqr.calls)
    found = client.history_entries([ids[0], ids[2], 9999])
    made = fake_dqr.calls[len(before) :]
    assert {request_id: entry.status if entry else None for request_id, entry in found.items()} == {
        ids[0]: "PROCESSING",
        ids[2]: "PROCESSING",
        9999: None,
    }
    assert made == ["GET /xapi/dqr/import/history", "GET /xapi/dqr/import/history/9999"]
    assert client.history_entries([]) == {}


def test_series_progress_reads_import_status(fake_dqr, client):
    fake_dqr.add(study(1))
    assert client.series_progress() == []
    labels = {"Subject": "S1", "Session": "E1"}
    client.submit(
        ImportRequest(1, "XNAT", 8104, "CARDIO01", "job-1:2", (ImportStudy(study(1).uid, (), labels),))
    )
    for _ in range(3):
        fake_dqr.advance()
    progress = client.series_progress()
    assert [(entry.user_defined_id, entry.expected, entry.archived) for entry in progress] == [
        ("job-1:2", 3, 3)
    ] * 2
    fake_dqr.app.view_functions["series_status"] = lambda: ("", 404)
    assert client.series_progress() == [], "an older DQR without the route"


def test_archive_busy_is_not_an_access_error(fake_dqr, client):
    fake_dqr.prearchive.append(
        {
            "project": "P",
            "timestamp": "T",
            "folderName": "E1",
            "name": "E1",
            "subject": "S1",
            "status": "ARCHIVING",
            "url": "/prearchive/projects/P/T/E1",
            "tag": "1.2.3",
        }
    )
    [session] = client.prearchive("P")
    assert session == PrearchiveSession("P", "T", "E1", "E1", "S1", "ARCHIVING")
    with pytest.raises(ArchiveBusyError):
        client.archive(session, "P", "S1", "E1")


def test_the_redactor_masks_identifiers_names_and_uids():
    redact = Redactor(["ACC00042", "PID7", None, "x"])
    redact.add_name("SMITH^JOHN")
    text = redact("accession ACC00042 patient pid7 SMITH,JOHN john study 1.2.840.113619.2.55 x-ray")
    assert (
        text == "accession [redacted] patient [redacted] [redacted],[redacted] [redacted] study [uid] x-ray"
    )


def test_the_redactor_masks_uids_but_not_the_xnat_host():
    from compliance.importer.redact import Redactor  # noqa: PLC0415

    text = "cannot connect to http://127.0.0.1:9 for study 1.2.826.0.1.3680043.8.498.1001 (1.2.3.4000)"
    assert Redactor()(text) == "cannot connect to http://127.0.0.1:9 for study [uid] ([uid])"
