"""The double driven through xnatpy's object layer (xnatpy 0.8.1, default ``xnat.connect()``).

xnatpy was written against real XNAT: if the double's schemas, listings, items, files or services drift
from what XNAT serves, these calls fail.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import zipfile
from pathlib import Path

import pydicom
import pytest
import xnat
from pydicom.uid import generate_uid
from xnat.core import XNATBaseListing

from xnat_double.archive_ingest import SessionTarget, file_into_archive, file_into_prearchive
from xnat_double.archive_synthetic import synthetic_series


@pytest.fixture
def connect(site):
    opened = []

    def open_session(user: str = "admin"):
        session = xnat.connect(site.url, user, "admin" if user == "admin" else "pw", loglevel="ERROR")
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.disconnect()
    # xnatpy keeps weak references to every listing ever made and, on a delete, asks each one for its
    # length: a listing of a disconnected session then fails. Forget those of this test's sessions.
    for listing_class in (XNATBaseListing, *XNATBaseListing.__subclasses__()):
        listing_class.__dict__.get("__ALL_LISTINGS__", []).clear()


@pytest.fixture
def session(connect):
    return connect()


def test_default_connect_builds_the_object_model_from_the_served_schemas(site, session):
    paths = [entry["path"] for entry in site.requests()]
    assert "/xapi/schemas" in paths and "/xapi/schemas/xnat" in paths
    for name in (
        "ProjectData",
        "SubjectData",
        "CtSessionData",
        "MrSessionData",
        "CtScanData",
        "ResourceCatalog",
    ):
        assert hasattr(session.classes, name), name
    project = session.projects["CARDIO01"]
    assert isinstance(project, session.classes.ProjectData)
    assert project.name == "Cardio"
    assert session.access_levels == {}  # admin holds no project group: roles come from membership


def test_access_levels_and_users_follow_membership(connect):
    alice = connect("alice")
    assert alice.access_levels == {"CARDIO01": "Owners"}
    project = alice.projects["CARDIO01"]
    assert {user.login: user.access_level for user in project.users.values()} == {
        "alice": "Owners",
        "bob": "Members",
    }
    project.set_access("carol", "Collaborators")
    assert connect("carol").access_levels == {"CARDIO01": "Collaborators"}


def test_create_and_read_every_level_through_the_object_layer(session, tmp_path):
    classes = session.classes
    project = session.projects["CARDIO01"]
    subject = classes.SubjectData(parent=project, label="S01")
    assert subject.id.startswith("XNAT_S")
    experiment = classes.CtSessionData(
        parent=subject, label="S01_CT1", UID="1.2.3", dcmAccessionNumber="ACC001", date="2024-01-05"
    )
    session.put(
        f"{experiment.fulluri}/scans/1",
        query={
            "xsiType": "xnat:ctScanData",
            "type": "AXIAL",
            "series_description": "Axial 5mm",
            "UID": "1.2.3.4",
        },
    )
    localizer = classes.CtScanData(parent=experiment, type="LOCALIZER", modality="CT")
    session.clearcache()

    reread = session.projects["CARDIO01"].subjects["S01"].experiments["S01_CT1"]
    assert isinstance(reread, classes.CtSessionData)
    assert (reread.uid, reread.dcm_accession_number) == ("1.2.3", "ACC001")
    assert reread.date == datetime.date(2024, 1, 5)
    assert reread.subject_id == subject.id
    assert sorted(reread.scans.keys()) == ["1", "LOCALIZER"]
    axial = reread.scans["AXIAL"]  # the listing's secondary key is the scan type
    assert (axial.id, axial.series_description, axial.uid) == ("1", "Axial 5mm", "1.2.3.4")
    assert localizer.modality == "CT"

    resource = axial.create_resource("DICOM", format="DICOM")
    resource.upload_data(b"first file", "a.dcm")
    source = tmp_path / "upload"
    (source / "nested").mkdir(parents=True)
    (source / "nested" / "b.dcm").write_bytes(b"second file")
    resource.upload_dir(source)  # tgz_file + extract=true
    resource = (
        session.projects["CARDIO01"].subjects["S01"].experiments["S01_CT1"].scans["1"].resources["DICOM"]
    )
    assert resource.file_count == 2
    assert sorted(resource.files.keys()) == ["a.dcm", "nested/b.dcm"]
    stored = resource.files["a.dcm"]
    assert stored.digest == hashlib.md5(b"first file").hexdigest()
    target = tmp_path / "a.dcm"
    stored.download(target, verbose=False)  # xnatpy checks the MD5 digest against the listing
    assert target.read_bytes() == b"first file"


def test_scan_dicom_resource_downloads_as_a_zip_of_the_received_instances(site, session, tmp_path):
    study_uid = generate_uid()
    instances = synthetic_series(study_uid, 2, 3, modality="CT", description="Chest 1mm")
    file_into_archive(site.state, SessionTarget("CARDIO01", "S02", "S02_CT1"), instances)
    experiment = session.projects["CARDIO01"].experiments["S02_CT1"]
    assert experiment.uid == study_uid
    scan = experiment.scans["2"]
    assert (scan.type, scan.modality) == ("Chest 1mm", "CT")

    archive = tmp_path / "scan.zip"
    scan.resources["DICOM"].download(archive, verbose=False)
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        uids = {pydicom.dcmread(io.BytesIO(bundle.read(name))).SOPInstanceUID for name in names}
    assert all(name.startswith("S02_CT1/scans/2-Chest_1mm/resources/DICOM/files/") for name in names)
    assert uids == {instance.SOPInstanceUID for instance in instances}

    extracted = tmp_path / "session"
    experiment.download_dir(extracted, verbose=False)
    assert len(list(extracted.rglob("*.dcm"))) == 3
    assert scan.read_dicom().SOPInstanceUID in uids
    assert [
        row.label for row in session.projects["CARDIO01"].experiments.tabulate(columns=("ID", "label"))
    ] == ["S02_CT1"]
    assert list(session.map(lambda each: each.type, "scan").values()) == ["Chest 1mm"]


def test_experiments_are_found_by_accession_number_and_uid(site, session):
    for label, accession in (("S03_CT1", "ACC-A"), ("S04_CT1", "ACC-B")):
        file_into_archive(
            site.state,
            SessionTarget("CARDIO01", label[:3], label),
            synthetic_series(generate_uid(), 1, 1, accession_number=accession),
        )
    found = session.experiments.filter(dcmAccessionNumber="ACC-B")
    assert [experiment.label for experiment in found.values()] == ["S04_CT1"]
    by_label = session.projects["CARDIO01"].experiments["S03_CT1"]
    rows = session.get_json("/data/experiments", query={"UID": by_label.uid})["ResultSet"]["Result"]
    assert [(row["label"], row["subject_label"]) for row in rows] == [("S03_CT1", "S03")]


def test_delete_at_every_level_removes_the_objects_and_their_files(site, session):
    file_into_archive(
        site.state, SessionTarget("CARDIO01", "S05", "S05_CT1"), synthetic_series(generate_uid(), 1, 2)
    )
    file_into_archive(
        site.state, SessionTarget("CARDIO01", "S05", "S05_CT2"), synthetic_series(generate_uid(), 1, 1)
    )
    subject = session.projects["CARDIO01"].subjects["S05"]
    first = subject.experiments["S05_CT1"]
    resource = first.scans["1"].resources["DICOM"]
    on_disk = site.state.archive.experiments[first.id].directory
    one_file = next(iter(resource.files.values()))
    one_file.delete()
    session.clearcache()
    assert (
        len(
            session.projects["CARDIO01"]
            .subjects["S05"]
            .experiments["S05_CT1"]
            .scans["1"]
            .resources["DICOM"]
            .files
        )
        == 1
    )
    resource.delete()
    assert len(first.scans["1"].resources) == 0
    first.scans["1"].delete()
    first.delete()
    assert not on_disk.exists()
    session.clearcache()
    assert list(session.projects["CARDIO01"].subjects["S05"].experiments.keys()) == [
        site.state.archive.find_experiment("CARDIO01", "S05_CT2").id
    ]
    subject.delete()
    session.clearcache()
    assert "S05" not in session.projects["CARDIO01"].subjects
    assert site.state.archive.experiments == {}


def test_prearchive_sessions_list_move_archive_and_delete(site, session, tmp_path):
    site.seed({"projects": [{"id": "OTHER01", "name": "Other"}]})
    instances = synthetic_series(generate_uid(), 4, 2, modality="MR", description="T1")
    file_into_prearchive(site.state, SessionTarget("CARDIO01", "S06", "S06_MR1"), instances)
    waiting = session.prearchive.sessions()
    assert [(entry.project, entry.label, entry.subject, entry.status) for entry in waiting] == [
        ("CARDIO01", "S06_MR1", "S06", "READY")
    ]
    entry = waiting[0]
    assert entry.tag == instances[0].StudyInstanceUID
    assert isinstance(entry.timestamp, datetime.datetime)
    scan = entry.scans["4"]
    assert scan.series_description == "T1"
    names = sorted(file.name for file in scan.files)
    assert [name.rsplit("-", 1)[0] for name in names] == [
        f"{instances[0].StudyInstanceUID}-4-{i}" for i in (1, 2)
    ]

    entry.move("OTHER01")
    moved = session.prearchive.sessions(project="OTHER01")
    assert [item.label for item in moved] == ["S06_MR1"]
    assert session.prearchive.sessions(project="CARDIO01") == []

    experiment = moved[0].archive(subject="S06X", experiment="S06X_MR1")
    assert isinstance(experiment, session.classes.MrSessionData)
    assert (experiment.label, experiment.project) == ("S06X_MR1", "OTHER01")
    assert len(experiment.scans["4"].resources["DICOM"].files) == 2
    assert session.prearchive.sessions() == []

    file_into_prearchive(site.state, SessionTarget("CARDIO01", "S07", "S07_MR1"), instances[:1])
    again = session.prearchive.sessions()[0]
    again.download(tmp_path / "waiting.zip")
    assert zipfile.ZipFile(tmp_path / "waiting.zip").namelist()[0].startswith("S07_MR1/SCANS/4/DICOM/")
    assert again.scans[0].read_dicom().SOPInstanceUID == instances[0].SOPInstanceUID
    again.rebuild()
    again.delete()
    assert session.prearchive.sessions() == []


def test_project_deletion_cascades_to_subjects_sessions_and_files(site, session):
    site.seed({"projects": [{"id": "GONE01", "name": "Gone"}]})
    experiment = file_into_archive(
        site.state, SessionTarget("GONE01", "S07", "S07_CT1"), synthetic_series(generate_uid(), 1, 2)
    )
    project_directory = site.state.archive.project_directory("GONE01")
    assert any(project_directory.rglob("*.dcm"))
    session.projects["GONE01"].delete()  # xnatpy sends removeFiles=true
    assert "GONE01" not in session.projects
    assert experiment.id not in site.state.archive.experiments
    assert site.state.archive.subjects == {}
    assert not Path(project_directory).exists()
    assert session.get_json("/data/experiments")["ResultSet"]["Result"] == []
