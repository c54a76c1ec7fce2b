"""The xnat_config role's filters that turn inventory variables into module inputs."""

from __future__ import annotations

import importlib.util
import json
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


def test_project_keywords_from_the_settings_reach_xnat_project():
    settings = {"NEURO02": {"keywords": ["enclave-requires-pixel-cleaning"], "pixel_cleaning": True}}
    neuro = plan.xnat_config_projects(ACCESS_LIST_PROJECTS, settings)[1]
    assert neuro["keywords"] == ["enclave-requires-pixel-cleaning"]
    assert "pixel_cleaning" not in neuro


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


PIXEL_COMMAND_FILE = PLUGIN.parents[2] / "roles" / "xnat_config" / "files" / "pixel-clean-command.json"
DCM2NIIX = {"json": '{"name": "dcm2niix", "image": "xnat-enclave/dcm2niix:1.0.20220720", "xnat": []}'}


def test_pixel_cleaning_switch_enables_the_wrapper_and_one_subscription_per_project():
    settings = {"CARDIO01": {"pixel_cleaning": True}, "NEURO02": {"pixel_cleaning": False}}
    subscriptions = plan.xnat_config_pixel_clean_subscriptions(ACCESS_LIST_PROJECTS, settings)
    assert [(s["name"], s["project"], s["active"], s["wrapper"]) for s in subscriptions] == [
        ("CARDIO01 enclave-pixel-clean", "CARDIO01", True, "pixel-clean-scan"),
        ("NEURO02 enclave-pixel-clean", "NEURO02", False, "pixel-clean-scan"),
    ]
    assert all(s["payload_filter"] == plan.DICOM_RESOURCE_FILTER for s in subscriptions)
    assert plan.xnat_config_pixel_clean_wrapper_projects(ACCESS_LIST_PROJECTS, settings) == {
        "CARDIO01": True,
        "NEURO02": True,
    }
    # projects that do not set it get nothing, and the DICOM-to-NIfTI plan is unchanged by it
    assert plan.xnat_config_pixel_clean_subscriptions(ACCESS_LIST_PROJECTS, SETTINGS) == []
    assert plan.xnat_config_pixel_clean_wrapper_projects(ACCESS_LIST_PROJECTS, SETTINGS) == {}
    assert plan.xnat_config_subscriptions(ACCESS_LIST_PROJECTS, settings) == []


def test_the_pixel_clean_command_is_added_once_and_only_when_a_project_asks_for_it():
    document = PIXEL_COMMAND_FILE.read_text()
    none = plan.xnat_config_with_pixel_clean_command([DCM2NIIX], ACCESS_LIST_PROJECTS, SETTINGS, document)
    assert none == [DCM2NIIX]
    settings = {"NEURO02": {"pixel_cleaning": True}}
    added = plan.xnat_config_with_pixel_clean_command([DCM2NIIX], ACCESS_LIST_PROJECTS, settings, document)
    assert added == [DCM2NIIX, {"json": document}]
    again = plan.xnat_config_with_pixel_clean_command(added, ACCESS_LIST_PROJECTS, settings, document)
    assert again == added, "a list that already holds the command is left as it is"


def test_pixel_cleaning_must_be_a_boolean_and_is_ignored_for_absent_projects():
    with pytest.raises(AnsibleFilterError, match="pixel_cleaning must be true or false"):
        plan.xnat_config_pixel_clean_subscriptions(
            ACCESS_LIST_PROJECTS, {"CARDIO01": {"pixel_cleaning": "yes"}}
        )
    absent = {"CARDIO01": {"pixel_cleaning": True, "state": "absent"}}
    assert plan.xnat_config_pixel_clean_subscriptions(ACCESS_LIST_PROJECTS, absent) == []


def test_the_pixel_clean_command_json_is_the_dcm2niix_shape_with_cleaned_outputs():
    command = json.loads(PIXEL_COMMAND_FILE.read_text())
    assert command["image"] == "xnat-enclave/pixel-clean:0.1.0"
    assert command["command-line"].startswith("enclave anon clean-pixels /input --out /output ")
    mounts = {mount["name"]: mount for mount in command["mounts"]}
    assert mounts["dicom-in"] == {"name": "dicom-in", "writable": False, "path": "/input"}
    assert mounts["dicom-out"]["writable"] and mounts["dicom-out"]["path"] == "/output"
    [wrapper] = command["xnat"]
    assert wrapper["name"] == "pixel-clean-scan" and wrapper["contexts"] == ["xnat:imageScanData"]
    [derived] = wrapper["derived-inputs"]
    assert (
        derived["provides-files-for-command-mount"] == "dicom-in"
        and derived["matcher"] == "@.label == 'DICOM'"
    )
    handlers = {h["label"]: h for h in wrapper["output-handlers"]}
    assert set(handlers) == {"DICOM_CLEANED", "PIXEL_CLEAN_REPORT"}
    outputs = {output["name"]: output["mount"] for output in command["outputs"]}
    assert {h["accepts-command-output"] for h in handlers.values()} == set(outputs)
    assert all(h["as-a-child-of"] == "scan" for h in handlers.values())
    for name in ("[MAX_FRAMES]",):
        assert name in command["command-line"]


def test_configure_with_pixel_cleaning_registers_enables_and_subscribes_once(xnat_double, tmp_path):
    """Against the XNAT double: the command, its project enablement and the subscription; then no change."""
    import yaml  # noqa: PLC0415
    from test_configure import (  # noqa: PLC0415 - the playbook harness of the configure tests
        ACCESS_LIST,
        HOST,
        SEED_USERS,
        run_configure,
        task_results,
        trust_vars,
        write_inventory,
    )

    xnat_double.seed({"users": SEED_USERS})
    access_list = tmp_path / "access.yml"
    access_list.write_text(yaml.safe_dump(ACCESS_LIST))
    variables = trust_vars(xnat_double.url, access_list)
    variables["xnat_config_project_settings"]["CARDIO01"]["pixel_cleaning"] = True
    inventory = write_inventory(tmp_path, variables)
    first = run_configure(inventory, tmp_path)
    assert first["rc"] == 0, first["raw"][-4000:]
    state = xnat_double.state
    names = sorted(command["name"] for command in state.commands.values())
    assert names == ["dcm2niix", "enclave-pixel-clean"]
    pixel = next(c for c in state.commands.values() if c["name"] == "enclave-pixel-clean")
    wrapper_id = next(w["id"] for w in pixel["xnat"] if w["name"] == "pixel-clean-scan")
    assert state.wrapper_project_enabled.get((wrapper_id, "CARDIO01")) is True
    assert not state.wrapper_project_enabled.get((wrapper_id, "NEURO02"))
    assert {s["name"]: s["active"] for s in state.subscriptions.values()} == {
        "CARDIO01 dcm2niix": True,
        "NEURO02 dcm2niix": False,
        "CARDIO01 enclave-pixel-clean": True,
    }
    xnat_double.clear_requests()
    second = run_configure(inventory, tmp_path)
    assert second["rc"] == 0, second["raw"][-4000:]
    changed = [name for name, result in task_results(second).items() if result.get("changed")]
    assert second["stats"][HOST]["changed"] == 0, changed
    assert xnat_double.writes() == []
