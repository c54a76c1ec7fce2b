"""Seed format of the double (interface 3): site_config, users, projects, plus double options.

```yaml
site_config: {initialized: true, siteUrl: "https://xnat.example"}
users:
  - {username: alice, password: pw, firstName: A, lastName: L, email: a@x.nhs.uk, enabled: true,
     verified: true, lastSuccessfulLogin: "2026-01-31T10:00:00Z", roles: [Administrator],
     groups: [ALL_DATA_ADMIN]}
projects:
  - {id: CARDIO01, name: Cardio, description: "", accessibility: private,
     owners: [bob], members: [carol], collaborators: []}
receivers: []                    # optional: replaces the DICOM receivers (default: XNAT:8104)
event_prefs: {enabled: true}     # optional: the event service starts disabled, as in XNAT
archive: []                      # optional: subjects, sessions, scans, files (xnat_double/archive_seed.py)
prearchive: []                   # optional: sessions waiting in the prearchive (same module)
double:                          # optional behaviour switches of the double
  dqr_api: settings              # "settings" | "legacy" | "both" (default): which DQR settings route exists
  docker_server: null            # no Docker server configured (default: the "Local socket" server)
  docker_ping: false             # GET /xapi/docker/server/ping fails with 424
  echo_timeout: 2                # seconds for the C-ECHO of GET /xapi/pacs/{id}/status
  xnat_version: "1.10"           # "1.8" | "1.9" (default) | "1.10": release-specific behaviour
  dicom_listen: true             # the enabled receivers listen on 127.0.0.1 (default off)
  containers: docker             # subscribed commands run on the local Docker engine (default off)
  dqr_export_faults: {drop_instances: 1}   # DQR export loses instances (xnat_double/dqr_export.py)
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .archive_seed import apply_archive_seed, apply_prearchive_seed
from .container_launch import CONTAINER_MODES
from .dqr_export import apply_seed_options as apply_dqr_export_options
from .dqr_import import apply_seed_options as apply_dqr_import_options
from .state import (
    DEFAULT_DOCKER_SERVER,
    DQR_API_CHOICES,
    PROJECT_ROLES,
    RECEIVER_DEFAULTS,
    XNAT_VERSIONS,
    DoubleState,
    Project,
    now_ms,
    to_epoch_ms,
)

SEED_KEYS = frozenset(
    {"site_config", "users", "projects", "double", "plugins", "build_info", "receivers", "event_prefs"}
    | {"archive", "prearchive"}  # subjects, sessions, scans, files: xnat_double/archive_seed.py
)
USER_FIELDS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "enabled": "enabled",
    "verified": "verified",
}
ROLE_KEYS = {"owners": "owner", "members": "member", "collaborators": "collaborator"}


class SeedError(ValueError):
    """A seed document that the double cannot apply; the message names the entry."""


def load_seed_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML seed file (JSON is YAML)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SeedError(f"{path}: a seed must be a mapping with keys {sorted(SEED_KEYS)}")
    return data


def apply_seed(state: DoubleState, seed: dict[str, Any]) -> None:
    unknown = set(seed) - SEED_KEYS
    if unknown:
        raise SeedError(f"unknown seed keys {sorted(unknown)}; expected some of {sorted(SEED_KEYS)}")
    with state.lock:
        _apply_options(state, seed.get("double") or {})
        state.site_config.update(seed.get("site_config") or {})
        users = seed.get("users") or []
        for index, entry in enumerate(users):
            _apply_user(state, entry, f"users[{index}]")
        for index, entry in enumerate(seed.get("projects") or []):
            _apply_project(state, entry, f"projects[{index}]")
        for entry in users:  # project groups (P_owner, ...) once the projects exist
            for group in entry.get("groups") or []:
                _add_group(state, entry["username"], group)
        state.event_prefs.update(seed.get("event_prefs") or {})
        if "receivers" in seed:
            _apply_receivers(state, seed["receivers"] or [])
        for plugin_id, plugin in (seed.get("plugins") or {}).items():
            if plugin is None:
                state.plugins.pop(plugin_id, None)
            else:
                state.plugins[plugin_id] = {"id": plugin_id, **plugin}
        state.options.build_info.update(seed.get("build_info") or {})
        apply_archive_seed(state, seed.get("archive") or [])
        apply_prearchive_seed(state, seed.get("prearchive") or [])


def _apply_receivers(state: DoubleState, receivers: list[dict[str, Any]]) -> None:
    """Replace the DICOM receivers (XNAT's default XNAT:8104 included) with these, unvalidated."""
    state.receivers.clear()
    for entry in receivers:
        receiver_id = state.next_id()
        created = now_ms()
        receiver = {
            **RECEIVER_DEFAULTS,
            **entry,
            "id": receiver_id,
            "created": created,
            "timestamp": created,
            "disabled": 0,
        }
        receiver["label"] = f"{receiver.get('aeTitle')}:{receiver.get('port')}"
        state.receivers[receiver_id] = receiver


def _apply_options(state: DoubleState, options: dict[str, Any]) -> None:
    if "xnat_version" in options:
        version = str(options["xnat_version"])
        if version not in XNAT_VERSIONS:
            raise SeedError(f"double.xnat_version: {version!r} is not one of {list(XNAT_VERSIONS)}")
        state.options.xnat_version = version
        state.options.build_info["version"] = XNAT_VERSIONS[version]
    dqr_api = options.get("dqr_api")
    if dqr_api is not None:
        if dqr_api not in DQR_API_CHOICES:
            raise SeedError(f"double.dqr_api: {dqr_api!r} is not one of {list(DQR_API_CHOICES)}")
        state.options.dqr_api = dqr_api
    if "docker_server" in options:
        server = options["docker_server"]
        state.docker_server = None if server is None else {**DEFAULT_DOCKER_SERVER, **server}
    if "docker_ping" in options:
        state.options.docker_ping = bool(options["docker_ping"])
    if "echo_timeout" in options:
        state.options.echo_timeout = float(options["echo_timeout"])
    if "dicom_listen" in options:
        state.options.dicom_listen = bool(options["dicom_listen"])
    if "containers" in options:  # launched commands run on the local Docker engine (container_launch.py)
        mode = str(options["containers"] or "off")
        if mode not in CONTAINER_MODES:
            raise SeedError(f"double.containers: {mode!r} is not one of {list(CONTAINER_MODES)}")
        state.options.containers = mode
    # DQR import scheduler speed and fault switches (dqr_tick, dqr_receive_wait, dqr_faults).
    apply_dqr_import_options(state, options)
    # DQR export fault switches (dqr_export_faults: drop_instances, abort_after).
    apply_dqr_export_options(state, options)


def _apply_user(state: DoubleState, entry: dict[str, Any], where: str) -> None:
    username = entry.get("username")
    if not username:
        raise SeedError(f"{where}: 'username' is required")
    user = state.users.get(username) or state.add_user(username, str(entry.get("password", "")))
    if "password" in entry:
        user.password = str(entry["password"])
    for key, attribute in USER_FIELDS.items():
        if key in entry:
            setattr(user, attribute, entry[key])
    if "lastSuccessfulLogin" in entry:
        try:
            user.last_successful_login = to_epoch_ms(entry["lastSuccessfulLogin"])
        except ValueError as error:
            raise SeedError(f"{where}.lastSuccessfulLogin: {error}") from error
    if "roles" in entry:
        user.roles = set(entry["roles"] or [])
    if "groups" in entry:
        user.groups = {group for group in entry["groups"] or [] if not _is_project_group(group)}


def _is_project_group(group: str) -> bool:
    return group.rpartition("_")[2] in PROJECT_ROLES


def _add_group(state: DoubleState, username: str, group: str) -> None:
    """Project groups (``P_owner``) become memberships of existing projects; others are plain groups."""
    if not _is_project_group(group):
        return
    project_id, _, role = group.rpartition("_")
    project = state.projects.get(project_id)
    if project is None:
        raise SeedError(f"users[{username}].groups: {group} names unknown project {project_id!r}")
    state.set_member(project, role, username)


def _apply_project(state: DoubleState, entry: dict[str, Any], where: str) -> None:
    project_id = entry.get("id") or entry.get("ID")
    if not project_id:
        raise SeedError(f"{where}: 'id' is required")
    project = state.projects.get(project_id)
    if project is None:
        project = Project(id=project_id, name=entry.get("name") or project_id)
        state.projects[project_id] = project
    for key in ("name", "description", "accessibility", "keywords", "pi_firstname", "pi_lastname"):
        if key in entry:
            setattr(project, key, entry[key] or "")
    if "secondary_id" in entry or "secondary_ID" in entry:
        project.secondary_id = entry.get("secondary_id", entry.get("secondary_ID")) or ""
    if "prearchive_code" in entry:
        project.prearchive_code = int(entry["prearchive_code"])
    for key, role in ROLE_KEYS.items():
        for username in entry.get(key) or []:
            if username not in state.users:
                raise SeedError(
                    f"{where}.{key}: unknown user {username!r} (seed users before their projects)"
                )
            state.set_member(project, role, username)
