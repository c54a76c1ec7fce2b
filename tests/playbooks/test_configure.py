"""playbooks/configure.yml against the XNAT double: first run configures, second run writes nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from playbook_runner import run_playbook

REPO = Path(__file__).resolve().parents[2]
HOST = "xnat-test"

ACCESS_LIST = {
    "trust": "trust-test",
    "admins": ["svc_xnat"],
    "dormant_after_days": 90,
    "projects": {
        "CARDIO01": {
            "name": "Cardiac MRI outcomes",
            "description": "Cardiac study",
            "approval": "IRAS 100001",
            "end_date": "2099-12-31",
            "owners": [{"user": "bob", "expires": "2099-12-31"}],
            "members": [
                {"user": "carol", "expires": "2099-12-31"},
                {"user": "erin", "expires": "2000-01-01"},
            ],
            "collaborators": [],
        },
        "NEURO02": {
            "name": "Stroke CT triage",
            "approval": "IRAS 100002",
            "end_date": "2099-12-31",
            "owners": [{"user": "dave", "expires": "2099-12-31"}],
            "members": [],
            "collaborators": [],
        },
    },
}
SEED_USERS = [
    {
        "username": name,
        "password": "pw",
        "email": f"{name}@trust.nhs.uk",
        "firstName": name,
        "lastName": "Test",
    }
    for name in ("bob", "carol", "dave", "erin")
]
SITE_SCRIPT = 'version "6.3"\n(0010,0010) := subject\n-(0010,0030)\n'


def trust_vars(double_url: str, access_list: Path) -> dict[str, Any]:
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "xnat_config_url": double_url,
        "xnat_config_validate_certs": False,
        "xnat_config_retry_timeout": 5,
        "xnat_config_admin_password": "Admin-Test-Only-1",
        "xnat_config_service_password": "Svc-Test-Only-1",
        "xnat_config_site_settings": {"siteUrl": double_url, "siteId": "TRUST_TEST", "requireLogin": True},
        "xnat_config_access_list": str(access_list),
        "xnat_config_project_settings": {
            "CARDIO01": {
                "prearchive_code": 4,
                "anon_script": 'version "6.3"\n(0008,1030) := project\n',
                "anon_enabled": True,
                "dicom_to_nifti": True,
            },
            "NEURO02": {"dicom_to_nifti": False},
        },
        "xnat_config_dqr_settings": {"dqrCallingAe": "XNAT_TEST", "allowAllUsersToUseDqr": False},
        "xnat_config_pacs": [
            {
                "label": "Test PACS",
                "ae_title": "PACS_TEST",
                "host": "127.0.0.1",
                "port": 11112,
                "queryable": True,
                "storable": True,
            }
        ],
        "xnat_config_receivers": [
            {
                "ae_title": "XNAT_TEST",
                "port": 8104,
                "whitelist": ["PACS_TEST"],
                "allowed_sources": ["127.0.0.1/32"],
            }
        ],
        "xnat_config_site_anon_script": SITE_SCRIPT,
        "xnat_config_docker_server": {"name": "Local", "host": "unix:///var/run/docker.sock"},
    }


def write_inventory(tmp_path: Path, variables: dict[str, Any]) -> Path:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    hosts = {
        "all": {
            "children": {
                "xnat_servers": {"hosts": {HOST: None}},
                "trusts": {"children": {"trust_test": {"hosts": {HOST: None}}}},
            }
        }
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inventory / "group_vars" / "trust_test.yml").write_text(yaml.safe_dump(variables))
    return inventory


def run_configure(inventory: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    return run_playbook("configure.yml", inventory, tmp_path, *extra)


def task_results(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Results by task name (without the 'xnat_config : ' role prefix)."""
    return {
        task["task"]["name"].split(" : ", 1)[-1]: task["hosts"][HOST]
        for play in document["plays"]
        for task in play["tasks"]
        if HOST in task["hosts"]
    }


@pytest.fixture
def trust(xnat_double, tmp_path):
    xnat_double.seed({"users": SEED_USERS})
    access_list = tmp_path / "access.yml"
    access_list.write_text(yaml.safe_dump(ACCESS_LIST))
    return write_inventory(tmp_path, trust_vars(xnat_double.url, access_list))


def test_first_run_configures_second_run_changes_nothing(xnat_double, trust, tmp_path):
    first = run_configure(trust, tmp_path)
    assert first["rc"] == 0, first["raw"][-4000:]
    assert first["stats"][HOST]["changed"] >= 8
    state = xnat_double.state
    assert state.site_config["initialized"] is True
    assert state.users["admin"].password == "Admin-Test-Only-1"
    assert state.users["svc_xnat"].roles >= {"Administrator", "Dqr", "ContainerManager"}
    assert state.users["guest"].enabled is False
    cardio = state.projects["CARDIO01"]
    assert cardio.members["owner"] == {"bob"} and cardio.members["member"] == {"carol"}, (
        "expired erin is left out"
    )
    assert cardio.prearchive_code == 4 and cardio.anon_enabled is True
    assert state.site_config["sitewideAnonymizationScript"] == SITE_SCRIPT
    assert [r["aeTitle"] for r in state.receivers.values()] == ["XNAT_TEST"]
    assert {s["name"]: s["active"] for s in state.subscriptions.values()} == {
        "CARDIO01 dcm2niix": True,
        "NEURO02 dcm2niix": False,
    }
    assert "Svc-Test-Only-1" not in first["raw"] and "Admin-Test-Only-1" not in first["raw"]
    assert {key: value for key, value in state.site_config.items() if "JmsListener" in key} == {
        "defaultJmsListenerMinConcurrency": 2,
        "defaultJmsListenerMaxConcurrency": 8,
        "prearchiveOperationJmsListenerMinConcurrency": 2,
        "prearchiveOperationJmsListenerMaxConcurrency": 8,
    }, "FLIP's caps, not XNAT's 10-40"
    restart = "Say that XNAT must be restarted for new JMS listener caps to take effect"
    assert "restart Tomcat" in task_results(first)[restart]["msg"]

    xnat_double.clear_requests()
    second = run_configure(trust, tmp_path)
    assert second["rc"] == 0, second["raw"][-4000:]
    changed = [name for name, result in task_results(second).items() if result.get("changed")]
    assert second["stats"][HOST]["changed"] == 0, changed
    assert xnat_double.writes() == []
    assert task_results(second)[restart].get("skipped") is True, "no restart asked when nothing changed"


def test_check_mode_on_a_fresh_xnat_previews_the_bootstrap_and_sends_no_write(xnat_double, trust, tmp_path):
    """The site is not initialised and the service account does not exist before a real run, so the
    preview stops after the bootstrap and says so, without failing."""
    preview = run_configure(trust, tmp_path, "--check", "--diff")
    assert preview["rc"] == 0, preview["raw"][-4000:]
    results = task_results(preview)
    site = results["Initialise XNAT, set site preferences and replace the default admin password"]
    assert site["changed"] is True
    assert site["diff"]["after"]["initialized"] is True
    accounts = results["Create the service account, disable guest and manage the trust's accounts"]
    assert accounts["skipped"] is True, "XNAT refuses reads until the site is initialised"
    reason = results["Say why a check run on a fresh XNAT stops after the bootstrap"]["msg"]
    assert "not previewed" in reason
    assert results["Projects, accessibility, prearchive code and membership"].get("skipped") is True
    assert xnat_double.writes() == []


def test_check_mode_on_a_configured_xnat_previews_a_change_without_writing(xnat_double, trust, tmp_path):
    assert run_configure(trust, tmp_path)["rc"] == 0
    variables = yaml.safe_load((trust / "group_vars" / "trust_test.yml").read_text())
    variables["xnat_config_project_settings"]["NEURO02"]["dicom_to_nifti"] = True
    (trust / "group_vars" / "trust_test.yml").write_text(yaml.safe_dump(variables))
    xnat_double.clear_requests()
    preview = run_configure(trust, tmp_path, "--check", "--diff")
    assert preview["rc"] == 0, preview["raw"][-4000:]
    changed = [name for name, result in task_results(preview).items() if result.get("changed")]
    assert changed == ["Event service and the per-project DICOM-to-NIfTI subscriptions"]
    assert xnat_double.writes() == []


GOOD_ACCESS_TEXT = """\
trust: trust-test
admins: [svc_xnat]
dormant_after_days: 90
projects:
  CARDIO01:
    name: Cardiac MRI outcomes
    approval: IRAS 100001
    end_date: 2099-12-31
    owners: [{user: bob, expires: 2099-12-31}]
    members:
      - {user: carol, expires: 2099-12-31}
"""
BROKEN_ACCESS_LISTS = {
    "misspelt members key": (
        GOOD_ACCESS_TEXT.replace("    members:", "    memebers:"),
        ":10:5: projects.CARDIO01: unknown key 'memebers'",
    ),
    "misspelt end date key": (
        GOOD_ACCESS_TEXT.replace("end_date:", "end-date:"),
        ":8:5: projects.CARDIO01: unknown key 'end-date'",
    ),
    "duplicate project key": (
        GOOD_ACCESS_TEXT + "  CARDIO01:\n    approval: IRAS 2\n    end_date: 2099-12-31\n    owners: []\n",
        ":12:3: projects.CARDIO01: duplicate key 'CARDIO01' (first defined on line 5)",
    ),
    "project id XNAT refuses": (
        GOOD_ACCESS_TEXT.replace("  CARDIO01:", "  CARDIO 01/x:"),
        ":5:3: projects: 'CARDIO 01/x' does not match",
    ),
    "impossible date": (
        GOOD_ACCESS_TEXT.replace("{user: carol, expires: 2099-12-31}", "{user: carol, expires: 2030-13-45}"),
        ":11:32: projects.CARDIO01.members[0].expires: '2030-13-45' is not a real calendar date",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ACCESS_LISTS))
@pytest.mark.parametrize("mode", ["run", "check"])
def test_a_broken_access_list_fails_before_any_write_naming_file_line_and_column(
    xnat_double, trust, tmp_path, case, mode
):
    text, expected = BROKEN_ACCESS_LISTS[case]
    access_list = tmp_path / "access.yml"
    access_list.write_text(text)
    xnat_double.clear_requests()
    result = run_configure(trust, tmp_path, *(["--check", "--diff"] if mode == "check" else []))
    assert result["rc"] != 0
    output = " ".join(result["raw"].split())
    assert f"{access_list}{expected}" in output, output[-2000:]
    assert xnat_double.writes() == []
    assert xnat_double.requests() == [], "the plan fails before the first request to XNAT"


def test_a_short_password_fails_before_any_request_and_is_never_printed(xnat_double, trust, tmp_path):
    variables = yaml.safe_load((trust / "group_vars" / "trust_test.yml").read_text())
    variables["xnat_config_service_password"] = "Short-9"
    variables["xnat_config_users"] = [{"username": "erin", "password": "tiny-pw-1"}]
    (trust / "group_vars" / "trust_test.yml").write_text(yaml.safe_dump(variables))
    xnat_double.clear_requests()
    result = run_configure(trust, tmp_path)
    assert result["rc"] != 0
    output = " ".join(result["raw"].split())
    assert "Shorter than 12 characters (xnat_config_password_min_length):" in output
    assert "xnat_config_service_password, xnat_config_users erin" in output
    assert "Short-9" not in result["raw"] and "tiny-pw-1" not in result["raw"]
    assert xnat_double.requests() == []


def test_jms_listener_caps_out_of_range_fail_before_any_request(xnat_double, trust, tmp_path):
    variables = yaml.safe_load((trust / "group_vars" / "trust_test.yml").read_text())
    variables["xnat_config_jms_listener_concurrency"] = {"min": 8, "max": 2}
    (trust / "group_vars" / "trust_test.yml").write_text(yaml.safe_dump(variables))
    xnat_double.clear_requests()
    result = run_configure(trust, tmp_path)
    assert result["rc"] != 0
    assert "xnat_config_jms_listener_concurrency must have 1 <= min <= max" in " ".join(result["raw"].split())
    assert xnat_double.requests() == []


def test_the_default_admin_is_disabled_and_later_runs_bootstrap_as_the_service_account(
    xnat_double, trust, tmp_path
):
    variables = yaml.safe_load((trust / "group_vars" / "trust_test.yml").read_text())
    variables["xnat_config_disable_default_admin"] = True
    (trust / "group_vars" / "trust_test.yml").write_text(yaml.safe_dump(variables))
    first = run_configure(trust, tmp_path)
    assert first["rc"] == 0, first["raw"][-4000:]
    assert xnat_double.state.users["admin"].enabled is False
    assert xnat_double.state.users["admin"].password == "Admin-Test-Only-1", "replaced before it was disabled"

    xnat_double.clear_requests()
    second = run_configure(trust, tmp_path)
    assert second["rc"] == 0, second["raw"][-4000:]
    assert second["stats"][HOST]["changed"] == 0
    assert xnat_double.writes() == []
    assert {entry["user"] for entry in xnat_double.requests()} == {"svc_xnat"}, "admin is never used again"
