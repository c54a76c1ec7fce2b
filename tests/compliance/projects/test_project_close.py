"""`enclave project close` against the XNAT double: refusal, dry run, a real close, what remains."""

from __future__ import annotations

import json

import pytest
from close_helpers import (
    ACCESSION,
    OTHER,
    PATIENT_ID,
    PATIENT_NAME,
    PROJECT,
    access_list_text,
    add_dqr_rows,
    data_writes,
    records,
    run,
    seed_project,
)

from compliance.access.accesslist import parse_access_list
from compliance.cli import main
from compliance.projects.record import verify_record

PAST = "2024-01-01"
FUTURE = "2099-12-31"


@pytest.fixture
def double(xnat_double, monkeypatch):
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    return seed_project(xnat_double)


def project_files(double, project=PROJECT):
    directory = double.state.archive.project_directory(project)
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


def members(double, project=PROJECT):
    return {role: set(users) for role, users in double.state.projects[project].members.items() if users}


# --- the access list marker ----------------------------------------------------------------------------
def test_closed_marker_is_in_the_schema_and_empties_the_approved_users():
    access = parse_access_list(access_list_text(end_date=FUTURE, closed=True))
    project = access.projects[PROJECT]
    assert project.closed and project.is_closed(project.end_date)
    assert project.approved_on(project.end_date) == {"owners": [], "members": [], "collaborators": []}
    assert not parse_access_list(access_list_text(end_date=FUTURE)).projects[PROJECT].closed


# --- refusal -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("closed", [None, False])
def test_an_open_project_is_refused_before_xnat_is_touched(double, tmp_path, capsys, closed):
    before = (len(project_files(double)), members(double))
    assert run(double, tmp_path, access_list_text(end_date=FUTURE, closed=closed)) == 2
    error = capsys.readouterr().err
    assert f"refusing to close {PROJECT}" in error and FUTURE in error and "closed: true" in error
    assert double.requests() == []  # not even a login
    assert (len(project_files(double)), members(double)) == before
    assert not (tmp_path / "reports").exists()


def test_a_project_missing_from_the_access_list_is_refused(double, tmp_path, capsys):
    assert run(double, tmp_path, access_list_text(end_date=PAST, project="OTHER99")) == 2
    assert "not in the access list" in capsys.readouterr().err
    assert double.requests() == []


def test_the_end_date_itself_is_still_open(double, tmp_path):
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--as-of", PAST) == 2
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--as-of", "2024-01-02", "--dry-run") == 0


# --- dry run -------------------------------------------------------------------------------------------
def test_dry_run_writes_nothing_and_says_what_would_go(double, tmp_path, capsys):
    add_dqr_rows(double)
    files_before = len(project_files(double))
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--dry-run") == 0
    out = capsys.readouterr().out
    assert data_writes(double) == []
    assert {entry["method"] for entry in double.requests() if entry not in double.writes()} == {"GET"}
    assert "DRY RUN" in out and "remove 3 members: alice, bob, carol" in out
    assert "delete 3 sessions, 2 subjects, 6 scans, 17 files (12014 bytes)" in out
    assert "cancel 1 queued DQR imports" in out and "1 DQR import history rows" in out
    assert "P0000_CT, P0001_CT, P0002_CT" in out
    assert len(project_files(double)) == files_before > 0
    assert members(double) == {"owner": {"alice"}, "member": {"bob"}, "collaborator": {"carol"}}
    assert not (tmp_path / "reports").exists()


# --- a real close --------------------------------------------------------------------------------------
def test_a_real_close_leaves_no_member_and_no_data_and_writes_a_verifiable_record(double, tmp_path, capsys):
    add_dqr_rows(double)
    state = double.state
    assert project_files(double)
    assert run(double, tmp_path, access_list_text(end_date=FUTURE, closed=True)) == 1  # DQR history remains
    out = capsys.readouterr().out
    # XNAT's state: no member, no subject, session, resource, file or prearchive session of the project.
    assert members(double) == {}
    assert not any(f"{PROJECT}_" in group for user in state.users.values() for group in user.project_groups)
    archive = state.archive
    assert [e for e in archive.experiments.values() if e.project == PROJECT] == []
    assert [s for s in archive.subjects.values() if s.project == PROJECT] == []
    assert archive.project(PROJECT).resources == {}
    assert project_files(double) == []
    assert [key for key in archive.prearchive if PROJECT in key] == []
    assert not list((archive.root / "prearchive").rglob("*.dcm"))
    assert not archive.deleted_directory().exists()  # backupDeletedToCache is off: files erased
    assert state.projects[PROJECT].accessibility == "private"
    # The other project is untouched.
    assert members(double, OTHER) == {"owner": {"alice"}} and project_files(double, OTHER)
    # The queued DQR import was cancelled; the history (no REST delete) is still there.
    from xnat_double.dqr_import import service_for  # noqa: PLC0415

    assert 103 not in service_for(state).queue and 101 in service_for(state).history
    # Every session and subject was deleted with removeFiles=true.
    deletes = [
        entry for entry in double.writes() if entry["method"] == "DELETE" and "users" not in entry["path"]
    ]
    deletes = [entry for entry in deletes if entry["path"] != "/data/JSESSION"]
    assert deletes and all(entry["query"].get("removeFiles") == "true" for entry in deletes)

    (record,) = records(tmp_path)
    json_path = next((tmp_path / "reports").glob("*.json"))
    assert verify_record(json_path) == (True, record["record_sha256"], record["record_sha256"])
    assert record["outcome"] == "remains"
    deleted = record["deleted"]
    assert (deleted["subjects"], deleted["sessions"], deleted["scans"]) == (2, 3, 6)
    assert (deleted["files"], deleted["bytes"]) == (17, 12014)
    assert deleted["session_labels"] == ["P0000_CT", "P0001_CT", "P0002_CT"]
    assert deleted["prearchive_sessions"] == 1 and deleted["dqr_queued_imports_cancelled"] == [103]
    assert {m["user"] for m in deleted["members_removed"]} == {"alice", "bob", "carol"}
    listings = ("sessions", "subjects", "project_resources", "members", "prearchive_sessions")
    switched_off = ("active_subscriptions", "enabled_wrappers")  # nothing runs on the project's events
    assert record["verification"] == dict.fromkeys((*listings, *switched_off), 0)
    assert record["operator"]["xnat_account"] == "admin" and record["started_at"] <= record["finished_at"]
    assert record["access_list"]["basis"] == "marked closed in the access list"
    history = next(item for item in record["remains"] if item["what"] == "dqr_import_history")
    assert history["severity"] == "finding" and history["ids"] == [101]
    assert "patientName" in history["identifier_fields"]
    # No patient identifier reaches the record, the HTML or stdout.
    html = next((tmp_path / "reports").glob("*.html")).read_text()
    for text in (json_path.read_text(), html, out):
        for secret in (PATIENT_NAME, PATIENT_ID, ACCESSION):
            assert secret not in text
    assert "Information-governance sign-off" in html and record["record_sha256"] in html
    assert "P0001_CT" in html and "dqr_import_history" in html


def test_a_clean_close_exits_0_and_a_tampered_record_is_caught(double, tmp_path, capsys):
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 0
    (record,) = records(tmp_path)
    assert record["outcome"] == "clean"
    assert [item["what"] for item in record["remains"]] == ["xnat_audit_trail"]  # a note, not a finding
    json_path = next((tmp_path / "reports").glob("*.json"))
    capsys.readouterr()
    assert main(["project", "verify-record", str(json_path)]) == 0
    tampered = json.loads(json_path.read_text())
    tampered["deleted"]["session_labels"].pop()
    json_path.write_text(json.dumps(tampered))
    assert main(["project", "verify-record", str(json_path)]) == 1
    assert "does NOT match" in capsys.readouterr().out
    # A second close finds nothing left to delete and is clean again.
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--as-of", "2030-01-01") == 0


def test_deleted_copies_in_the_cache_are_reported(double, tmp_path):
    double.state.site_config["backupDeletedToCache"] = True
    cache = double.state.archive.root / "cache"
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--cache-dir", str(cache)) == 1
    assert project_files(double) == []
    (record,) = records(tmp_path)
    copies = next(item for item in record["remains"] if item["what"] == "deleted_file_cache")
    on_disk = [path for path in (cache / "DELETED").rglob("*") if path.is_file()]
    # the 17 archive files and the prearchive session's one
    assert copies["severity"] == "finding" and copies["count"] == len(on_disk) == 18
    assert copies["bytes"] == 12014 + 1000 and "DELETED" in copies["detail"]


def test_without_cache_dir_backup_to_cache_is_still_a_finding(double, tmp_path):
    double.state.site_config["backupDeletedToCache"] = True
    double.state.site_config["maintainFileHistory"] = True
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 1
    (record,) = records(tmp_path)
    found = {item["what"]: item for item in record["remains"] if item["severity"] == "finding"}
    assert set(found) == {"deleted_file_cache", "file_history"}
    assert (
        found["deleted_file_cache"]["count"] is None
        and "--cache-dir" in found["deleted_file_cache"]["detail"]
    )


def test_rest_calls_grow_with_sessions_not_files(xnat_double, tmp_path, monkeypatch):
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    calls = {}
    for sessions, files_per_scan in ((4, 1), (4, 6), (8, 1)):
        seed_project(xnat_double, sessions=sessions, files_per_scan=files_per_scan)
        out = tmp_path / f"{sessions}-{files_per_scan}"
        out.mkdir()
        assert run(xnat_double, out, access_list_text(end_date=PAST)) == 0
        (record,) = records(out)
        calls[sessions, files_per_scan] = record["rest_calls"]["total"]
        assert record["deleted"]["sessions"] == sessions
        xnat_double.reset()
    assert calls[4, 1] == calls[4, 6]
    assert calls[8, 1] - calls[4, 1] == 4 * 4  # four calls per session: three listings and the DELETE


def test_the_owner_can_close_and_is_removed_last_but_dqr_unchecked_is_a_finding(
    double, tmp_path, monkeypatch
):
    add_dqr_rows(double)
    monkeypatch.setenv("XNAT_USER", "alice")
    monkeypatch.setenv("XNAT_PASS", "pw")
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 1
    assert members(double) == {} and project_files(double) == []
    member_deletes = [entry["path"] for entry in double.writes() if "/users/" in entry["path"]]
    assert member_deletes[-1].endswith("/alice")
    (record,) = records(tmp_path)
    assert record["operator"]["xnat_account"] == "alice" and record["deleted"]["sessions"] == 3
    (finding,) = [item for item in record["remains"] if item["severity"] == "finding"]
    assert finding["what"] == "dqr_import_history" and "not checked" in finding["detail"]
    assert PATIENT_NAME not in json.dumps(record)
