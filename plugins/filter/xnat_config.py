"""Filters of the configure layer (role xnat_config): turn a trust's variables into module inputs.

Each per-project setting (anonymisation script, DICOM-to-NIfTI switch, pixel-cleaning switch, prearchive
code) lives next to the
project in ``xnat_config_projects`` or in ``xnat_config_project_settings`` (keyed by project id, which
overlays projects that come from the access list); these filters split them into the lists the
xnat_project, xnat_anon_script, xnat_container_service and xnat_event_subscription tasks take.

``pixel_cleaning: true`` runs the pixel-cleaning command (``files/pixel-clean-command.json``,
``enclave anon clean-pixels`` in a local image) on every scan archived with a DICOM resource: the command
is registered, its wrapper enabled for the project, and the project's scan-created subscription made
active (``false`` keeps the subscription, inactive, so that turning it off is a change XNAT sees).
"""

from __future__ import annotations

import json
from typing import Any

from ansible.errors import AnsibleFilterError

PROJECT_KEYS = (
    "id",
    "name",
    "description",
    "keywords",
    "accessibility",
    "prearchive_code",
    "secondary_id",
    "state",
    "owners",
    "members",
    "collaborators",
)
SETTING_KEYS = ("anon_script", "anon_script_src", "anon_enabled", "dicom_to_nifti", "pixel_cleaning")
RECEIVER_FIREWALL_KEYS = ("allowed_sources",)
SCAN_EVENT = "org.nrg.xnat.eventservice.events.ScanEvent"
DICOM_RESOURCE_FILTER = '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)'


def _merged_projects(projects: list[dict[str, Any]], settings: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Projects (access list first, then extra ones) with their per-project settings applied."""
    merged: dict[str, dict[str, Any]] = {}
    for index, project in enumerate(projects or []):
        if not isinstance(project, dict) or not project.get("id"):
            raise AnsibleFilterError(f"xnat_config: projects[{index}] must be a mapping with an 'id'")
        project_id = str(project["id"])
        merged.setdefault(project_id, {}).update(project)
        merged[project_id]["id"] = project_id
    for project_id, overlay in (settings or {}).items():
        if str(project_id) not in merged:
            raise AnsibleFilterError(
                f"xnat_config_project_settings: project {project_id} is neither in the access list nor in "
                "xnat_config_projects"
            )
        merged[str(project_id)].update(overlay or {})
    for project in merged.values():
        unknown = sorted(set(project) - set(PROJECT_KEYS) - set(SETTING_KEYS))
        if unknown:
            raise AnsibleFilterError(
                f"xnat_config: project {project['id']} has unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(PROJECT_KEYS + SETTING_KEYS)}"
            )
    return list(merged.values())


def xnat_config_projects(
    projects: list[dict[str, Any]], settings: dict[str, Any] | None = None
) -> list[dict]:
    """Input of xnat_project: the projects without their per-project settings."""
    return [
        {key: value for key, value in project.items() if key in PROJECT_KEYS}
        for project in _merged_projects(projects, settings)
    ]


def xnat_config_anon_scripts(
    projects: list[dict[str, Any]], settings: dict[str, Any] | None = None
) -> list[dict]:
    """Input of xnat_anon_script's ``projects``: one item per project that sets a script or the flag."""
    items = []
    for project in _merged_projects(projects, settings):
        item: dict[str, Any] = {"project": project["id"]}
        if project.get("anon_script_src"):
            item["src"] = project["anon_script_src"]
        elif project.get("anon_script") is not None:
            item["script"] = project["anon_script"]
        if project.get("anon_enabled") is not None:
            item["enabled"] = bool(project["anon_enabled"])
        if len(item) > 1 and project.get("state", "present") == "present":
            items.append(item)
    return items


def _dicom_to_nifti_projects(projects: list[dict[str, Any]], settings: dict[str, Any] | None) -> list[dict]:
    return [
        p
        for p in _merged_projects(projects, settings)
        if p.get("dicom_to_nifti") is not None and p.get("state", "present") == "present"
    ]


def xnat_config_wrapper_projects(
    projects: list[dict[str, Any]], settings: dict[str, Any] | None = None
) -> dict:
    """Projects whose DICOM-to-NIfTI switch is set get the wrapper enabled (the subscription needs it)."""
    return {project["id"]: True for project in _dicom_to_nifti_projects(projects, settings)}


def xnat_config_subscriptions(
    projects: list[dict[str, Any]],
    settings: dict[str, Any] | None = None,
    command: str = "dcm2niix",
    wrapper: str = "dcm2niix-scan",
) -> list[dict]:
    """One scan-created subscription per project; ``active`` is the project's DICOM-to-NIfTI switch."""
    switched = _dicom_to_nifti_projects(projects, settings)
    return _scan_subscriptions(switched, "dicom_to_nifti", command, wrapper)


def _scan_subscriptions(projects: list[dict], switch: str, command: str, wrapper: str) -> list[dict]:
    """A scan-created subscription running ``command``'s ``wrapper`` per project; ``active`` is its switch."""
    return [
        {
            "name": f"{project['id']} {command}",
            "project": project["id"],
            "event_type": SCAN_EVENT,
            "status": "CREATED",
            "payload_filter": DICOM_RESOURCE_FILTER,
            "command": command,
            "wrapper": wrapper,
            "active": bool(project[switch]),
        }
        for project in projects
    ]


def _switched_projects(
    projects: list[dict[str, Any]], settings: dict[str, Any] | None, key: str
) -> list[dict]:
    switched = []
    for project in _merged_projects(projects, settings):
        if project.get(key) is None or project.get("state", "present") != "present":
            continue
        if not isinstance(project[key], bool):
            raise AnsibleFilterError(
                f"xnat_config: project {project['id']} {key} must be true or false, not {project[key]!r}"
            )
        switched.append(project)
    return switched


def xnat_config_pixel_clean_wrapper_projects(
    projects: list[dict[str, Any]], settings: dict[str, Any] | None = None
) -> dict:
    """Projects whose pixel-cleaning switch is set get the wrapper enabled (the subscription needs it)."""
    return {project["id"]: True for project in _switched_projects(projects, settings, "pixel_cleaning")}


def xnat_config_pixel_clean_subscriptions(
    projects: list[dict[str, Any]],
    settings: dict[str, Any] | None = None,
    command: str = "enclave-pixel-clean",
    wrapper: str = "pixel-clean-scan",
) -> list[dict]:
    """One scan-created subscription per project that sets ``pixel_cleaning``; ``active`` is the switch."""
    return _scan_subscriptions(
        _switched_projects(projects, settings, "pixel_cleaning"), "pixel_cleaning", command, wrapper
    )


def xnat_config_with_pixel_clean_command(
    commands: list[dict[str, Any]],
    projects: list[dict[str, Any]],
    settings: dict[str, Any] | None = None,
    command_json: Any = None,
    command: str = "enclave-pixel-clean",
) -> list[dict]:
    """``commands`` plus the pixel-cleaning command when a project sets ``pixel_cleaning`` and the trust's
    list does not already hold a command of that name."""
    if not _switched_projects(projects, settings, "pixel_cleaning") or command_json in (None, ""):
        return list(commands or [])
    for item in commands or []:
        document = item.get("json") if isinstance(item, dict) else None
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError:
                continue
        if isinstance(document, dict) and document.get("name") == command:
            return list(commands)
    return [*(commands or []), {"json": command_json}]


def xnat_config_receivers(receivers: list[dict[str, Any]]) -> list[dict]:
    """Receivers for xnat_dicom_receiver: the firewall's keys (allowed_sources) are left out."""
    return [
        {key: value for key, value in receiver.items() if key not in RECEIVER_FIREWALL_KEYS}
        for receiver in receivers or []
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "xnat_config_projects": xnat_config_projects,
            "xnat_config_anon_scripts": xnat_config_anon_scripts,
            "xnat_config_wrapper_projects": xnat_config_wrapper_projects,
            "xnat_config_subscriptions": xnat_config_subscriptions,
            "xnat_config_pixel_clean_wrapper_projects": xnat_config_pixel_clean_wrapper_projects,
            "xnat_config_pixel_clean_subscriptions": xnat_config_pixel_clean_subscriptions,
            "xnat_config_with_pixel_clean_command": xnat_config_with_pixel_clean_command,
            "xnat_config_receivers": xnat_config_receivers,
        }
