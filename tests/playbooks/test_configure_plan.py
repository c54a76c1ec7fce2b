"""The xnat_config role's filters that turn inventory variables into module inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "xnat_config.py"
_spec = importlib.util.spec_from_file_location("xnat_config_plan", PLUGIN)
plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plan)

ACCESS_LIST_PROJECTS = [
    {
        "id": "CARDIO01",
        "name": "Cardio",
        "description": "",
        "accessibility": "private",
        "owners": ["bob"],
        "members": ["carol"],
        "collaborators": [],
    },
    {
        "id": "NEURO02",
        "name": "Neuro",
        "description": "",
        "accessibility": "private",
        "owners": ["dave"],
        "members": [],
        "collaborators": [],
    },
]
SETTINGS = {
    "CARDIO01": {
        "prearchive_code": 4,
        "anon_script": 'version "6.3"\n',
        "anon_enabled": True,
        "dicom_to_nifti": True,
    },
    "NEURO02": {"dicom_to_nifti": False},
}


def test_projects_keep_project_keys_and_settings_overlay():
    projects = plan.xnat_config_projects(ACCESS_LIST_PROJECTS, SETTINGS)
    assert projects[0] == {**ACCESS_LIST_PROJECTS[0], "prearchive_code": 4}
    assert "dicom_to_nifti" not in projects[1]


def test_anon_scripts_only_for_projects_that_set_them():
    assert plan.xnat_config_anon_scripts(ACCESS_LIST_PROJECTS, SETTINGS) == [
        {"project": "CARDIO01", "script": 'version "6.3"\n', "enabled": True}
    ]


def test_subscriptions_follow_the_dicom_to_nifti_switch():
    subscriptions = plan.xnat_config_subscriptions(ACCESS_LIST_PROJECTS, SETTINGS)
    assert [(s["name"], s["project"], s["active"]) for s in subscriptions] == [
        ("CARDIO01 dcm2niix", "CARDIO01", True),
        ("NEURO02 dcm2niix", "NEURO02", False),
    ]
    assert plan.xnat_config_wrapper_projects(ACCESS_LIST_PROJECTS, SETTINGS) == {
        "CARDIO01": True,
        "NEURO02": True,
    }


def test_receivers_lose_the_firewall_keys():
    receivers = [
        {"ae_title": "XNAT_A", "port": 8104, "allowed_sources": ["10.0.0.0/24"], "whitelist": ["PACS"]}
    ]
    assert plan.xnat_config_receivers(receivers) == [
        {"ae_title": "XNAT_A", "port": 8104, "whitelist": ["PACS"]}
    ]


def test_settings_for_an_unknown_project_and_unknown_keys_are_errors():
    with pytest.raises(AnsibleFilterError, match="ONCO01"):
        plan.xnat_config_projects(ACCESS_LIST_PROJECTS, {"ONCO01": {"prearchive_code": 4}})
    with pytest.raises(AnsibleFilterError, match="dicom_to_nifity"):
        plan.xnat_config_projects(ACCESS_LIST_PROJECTS, {"CARDIO01": {"dicom_to_nifity": True}})
