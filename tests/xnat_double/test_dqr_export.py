"""DQR export in the double (PUT /xapi/dqr/export), with real DICOM: the double C-STOREs archived files to a
pynetdicom Storage + Find node (``xnat_double.dicom_node``) on 127.0.0.1, port in 22000-22999.

Validations as DicomQueryRetrieveApi.export answers them, the workflow row, what the listener sends (the
first DICOM-format resource of each named scan, one association, stored transfer syntax, dqrCallingAe) and the
fault switches that make an export lose instances.
"""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest
from pydicom.uid import ImplicitVRLittleEndian

from xnat_double import dqr_export
from xnat_double.archive_ingest import SessionTarget, encode, file_into_archive
from xnat_double.archive_model import add_resource, write_file
from xnat_double.archive_synthetic import synthetic_instance, synthetic_series
from xnat_double.dicom_node import DicomNode, pick_port

STUDY = "1.2.826.0.1.3680043.8.498.660001"


@pytest.fixture
def archived(site: Any) -> Any:
    """CARDIO01 (alice owns it) with session E1: scan 1 (3 CT, one of them implicit VR), scan 2 (2 CT)."""
    series = synthetic_series(STUDY, 1, 3) + synthetic_series(STUDY, 2, 2, description="CORONAL")
    series[0].file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    experiment = file_into_archive(site.state, SessionTarget("CARDIO01", "S1", "E1"), series)
    site.seed(
        {
            "users": [
                {"username": "dqruser", "password": "pw", "roles": ["Dqr"], "groups": ["CARDIO01_member"]},
                {"username": "outsider", "password": "pw", "roles": ["Dqr"]},
            ]
        }
    )
    site.experiment_id = experiment.id
    site.series = series
    return site


def add_pacs(
    admin: Any, node: DicomNode, *, port: int | None = None, storable: bool = True, label: str = "AI node"
) -> int:
    """A PACS entry for ``node``'s AE, at its port or at ``port``."""
    entry = {"aeTitle": node.ae_title, "host": "127.0.0.1", "queryRetrievePort": port or node.port}
    entry |= {"label": label, "storable": storable, "queryable": False}
    created = admin("POST", "/xapi/pacs", json=entry)
    assert created.status_code == 200, created.text
    return created.json()["id"]


def export(client: Any, **query: Any) -> Any:
    return client("PUT", "/xapi/dqr/export", params=query)


# --- validations -----------------------------------------------------------------------------------------
def test_export_validations_follow_dicom_query_retrieve_api(archived, admin, as_user, node):
    pacs = add_pacs(admin, node)
    session = archived.experiment_id
    assert export(admin, session=session, scansToExport="1").status_code == 400  # no pacsId
    assert export(admin, pacsId=pacs, scansToExport="1").status_code == 400  # no session
    assert export(admin, pacsId=pacs, session=session).status_code == 400  # no scansToExport
    blank = export(admin, pacsId=pacs, session=" ", scansToExport="1")
    assert blank.status_code == 400 and "You must specify a session ID" in blank.text
    none = export(admin, pacsId=pacs, session=session, scansToExport="")
    assert none.status_code == 400 and f"scans from the session {session}" in none.text
    unknown = export(admin, pacsId=999, session=session, scansToExport="1")
    assert unknown.status_code == 404 and '"999" was not found' in unknown.text
    assert (
        export(admin, pacsId=pacs, session="E1", scansToExport="1").status_code == 404
    )  # a label, not the ID
    assert export(as_user("carol"), pacsId=pacs, session=session, scansToExport="1").status_code == 403
    assert export(as_user("outsider"), pacsId=pacs, session=session, scansToExport="1").status_code == 403
    assert dqr_export.workflows(archived.state) == []
    assert node.instance_uids() == set()


def test_a_pacs_that_is_not_storable_or_not_reachable_is_refused(archived, admin, node):
    closed = add_pacs(admin, node, storable=False, label="not storable")
    refused = export(admin, pacsId=closed, session=archived.experiment_id, scansToExport="1")
    assert refused.status_code == 409 and "does not permit" in refused.text  # PacsNotStorableException
    archived.seed({"double": {"echo_timeout": 1}})
    gone = add_pacs(admin, node, port=pick_port(), label="down")  # nothing listens there: the C-ECHO fails
    unavailable = export(admin, pacsId=gone, session=archived.experiment_id, scansToExport="1")
    assert unavailable.status_code == 503 and "not currently available" in unavailable.text
    assert dqr_export.workflows(archived.state) == []


# --- what is sent ----------------------------------------------------------------------------------------
def test_export_answers_at_once_and_sends_the_named_scans_over_one_association(
    archived, admin, as_user, node
):
    admin("POST", "/xapi/dqr/settings", json={"dqrCallingAe": "XNAT_EXPORT"})
    pacs = add_pacs(admin, node)
    answer = export(as_user("dqruser"), pacsId=pacs, session=archived.experiment_id, scansToExport=["1", "2"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["session"] == archived.experiment_id and body["scans"] == ["1", "2"]
    dqr_export.wait_idle(archived.state)
    assert node.instance_uids() == {str(ds.SOPInstanceUID) for ds in archived.series}
    assert node.associations == 1 and node.calling_aes[-1] == "XNAT_EXPORT"
    implicit = str(archived.series[0].SOPInstanceUID)
    assert node.transfer_syntax(implicit) == ImplicitVRLittleEndian  # sent in its stored transfer syntax
    [workflow] = dqr_export.workflows(archived.state)
    assert workflow["wrk_workflowData_id"] == body["workflow"]
    assert workflow["pipeline_name"] == "EXPORT_TO_PACS_REQUEST" and workflow["status"] == "Queued"
    assert workflow["comments"] == f"Pacs: {pacs}, session: {archived.experiment_id}, scans: 1, 2"
    [record] = dqr_export.exports(archived.state)
    assert record["status"] == "sent" and record["sent"] == 5  # the workflow stays Queued: fire-and-forget


def test_only_the_first_dicom_format_resource_is_sent_and_unknown_scans_are_skipped(archived, admin, node):
    """BasicCStoreSCU takes the scan's first resource whose format is DICOM, whatever its label."""
    current = archived.state
    with current.lock:
        scan = current.archive.find_experiment(None, archived.experiment_id).scans["2"]
        cleaned = add_resource(current.archive, scan, "DICOM_CLEANED", format="DICOM", content="RAW")
        extra = synthetic_instance(STUDY, str(scan.uid), 2, 9)
        write_file(current, cleaned, "cleaned.dcm", encode(extra), format="DICOM")
    pacs = add_pacs(admin, node)
    answer = export(admin, pacsId=pacs, session=archived.experiment_id, scansToExport="2,77")  # a comma list
    assert answer.status_code == 200 and answer.json()["scans"] == ["2", "77"]
    dqr_export.wait_idle(current)
    assert node.series_count(str(scan.uid)) == 2 and str(extra.SOPInstanceUID) not in node.instance_uids()
    [record] = dqr_export.exports(current)
    assert record["skipped_scans"] == [{"scan": "77", "reason": "no such scan"}]


# --- fault switches --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    [({"drop_instances": 2}, 3, "sent"), ({"abort_after": 1}, 1, "failed")],
    ids=["drop_instances", "abort_after"],
)
def test_fault_switches_lose_instances(archived, admin, node, case):
    faults, arrived, status = case
    archived.seed({"double": {"dqr_export_faults": faults}})
    pacs = add_pacs(admin, node)
    assert (
        export(admin, pacsId=pacs, session=archived.experiment_id, scansToExport=["1", "2"]).status_code
        == 200
    )
    dqr_export.wait_idle(archived.state)
    assert len(node.instance_uids()) == arrived
    [record] = dqr_export.exports(archived.state)
    assert record["status"] == status
    assert dqr_export.workflows(archived.state)[0]["status"] == "Queued"  # XNAT would not know either way


def test_drop_instances_by_sop_instance_uid_and_unknown_switches(archived, admin, node):
    lost = str(archived.series[1].SOPInstanceUID)
    archived.seed({"double": {"dqr_export_faults": {"drop_instances": [lost]}}})
    pacs = add_pacs(admin, node)
    export(admin, pacsId=pacs, session=archived.experiment_id, scansToExport="1")
    dqr_export.wait_idle(archived.state)
    assert lost not in node.instance_uids() and len(node.instance_uids()) == 2
    with pytest.raises(urllib.error.HTTPError, match="400"):
        archived.control("POST", "/__double__/seed", {"double": {"dqr_export_faults": {"lose_all": True}}})
    listed = admin("GET", "/__double__/dqr/exports").json()
    assert listed["exports"][0]["dropped"] == 1 and listed["workflows"][0]["status"] == "Queued"
