"""The compliance role's audit units: exit 1 (findings) is a normal run; a crash, exit 2 or no report fails.

The service templates are rendered with the role's defaults, then run the way systemd runs a oneshot
service (ExecStartPre, ExecStart, ExecStartPost in order; a command fails the unit unless it exits 0,
or for ExecStart a SuccessExitStatus; ``%t`` is the runtime directory, RuntimeDirectory= is created
there) against
the XNAT double, with the real ``enclave`` entry point. A crash is injected by an ``enclave`` wrapper
that replaces one function with one that raises; a broken install by one whose import fails.
molecule/compliance runs the same units under real systemd.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pytest
import yaml
from pydicom.data import get_testdata_file

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "compliance"
SERVICES = {
    "xnat-access-review.service": "access/access-review.json",
    "xnat-anon-audit.service": "anon/anon-audit.json",
    "xnat-deid-scan.service": "deid/CARDIO01.json",
}
CT = get_testdata_file("CT_small.dcm")
ACCESS_LIST = """\
---
trust: trust-units
admins: [svc_audit]
dormant_after_days: 90
projects:
  CARDIO01:
    approval: IRAS 1
    end_date: 2030-01-01
    owners: [{user: bob, expires: 2030-01-01}]
"""
SEED = {
    "site_config": {"initialized": True},
    "users": [
        {"username": "svc_audit", "password": "svc_audit-pw", "roles": ["Administrator"]},
        {"username": "bob", "password": "bob-pw", "lastSuccessfulLogin": "2026-11-01T09:00:00Z"},
        {"username": "eve", "password": "eve-pw", "lastSuccessfulLogin": "2026-11-01T09:00:00Z"},
    ],
    "projects": [{"id": "CARDIO01", "owners": ["bob"], "members": ["eve"]}],
    "archive": [
        {
            "project": "CARDIO01",
            "subject": "S01",
            "session": "S01_CT1",
            "modality": "CT",
            "scans": [{"id": "1", "resources": [{"label": "DICOM", "files": {"1.dcm": {"path": CT}}}]}],
        }
    ],
}
# What the wrapper runs: the real entry point, after an optional injected fault.
WRAPPER = """\
#!{python}
import os, sys
sys.path.insert(0, {repo!r})
crash = os.environ.get("INJECT_CRASH")
if crash == "import":
    raise ImportError("the compliance package is broken (injected)")
import compliance.access.cli, compliance.xnat_audit, compliance.deid.xnat_source
def boom(*args, **kwargs):
    raise RuntimeError("injected crash")
if crash == "access":
    compliance.access.cli.review = boom
if crash == "anon":
    compliance.xnat_audit.fetch_scripts = boom
if crash == "deid":
    compliance.deid.xnat_source.select = boom
from compliance.cli import main
sys.exit(main())
"""


def resolve(variables: dict) -> dict:
    """The role's defaults with their Jinja references resolved, as Ansible would (lazily, nested)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    resolved = dict(variables)
    for _ in range(5):
        for name, value in resolved.items():
            if isinstance(value, str) and "{{" in value:
                resolved[name] = environment.from_string(value).render(resolved)
    return resolved


def render(template: str, overrides: dict) -> str:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    context = {
        "ansible_managed": "Ansible managed",
        "playbook_dir": str(REPO / "playbooks"),
        "ansible_facts": {"fqdn": "audit.example"},
        # set by tasks/units.yml from compliance_deid_scan_projects or the access list
        "compliance__deid_scan_projects": ["CARDIO01"],
    }
    variables = resolve({**context, **defaults, **overrides})
    environment = jinja2.Environment(  # as ansible.builtin.template renders: trim_blocks on
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    return environment.get_template(f"{template}.j2").render(variables)


def service_settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for line in unit.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def environment_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile: KEY="value" lines, comments skipped."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return values


@dataclass
class UnitRun:
    result: str  # systemd's Result: "success" or "exit-code"
    statuses: list[int]
    output: str


def run_unit(unit: str, runtime: Path, environ: dict[str, str]) -> UnitRun:
    """Run a oneshot service's commands as systemd does and say what systemctl would show."""
    settings = service_settings(unit)
    success = {
        0,
        *(int(status) for value in settings.get("SuccessExitStatus", []) for status in value.split()),
    }
    for directory in settings.get("RuntimeDirectory", []):
        (runtime / directory).mkdir(parents=True, exist_ok=True)
    env = dict(environ)
    for file in settings.get("EnvironmentFile", []):
        env.update(environment_file(Path(file)))
    for assignment in settings.get("Environment", []):
        key, _, value = assignment.partition("=")
        env[key] = value
    statuses, output = [], []
    for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
        # SuccessExitStatus= is for the main process only; ExecStartPre/Post must exit 0 (systemd.service).
        accepted = success if key == "ExecStart" else {0}
        for command in settings.get(key, []):
            argv = shlex.split(command.replace("%t", str(runtime)))
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
            statuses.append(done.returncode)
            output.append(done.stdout + done.stderr)
            if done.returncode not in accepted:
                return UnitRun("exit-code", statuses, "".join(output))
    return UnitRun("success", statuses, "".join(output))


@pytest.fixture
def audit_host(tmp_path: Path, xnat_double) -> dict:
    """Directories and files the role would create, with a wrapper ``enclave`` in place of the venv's."""
    xnat_double.seed(SEED)
    venv, config, reports = tmp_path / "venv", tmp_path / "etc", tmp_path / "reports"
    (venv / "bin").mkdir(parents=True)
    enclave = venv / "bin" / "enclave"
    enclave.write_text(WRAPPER.format(python=sys.executable, repo=str(REPO)))
    enclave.chmod(0o755)
    config.mkdir()
    (config / "access-list.yml").write_text(ACCESS_LIST)
    for directory in ("access", "anon", "deid"):
        (reports / directory).mkdir(parents=True)
    variables = {
        "compliance_venv": str(venv),
        "compliance_config_dir": str(config),
        "compliance_reports_dir": str(reports),
        "compliance_xnat_url": xnat_double.url,
        "compliance_xnat_password": "svc_audit-pw",
    }
    (config / "credentials.env").write_text(render("credentials.env", variables))
    return {"variables": variables, "runtime": tmp_path / "run", "reports": reports}


def start(audit_host: dict, service: str, crash: str = "") -> UnitRun:
    unit = render(service, audit_host["variables"])
    environ = {"PATH": os.environ["PATH"], "INJECT_CRASH": crash, "HOME": str(audit_host["runtime"])}
    return run_unit(unit, audit_host["runtime"], environ)


@pytest.mark.parametrize("service", SERVICES)
def test_only_exit_1_is_declared_a_success_and_a_fresh_report_is_required(service):
    settings = service_settings(render(service, {"compliance_xnat_url": "https://xnat.example"}))
    assert settings["SuccessExitStatus"] == ["1"]
    assert settings["Type"] == ["oneshot"]
    name = service.removesuffix(".service")
    assert settings["RuntimeDirectory"] == [name]
    assert settings["ExecStartPre"] == [f"/usr/bin/touch %t/{name}/started"]
    report = f"/var/lib/xnat-enclave/reports/{SERVICES[service]}"
    assert settings["ExecStartPost"] == [f"/usr/bin/test {report} -nt %t/{name}/started"]


def test_a_review_with_findings_is_a_normal_run(audit_host):
    run = start(audit_host, "xnat-access-review.service")
    assert run.statuses == [0, 1, 0], run.output
    assert run.result == "success"
    assert "member-not-approved" in (audit_host["reports"] / "access" / "access-review.json").read_text()


@pytest.mark.parametrize(
    ("service", "crash"),
    [
        ("xnat-access-review.service", "access"),
        ("xnat-anon-audit.service", "anon"),
        ("xnat-deid-scan.service", "deid"),
    ],
)
def test_a_crash_exits_2_with_one_line_and_fails_the_unit(audit_host, service, crash):
    run = start(audit_host, service, crash)
    assert run.statuses == [0, 2], run.output
    assert run.result == "exit-code"
    lines = [line for line in run.output.splitlines() if line]
    assert len(lines) == 1, run.output
    assert re.match(
        r"enclave (access review|xnat-audit anon|deid scan): error: internal error while reading ", lines[0]
    )
    assert "RuntimeError: injected crash" in lines[0]
    assert "Traceback" not in run.output


@pytest.mark.parametrize("service", SERVICES)
def test_a_broken_install_that_exits_1_without_a_report_fails_the_unit(audit_host, service):
    run = start(audit_host, service, "import")
    assert run.statuses[:2] == [0, 1]  # Python's own exit status for an uncaught exception at import
    assert run.statuses[2] != 0  # the report check
    assert run.result == "exit-code"


def test_a_scan_that_finds_residual_phi_in_the_archive_is_a_normal_run(audit_host):
    run = start(audit_host, "xnat-deid-scan.service")
    assert run.statuses == [0, 1, 0], run.output
    assert run.result == "success"
    report = json.loads((audit_host["reports"] / "deid" / "CARDIO01.json").read_text())
    assert report["summary"]["verdict"] == "RESIDUAL PHI FOUND"
    assert [session["label"] for session in report["xnat"]["sessions"]] == ["S01_CT1"]


def test_the_scan_runs_on_sessions_archived_since_the_last_nights_and_every_project():
    projects = ["CARDIO01", "NEURO02"]
    unit = render("xnat-deid-scan.service", {"compliance__deid_scan_projects": projects})
    settings = service_settings(unit)
    assert len(settings["ExecStart"]) == 2
    for command, project in zip(settings["ExecStart"], projects, strict=True):
        argv = shlex.split(command)
        assert argv[1:4] == ["deid", "scan", "--xnat"]
        assert argv[argv.index("--project") + 1] == project
        assert argv[argv.index("--since") + 1] == "2d"
        assert argv[argv.index("--output") + 1] == f"/var/lib/xnat-enclave/reports/deid/{project}.json"
        assert "--sample" not in argv
    assert [line.split()[1] for line in settings["ExecStartPost"]] == [
        f"/var/lib/xnat-enclave/reports/deid/{project}.json" for project in projects
    ]
    sampled = service_settings(render("xnat-deid-scan.service", {"compliance_deid_scan_sample": 20}))
    assert "--sample 20" in sampled["ExecStart"][0]
    assert "--pixels" not in shlex.split(sampled["ExecStart"][0])
    with_pixels = service_settings(render("xnat-deid-scan.service", {"compliance_deid_scan_pixels": True}))
    assert "--pixels" in shlex.split(with_pixels["ExecStart"][0])


def test_a_stale_report_from_an_earlier_run_does_not_pass_for_a_new_one(audit_host):
    assert start(audit_host, "xnat-access-review.service").result == "success"
    run = start(audit_host, "xnat-access-review.service", "import")
    assert (audit_host["reports"] / "access" / "access-review.json").exists()
    assert run.result == "exit-code"


def test_an_unreachable_xnat_fails_the_unit(audit_host):
    audit_host["variables"]["compliance_xnat_url"] = "http://127.0.0.1:9"
    run = start(audit_host, "xnat-access-review.service")
    assert run.statuses == [0, 2]
    assert run.result == "exit-code"
    assert "cannot connect to http://127.0.0.1:9" in run.output


def test_the_wrapper_really_runs_the_entry_point(audit_host):
    """Guard for the tests above: without a fault the wrapper is `enclave` itself."""
    enclave = Path(audit_host["variables"]["compliance_venv"]) / "bin" / "enclave"
    done = subprocess.run(
        [str(enclave), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("enclave ")
    assert textwrap.dedent(WRAPPER).count("main()") == 1
