"""`enclave deid scan --xnat URL --project P`: what XNAT archived, read through REST (the XNAT double)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deid_cli import run
from pydicom import dcmread
from pydicom.data import get_testdata_file

from compliance.deid.xnat_source import ArchivedFile, ArchivedSession, parse_since, sample_files
from compliance.dicomedit import apply_script, load_script

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
CT = get_testdata_file("CT_small.dcm")
USER, PASSWORD = "svc_audit", "svc_audit-pw"


@pytest.fixture
def audit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAT_USER", USER)
    monkeypatch.setenv("XNAT_PASS", PASSWORD)
    monkeypatch.setenv("NETRC", "/dev/null")


def conformant_copy(tmp_path: Path, name: str) -> str:
    """CT_small.dcm through the conformant example script, as XNAT would have archived it."""
    ds = dcmread(CT)
    apply_script(
        load_script(EXAMPLES / "basic-profile.das"), ds, {"project": "P", "subject": "S", "session": "E"}
    )
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp_path / name)
    return str(tmp_path / name)


def seed(xnat_double, sessions: list[dict]) -> None:
    xnat_double.seed(
        {
            "site_config": {"initialized": True},
            "users": [
                {"username": USER, "password": PASSWORD, "roles": ["Administrator"]},
                {"username": "nobody", "password": "nobody-pw"},
            ],
            "projects": [{"id": "P1", "owners": [USER]}],
            "archive": sessions,
        }
    )


def session(label: str, files: dict, scan: str = "1", resource: str = "DICOM") -> dict:
    return {
        "project": "P1",
        "subject": f"SUBJ_{label}",
        "session": label,
        "modality": "CT",
        "scans": [{"id": scan, "resources": [{"label": resource, "format": "DICOM", "files": files}]}],
    }


def test_archived_files_are_scanned_and_named_by_their_xnat_url(xnat_double, audit_env, capsys, tmp_path):
    seed(
        xnat_double,
        [
            session("S_PHI", {"ct.dcm": {"path": CT}, "notes.dcm": "not DICOM"}),
            session("S_CLEAN", {"clean.dcm": {"path": conformant_copy(tmp_path, "clean.dcm")}}),
            # files outside the DICOM and NIFTI resources (snapshots, say) are not what the scan reads
            session("S_OTHER", {"ct.dcm": {"path": CT}}, resource="SNAPSHOTS"),
        ],
    )
    code, out, err = run(capsys, "--xnat", xnat_double.url, "--project", "P1", "--format", "json")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["paths"] == [f"{xnat_double.url} project P1"]
    # Listed oldest first (insert_date), then by label: the seed's order only when its sessions fall in
    # distinct instants, so the test asserts the set.
    assert sorted(s["label"] for s in report["xnat"]["sessions"]) == ["S_CLEAN", "S_OTHER", "S_PHI"]
    assert (report["xnat"]["files_listed"], report["xnat"]["files_read"]) == (3, 3)
    assert report["files"] == 2
    flagged = {finding["file"] for finding in report["findings"] if finding["kind"] == "phi"}
    [phi_file] = flagged
    assert phi_file.startswith(f"{xnat_double.url}/data/experiments/")
    assert "/scans/1/resources/" in phi_file and phi_file.endswith("/files/ct.dcm")
    names = [
        f["tag"] for f in report["findings"] if f["file"] == phi_file and f["code"] == "real-looking-name"
    ]
    assert names == ["(0010,0010)"]
    [skipped] = report["skipped"]
    assert skipped["file"].endswith("/files/notes.dcm") and skipped["kind"] == "not-dicom"
    clean = [f for f in report["findings"] if f["file"].endswith("/files/clean.dcm") and f["kind"] == "phi"]
    assert clean == []
    assert "/tmp/" not in out and "enclave-deid-xnat-" not in out  # local copies never named


def test_only_reads_and_counts_its_calls(xnat_double, audit_env, capsys):
    seed(xnat_double, [session("S1", {"a.dcm": {"path": CT}, "b.dcm": {"path": CT}})])
    xnat_double.clear_requests()
    code, out, _ = run(capsys, "--xnat", xnat_double.url, "--project", "P1", "--format", "json")
    assert code == 1
    # the only "writes" are xnatpy's login and logout
    assert {(entry["method"], entry["path"]) for entry in xnat_double.writes()} <= {
        ("PUT", "/data/services/auth"),
        ("POST", "/data/services/auth"),
        ("DELETE", "/data/JSESSION"),
    }
    # per session: the DICOM listing and the NIFTI listing (dcm2niix outputs), then one GET per file
    assert sum(1 for entry in xnat_double.requests() if entry["path"].startswith("/data/experiments/")) == 4
    calls = json.loads(out)["xnat"]["rest_calls"]
    assert calls["GET /data/projects/{project}"] == 1
    site_listing = "the site listing: the project one hides DX sessions (FLIP#612)"
    assert calls["GET /data/experiments"] == 1, site_listing
    assert calls["GET /data/experiments/{experiment}/scans/ALL/resources/DICOM/files"] == 1
    assert calls["GET /data/experiments/{experiment}/scans/{scans}/resources/{resource}/files"] == 1
    assert calls["GET /data/experiments/{experiment}/scans/{scan}/resources/{resource}/files/{file}"] == 2


def test_a_conformant_archive_scans_clean(xnat_double, audit_env, capsys, tmp_path):
    seed(xnat_double, [session("S1", {"a.dcm": {"path": conformant_copy(tmp_path, "a.dcm")}})])
    code, out, err = run(capsys, "--xnat", xnat_double.url, "--project", "P1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Residual PHI scan: {xnat_double.url} project P1"
    assert lines[1] == f"XNAT {xnat_double.url} project P1: 1 image session(s), 1 of 1 DICOM file(s) read"
    assert not lines[2].startswith("Result: RESIDUAL PHI FOUND")


def test_the_html_report_says_what_was_read_from_xnat(xnat_double, audit_env, capsys, tmp_path):
    seed(xnat_double, [session("S1", {"a.dcm": {"path": CT}})])
    output = tmp_path / "scan.html"
    code, _, _ = run(
        capsys, "--xnat", xnat_double.url, "--project", "P1", "--format", "html", "--output", str(output)
    )
    html = output.read_text()
    assert code == 1
    source = html[html.index('<p id="source">') :].split("</p>")[0]
    assert source.endswith(
        f"XNAT {xnat_double.url} project P1: 1 image session(s), 1 of 1 DICOM file(s) read"
    )
    assert "/files/a.dcm" in html


def test_one_read_of_the_archive_writes_the_html_and_the_json(xnat_double, audit_env, capsys, tmp_path):
    # What scripts/rehearsal's pixel scan of the archive does: both reports from one read of XNAT.
    seed(xnat_double, [session("S1", {"a.dcm": {"path": CT}, "b.dcm": {"path": CT}})])
    xnat_double.clear_requests()
    html_file, json_file = tmp_path / "scan.html", tmp_path / "scan.json"
    code, out, err = run(
        capsys,
        "--xnat",
        xnat_double.url,
        "--project",
        "P1",
        "--output",
        str(html_file),
        "--output",
        str(json_file),
    )
    assert (code, out, err) == (1, "", "")
    file_reads = [entry for entry in xnat_double.requests() if entry["path"].endswith(".dcm")]
    assert len(file_reads) == 2  # each file downloaded once
    report = json.loads(json_file.read_text())
    html = html_file.read_text()
    assert report["xnat"]["files_read"] == 2
    assert f'<p id="source">{report["xnat"]["description"]}</p>' in html
    assert all(f["file"] in html for f in report["findings"] if f["kind"] == "phi")


def test_since_selects_sessions_by_when_they_were_archived(xnat_double, audit_env, capsys):
    seed(xnat_double, [session("S1", {"a.dcm": {"path": CT}})])
    code, out, _ = run(capsys, "--xnat", xnat_double.url, "--project", "P1", "--since", "2099-01-01")
    assert code == 0
    assert "0 image session(s) archived since 2099-01-01T00:00+00:00, 0 of 0 DICOM file(s) read" in out
    assert "Result: CLEAN" in out
    code, out, _ = run(
        capsys, "--xnat", xnat_double.url, "--project", "P1", "--since", "1d", "--format", "json"
    )
    assert code == 1
    assert [s["label"] for s in json.loads(out)["xnat"]["sessions"]] == ["S1"]


def test_sample_reads_at_most_n_files_per_session(xnat_double, audit_env, capsys):
    files = {f"{index}.dcm": {"path": CT} for index in range(5)}
    seed(xnat_double, [session("S1", files), session("S2", {"x.dcm": {"path": CT}})])
    code, out, _ = run(
        capsys, "--xnat", xnat_double.url, "--project", "P1", "--sample", "2", "--format", "json"
    )
    report = json.loads(out)
    assert code == 1
    assert (report["xnat"]["files_listed"], report["xnat"]["files_read"], report["files"]) == (6, 3, 3)
    assert report["xnat"]["sample"] == 2


def _files(count: int) -> list[ArchivedFile]:
    owner = ArchivedSession("E1", "S1", "xnat:ctSessionData", None)
    return [ArchivedFile(owner, "1", f"{index}.dcm", f"/f/{index}") for index in range(count)]


def test_sampling_is_even_and_the_same_every_run():
    files = _files(10)
    assert [f.name for f in sample_files(files, 3)] == ["0.dcm", "3.dcm", "6.dcm"]
    assert sample_files(files, 3) == sample_files(files, 3)
    assert sample_files(files, 10) == files and sample_files(files, None) == files
    assert [f.name for f in sample_files(_files(4), 2)] == ["0.dcm", "2.dcm"]


def test_since_is_a_date_or_a_number_of_days():
    now = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
    assert parse_since("2026-11-30", now) == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_since("2d", now) == datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_since("yesterday", now)


def test_an_unknown_project_is_an_error_naming_it(xnat_double, audit_env, capsys):
    seed(xnat_double, [])
    code, out, err = run(capsys, "--xnat", xnat_double.url, "--project", "NOPE")
    assert (code, out) == (2, "")
    assert err.startswith(f"enclave deid scan: error: cannot read project NOPE from {xnat_double.url}: ")
    assert "404" in err and len(err.splitlines()) == 1


def test_an_account_without_access_is_an_error(xnat_double, capsys, monkeypatch):
    seed(xnat_double, [session("S1", {"a.dcm": {"path": CT}})])
    monkeypatch.setenv("XNAT_USER", "nobody")
    monkeypatch.setenv("XNAT_PASS", "nobody-pw")
    code, out, err = run(capsys, "--xnat", xnat_double.url, "--project", "P1")
    assert (code, out) == (2, "")
    assert "cannot read project P1" in err


def test_credentials_in_the_url_are_refused_without_being_echoed(capsys):
    code, out, err = run(capsys, "--xnat", "https://svc:s3cret@xnat.example", "--project", "P1")
    assert (code, out) == (2, "")
    assert "s3cret" not in err and "https://***@xnat.example carries credentials" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--xnat", "https://xnat.example"], "--xnat needs --project"),
        ([CT, "--since", "2d"], "--since and --sample select what to read from XNAT"),
        ([CT, "--sample", "3"], "--since and --sample select what to read from XNAT"),
        ([CT, "--xnat", "https://xnat.example", "--project", "P"], "not PATHs and --xnat"),
        (
            ["--xnat", "https://xnat.example", "--project", "P", "--since", "last week"],
            "nor a number of days",
        ),
        (
            ["--xnat", "https://xnat.example", "--project", "P", "--sample", "0"],
            "--sample must be at least 1",
        ),
    ],
)
def test_unusable_xnat_arguments_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err
