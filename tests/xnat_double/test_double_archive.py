"""The double's archive over REST: listings, items, writes, files, zips, permissions and deletion."""

from __future__ import annotations

import gc
import hashlib
import io
import zipfile

import pytest
from pydicom.uid import generate_uid

from xnat_double import DoubleState
from xnat_double.archive_ingest import SessionTarget, file_into_archive
from xnat_double.archive_synthetic import synthetic_series

E = "/data/projects/CARDIO01/subjects/S01/experiments/S01_CT1"


@pytest.fixture
def session(admin):
    """CARDIO01/S01/S01_CT1 (CT, accession ACC001), scan 1 (AXIAL) with a DICOM resource of two files."""
    assert admin("PUT", "/data/projects/CARDIO01/subjects/S01").status_code == 201
    created = admin(
        "PUT", E, params={"xsiType": "xnat:ctSessionData", "UID": "1.2.3", "dcmAccessionNumber": "ACC001",
                          "xnat:ctSessionData/date": "2024-01-05"},
    )  # fmt: skip
    assert created.status_code == 201
    assert admin("PUT", f"{E}/scans/1", params={"xsiType": "xnat:ctScanData", "type": "AXIAL"}).ok
    assert admin("PUT", f"{E}/scans/1/resources/DICOM", params={"format": "DICOM"}).ok
    for name, body in (("a.dcm", b"alpha"), ("sub/b.dcm", b"beta")):
        assert admin("PUT", f"{E}/scans/1/resources/DICOM/files/{name}", data=body).ok
    return created.text


def rows(response):
    assert response.status_code == 200, response.text
    result = response.json()["ResultSet"]
    assert result["totalRecords"] == str(len(result["Result"]))
    return result["Result"]


def test_listings_have_xnat_default_columns_and_honour_columns(admin, session):
    subject = rows(admin("GET", "/data/projects/CARDIO01/subjects?format=json"))[0]
    assert set(subject) == {"ID", "project", "label", "insert_date", "insert_user", "URI"}
    assert subject["URI"] == f"/data/subjects/{subject['ID']}"
    experiment = rows(admin("GET", "/data/projects/CARDIO01/experiments?format=json"))[0]
    assert set(experiment) == {"ID", "project", "date", "xsiType", "label", "insert_date", "URI"}
    assert (experiment["ID"], experiment["xsiType"], experiment["date"]) == (
        session,
        "xnat:ctSessionData",
        "2024-01-05",
    )
    chosen = rows(
        admin(
            "GET",
            "/data/projects/CARDIO01/experiments",
            params={"format": "json", "columns": "label,UID,nope"},
        )
    )
    assert chosen == [{"label": "S01_CT1", "UID": "1.2.3", "URI": f"/data/experiments/{session}"}]
    scan = rows(admin("GET", f"{E}/scans?format=json"))[0]
    assert set(scan) == {
        "xnat_imagescandata_id",
        "ID",
        "type",
        "quality",
        "xsiType",
        "note",
        "series_description",
        "URI",
    }
    assert scan["URI"] == f"/data/experiments/{session}/scans/1"


def test_site_experiments_search_by_accession_uid_label_and_type(admin, session):
    found = rows(admin("GET", "/data/experiments", params={"format": "json", "dcmAccessionNumber": "ACC001"}))
    assert [(row["ID"], row["subject_label"]) for row in found] == [(session, "S01")]
    assert "subject_ID" in found[0]  # an imageSessionData shortcut makes the root a subject assessor
    plain = rows(admin("GET", "/data/experiments?format=json"))[0]
    assert "subject_label" not in plain
    assert rows(admin("GET", "/data/experiments", params={"format": "json", "UID": "9.9"})) == []
    assert len(rows(admin("GET", "/data/experiments", params={"format": "json", "label": "S01*"}))) == 1
    assert (
        rows(admin("GET", "/data/experiments", params={"format": "json", "xsiType": "xnat:mrSessionData"}))
        == []
    )
    assert len(rows(admin("GET", "/data/experiments", params={"format": "json", "label": "X,S01_CT1"}))) == 1


def test_items_carry_meta_and_data_fields(admin, session):
    item = admin("GET", "/data/projects/CARDIO01/experiments/S01_CT1?format=json").json()["items"][0]
    assert item["meta"]["xsi:type"] == "xnat:ctSessionData" and item["meta"]["isHistory"] is False
    assert item["data_fields"]["dcmAccessionNumber"] == "ACC001"
    assert item["data_fields"]["subject_ID"] == rows(admin("GET", "/data/subjects?format=json"))[0]["ID"]
    by_id = admin("GET", f"/data/experiments/{session}?format=json").json()["items"][0]
    assert by_id["data_fields"]["label"] == "S01_CT1"
    xml = admin("GET", f"/data/experiments/{session}?format=xml")
    assert xml.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<xnat:CTSession ID=')
    assert admin("GET", f"/data/experiments/{session}/status").text == "active"


def test_write_status_codes_follow_restlet(admin, session):
    again = admin("PUT", "/data/projects/CARDIO01/subjects/S01")
    assert (again.status_code, again.text.startswith("XNAT_S")) == (200, True)
    assert admin("PUT", "/data/projects/CARDIO01/subjects/S01/experiments/NEW").status_code == 417
    assert (
        admin(
            "PUT", "/data/projects/CARDIO01/experiments/NEW2", params={"xsiType": "xnat:ctSessionData"}
        ).status_code
        == 422
    )
    via_project = admin(
        "PUT",
        "/data/projects/CARDIO01/experiments/NEW3",
        params={"xsiType": "xnat:mrSessionData", "subject_ID": "S09"},
    )
    assert via_project.status_code == 201
    assert rows(admin("GET", "/data/projects/CARDIO01/subjects?format=json&label=S09"))[0]["label"] == "S09"
    assert admin("PUT", f"{E}/scans/2", params={"xsiType": "xnat:imageScanData"}).status_code == 400
    assert admin("PUT", f"{E}/scans/2", params={"xsiType": "xnat:ctScanData", "xnat:ctScanData/ID": "7"}).ok
    assert "7" in {row["ID"] for row in rows(admin("GET", f"{E}/scans?format=json"))}
    assert admin("PUT", f"{E}/scans/1/resources/DICOM").status_code == 409
    assert admin("GET", f"{E}/scans/1/resources/DICOM/extra").status_code == 404
    assert admin("PUT", "/data/projects/CARDIO01/subjects/bad%20label").status_code == 417
    renamed = admin("PUT", f"/data/experiments/{session}", params={"label": "S01_CT1B"})
    assert renamed.status_code == 200
    assert admin("GET", "/data/projects/CARDIO01/experiments/S01_CT1B?format=json").ok


def test_access_read_needs_data_access_writes_need_membership_deletes_need_ownership(admin, as_user, session):
    carol, bob = as_user("carol"), as_user("bob")
    assert carol("GET", "/data/projects/CARDIO01/subjects?format=json").status_code == 404  # private
    admin("PUT", "/data/projects/CARDIO01/accessibility/protected")
    assert carol("GET", "/data/projects/CARDIO01/subjects?format=json").status_code == 403
    assert carol("GET", "/data/experiments?format=json").json()["ResultSet"]["Result"] == []
    assert bob("PUT", "/data/projects/CARDIO01/subjects/S02").status_code == 201
    assert bob("DELETE", "/data/projects/CARDIO01/subjects/S02").status_code == 403
    assert as_user("alice")("DELETE", "/data/projects/CARDIO01/subjects/S02").ok


def test_file_listing_digests_and_single_downloads(admin, session):
    listed = rows(admin("GET", f"{E}/scans/1/resources/DICOM/files?format=json"))
    assert [(row["Name"], row["Size"], row["collection"]) for row in listed] == [
        ("a.dcm", "5", "DICOM"),
        ("b.dcm", "4", "DICOM"),
    ]
    assert listed[0]["digest"] == hashlib.md5(b"alpha").hexdigest()
    assert listed[1]["URI"].startswith(f"/data/experiments/{session}/scans/1/resources/")
    assert listed[1]["URI"].endswith("/files/sub/b.dcm")
    assert admin("GET", listed[1]["URI"]).content == b"beta"
    head = admin("HEAD", listed[0]["URI"])
    assert head.headers["Content-Length"] == "5"
    resource = rows(admin("GET", f"{E}/scans/1/resources?format=json"))[0]
    assert (resource["label"], resource["file_count"], resource["file_size"], resource["format"]) == (
        "DICOM",
        "2",
        "9",
        "DICOM",
    )
    catalog = admin("GET", f"{E}/scans/1/resources/DICOM")
    assert catalog.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<cat:Catalog')
    assert admin("GET", f"{E}/scans/1/resources/DICOM/files/missing.dcm").status_code == 404


def test_uploads_keep_duplicates_overwrite_and_extract(admin, session):
    target = f"{E}/scans/1/resources/DICOM/files/a.dcm"
    kept = admin("PUT", target, data=b"changed")
    assert kept.json() == {"duplicates": ["a.dcm"]}
    assert admin("GET", target).content == b"alpha"
    assert admin("PUT", target, params={"overwrite": "true"}, data=b"changed").text == ""
    assert admin("GET", target).content == b"changed"
    assert admin("PUT", f"{E}/scans/1/resources/DICOM/files/empty.dcm").status_code == 400
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("x/one.txt", "1")
    assert admin(
        "PUT", f"{E}/resources/NOTES/files/notes.zip", params={"extract": "true"}, data=bundle.getvalue()
    ).ok
    assert [row["Name"] for row in rows(admin("GET", f"{E}/resources/NOTES/files?format=json"))] == [
        "one.txt"
    ]
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.txt", "x")
    assert (
        admin(
            "PUT", f"{E}/resources/NOTES/files/e.zip", params={"extract": "true"}, data=evil.getvalue()
        ).status_code
        == 400
    )
    multipart = admin("POST", f"{E}/resources/NOTES/files", files={"file": ("two.txt", b"2")})
    assert multipart.ok
    assert admin("GET", f"{E}/resources/NOTES/files/two.txt").content == b"2"


def zip_names(response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    return sorted(zipfile.ZipFile(io.BytesIO(response.content)).namelist())


def test_zip_layouts_follow_filelist_structures(admin, xnat_double, session):
    url = f"{E}/scans/1/resources/DICOM/files"
    assert zip_names(admin("GET", url, params={"format": "zip"})) == [
        "S01_CT1/scans/1-AXIAL/resources/DICOM/files/a.dcm",
        "S01_CT1/scans/1-AXIAL/resources/DICOM/files/sub/b.dcm",
    ]
    assert zip_names(admin("GET", url, params={"format": "zip", "structure": "simplified"})) == [
        "S01_CT1/scans/1/DICOM/a.dcm",
        "S01_CT1/scans/1/DICOM/sub/b.dcm",
    ]
    assert zip_names(admin("GET", url, params={"format": "zip", "structure": "improved"})) == [
        "scans/1_AXIAL/DICOM/a.dcm",
        "scans/1_AXIAL/DICOM/sub/b.dcm",
    ]
    legacy = zip_names(admin("GET", url, params={"format": "zip", "structure": "legacy"}))
    assert legacy and all(name.startswith(str(xnat_double.state.archive.root) + "/") for name in legacy)
    whole = admin("GET", f"{E}/scans/ALL/files", params={"format": "zip", "compression": "0"})
    assert whole.headers["Content-Disposition"] == 'attachment; filename="S01_CT1.zip"'
    assert len(zip_names(whole)) == 2
    flip_route = f"{E}/scans/ALL/resources/DICOM/files"  # FLIP imaging-api's download by label
    assert zip_names(admin("GET", flip_route, params={"format": "zip"}))[0].startswith(
        "S01_CT1/scans/1-AXIAL/"
    )
    assert admin("PUT", f"{E}/scans/1/resources/EMPTY").ok
    assert admin("GET", f"{E}/scans/1/resources/EMPTY/files?format=zip").status_code == 404
    assert (
        admin("GET", f"{E}/scans/1/resources/EMPTY/files?format=zip&accept-not-found=true").status_code == 204
    )
    assert admin("GET", f"{E}/scans/1/resources/ALL/files?format=zip").status_code == 404


def test_delete_cascades_and_remove_files_decides_what_stays_on_disk(admin, xnat_double, session):
    store = xnat_double.state.archive
    directory = store.experiments[session].directory
    assert admin("DELETE", f"/data/experiments/{session}").ok  # no removeFiles: files stay on disk
    assert directory.is_dir() and session not in store.experiments
    assert admin("GET", f"{E}?format=json").status_code == 404
    experiment = file_into_archive(
        xnat_double.state, SessionTarget("CARDIO01", "S01", "S01_CT2"), synthetic_series(generate_uid(), 1, 1)
    )
    admin("POST", "/xapi/siteConfig", json={"backupDeletedToCache": True})
    assert admin("DELETE", "/data/projects/CARDIO01/subjects/S01", params={"removeFiles": "true"}).ok
    assert not experiment.directory.exists()
    assert list(store.deleted_directory().rglob("*.dcm"))
    assert store.subjects == {} and store.experiments == {}


def test_project_delete_hook_removes_the_project_archive(admin, xnat_double, session):
    project_directory = xnat_double.state.archive.project_directory("CARDIO01")
    assert admin("DELETE", "/data/projects/CARDIO01", params={"removeFiles": "TRUE"}).ok
    assert not project_directory.exists()
    assert xnat_double.state.archive.experiments == {}
    assert admin("GET", "/data/experiments?format=json").json()["ResultSet"]["Result"] == []


def test_project_resources_and_files(admin, site):
    assert admin("PUT", "/data/projects/CARDIO01/resources/PROTOCOL/files/protocol.txt", data=b"p").ok
    resource = rows(admin("GET", "/data/projects/CARDIO01/resources?format=json"))[0]
    assert (resource["label"], resource["file_count"]) == ("PROTOCOL", "1")
    listed = rows(admin("GET", "/data/projects/CARDIO01/files?format=json"))
    assert (
        listed[0]["URI"]
        == f"/data/projects/CARDIO01/resources/{resource['xnat_abstractresource_id']}/files/protocol.txt"
    )
    assert zip_names(admin("GET", "/data/projects/CARDIO01/resources/PROTOCOL/files?format=zip")) == [
        "CARDIO01/resources/PROTOCOL/files/protocol.txt"
    ]


def test_unknown_parts_and_objects_are_404(admin, site):
    assert admin("GET", "/data/projects/NOPE/subjects?format=json").status_code == 404
    assert admin("GET", "/data/projects/CARDIO01/subjects/NOPE/experiments?format=json").status_code == 404
    assert admin("GET", "/data/experiments/NOPE/scans?format=json").status_code == 404
    assert admin("GET", "/data/projects/CARDIO01/subjects/X/bogus").status_code == 404


def test_each_double_keeps_its_files_in_its_own_directory_and_removes_it():
    first, second = DoubleState(), DoubleState()
    assert first.archive.root != second.archive.root
    root = first.archive.root
    assert root.is_dir()
    del first
    gc.collect()
    assert not root.exists()
