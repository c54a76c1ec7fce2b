"""`enclave access review` against the XNAT double: findings, reports, exit codes and REST call counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from access_review_seeds import (
    ACCESS_LIST,
    AS_OF,
    EXPECTED,
    SEED,
    scaled_access_list,
    scaled_seed,
    set_last_modified,
)

from compliance.cli import main


@pytest.fixture
def audit_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XNAT_USER", "svc_audit")
    monkeypatch.setenv("XNAT_PASS", "svc_audit-pw")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def run_review(double_url: str, access_list: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "access",
            "review",
            "--xnat",
            double_url,
            "--access-list",
            str(access_list),
            "--out",
            str(out),
            "--as-of",
            AS_OF,
            *extra,
        ]
    )


@pytest.fixture
def access_list(tmp_path: Path) -> Path:
    path = tmp_path / "trust_test.yml"
    path.write_text(ACCESS_LIST)
    return path


def test_every_finding_is_reported_with_severity_and_exit_1(
    xnat_double, audit_env, access_list, tmp_path, capsys
):
    xnat_double.seed(SEED)
    set_last_modified(xnat_double)
    status = run_review(xnat_double.url, access_list, tmp_path / "out")
    document = json.loads(capsys.readouterr().out)
    assert status == 1
    found = {(finding["code"], finding["project"], finding["user"]) for finding in document["findings"]}
    assert found == EXPECTED
    severities = {
        (finding["code"], finding["user"] or finding["project"]): finding["severity"]
        for finding in document["findings"]
    }
    assert severities[("admin-role-not-approved", "mallory")] == "critical"
    assert severities[("all-data-admin-not-approved", "trent")] == "critical"
    assert severities[("guest-enabled", "guest")] == "high"
    assert severities[("project-public", "PUB01")] == "high"
    assert severities[("dormant-account", "oscar")] == "medium"
    assert severities[("approved-user-missing", "zed")] == "low"
    order = [finding["severity"] for finding in document["findings"]]
    assert order == sorted(order, key=["critical", "high", "medium", "low"].index)
    summary = document["summary"]
    assert summary["total"] == len(EXPECTED)
    assert sum(summary["by_severity"].values()) == len(EXPECTED)
    assert summary["by_project"]["CARDIO01"] == 3
    assert summary["counts"] == {"users": 18, "projects": 6, "memberships": 11, "approved_projects": 6}
    messages = {(f["code"], f["user"]): f["message"] for f in document["findings"]}
    assert "no login for over 90 days (last login: 2026-01-05)" in messages[("dormant-account", "oscar")]
    assert (
        "never logged in since the account was created or last changed on 2026-05-04"
        in (messages[("dormant-account", "nina")])
    )
    assert severities[("default-admin-enabled", "admin")] == "critical"
    assert messages[("default-admin-enabled", "admin")].startswith(
        "the default 'admin' account is enabled and holds Administrator (site administration), "
        "ALL_DATA_ADMIN (edit and delete rights on every project); it is not in the access list's admins."
    )


def test_review_only_reads_and_counts_its_calls(xnat_double, audit_env, access_list, tmp_path, capsys):
    xnat_double.seed(SEED)
    xnat_double.clear_requests()
    run_review(xnat_double.url, access_list, tmp_path / "out")
    calls = json.loads(capsys.readouterr().out)["summary"]["rest_calls"]
    assert calls["by_route"] == {
        "GET /data/experiments": 1,
        "GET /data/projects": 1,
        "GET /data/projects/{project}/accessibility": 6,
        "GET /data/projects/{project}/users/true": 6,
        "GET /xapi/users/profiles": 1,
        "GET /xapi/users/rolemap": 1,
        "GET /xapi/users/{username}/groups": 18,
    }
    assert calls["total"] == 34
    logged = xnat_double.requests()
    # The double saw the counted calls plus xnatpy's login/logout; the only "writes" are the session ones.
    counted = ("/xapi/users", "/data/projects", "/data/experiments")
    assert sum(1 for entry in logged if entry["path"].startswith(counted)) == 34
    assert {(entry["method"], entry["path"]) for entry in xnat_double.writes()} <= {
        ("PUT", "/data/services/auth"),
        ("POST", "/data/services/auth"),
        ("DELETE", "/data/JSESSION"),
    }


def test_reports_written_as_json_csv_html_with_dated_copies(
    xnat_double, audit_env, access_list, tmp_path, capsys
):
    xnat_double.seed(SEED)
    set_last_modified(xnat_double)
    out = tmp_path / "out"
    run_review(xnat_double.url, access_list, out)
    stdout_document = json.loads(capsys.readouterr().out)
    document = json.loads((out / "access-review.json").read_text())
    assert document == stdout_document
    rows = list(csv.DictReader((out / "access-review.csv").open()))
    assert len(rows) == len(EXPECTED)
    assert set(rows[0]) == {"severity", "code", "project", "user", "message"}
    assert {(row["code"], row["project"], row["user"]) for row in rows} == EXPECTED
    html = (out / "access-review.html").read_text()
    assert html.index('id="summary"') < html.index('id="findings"') < html.index('id="signoff"')
    assert "Information-governance sign-off" in html
    assert "<svg" in html or 'class="bar' in html
    assert "http://" not in html.replace(xnat_double.url, "")  # no external assets
    assert "mallory" in html and "member-not-approved" in html
    history = sorted(path.name for path in (out / "history").iterdir())
    assert len(history) == 3
    assert {name.rsplit(".", 1)[1] for name in history} == {"json", "csv", "html"}
    assert document["changes"] == {"previous_run": None, "new": [], "resolved": []}


def test_second_run_shows_new_and_resolved_findings(xnat_double, audit_env, access_list, tmp_path, capsys):
    xnat_double.seed(SEED)
    out = tmp_path / "out"
    run_review(xnat_double.url, access_list, out)
    capsys.readouterr()
    # Fix two problems and create a new one between the runs.
    xnat_double.seed(
        {
            "users": [
                {"username": "guest", "enabled": False},
                {"username": "mallory", "roles": []},
                {
                    "username": "walter",
                    "password": "pw",
                    "roles": ["Administrator"],
                    "lastSuccessfulLogin": "2026-11-19T08:00:00Z",
                },
            ]
        }
    )
    status = run_review(xnat_double.url, access_list, out)
    document = json.loads(capsys.readouterr().out)
    assert status == 1
    changes = document["changes"]
    assert changes["previous_run"] is not None
    assert {(f["code"], f["user"]) for f in changes["new"]} == {("admin-role-not-approved", "walter")}
    assert {(f["code"], f["user"]) for f in changes["resolved"]} == {
        ("guest-enabled", "guest"),
        ("admin-role-not-approved", "mallory"),
    }
    assert document["summary"]["new"] == 1 and document["summary"]["resolved"] == 2
    assert len(list((out / "history").glob("*.json"))) == 2
    html = (out / "access-review.html").read_text()
    assert "Resolved (2)" in html and "New (1)" in html


def test_clean_site_exits_0(xnat_double, audit_env, tmp_path, capsys):
    seed = scaled_seed(users=4, projects=3)
    seed["users"].append({"username": "guest", "enabled": False})
    seed["users"].append({"username": "admin", "enabled": False})
    xnat_double.seed(seed)
    access = tmp_path / "clean.yml"
    access.write_text(scaled_access_list(seed))
    status = run_review(xnat_double.url, access, tmp_path / "out", "--format", "text")
    output = capsys.readouterr().out
    assert status == 0, output
    assert "0 findings" in output


def test_rest_calls_grow_with_users_plus_projects(xnat_double, audit_env, tmp_path, capsys):
    totals = {}
    for size in (10, 20):
        xnat_double.reset()
        seed = scaled_seed(users=size, projects=size)
        xnat_double.seed(seed)
        access = tmp_path / f"scale{size}.yml"
        access.write_text(scaled_access_list(seed))
        run_review(xnat_double.url, access, tmp_path / f"out{size}")
        totals[size] = json.loads(capsys.readouterr().out)["summary"]["rest_calls"]["total"]
    # users = size + admin + guest + svc_audit; per user one groups call, per project two calls, 4 fixed.
    assert totals[10] == 4 + (10 + 3) + 2 * 10  # 4 site-wide reads: profiles, rolemap, projects, experiments
    assert totals[20] - totals[10] == 10 + 2 * 10  # linear: +1 per user, +2 per project, not users x projects


def test_invalid_access_list_exits_2_with_file_and_line(xnat_double, audit_env, tmp_path, capsys):
    broken = tmp_path / "broken.yml"
    broken.write_text(ACCESS_LIST.replace("dormant_after_days: 90", "dormant_after_days: ninety"))
    status = run_review(xnat_double.url, broken, tmp_path / "out")
    captured = capsys.readouterr()
    assert status == 2
    assert f"{broken}:4:21: dormant_after_days: 'ninety' is not of type 'integer'" in captured.err
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_missing_credentials_exit_2_without_touching_xnat(
    xnat_double, monkeypatch, access_list, tmp_path, capsys
):
    monkeypatch.delenv("XNAT_USER", raising=False)
    monkeypatch.delenv("XNAT_PASS", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "absent-netrc"))
    status = run_review(xnat_double.url, access_list, tmp_path / "out")
    err = capsys.readouterr().err
    assert status == 2
    assert "no XNAT credentials for 127.0.0.1" in err and "never taken from the command line" in err
    assert xnat_double.requests() == []


def test_netrc_credentials_and_wrong_password(xnat_double, monkeypatch, access_list, tmp_path, capsys):
    xnat_double.seed(SEED)
    monkeypatch.delenv("XNAT_USER", raising=False)
    monkeypatch.delenv("XNAT_PASS", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login svc_audit password svc_audit-pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert run_review(xnat_double.url, access_list, tmp_path / "out") == 1
    capsys.readouterr()
    netrc.write_text("machine 127.0.0.1 login svc_audit password wrong\n")
    status = run_review(xnat_double.url, access_list, tmp_path / "out2")
    err = capsys.readouterr().err
    assert status == 2
    assert "login to" in err and "'svc_audit'" in err and str(netrc) in err
    assert "wrong" not in err  # the password is never printed


def test_unreachable_xnat_exits_2(audit_env, access_list, tmp_path, capsys):
    status = run_review("http://127.0.0.1:9", access_list, tmp_path / "out")
    assert status == 2
    assert "cannot connect to http://127.0.0.1:9" in capsys.readouterr().err


def test_non_admin_audit_account_gets_a_clear_error(xnat_double, monkeypatch, access_list, tmp_path, capsys):
    xnat_double.seed(SEED)
    monkeypatch.setenv("XNAT_USER", "bob")
    monkeypatch.setenv("XNAT_PASS", "bob-pw")
    status = run_review(xnat_double.url, access_list, tmp_path / "out")
    err = capsys.readouterr().err
    assert status == 2
    assert f"GET {xnat_double.url}/xapi/users/" in err and "failed" in err
    assert "needs XNAT's Administrator role" in err


def test_unwritable_report_directory_exits_2(xnat_double, audit_env, access_list, tmp_path, capsys):
    xnat_double.seed(SEED)
    not_a_directory = tmp_path / "occupied"
    not_a_directory.write_text("a file where the report directory should be")
    status = run_review(xnat_double.url, access_list, not_a_directory)
    assert status == 2
    assert f"cannot write reports to {not_a_directory}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["access", "review", "--access-list", "x.yml", "--out", "out"], ["xnat-audit", "anon", "--out", "out"]],
)
def test_a_url_with_credentials_is_refused_without_echoing_them(command, xnat_double, capsys):
    host = xnat_double.url.removeprefix("http://")
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--xnat", f"http://svc_audit:s3cret@{host}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "s3cret" not in err and "svc_audit" not in err
    assert f"http://***@{host} carries credentials" in err
    assert "XNAT_USER/XNAT_PASS or ~/.netrc" in err
    assert xnat_double.requests() == []
