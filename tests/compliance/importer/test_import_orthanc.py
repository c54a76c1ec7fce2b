"""`enclave import` end to end with real DICOM: Debian's Orthanc as the PACS, the XNAT double as XNAT.

Orthanc (``scripts/orthanc-pacs``, loopback-only network namespace) holds PHI-laden studies stored by
C-STORE from this module; the double listens for real (``dicom_listen``) with one receiver that has
custom processing and a whitelist naming only the PACS's AE; DQR is on for the project, the site script
is ``examples/anon/basic-profile.das`` and the project has a script of its own; prearchive code 0, so
the client archives each session itself. The client runs through ``compliance.cli.main`` or, where it
is killed or cancelled mid-run, as a subprocess. Every port is picked at run time on 127.0.0.1. Skipped
with the reason when Orthanc cannot start here (as the double's own Orthanc tests are).
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests
from fake_dqr import PASSWORD, USER
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from compliance.cli import main
from compliance.importer.journal import journal_path, read_events
from compliance.importer.planfile import load_plan
from tests.orthanc_pacs import orthanc_pacs
from xnat_double.archive_synthetic import synthetic_series

pytestmark = pytest.mark.slow
logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "CARDIO01"
PACS_AE = "ORTHANCPACS"
RECEIVER_AE = "XNAT"
SITE_SCRIPT = (ROOT / "examples" / "anon" / "basic-profile.das").read_text(encoding="utf-8")
PROJECT_SCRIPT = 'version "6.1"\n(0018,0015) := project\n'  # Body Part Examined: not PHI, proves it ran
INSTITUTION = "ST ELSEWHERE NHS TRUST"
REFERRER = "HOUSE^GREGORY"
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
E2E = (1, 2, 3)  # study 2 carries a Dose Report series
KILL = tuple(range(20, 32))
CANCEL = (40, 41, 42, 43)
RUN_OPTIONS = (
    "--poll-interval",
    "0.1",
    "--retry-wait",
    "0.5",
    "--submit-grace",
    "20",
    "--archive-timeout",
    "30",
    "--stale-after",
    "120",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def phi(number: int) -> dict[str, str]:
    return {
        "accession": f"ACC{number:05d}",
        "patient_id": f"PHIID{number:04d}",
        "patient_name": f"PHISURNAME{number:03d}^PHIFIRST{number:03d}",
        "study_uid": f"1.2.826.0.1.3680043.8.498.88{number:04d}",
    }


def study(number: int, *, dose: bool = False, instances: int = 2) -> list[Dataset]:
    """A CT study full of PHI; ``dose`` adds a "Dose Report" screen capture (series 999)."""
    values = phi(number)
    fields = {"accession_number": values["accession"], "study_date": "20210105"}
    series = synthetic_series(values["study_uid"], 1, instances, description="Axial 1.25mm", **fields)
    if number in E2E:
        series += synthetic_series(values["study_uid"], 2, 1, description="Coronal MPR", **fields)
    if dose:
        series += synthetic_series(
            values["study_uid"], 999, 1, modality="OT", description="Dose Report", **fields
        )
    for dataset in series:
        dataset.PatientID = values["patient_id"]
        dataset.PatientName = values["patient_name"]
        dataset.PatientBirthDate = "19610302"
        dataset.PatientSex = "F"
        dataset.InstitutionName = INSTITUTION
        dataset.ReferringPhysicianName = REFERRER
        dataset.StudyDescription = "CT CHEST"
    return series


def store(port: int, datasets: list[Dataset], *, calling: str, called: str) -> tuple[bool, list[int]]:
    """One association, every dataset C-STOREd; (established, statuses)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.requested_contexts = StoragePresentationContexts
    association = ae.associate("127.0.0.1", port, ae_title=called)
    if not association.is_established:
        return False, []
    try:
        return True, [int(association.send_c_store(dataset).Status) for dataset in datasets]
    finally:
        association.release()


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


# --- Orthanc, started once for the module -----------------------------------------------------------
@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    receiver_port = free_port()
    moves = {RECEIVER_AE: receiver_port}
    with orthanc_pacs(tmp_path_factory.mktemp("orthanc"), PACS_AE, moves) as orthanc:
        datasets = [d for number in (*E2E, *KILL, *CANCEL) for d in study(number, dose=number == 2)]
        established, statuses = store(orthanc.port, datasets, calling="SEEDER", called=PACS_AE)
        assert established and set(statuses) == {0}, statuses
        yield {"port": orthanc.port, "receiver_port": receiver_port}


class Rest:
    def __init__(self, url: str, auth: tuple[str, str]) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.auth = auth

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        response = self.session.request(method, self.url + path, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response

    def rows(self, path: str) -> list[dict[str, Any]]:
        return self("GET", path, params={"format": "json"}).json()["ResultSet"]["Result"]


@pytest.fixture
def xnat(xnat_double: Any, pacs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The double as the trust's XNAT: receiver, PACS, DQR, site and project scripts, prearchive code 0."""
    xnat_double.seed(
        {
            "site_config": {
                "initialized": True,
                "siteUrl": "https://xnat.example",
                "sitewideAnonymizationScript": SITE_SCRIPT,
                "enableSitewideAnonymizationScript": True,
            },
            "projects": [{"id": PROJECT, "name": "Cardio", "prearchive_code": 0}],
        }
    )
    xnat_double.seed(
        {
            "users": [
                {"username": USER, "password": PASSWORD, "roles": ["Dqr"], "groups": [f"{PROJECT}_member"]}
            ],
            "receivers": [
                {
                    "aeTitle": RECEIVER_AE,
                    "port": pacs["receiver_port"],
                    "enabled": True,
                    "customProcessing": True,
                    "identifier": "dqrObjectIdentifier",
                    "whitelistEnabled": True,
                    "whitelist": [PACS_AE],
                }
            ],
            "double": {"dicom_listen": True, "dqr_tick": 0.05, "dqr_receive_wait": 5.0},
        }
    )
    xnat_double.start_dicom_listeners()
    assert xnat_double.dicom_listeners() == {pacs["receiver_port"]: [RECEIVER_AE]}
    admin = Rest(xnat_double.url, ("admin", "admin"))
    admin("POST", "/xapi/dqr/settings", json={"dqrCallingAe": "XNATDQR", "dqrMaxPacsRequestAttempts": "1"})
    admin("PUT", f"/xapi/dqr/settings/project/{PROJECT}", json={"enabled": True})
    created = admin(
        "POST",
        "/xapi/pacs",
        json={
            "aeTitle": PACS_AE,
            "host": "127.0.0.1",
            "queryRetrievePort": pacs["port"],
            "label": "TRUSTPACS",
        },
    )
    xnat_double.pacs_id = created.json()["id"]
    admin(
        "PUT",
        f"/xapi/anonymize/projects/{PROJECT}",
        data=PROJECT_SCRIPT,
        headers={"Content-Type": "text/plain"},
    )
    admin(
        "PUT",
        f"/xapi/anonymize/projects/{PROJECT}/enabled?enable=true",
        headers={"Content-Type": "application/json"},
    )
    xnat_double.admin = admin
    monkeypatch.setenv("XNAT_USER", USER)
    monkeypatch.setenv("XNAT_PASS", PASSWORD)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    key = tmp_path / "pseudonym.key"
    key.write_text("k" * 16 + "trust-secret-for-orthanc-tests-0123456789\n")
    key.chmod(0o600)
    xnat_double.key = key
    return xnat_double


def plan(xnat: Any, tmp_path: Path, lines: list[str], header: str = "Accession Number") -> tuple[int, Path]:
    csv = tmp_path / "studies.csv"
    csv.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    out = tmp_path / "job"
    args = ["import", "plan", "--xnat", xnat.url, "--pacs", "TRUSTPACS", "--project", PROJECT]
    args += ["--csv", str(csv), "--out", str(out), "--pseudonym-key-file", str(xnat.key)]
    return main(args), out / "plan.json"


def enclave(*args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from compliance.cli import main; sys.exit(main(sys.argv[1:]))",
        *args,
    ]


def archived_sessions(xnat: Any) -> Counter[str]:
    with xnat.state.lock:
        return Counter(e.label for e in xnat.state.archive.experiments.values() if e.project == PROJECT)


def journal_count(plan_path: Path, event: str) -> int:
    return sum(1 for entry in read_events(journal_path(plan_path)) if entry["event"] == event)


def outcomes(plan_path: Path) -> dict[int, str]:
    report = json.loads((plan_path.parent / "report.json").read_text(encoding="utf-8"))
    return {row["row"]: row["outcome"] for row in report["rows"]}


# --- the tests ------------------------------------------------------------------------------------------
def test_plan_and_run_archive_pseudonymised_sessions_without_the_dose_report_or_phi(
    xnat: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [f"{phi(n)['accession']},," for n in E2E] + ["ACC99999,,", f",{phi(3)['patient_id']},2021-01-05"]
    xnat.clear_requests()
    code, plan_path = plan(xnat, tmp_path, lines, header="Accession Number,Patient ID,Study Date")
    err = capsys.readouterr().err
    assert code == 1  # rows refused
    assert "row 6" in err and "dashes" in err, err  # the bad row, by its row number
    study_queries = [e for e in xnat.requests() if e["path"] == "/xapi/dqr/query/studies"]
    assert len(study_queries) == 4, "one study query per valid row; the bad row is never queried"
    planned = load_plan(plan_path)
    by_row = {row.row: row for row in planned.rows}
    assert (by_row[5].status, by_row[5].code) == ("refused", "no-study")  # 0 matches
    assert (by_row[6].status, by_row[6].code) == ("refused", "csv")
    assert [row.row for row in planned.ready_rows] == [2, 3, 4]
    dose_row = by_row[3]
    assert [s.description for s in dose_row.excluded] == ["Dose Report"]
    assert sorted(s.description for s in dose_row.series) == ["Axial 1.25mm", "Coronal MPR"]

    assert main(["import", "run", str(plan_path), "--max-in-flight", "2", *RUN_OPTIONS]) == 1  # refused rows
    assert outcomes(plan_path) == {2: "archived", 3: "archived", 4: "archived", 5: "refused", 6: "refused"}

    # Labels: the plan's pseudonyms, no hospital identifier anywhere in XNAT's labels.
    identifiers = [value for n in E2E for value in phi(n).values()]
    identifiers += [part for n in E2E for part in phi(n)["patient_name"].split("^")]
    sessions = {row.session: row for row in planned.ready_rows}
    assert archived_sessions(xnat) == Counter(list(sessions))
    subjects = {row["label"] for row in xnat.admin.rows(f"/data/projects/{PROJECT}/subjects")}
    assert subjects == {row.subject for row in planned.ready_rows}
    for label in [*sessions, *subjects]:
        assert not any(value in label for value in identifiers), label
    assert xnat.admin.rows(f"/data/prearchive/projects/{PROJECT}") == []

    # The dose report series never arrived; the others did, every instance.
    for label, row in sessions.items():
        scans = xnat.admin.rows(f"/data/projects/{PROJECT}/experiments/{label}/scans")
        assert sorted(scan["ID"] for scan in scans) == ["1", "2"], (row.row, scans)

    # Header PHI is gone from the archived files: enclave deid scan on the double's archive directory.
    archive_dir = xnat.state.archive.project_directory(PROJECT)
    files = [path for path in archive_dir.rglob("*") if path.is_file()]
    assert len(files) == 3 * 3  # 2 + 1 instances per study, no dose report
    scan_report = tmp_path / "deid-scan.json"
    scan = main(["deid", "scan", str(archive_dir), "--format", "json", "--output", str(scan_report)])
    findings = json.loads(scan_report.read_text(encoding="utf-8"))
    assert scan == 0, json.dumps({k: v for k, v in findings.items() if k != "summary"})[:3000]
    raw = b"".join(path.read_bytes() for path in files)
    for value in [*identifiers, INSTITUTION, "HOUSE", "19610302"]:
        assert value.encode() not in raw, value
    for path in files[:3]:
        dataset = pydicom.dcmread(path)
        assert (
            str(dataset.PatientName) in subjects and dataset.BodyPartExamined == PROJECT
        )  # both scripts ran

    # The reports show pseudonyms only.
    for name in ("report.json", "report.csv", "report.html"):
        text = (plan_path.parent / name).read_text(encoding="utf-8")
        leaked = [value for value in [*identifiers, "ACC99999"] if value in text]
        assert not leaked, (name, leaked)


def test_a_calling_ae_not_on_the_whitelist_is_rejected_and_nothing_is_stored(
    xnat: Any, pacs: dict[str, Any]
) -> None:
    datasets = study(90)
    for dataset in datasets:
        dataset.PatientComments = f"Project: {PROJECT} Subject: INTRUDER1 Session: INTRUDER1_CT"
    ae = AE(ae_title="ROGUEPACS")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate("127.0.0.1", pacs["receiver_port"], ae_title=RECEIVER_AE)
    assert not association.is_established and association.is_rejected
    assert association.acceptor.primitive.diagnostic == 0x03  # calling AE title not recognised
    assert archived_sessions(xnat) == Counter()
    assert xnat.state.archive.prearchive == {}
    assert not (xnat.state.archive.root / "prearchive").exists() or not any(
        path.is_file() for path in (xnat.state.archive.root / "prearchive").rglob("*")
    )


def test_kill_9_mid_run_then_resume_archives_every_row_exactly_once(xnat: Any, tmp_path: Path) -> None:
    code, plan_path = plan(xnat, tmp_path, [phi(n)["accession"] for n in KILL])
    assert code == 0
    planned = load_plan(plan_path)
    run = subprocess.Popen(
        enclave("import", "run", str(plan_path), "--max-in-flight", "3", *RUN_OPTIONS),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: journal_count(plan_path, "archived") >= 3 or run.poll() is not None, 60, "3 archived"
        )
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    archived_at_kill = journal_count(plan_path, "archived")
    assert archived_at_kill < len(KILL), "the run was killed mid-way"
    assert main(["import", "resume", str(plan_path), "--max-in-flight", "3", *RUN_OPTIONS]) == 0
    assert set(outcomes(plan_path).values()) == {"archived"}
    sessions = archived_sessions(xnat)
    assert sessions == Counter({row.session: 1 for row in planned.ready_rows}), "0 duplicates, 0 lost"
    assert xnat.admin.rows(f"/data/prearchive/projects/{PROJECT}") == []
    history = xnat.admin("GET", "/xapi/dqr/import/history", params={"all": "true", "pageSize": "1000"}).json()
    assert Counter(entry["studyInstanceUid"] for entry in history) == Counter(
        {phi(n)["study_uid"]: 1 for n in KILL}
    ), "each study retrieved from the PACS once"


def test_cancel_of_a_run_with_queued_requests(xnat: Any, tmp_path: Path) -> None:
    other_day = DAYS[(datetime.now() + timedelta(days=2)).weekday()]
    window = {"dayOfWeek": other_day, "availabilityStart": "00:00", "availabilityEnd": "00:00", "threads": 1}
    xnat.admin("POST", f"/xapi/pacs/{xnat.pacs_id}/availability", json={**window, "utilizationPercent": 100})
    code, plan_path = plan(xnat, tmp_path, [phi(n)["accession"] for n in CANCEL])
    assert code == 0
    run = subprocess.Popen(
        enclave("import", "run", str(plan_path), "--max-in-flight", "2", *RUN_OPTIONS),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: journal_count(plan_path, "submitted") >= 2, 30, "2 submitted")
        queue = xnat.admin("GET", "/xapi/dqr/import/queue", params={"all": "true"}).json()
        assert [entry["status"] for entry in queue] == ["QUEUED", "QUEUED"]  # the PACS's window is shut
        assert main(["import", "cancel", str(plan_path)]) == 0  # the run is going: it is asked to cancel
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1, (out, err)
    assert set(outcomes(plan_path).values()) == {"cancelled"}
    assert xnat.admin("GET", "/xapi/dqr/import/queue", params={"all": "true"}).json() == []
    assert xnat.admin("GET", "/xapi/dqr/import/history", params={"all": "true"}).json() == []
    assert archived_sessions(xnat) == Counter()
    status = subprocess.run(
        enclave("import", "status", str(plan_path), "--format", "json"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rows = json.loads(status.stdout)["rows"]
    assert [row["outcome"] for row in rows] == ["cancelled"] * len(CANCEL)
