"""The compliance role on an audit host: tools, protected files, timers, and one real run of each audit."""

from __future__ import annotations

import json

import pytest

REPORTS = "/var/lib/xnat-enclave/reports"
TIMERS = ["xnat-access-review.timer", "xnat-anon-audit.timer", "xnat-deid-scan.timer"]


def test_tools_installed_from_the_wheelhouse(host):
    result = host.run("/opt/xnat-enclave/venv/bin/enclave --version")
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("enclave ")


def test_audit_user_is_a_locked_system_account(host):
    user = host.user("xnat-audit")
    assert user.exists
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"


@pytest.mark.parametrize("path", ["/etc/xnat-enclave/access-list.yml", "/etc/xnat-enclave/credentials.env"])
def test_access_list_and_credentials_readable_only_by_the_audit_group(host, path):
    secret = host.file(path)
    assert secret.user == "root"
    assert secret.group == "xnat-audit"
    assert secret.mode == 0o640


def test_credentials_file_holds_the_account(host):
    content = host.file("/etc/xnat-enclave/credentials.env").content_string
    assert 'XNAT_USER="svc_audit"' in content


@pytest.mark.parametrize("timer", TIMERS)
def test_timers_active_and_enabled(host, timer):
    service = host.service(timer)
    assert service.is_enabled
    assert service.is_running  # "active (waiting)"


def test_access_review_schedule_is_weekly(host):
    content = host.file("/etc/systemd/system/xnat-access-review.timer").content_string
    assert "OnCalendar=Mon *-*-* 06:00:00" in content
    assert "Persistent=true" in content


def test_findings_do_not_fail_the_unit(host):
    content = host.file("/etc/systemd/system/xnat-access-review.service").content_string
    assert "SuccessExitStatus=1" in content
    assert "User=xnat-audit" in content


def test_starting_the_access_review_writes_a_report_against_the_double(host):
    started = host.run("systemctl start xnat-access-review.service")
    assert started.rc == 0, started.stderr
    result = host.run("systemctl show -p Result --value xnat-access-review.service")
    assert result.stdout.strip() == "success"
    report = json.loads(host.file(f"{REPORTS}/access/access-review.json").content_string)
    found = {(finding["code"], finding["project"], finding["user"]) for finding in report["findings"]}
    assert ("member-not-approved", "CARDIO01", "eve") in found
    assert ("guest-enabled", "", "guest") in found
    assert report["summary"]["xnat"] == "http://127.0.0.1:18080"
    assert report["summary"]["trust"] == "trust-molecule"
    for suffix in ("csv", "html"):
        report_file = host.file(f"{REPORTS}/access/access-review.{suffix}")
        assert report_file.exists
        assert report_file.user == "xnat-audit"
    assert host.run(f"ls {REPORTS}/access/history/ | grep -c json").stdout.strip() != "0"
    journal = host.run("journalctl --no-pager -u xnat-access-review.service")
    assert "findings" in journal.stdout


def test_starting_the_anon_audit_writes_a_report(host):
    started = host.run("systemctl start xnat-anon-audit.service")
    assert started.rc == 0, started.stderr
    report = json.loads(host.file(f"{REPORTS}/anon/anon-audit.json").content_string)
    assert report["summary"]["xnat"] == "http://127.0.0.1:18080"
    assert report["scripts"][0]["scope"] == "site"


def test_an_unreadable_xnat_marks_the_unit_failed(host):
    host.run("cp /etc/xnat-enclave/credentials.env /root/credentials.env.saved")
    host.run("sed -i 's/^XNAT_PASS=.*/XNAT_PASS=\"wrong\"/' /etc/xnat-enclave/credentials.env")
    try:
        started = host.run("systemctl start xnat-access-review.service")
        assert started.rc != 0
        state = host.run("systemctl show -p Result --value xnat-access-review.service").stdout.strip()
        assert state == "exit-code"
        journal = host.run("journalctl --no-pager -u xnat-access-review.service").stdout
        assert "login to http://127.0.0.1:18080 as 'svc_audit'" in journal
        assert "wrong" not in journal
    finally:
        host.run("cp /root/credentials.env.saved /etc/xnat-enclave/credentials.env")
        host.run("systemctl reset-failed xnat-access-review.service")


def test_a_run_that_writes_no_report_marks_the_unit_failed(host):
    """A crash or a report that could not be written is never a normal night: exit 2, unit failed."""
    report = f"{REPORTS}/anon/anon-audit.json"
    host.run(f"cp {report} /root/anon-audit.json.saved")
    host.run(f"rm -f {report} && mkdir {report}")
    try:
        started = host.run("systemctl start xnat-anon-audit.service")
        assert started.rc != 0
        result = host.run("systemctl show -p Result --value xnat-anon-audit.service").stdout.strip()
        assert result == "exit-code"
        status = host.run("systemctl show -p ExecMainStatus --value xnat-anon-audit.service").stdout.strip()
        assert status == "2", "the command's own exit code is 2 (error), not 1 (findings)"
        journal = host.run("journalctl --no-pager -u xnat-anon-audit.service").stdout
        assert "anon-audit.json" in journal, "the message names what could not be written"
    finally:
        host.run(f"rmdir {report} && cp /root/anon-audit.json.saved {report}")
        host.run("systemctl reset-failed xnat-anon-audit.service")
