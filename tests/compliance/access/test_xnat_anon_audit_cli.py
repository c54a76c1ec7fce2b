"""`enclave xnat-audit anon`: fetches the site and project scripts from XNAT and audits them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from compliance.cli import main

BROKEN_SCRIPT = 'version "6.3"\n(0010,0010) := \n'


@pytest.fixture
def audit_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def put(xnat_double, path: str, body: str = "", query: str = "") -> None:
    """PUT as admin: scripts as text/plain; the enabled flags (query parameter) declare JSON."""
    content_type = "application/json" if path.endswith("/enabled") else "text/plain"
    response = requests.put(
        f"{xnat_double.url}{path}{query}",
        data=body.encode(),
        auth=("admin", "admin"),
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_scripts_are_fetched_audited_and_reported(xnat_double, audit_env, tmp_path, capsys):
    xnat_double.seed(
        {
            "site_config": {"initialized": True},
            "projects": [{"id": "CARDIO01"}, {"id": "NEURO02"}, {"id": "NOSCRIPT"}],
        }
    )
    site = requests.get(f"{xnat_double.url}/xapi/anonymize/default", auth=("admin", "admin"), timeout=10).text
    put(xnat_double, "/xapi/anonymize/site", site)
    put(xnat_double, "/xapi/anonymize/site/enabled", query="?enable=true")
    put(xnat_double, "/xapi/anonymize/projects/CARDIO01", site)
    put(xnat_double, "/xapi/anonymize/projects/NEURO02", BROKEN_SCRIPT)
    status = main(["xnat-audit", "anon", "--xnat", xnat_double.url, "--out", str(tmp_path / "out")])
    document = json.loads(capsys.readouterr().out)
    assert status == 1
    by_name = {(entry["scope"], entry["project"]): entry for entry in document["scripts"]}
    assert set(by_name) == {("site", ""), ("project", "CARDIO01"), ("project", "NEURO02")}
    assert by_name[("site", "")]["enabled"] is True
    assert by_name[("site", "")]["conformance"] is not None
    assert by_name[("project", "CARDIO01")]["conformance"] == by_name[("site", "")]["conformance"]
    assert "does not parse" in by_name[("project", "NEURO02")]["problem"]
    assert by_name[("project", "NEURO02")]["conformant"] is False
    assert document["summary"]["scripts"] == 3
    out = tmp_path / "out"
    assert json.loads((out / "anon-audit.json").read_text()) == document
    assert (out / "scripts" / "site.html").read_text().startswith("<!DOCTYPE html>")
    assert (out / "scripts" / "project-CARDIO01.html").exists()
    assert len(list((out / "history").glob("anon-audit-*.json"))) == 1
    assert "NOT CONFORMANT" in (out / "anon-audit.txt").read_text()


def test_disabled_site_anonymisation_is_a_finding(xnat_double, audit_env, tmp_path, capsys):
    xnat_double.seed({"site_config": {"initialized": True}})
    put(xnat_double, "/xapi/anonymize/site/enabled", query="?enable=false")
    status = main(
        ["xnat-audit", "anon", "--xnat", xnat_double.url, "--out", str(tmp_path / "out"), "--format", "text"]
    )
    output = capsys.readouterr().out
    assert status == 1
    assert "site (disabled): NOT CONFORMANT" in output
    assert "site-wide anonymisation is disabled" in output


def test_unreachable_xnat_is_an_error(audit_env, tmp_path, capsys):
    status = main(["xnat-audit", "anon", "--xnat", "http://127.0.0.1:9", "--out", str(tmp_path / "out")])
    assert status == 2
    assert "cannot connect to http://127.0.0.1:9" in capsys.readouterr().err


def test_unknown_annex_e_option_is_refused_before_contacting_xnat(xnat_double, audit_env, tmp_path, capsys):
    status = main(
        [
            "xnat-audit",
            "anon",
            "--xnat",
            xnat_double.url,
            "--out",
            str(tmp_path / "out"),
            "--option",
            "retain-everything",
        ]
    )
    assert status == 2
    assert "unknown Annex E option(s): retain-everything" in capsys.readouterr().err
    assert xnat_double.requests() == []


def test_a_script_the_audit_cannot_analyse_exits_2_and_keeps_the_other_reports(
    xnat_double, audit_env, tmp_path, capsys
):
    """A script nested too deeply for the parser: the audit says so for that script and audits the rest."""
    xnat_double.seed(
        {"site_config": {"initialized": True}, "projects": [{"id": "CARDIO01"}, {"id": "NEURO02"}]}
    )
    site = requests.get(f"{xnat_double.url}/xapi/anonymize/default", auth=("admin", "admin"), timeout=10).text
    put(xnat_double, "/xapi/anonymize/site", site)
    put(xnat_double, "/xapi/anonymize/site/enabled", query="?enable=true")
    deep = 'version "6.3"\n(0010,0010) := ' + "lowercase[" * 1500 + '"x"' + "]" * 1500 + "\n"
    put(xnat_double, "/xapi/anonymize/projects/CARDIO01", deep)
    put(xnat_double, "/xapi/anonymize/projects/NEURO02", site)
    status = main(["xnat-audit", "anon", "--xnat", xnat_double.url, "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    by_project = {entry["project"]: entry for entry in document["scripts"]}
    assert "Traceback" not in captured.err
    if by_project["CARDIO01"]["error"]:  # the engine could not read it: the audit did not do its job
        assert status == 2
        assert captured.err.count("\n") == 1
        assert captured.err.startswith(
            f"enclave xnat-audit anon: error: {xnat_double.url} project CARDIO01 script: the audit could not "
            "analyse this script ("
        )
        assert document["summary"]["not_audited"] == 1
    else:  # the engine turned the nesting into a script error: a finding of the audit
        assert status == 1
        assert by_project["CARDIO01"]["problem"]
    assert by_project["NEURO02"]["conformance"] == by_project[""]["conformance"] is not None
    assert json.loads((tmp_path / "out" / "anon-audit.json").read_text()) == document
    assert (tmp_path / "out" / "scripts" / "project-NEURO02.html").exists()
