"""Seeds and helpers of the `enclave project close` tests: a project with data wherever XNAT keeps it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from compliance.cli import main

PROJECT = "STROKE01"
OTHER = "KEEP01"  # another project, which a close must not touch
PATIENT_NAME = "DOE^JANE"  # what a DQR history row keeps; must never reach a record
PATIENT_ID = "9434765919"
ACCESSION = "RJZ1234567"


def access_list_text(*, end_date: str, closed: bool | None = None, project: str = PROJECT) -> str:
    marker = "" if closed is None else f"    closed: {'true' if closed else 'false'}\n"
    return (
        "trust: trust-a\n"
        "admins: [admin]\n"
        "dormant_after_days: 90\n"
        "projects:\n"
        f"  {project}:\n"
        "    approval: IRAS 123456\n"
        f"    end_date: {end_date}\n"
        f"{marker}"
        "    owners:\n"
        "      - {user: alice, expires: 2030-01-01}\n"
        "    members:\n"
        "      - {user: bob, expires: 2030-01-01}\n"
        "    collaborators:\n"
        "      - {user: carol, expires: 2030-01-01}\n"
    )


def scans(files_per_scan: int, count: int = 2) -> list[dict[str, Any]]:
    return [
        {
            "id": str(number),
            "type": "AXIAL",
            "modality": "CT",
            "resources": [
                {
                    "label": "DICOM",
                    "format": "DICOM",
                    "files": {
                        f"{number}-{index}.dcm": {"size": 1000 + index} for index in range(files_per_scan)
                    },
                }
            ],
        }
        for number in range(1, count + 1)
    ]


def seed_project(double, *, sessions: int = 3, files_per_scan: int = 2, extra: dict[str, Any] | None = None):
    """PROJECT with owner alice, member bob, collaborator carol; ``sessions`` CT sessions of two scans over
    two subjects, a session resource, a subject resource, a project resource and a prearchive session; and
    OTHER with one session of its own. The event service is on, as the configure layer leaves it."""
    archive = [
        {
            "project": PROJECT,
            "subject": f"SUBJ{number % 2}",
            "session": f"P{number:04d}_CT",
            "modality": "CT",
            "dcmPatientName": PATIENT_NAME,
            "scans": scans(files_per_scan),
            "resources": [{"label": "NOTES", "files": {"qc.txt": "ok"}}],
        }
        for number in range(sessions)
    ]
    archive += [
        {
            "project": PROJECT,
            "subject": "SUBJ0",
            "resources": [{"label": "CONSENT", "files": {"c.txt": "x"}}],
        },
        {"project": PROJECT, "resources": [{"label": "PROTOCOL", "files": {"protocol.txt": "p"}}]},
        {"project": OTHER, "subject": "K1", "session": "K1_MR", "modality": "MR", "scans": scans(1, 1)},
    ]
    double.seed(
        {
            "site_config": {"initialized": True},
            "event_prefs": {"enabled": True},
            "users": [
                {
                    "username": name,
                    "password": "pw",
                    "firstName": name,
                    "lastName": "X",
                    "email": f"{name}@x.nhs.uk",
                }
                for name in ("alice", "bob", "carol")
            ],
            "projects": [
                {
                    "id": PROJECT,
                    "name": "Stroke",
                    "owners": ["alice"],
                    "members": ["bob"],
                    "collaborators": ["carol"],
                },
                {"id": OTHER, "name": "Keep", "owners": ["alice"]},
            ],
            "archive": archive,
            "prearchive": [
                {
                    "project": PROJECT,
                    "subject": "SUBJ9",
                    "session": "P9999_CT",
                    "modality": "CT",
                    "scans": scans(1, 1),
                }
            ],
            **(extra or {}),
        }
    )
    double.clear_requests()
    return double


def add_dqr_rows(double, *, history: bool = True, queued: bool = True) -> None:
    """A DQR history row (RECEIVED, with the PACS's identifiers) and a queued request for PROJECT, plus a
    history row of OTHER, put straight into the double's DQR service (no REST seeds them)."""
    from xnat_double.dqr_import import service_for  # noqa: PLC0415

    service = service_for(double.state)
    phi = {"patientName": PATIENT_NAME, "patientId": PATIENT_ID, "accessionNumber": ACCESSION,
           "studyDate": "2021-01-05", "studyId": "1"}  # fmt: skip

    def entry(request_id: int, project: str, status: str) -> dict[str, Any]:
        return {"id": request_id, "created": request_id, "timestamp": request_id, "username": "admin",
                "xnatProject": project, "studyInstanceUid": f"1.2.3.{request_id}", "status": status,
                "pacsId": 1, **phi}  # fmt: skip

    if history:
        service.history[101] = entry(101, PROJECT, "RECEIVED")
        service.history[102] = entry(102, OTHER, "RECEIVED")
    if queued:
        service.queue[103] = entry(103, PROJECT, "QUEUED")


def run(double, tmp_path: Path, access_text: str, *extra: str) -> int:
    access = tmp_path / "access.yml"
    access.write_text(access_text)
    return main(
        ["project", "close", "--xnat", double.url, "--project", PROJECT, "--access-list", str(access),
         "--reports-dir", str(tmp_path / "reports"), "--progress", "none", *extra]
    )  # fmt: skip


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((tmp_path / "reports").glob("*.json"))]


def data_writes(double) -> list[dict[str, Any]]:
    """Writes other than xnatpy's own login (PUT /data/services/auth) and logout (DELETE /data/JSESSION)."""
    return [
        entry for entry in double.writes() if entry["path"] not in ("/data/services/auth", "/data/JSESSION")
    ]


# --- what runs on the projects' events (the configure layer's dicom_to_nifti subscriptions) -----------------
SCAN_EVENT = "org.nrg.xnat.eventservice.events.ScanEvent"
SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
DCM2NIIX = {
    "name": "dcm2niix",
    "version": "1.0",
    "image": "xnat/dcm2niix:1.0.20240202",
    "type": "docker",
    "command-line": "dcm2niix /input",
    "xnat": [{"name": "dcm2niix-scan", "contexts": ["xnat:imageScanData"]}],
}
PAYLOAD_FILTER = '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)'


def add_processing(double, *, shared: bool = False) -> dict[str, int]:
    """What the configure layer sets up for PROJECT and OTHER, over REST as admin: the dcm2niix command,
    its wrapper enabled on the site and for both projects, and subscriptions (ids by name): PROJECT's own
    scan subscription (active) and an old inactive one, one of PROJECT on SessionEvent DELETED (active), one
    of OTHER, a site-wide one, and with ``shared`` one naming both projects. The request log is cleared."""
    session = requests.Session()
    session.auth = ("admin", "admin")

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        answer = session.request(method, double.url + path, timeout=10, **kwargs)
        assert answer.ok, (method, path, answer.status_code, answer.text)
        return answer

    command_id = int(call("POST", "/xapi/commands", json=DCM2NIIX).text)
    wrapper_id = call("GET", f"/xapi/commands/{command_id}").json()["xnat"][0]["id"]
    call("PUT", f"/xapi/wrappers/{wrapper_id}/enabled")
    for project in (PROJECT, OTHER):
        call("PUT", f"/xapi/projects/{project}/wrappers/{wrapper_id}/enabled")
    action = f"org.nrg.containers.services.CommandActionProvider:{wrapper_id}"

    def subscribe(name: str, projects: list[str], *, active: bool = True, event: str = SCAN_EVENT) -> int:
        status = "CREATED" if event == SCAN_EVENT else "DELETED"
        event_filter = {"event-type": event, "status": status, "project-ids": projects}
        if event == SCAN_EVENT:
            event_filter["payload-filter"] = PAYLOAD_FILTER
        body = {"name": name, "active": active, "action-key": action, "event-filter": event_filter}
        return int(call("POST", "/xapi/events/subscription", json=body).text.rpartition(":")[2])

    ids = {
        f"{PROJECT} dcm2niix": subscribe(f"{PROJECT} dcm2niix", [PROJECT]),
        f"{PROJECT} old": subscribe(f"{PROJECT} old", [PROJECT], active=False),
        f"{PROJECT} deleted": subscribe(f"{PROJECT} deleted", [PROJECT], event=SESSION_EVENT),
        f"{OTHER} dcm2niix": subscribe(f"{OTHER} dcm2niix", [OTHER]),
        "site-wide": subscribe("site-wide", []),
    }
    if shared:
        ids["shared"] = subscribe("shared", [PROJECT, OTHER])
    ids["wrapper"] = wrapper_id
    ids["command"] = command_id
    double.clear_requests()
    return ids
