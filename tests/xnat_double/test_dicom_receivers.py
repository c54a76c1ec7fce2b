"""The double's DICOM receivers with real associations: pynetdicom SCU → the double's Storage SCP.

Every port is picked free at runtime and only 127.0.0.1 is used.
"""

from __future__ import annotations

import io
import socket

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from xnat_double import dicom_front, dicom_receivers, dqr_requests
from xnat_double.archive_ingest import session_files
from xnat_double.dqr_requests import ImportTarget

PHI_NAME = "Smith^Jane"
PHI_ID = "9434765919"
PHI_BIRTH = "19700101"
PHI_INSTITUTION = "St Elsewhere NHS Trust"
PHI_ACCESSION = "RX123456"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rows(response):
    assert response.status_code == 200, response.text
    return response.json()["ResultSet"]["Result"]


def study(count: int = 2, *, comments: str = "", description: str = "Chest CT", **fields) -> list[Dataset]:
    """A CT study carrying PHI, one series of ``count`` instances."""
    study_uid, series_uid = generate_uid(), generate_uid()
    instances = []
    for number in range(1, count + 1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "CT"
        ds.SeriesNumber = 1
        ds.InstanceNumber = number
        ds.StudyDate = "20260105"
        ds.StudyTime = "101500"
        ds.StudyDescription = description
        ds.SeriesDescription = "Axial"
        ds.PatientName = PHI_NAME
        ds.PatientID = PHI_ID
        ds.PatientBirthDate = PHI_BIRTH
        ds.InstitutionName = PHI_INSTITUTION
        ds.AccessionNumber = PHI_ACCESSION
        if comments:
            ds.PatientComments = comments
        for key, value in fields.items():
            setattr(ds, key, value)
        instances.append(ds)
    return instances


class Sent:
    def __init__(self, established: bool, rejected: bool, statuses: list[int], reason: int | None) -> None:
        self.established, self.rejected, self.statuses, self.reason = established, rejected, statuses, reason


def send(port: int, datasets: list[Dataset], *, calling: str = "PACS", called: str = "XNAT") -> Sent:
    """One association: C-STORE every dataset, then release."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(Verification)
    association = ae.associate("127.0.0.1", port, ae_title=called)
    if not association.is_established:
        reason = None
        if association.is_rejected and association.acceptor.primitive is not None:
            reason = association.acceptor.primitive.diagnostic
        return Sent(False, association.is_rejected, [], reason)
    statuses = [int(association.send_c_store(ds).Status) for ds in datasets]
    association.release()
    return Sent(True, False, statuses, None)


def echo(port: int, *, called: str = "XNAT") -> bool:
    ae = AE(ae_title="PACS")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.add_requested_context(Verification)
    association = ae.associate("127.0.0.1", port, ae_title=called)
    if not association.is_established:
        return False
    ok = int(association.send_c_echo().Status) == 0
    association.release()
    return ok


def receiver(port: int, **fields) -> dict:
    return {"aeTitle": "XNAT", "port": port, "identifier": "dicomObjectIdentifier", **fields}


def listen(site, *receivers: dict, projects: list[dict] | None = None, **site_config) -> None:
    site.seed(
        {
            "double": {"dicom_listen": True},
            "receivers": list(receivers),
            "projects": projects or [],
            "site_config": site_config,
        }
    )


def read_archived(admin, project: str, session: str) -> list[Dataset]:
    """The session's DICOM files, downloaded through the REST archive routes."""
    base = f"/data/projects/{project}/experiments/{session}"
    found = []
    for scan in rows(admin("GET", f"{base}/scans?format=json")):
        files = rows(admin("GET", f"{base}/scans/{scan['ID']}/resources/DICOM/files?format=json"))
        for entry in files:
            found.append(pydicom.dcmread(io.BytesIO(admin("GET", entry["URI"]).content)))
    return found


@pytest.fixture
def port():
    return free_port()


def test_receivers_listen_only_with_the_option(site, port):
    site.seed({"receivers": [receiver(port)]})
    assert not echo(port)
    assert site.dicom_listeners() == {}
    site.seed({"double": {"dicom_listen": True}})
    assert echo(port)
    assert site.dicom_listeners() == {port: ["XNAT"]}
    assert not echo(port, called="OTHER")  # an AE title no receiver on the port has
    site.reset()
    assert not echo(port)


def test_whitelist_refuses_unlisted_callers_and_admits_listed_ones(site, port):
    listen(
        site,
        receiver(port, whitelistEnabled=True, whitelist=["GOODPACS", "FARPACS@10.0.0.0/8"]),
        projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}],
    )
    refused = send(port, study(comments="Project: P4 Subject: S1 Session: E1"), calling="BADPACS")
    assert (refused.established, refused.rejected, refused.reason) == (False, True, 0x03)
    wrong_address = send(port, study(comments="Project: P4 Subject: S1 Session: E1"), calling="FARPACS")
    assert wrong_address.rejected
    assert site.state.archive.find_experiment("P4", "E1") is None
    assert site.state.archive.prearchive == {}
    admitted = send(port, study(comments="Project: P4 Subject: S1 Session: E1"), calling="GOODPACS")
    assert admitted.statuses == [0, 0]
    assert len(session_files(site.state, "P4", "E1")) == 2


def test_whitelist_by_address_admits_any_ae_and_off_admits_everyone(site, port):
    other = free_port()
    listen(
        site,
        receiver(port, whitelistEnabled=True, whitelist=["127.0.0.1/32"]),
        receiver(other, aeTitle="OPEN", whitelistEnabled=False, whitelist=["NOBODY"]),
    )
    assert send(port, study(1), calling="ANYONE").statuses == [0]
    assert send(other, study(1), calling="ANYONE", called="OPEN").statuses == [0]


def test_routing_by_prearchive_code_and_comments(site, admin, port):
    listen(
        site,
        receiver(port),
        projects=[
            {"id": "P0", "name": "P0", "prearchive_code": 0},
            {"id": "P4", "name": "P4", "prearchive_code": 4},
        ],
        enableSitewideAnonymizationScript=False,
    )
    assert send(port, study(comments="Project: P0 Subject: S0 Session: E0")).statuses == [0, 0]
    assert send(port, study(StudyComments="Project:P4, Subject:S4, Session:E4")).statuses == [0, 0]
    assert send(port, study(description="P4", PatientID="MRN77")).statuses == [0, 0]
    assert send(port, study(comments="Project: NOPE")).statuses == [0, 0]

    waiting = rows(admin("GET", "/data/prearchive/projects/P0?format=json"))
    assert [(row["name"], row["subject"]) for row in waiting] == [("E0", "S0")]
    archived = sorted(row["label"] for row in rows(admin("GET", "/data/projects/P4/experiments?format=json")))
    assert archived == ["E4", "MRN77"]  # study description names the project; session = Patient ID
    subject = site.state.archive.find_subject("P4", "Smith_Jane")  # subject = Patient Name as a label
    assert subject is not None
    unassigned = [
        row for row in rows(admin("GET", "/data/prearchive?format=json")) if row["project"] == "Unassigned"
    ]
    assert [row["name"] for row in unassigned] == [PHI_ID]
    assert len(session_files(site.state, "P4", "E4")) == 2


def test_code_4_keeps_a_study_receiving_across_associations_then_conflicts_once_idle(site, port):
    """A DQR import moves a study series by series, one association each: while the study is receiving
    (XNAT: no file for sessionXmlRebuilderInterval minutes) they join one session; afterwards a resend
    of the study is a new arrival, and code 4 puts it in the prearchive as CONFLICT."""
    listen(site, receiver(port), projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}])
    instances = study(4, comments="Project: P4 Subject: S1 Session: E1")
    assert send(port, instances[:2]).statuses == [0, 0]
    assert send(port, instances[2:3]).statuses == [0], "a second association of the receiving study"
    assert len(session_files(site.state, "P4", "E1")) == 3
    assert site.state.archive.prearchive == {}
    site.state.site_config["sessionXmlRebuilderInterval"] = 0  # the study is idle at once
    assert send(port, instances[3:]).statuses == [0]
    (waiting,) = site.state.archive.prearchive.values()
    assert (waiting.project, waiting.folder, waiting.status) == ("P4", "E1", "CONFLICT")


def test_direct_archive_ignores_the_prearchive_code(site, port):
    listen(
        site, receiver(port, directArchive=True), projects=[{"id": "P0", "name": "P0", "prearchive_code": 0}]
    )
    assert send(port, study(comments="Project: P0 Subject: S1 Session: E1")).statuses == [0, 0]
    assert len(session_files(site.state, "P0", "E1")) == 2
    assert site.state.archive.prearchive == {}


SITE_SCRIPT = """version "6.1"
(0010,0010) := subject
(0010,0020) := session
-(0010,0030)
(0008,0050) := ""
"""
PROJECT_SCRIPT = """version "6.1"
(0008,0080) := "ANONYMISED"
(0008,1030) := project
"""


def test_site_then_project_script_remove_the_phi_of_filed_files(site, admin, port):
    listen(
        site,
        receiver(port),
        projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}],
        sitewideAnonymizationScript=SITE_SCRIPT,
        enableSitewideAnonymizationScript=True,
    )
    assert admin(
        "PUT", "/xapi/anonymize/projects/P4", data=PROJECT_SCRIPT, headers={"Content-Type": "text/plain"}
    ).ok
    assert admin(
        "PUT", "/xapi/anonymize/projects/P4/enabled?enable=true", headers={"Content-Type": "application/json"}
    ).ok
    assert send(port, study(comments="Project: P4 Subject: SUBJ01 Session: SESS01")).statuses == [0, 0]
    filed = read_archived(admin, "P4", "SESS01")
    assert len(filed) == 2
    for ds in filed:
        assert (str(ds.PatientName), ds.PatientID) == ("SUBJ01", "SESS01")
        assert "PatientBirthDate" not in ds
        assert ds.AccessionNumber == ""
        assert (ds.InstitutionName, ds.StudyDescription) == ("ANONYMISED", "P4")
    raw = b"".join(item.path.read_bytes() for item in session_files(site.state, "P4", "SESS01"))
    for phi in (PHI_NAME, PHI_ID, PHI_BIRTH, PHI_INSTITUTION, PHI_ACCESSION):
        assert phi.encode() not in raw


def test_a_receiver_without_anonymisation_files_the_phi(site, port):
    listen(
        site,
        receiver(port, anonymizationEnabled=False),
        projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}],
        sitewideAnonymizationScript=SITE_SCRIPT,
    )
    assert send(port, study(1, comments="Project: P4 Subject: S1 Session: E1")).statuses == [0]
    (filed,) = session_files(site.state, "P4", "E1")
    assert PHI_BIRTH.encode() in filed.path.read_bytes()


@pytest.mark.parametrize(
    "script",
    [
        'version "6.1"\n(0010,0010) := lookup["pn", (0010,0010)]\n',  # a runtime error
        'version "6.1"\n(0008,0060) = "CT" ? reject[]\n',  # the script rejects the file
        'version "6.1"\n(0010,0010) := \n',  # a script that does not parse
    ],
    ids=["error", "reject", "syntax"],
)
def test_instances_the_script_fails_on_or_rejects_are_refused_and_counted(site, port, script):
    listen(
        site,
        receiver(port, customProcessing=True),
        projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}],
        sitewideAnonymizationScript=script,
    )
    instances = study(3)
    uid = str(instances[0].StudyInstanceUID)
    dqr_requests.expect(ImportTarget(7, uid, "XNAT", "P4", "SUBJ7", "SESS7"))
    try:
        sent = send(port, instances)
        target = dqr_requests.target_for("XNAT", uid)
    finally:
        dqr_requests.finish("XNAT", uid)
    assert sent.statuses == [dicom_receivers.OUT_OF_RESOURCES] * 3
    assert (target.received_files, target.refused_files, len(target.errors)) == (0, 3, 3)
    assert site.state.archive.experiments == {} and site.state.archive.prearchive == {}


def test_an_expected_dqr_study_is_relabelled_with_the_request_target(site, admin, port):
    listen(
        site,
        receiver(port, customProcessing=True, identifier="dqrObjectIdentifier"),
        projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}],
    )
    instances = study(3, comments="Project: ELSEWHERE Subject: X Session: Y")
    uid = str(instances[0].StudyInstanceUID)
    remap = 'version "6.1"\n(0010,4000) := "relabelled by DQR"\n(0020,0010) := "REMAPPED"\n'
    dqr_requests.expect(
        ImportTarget(11, uid, "XNAT", "P4", "PSEUDO01", "PSEUDO01_CT1", remapping_script=remap)
    )
    try:
        sent = send(port, instances)
        target = dqr_requests.target_for("XNAT", uid)
    finally:
        dqr_requests.finish("XNAT", uid)
    assert sent.statuses == [0, 0, 0]
    assert (target.received_files, target.refused_files, target.errors) == (3, 0, [])
    filed = read_archived(admin, "P4", "PSEUDO01_CT1")
    assert {ds.PatientComments for ds in filed} == {"relabelled by DQR"}
    assert {ds.StudyID for ds in filed} == {"REMAPPED"}
    # the default site script then sets the name and ID from the request's labels
    assert {(str(ds.PatientName), ds.PatientID) for ds in filed} == {("PSEUDO01", "PSEUDO01_CT1")}
    assert site.state.archive.find_subject("P4", "PSEUDO01") is not None
    # the same study nobody expects: the DQR identifier has no routing for it → Unassigned
    assert send(port, study(1)).statuses == [0]
    (waiting,) = site.state.archive.prearchive.values()
    assert waiting.project is None


def test_without_custom_processing_the_remapping_script_is_not_applied(site, port):
    listen(site, receiver(port), projects=[{"id": "P4", "name": "P4", "prearchive_code": 4}])
    instances = study(1)
    uid = str(instances[0].StudyInstanceUID)
    remap = 'version "6.1"\n(0010,4000) := "relabelled by DQR"\n'
    dqr_requests.expect(ImportTarget(12, uid, "XNAT", "P4", "S12", "E12", remapping_script=remap))
    try:
        assert send(port, instances).statuses == [0]
    finally:
        dqr_requests.finish("XNAT", uid)
    (filed,) = session_files(site.state, "P4", "E12")
    assert "PatientComments" not in pydicom.dcmread(filed.path)


def test_listeners_follow_receiver_updates_disable_and_delete(site, admin, port):
    site.seed({"double": {"dicom_listen": True}, "receivers": []})
    created = admin("POST", "/xapi/dicomscp", json=receiver(port, aeTitle="RECV1"))
    assert created.status_code == 200
    body = created.json()
    assert echo(port, called="RECV1")

    moved = free_port()
    assert admin("PUT", f"/xapi/dicomscp/{body['id']}", json={**body, "port": moved}).ok
    assert not echo(port, called="RECV1")
    assert echo(moved, called="RECV1")

    assert admin("PUT", f"/xapi/dicomscp/{body['id']}", json={**body, "port": moved, "aeTitle": "RECV2"}).ok
    assert not echo(moved, called="RECV1")
    assert echo(moved, called="RECV2")

    assert admin("PUT", f"/xapi/dicomscp/{body['id']}/enabled/false").ok
    assert not echo(moved, called="RECV2")
    assert site.dicom_listeners() == {}
    assert admin("PUT", f"/xapi/dicomscp/{body['id']}/enabled/true").ok
    assert echo(moved, called="RECV2")

    second = admin("POST", "/xapi/dicomscp", json=receiver(moved, aeTitle="RECV3")).json()
    assert site.dicom_listeners() == {moved: ["RECV2", "RECV3"]}
    assert echo(moved, called="RECV3")
    assert admin("DELETE", f"/xapi/dicomscp/{second['id']}").ok
    assert not echo(moved, called="RECV3")
    assert echo(moved, called="RECV2")
    assert admin("DELETE", f"/xapi/dicomscp/{body['id']}").ok
    assert not echo(moved, called="RECV2")


def test_the_site_preference_stops_every_receiver(site, admin, port):
    listen(site, receiver(port))
    assert echo(port)
    assert admin("POST", "/xapi/siteConfig", json={"enableDicomReceiver": False}).ok
    assert not echo(port)
    assert admin("POST", "/xapi/siteConfig", json={"enableDicomReceiver": True}).ok
    assert echo(port)


def test_a_port_in_use_is_reported_and_the_others_still_listen(site, port):
    other = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        listen(site, receiver(port), receiver(other, aeTitle="SECOND"))
        errors = dicom_receivers.listeners(site.app).errors
        assert set(errors) == {port}
        assert echo(other, called="SECOND")


def test_whitelist_matching_follows_xnat():
    assert dicom_front.whitelisted(["PACS"], "PACS", "10.1.2.3")
    assert not dicom_front.whitelisted(["PACS"], "OTHER", "10.1.2.3")
    assert dicom_front.whitelisted(["10.1.0.0/16"], "OTHER", "10.1.2.3")
    assert not dicom_front.whitelisted(["10.1.0.0/16"], "10.1.0.0/16", "127.0.0.1")
    assert dicom_front.whitelisted(["PACS@10.1.2.3"], "PACS", "10.1.2.3")
    assert not dicom_front.whitelisted(["PACS@10.1.2.3"], "PACS", "10.1.2.4")
    assert not dicom_front.whitelisted([], "PACS", "127.0.0.1")
    assert dicom_receivers.contained_assignment("a;Project: P1, x", "project") == "P1"
    assert dicom_receivers.contained_assignment("MyProject: P1", "Project") == ""


def test_a_receiving_study_sent_for_another_project_is_filed_there(site, port):
    """The same study imported into a second project while the first import is still receiving lands in
    the second project, not in the first one's session."""
    projects = [{"id": pid, "name": pid, "prearchive_code": 4} for pid in ("P4", "P5")]
    listen(site, receiver(port), projects=projects)
    instances = study(4, comments="Project: P4 Subject: S1 Session: E1")
    assert send(port, instances[:2]).statuses == [0, 0]
    for dataset in instances[2:]:
        dataset.PatientComments = "Project: P5 Subject: S1 Session: E1"
    assert send(port, instances[2:]).statuses == [0] * len(instances[2:])
    assert len(session_files(site.state, "P4", "E1")) == 2
    assert len(session_files(site.state, "P5", "E1")) == len(instances) - 2
