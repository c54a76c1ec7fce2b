"""The in-process data path (filing DICOM into the prearchive/archive), the prearchive's REST routes and
services, archive seeds and the schema routes xnatpy reads."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import pytest
from pydicom.uid import generate_uid

from xnat_double import SeedError, apply_seed
from xnat_double.archive_ingest import (
    SessionTarget,
    file_into_archive,
    file_into_prearchive,
    find_sessions,
    receive_study,
    session_files,
)
from xnat_double.archive_model import ArchiveError, PrearchiveSession
from xnat_double.archive_synthetic import synthetic_series
from xnat_double.prearchive import add_prearchive_session

DICOM_SEED = {
    "label": "DICOM",
    "format": "DICOM",
    "files": {"big.dcm": {"size": 3000000}, "b64": {"base64": "aGk="}},
}


def study(modality: str = "CT", count: int = 2, **fields: str):
    return synthetic_series(generate_uid(), 1, count, modality=modality, **fields)


def rows(response):
    assert response.status_code == 200, response.text
    return response.json()["ResultSet"]["Result"]


def test_filing_builds_sessions_scans_and_dicom_resources_like_xnat(site):
    uid = generate_uid()
    instances = synthetic_series(uid, 1, 2, description="AXIAL") + synthetic_series(
        uid, 1, 1, description="CORONAL"
    )
    instances += synthetic_series(uid, 900, 1, modality="SR", description="Dose Report")
    experiment = file_into_archive(site.state, SessionTarget("CARDIO01", "S01", "S01_CT1"), instances)
    assert (experiment.xsi_type, experiment.uid, experiment.date, experiment.accession_number) == (
        "xnat:ctSessionData", uid, "2024-01-05", "ACC0001"
    )  # fmt: skip
    assert {
        scan_id: (scan.type, scan.xsi_type, scan.frames) for scan_id, scan in experiment.scans.items()
    } == {
        "1": ("AXIAL", "xnat:ctScanData", 2),
        "1-CT1": ("CORONAL", "xnat:ctScanData", 1),  # a second series with SeriesNumber 1
        "900": ("Dose Report", "xnat:srScanData", 1),
    }
    files = session_files(site.state, "CARDIO01", "S01_CT1", scan_id="1")
    assert len(files) == 2 and all(item.path.read_bytes()[128:132] == b"DICM" for item in files)
    assert files[0].resource.format == "DICOM"
    assert find_sessions(site.state, accession_number="ACC0001") == [experiment]
    with pytest.raises(ArchiveError) as refused:
        file_into_archive(site.state, SessionTarget("CARDIO01", "S01", "S01_CT1"), study(), append=False)
    assert refused.value.status == 409
    with pytest.raises(ArchiveError, match="one study at a time"):
        file_into_archive(site.state, SessionTarget("CARDIO01", "S01", "X"), study() + study())


def test_received_bytes_are_written_before_the_state_lock_is_taken(site):
    """Filing under the lock is a rename: while another thread holds it, the study's bytes are already on
    disk in the staging folder, and nothing is in the archive until the lock is free."""
    staging = site.state.archive.staging_directory()
    target = SessionTarget("CARDIO01", "S01", "STAGED")
    filed: list = []
    with site.state.lock:
        worker = threading.Thread(target=lambda: filed.append(file_into_archive(site.state, target, study())))
        worker.start()
        deadline = time.monotonic() + 10
        while len(list(staging.glob("*.part"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(list(staging.glob("*.part"))) == 2, "both instances staged while the lock was held"
        assert site.state.archive.find_experiment("CARDIO01", "STAGED") is None and not filed
    worker.join(timeout=10)
    files = session_files(site.state, "CARDIO01", "STAGED")
    assert filed and len(files) == 2 and all(item.path.read_bytes()[128:132] == b"DICM" for item in files)
    assert [item.stored.size for item in files] == [item.path.stat().st_size for item in files]
    assert list(staging.iterdir()) == [], "filing moved the staged files"


def test_a_study_that_cannot_be_filed_leaves_nothing_staged(site):
    with pytest.raises(ArchiveError) as refused:
        file_into_archive(site.state, SessionTarget("NOSUCHPROJECT", "S01", "X"), study())
    assert refused.value.status == 404
    file_into_archive(site.state, SessionTarget("CARDIO01", "S01", "S"), study())
    with pytest.raises(ArchiveError) as exists:
        file_into_archive(site.state, SessionTarget("CARDIO01", "S01", "S"), study(), append=False)
    assert exists.value.status == 409
    assert list(site.state.archive.staging_directory().glob("*")) == []


def test_a_secondary_capture_is_an_sc_scan_of_the_studys_session_whatever_its_modality(site):
    """xnat-rest-tests TestDicomModalityAssignment: CT + Secondary Capture -> xnat:scScanData, CT session."""
    uid = generate_uid()
    [screen] = synthetic_series(uid, 900, 1, description="Exam Summary")
    screen.SOPClassUID = screen.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    experiment = file_into_archive(
        site.state, SessionTarget("CARDIO01", "S01", "S01_CT1"), [*synthetic_series(uid, 1, 1), screen]
    )
    assert experiment.xsi_type == "xnat:ctSessionData"
    assert {scan_id: scan.xsi_type for scan_id, scan in experiment.scans.items()} == {
        "1": "xnat:ctScanData",
        "900": "xnat:scScanData",
    }


@pytest.mark.parametrize(
    ("code", "exists", "where", "status"),
    [(0, False, "prearchive", "READY"), (4, False, "archive", None), (4, True, "prearchive", "CONFLICT"),
     (5, True, "archive", None)],
)  # fmt: skip
def test_receive_study_follows_the_prearchive_code(site, code, exists, where, status):
    site.state.projects["CARDIO01"].prearchive_code = code
    target = SessionTarget("CARDIO01", "S01", "S01_MR1")
    if exists:
        file_into_archive(site.state, target, study("MR", 1))
    filed = receive_study(site.state, target, study("MR", 2))
    if where == "prearchive":
        assert isinstance(filed, PrearchiveSession) and filed.status == status
    else:
        assert filed.label == "S01_MR1" and len(filed.scans) == (2 if exists else 1)


def test_unknown_project_goes_to_the_unassigned_folder(admin, as_user, site):
    filed = receive_study(site.state, SessionTarget("NOPE", "S", "S_CT1"), study())
    assert filed.project_folder == "Unassigned"
    assert [row["project"] for row in rows(admin("GET", "/data/prearchive/projects?format=json"))] == [
        "Unassigned"
    ]
    assert rows(as_user("alice")("GET", "/data/prearchive/projects?format=json")) == []
    archived = admin("POST", "/data/services/archive", params={"src": f"/data{filed.url}"})
    assert archived.status_code == 400 and "Unassigned" in archived.text


def test_prearchive_listing_is_limited_to_editable_projects(admin, as_user, site):
    waiting = file_into_prearchive(site.state, SessionTarget("CARDIO01", "S01", "S01_CT1"), study())
    row = rows(as_user("bob")("GET", "/data/prearchive/projects?format=json"))[0]
    assert (row["project"], row["name"], row["folderName"], row["status"], row["tag"]) == (
        "CARDIO01", "S01_CT1", "S01_CT1", "READY", waiting.draft.uid
    )  # fmt: skip
    assert row["url"] == f"/prearchive/projects/CARDIO01/{waiting.timestamp}/S01_CT1"
    assert rows(as_user("carol")("GET", "/data/prearchive/projects?format=json")) == []
    assert as_user("carol")("GET", "/data/prearchive/projects/CARDIO01?format=json").status_code == 403
    assert as_user("bob")("GET", f"/data/prearchive?tag={waiting.draft.uid}").status_code == 403
    assert (
        len(rows(admin("GET", "/data/prearchive", params={"tag": waiting.draft.uid, "format": "json"}))) == 1
    )
    session_url = f"/data{waiting.url}"
    assert rows(admin("GET", session_url, params={"format": "json"}))[0]["timestamp"] == waiting.timestamp
    bundle = zipfile.ZipFile(io.BytesIO(admin("GET", session_url, params={"format": "zip"}).content))
    assert all(name.startswith("S01_CT1/SCANS/1/DICOM/") for name in bundle.namelist())
    assert len(bundle.namelist()) == 2
    files = rows(admin("GET", f"{session_url}/scans/1/resources/DICOM/files?format=json"))
    assert admin("GET", files[0]["URI"]).content[128:132] == b"DICM"
    assert admin("DELETE", session_url).ok
    assert not waiting.draft.directory.exists()
    assert rows(admin("GET", "/data/prearchive/projects?format=json")) == []


def test_archive_service_relabels_refuses_duplicates_and_appends(admin, site):
    first = file_into_prearchive(site.state, SessionTarget("CARDIO01", "S01", "RAW1"), study(count=1))
    answer = admin(
        "POST",
        "/data/services/archive",
        params={"src": f"/data{first.url}", "subject": "P01", "session": "P01_CT1"},
    )
    assert (answer.status_code, answer.headers["Content-Type"].split(";")[0]) == (200, "text/uri-list")
    assert answer.text == "/data/archive/projects/CARDIO01/subjects/P01/experiments/P01_CT1\r\n"
    second = file_into_prearchive(site.state, SessionTarget("CARDIO01", "P01", "P01_CT1"), study(count=2))
    src = {"src": f"/data{second.url}"}
    assert admin("POST", "/data/services/archive", params=src).status_code == 409
    assert (
        admin("POST", "/data/services/archive", params={**src, "overwrite": "sometimes"}).status_code == 400
    )
    assert admin("POST", "/data/services/archive", params={**src, "overwrite": "append"}).ok
    experiment = site.state.archive.find_experiment("CARDIO01", "P01_CT1")
    assert sum(scan.resource("DICOM").file_count for scan in experiment.scans.values()) == 3
    assert admin("POST", "/data/services/archive", params=src).status_code == 404


def test_move_and_commit_actions(admin, as_user, site):
    apply_seed(site.state, {"projects": [{"id": "OTHER01", "name": "Other", "owners": ["alice"]}]})
    waiting = file_into_prearchive(site.state, SessionTarget("CARDIO01", "S01", "S01_CT1"), study())
    src = {"src": waiting.url}
    assert admin("POST", "/data/services/prearchive/move", params=src).status_code == 400
    assert (
        as_user("bob")(
            "POST", "/data/services/prearchive/move", params={**src, "newProject": "OTHER01"}
        ).status_code
        == 403
    )
    moved = rows(admin("POST", "/data/services/prearchive/move", params={**src, "newProject": "OTHER01"}))
    assert [row["project"] for row in moved] == ["OTHER01"]
    assert waiting.draft.directory == site.state.archive.prearchive_directory(
        "OTHER01", waiting.timestamp, "S01_CT1"
    )
    twin = add_prearchive_session(
        site.state.archive, "CARDIO01", subject="S01", label="S01_CT1", xsi_type="xnat:ctSessionData",
        timestamp=waiting.timestamp,
    )  # fmt: skip
    clash = admin("POST", "/data/services/prearchive/move", params={"src": twin.url, "newProject": "OTHER01"})
    assert clash.status_code == 409
    committed = admin(
        "POST", f"/data/prearchive/projects/OTHER01/{waiting.timestamp}/S01_CT1", params={"action": "commit"}
    )
    assert committed.text.startswith("/data/archive/projects/OTHER01/subjects/S01/experiments/S01_CT1")


def test_archive_and_prearchive_seeds(admin, site):
    site.seed(
        {
            "archive": [
                {"project": "CARDIO01", "resources": [{"label": "DOCS", "files": {"readme.txt": "hi"}}]},
                {
                    "project": "CARDIO01",
                    "subject": "S01",
                    "session": "S01_CT1",
                    "modality": "CT",
                    "UID": "1.2",
                    "dcmAccessionNumber": "ACC9",
                    "date": "2024-02-01",
                    "scans": [{"id": "1", "type": "AXIAL", "resources": [DICOM_SEED]}],
                },
            ],
            "prearchive": [
                {"project": None, "subject": "X", "session": "X_MR1", "UID": "9.9", "status": "RECEIVING"}
            ],
        }
    )
    experiment = rows(
        admin("GET", "/data/experiments", params={"format": "json", "dcmAccessionNumber": "ACC9"})
    )[0]
    assert experiment["xsiType"] == "xnat:ctSessionData"
    files = {
        row["Name"]: row
        for row in rows(admin("GET", f"/data/experiments/{experiment['ID']}/scans/1/files?format=json"))
    }
    assert files["big.dcm"]["Size"] == "3000000" and admin("GET", files["b64"]["URI"]).content == b"hi"
    assert admin("GET", "/data/projects/CARDIO01/resources/DOCS/files/readme.txt").text == "hi"
    assert rows(admin("GET", "/data/prearchive/projects?format=json"))[0]["status"] == "RECEIVING"
    with pytest.raises((SeedError, ValueError), match=r"archive\[0\]: project 'NOPE'"):
        site.seed({"archive": [{"project": "NOPE", "subject": "S"}]})


def test_schema_and_search_routes_xnatpy_reads(admin, site):
    assert admin("GET", "/xapi/schemas").json() == ["xnat"]
    xsd = admin("GET", "/xapi/schemas/xnat")
    assert xsd.headers["Content-Type"].startswith("application/xml")
    assert '<xs:complexType name="imageSessionData">' in xsd.text
    assert admin("GET", "/xapi/schemas/xnat/xnat").text == xsd.text
    assert admin("GET", "/xapi/schemas/security").status_code == 404
    elements = {row["ELEMENT_NAME"] for row in rows(admin("GET", "/data/search/elements?format=json"))}
    assert {"xnat:projectData", "xnat:subjectData", "xnat:ctSessionData", "xnat:mrSessionData"} <= elements
    assert "xnat:imageSessionData" not in elements  # abstract parents are not searchable elements
    assert (
        rows(admin("GET", "/data/search/elements/xnat:ctSessionData?format=json"))[0]["ELEMENT_NAME"]
        == "xnat:ctSessionData"
    )
    assert admin("GET", "/data/search/elements/xnat:nope?format=json").status_code == 404
