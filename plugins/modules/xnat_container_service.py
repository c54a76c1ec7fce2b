#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_container_service
short_description: Configure XNAT's container service - Docker server, commands, wrapper enablement
description:
  - O(docker_server) sets the Docker server XNAT uses; only a differing setting is written.
  - O(commands) registers command JSON. A command is matched by C(name) and C(version); it is updated in
    place (keeping its id and wrapper ids) when the JSON differs from what XNAT holds. Every JSON document
    is parsed and checked before any request.
  - The old output-handler key C(as-a-child-of-wrapper-input), which NRG's published dcm2niix
    C(command.json) still uses, is renamed C(as-a-child-of) before the document is sent or compared. The
    container service reads the old key only when a command is created, answers with the new one, and
    refuses an update that carries only the old key.
  - O(wrappers) enables or disables a command's wrapper site-wide and per project, by wrapper name.
    The project enablement must exist before an event subscription can use the wrapper.
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  docker_server:
    description:
      - Docker server settings with XNAT's own keys, for example C(name), C(host)
        (V(unix:///var/run/docker.sock) or V(https://docker.internal:2376)), C(cert-path), C(backend),
        C(path-translation-xnat-prefix), C(path-translation-docker-prefix), C(pull-images-on-xnat-init),
        C(container-user), C(auto-cleanup), C(swarm-constraints), C(gpu-vendor),
        C(max-concurrent-finalizing-jobs), and for Kubernetes C(archive-pvc-name), C(build-pvc-name),
        C(combined-pvc-name), C(archive-path-translation), C(build-path-translation),
        C(combined-path-translation).
      - C(backend) is V(docker), V(swarm) or V(kubernetes) (container service 3.7 reads only these
        lowercase values); V(DOCKER), V(SWARM) and V(KUBERNETES) are sent lowercased.
      - Checked before any request as the container service checks it (DockerServer.validate) - V(docker)
        and V(swarm) need a non-blank C(host) when one is given; V(kubernetes) takes either
        C(combined-pvc-name) or C(archive-pvc-name)/C(build-pvc-name), either C(combined-path-translation)
        or C(archive-path-translation)/C(build-path-translation), an integer C(container-user) and
        C(gpu-vendor) V(nvidia) or V(amd); each of C(swarm-constraints) needs an C(attribute) and non-blank
        C(values).
      - Only the Docker backend can be exercised in this repository's tests; Swarm and Kubernetes are
        checked against the container service's source only.
    type: dict
  commands:
    description: Commands to register.
    type: list
    elements: dict
    suboptions:
      json:
        description:
          - The command, as a JSON string or a dict; it needs C(name), C(image) and its wrappers in C(xnat).
        type: raw
        required: true
      image:
        description: Image the command belongs to (the C(image) query parameter of the registration).
        type: str
      state:
        description: Whether the command is registered.
        type: str
        choices: [present, absent]
        default: present
  wrappers:
    description: Wrapper enablement.
    type: list
    elements: dict
    suboptions:
      command:
        description: Command name.
        type: str
        required: true
      version:
        description: Command version, needed when several versions are registered.
        type: str
      wrapper:
        description: Wrapper name.
        type: str
        required: true
      enabled:
        description: Enabled site-wide. Left alone when not given.
        type: bool
      projects:
        description:
          - Project id to V(true)/V(false); the wrapper is enabled or disabled for each project listed.
        type: dict
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
attributes:
  check_mode:
    description: Can run in check mode and report what would change without writing to XNAT.
    support: full
    details:
      - A command that is not registered yet has no id, so its wrapper enablement is previewed with the id
        C((new)) in RV(actions), without reading XNAT.
notes:
  - Needs an administrator (container service 3.4-3.6) or a C(ContainerManager) account (3.7 and later).
"""

EXAMPLES = r"""
- name: Docker server, dcm2niix command, wrapper enabled for two projects
  xnat_enclave.xnat.xnat_container_service:
    docker_server:
      name: Local socket
      host: unix:///var/run/docker.sock
      backend: docker
      auto-cleanup: true
    commands:
      - json: "{{ lookup('ansible.builtin.file', 'files/dcm2niix-command.json') }}"
    wrappers:
      - command: dcm2niix
        wrapper: dcm2niix-scan
        enabled: true
        projects:
          CARDIO01: true
          NEURO02: false

- name: Processing on the trust's Kubernetes cluster, archive and build on one RWX volume
  xnat_enclave.xnat.xnat_container_service:
    docker_server:
      name: Trust cluster
      backend: kubernetes
      combined-pvc-name: xnat-data
      combined-path-translation: /data/xnat
      pull-images-on-xnat-init: true
      auto-cleanup: true
"""

RETURN = r"""
commands:
  description: Registered commands (name, version, id, wrapper ids by name).
  returned: always
  type: list
  elements: dict
  sample:
    - {"name": "dcm2niix", "version": "1.5", "id": 3, "wrappers": {"dcm2niix-scan": 7}, "action": "created"}
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query).
  returned: always
  type: list
  elements: str
  sample:
    - POST /xapi/commands?image=xnat%2Fdcm2niix%3Alatest
    - PUT /xapi/commands/3/wrappers/dcm2niix-scan/enabled
"""

import json

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    NOTHING_CHANGED,
    XnatInputError,
    normalise,
    require_known_projects,
    run_xnat_module,
)

COMMAND_OPTIONS = {
    "json": {"type": "raw", "required": True},
    "image": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}
WRAPPER_OPTIONS = {
    "command": {"type": "str", "required": True},
    "version": {"type": "str"},
    "wrapper": {"type": "str", "required": True},
    "enabled": {"type": "bool"},
    "projects": {"type": "dict"},
}


OLD_OUTPUT_TARGET_KEY = "as-a-child-of-wrapper-input"


def with_current_output_keys(document):
    """The command with each output handler's old target key renamed ``as-a-child-of``, as the
    container service stores it at creation (CS Command.CommandWrapperOutputCreation.create: the new
    key wins when both are given)."""
    if "xnat" not in document:
        return document
    return dict(document, xnat=[with_renamed_targets(wrapper) for wrapper in document["xnat"] or []])


def with_renamed_targets(wrapper):
    handlers = wrapper.get("output-handlers")
    if not isinstance(handlers, list):
        return wrapper
    return dict(wrapper, **{"output-handlers": [renamed_target(handler) for handler in handlers]})


def renamed_target(handler):
    if not isinstance(handler, dict) or OLD_OUTPUT_TARGET_KEY not in handler:
        return handler
    renamed = dict(handler)
    old_target = renamed.pop(OLD_OUTPUT_TARGET_KEY)
    if renamed.get("as-a-child-of") is None:
        renamed["as-a-child-of"] = old_target
    return renamed


def parse_command(item, index):
    where = "commands[%d]" % index
    document = item["json"]
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise XnatInputError(
                "%s: command JSON is not valid JSON: %s. %s" % (where, error, NOTHING_CHANGED)
            ) from None
    if not isinstance(document, dict):
        raise XnatInputError("%s: command JSON must be an object, not %s" % (where, type(document).__name__))
    for key in ("name", "image"):
        if not document.get(key):
            raise XnatInputError("%s: command JSON has no %r" % (where, key))
    wrappers = document.get("xnat") or []
    if not isinstance(wrappers, list) or not all(isinstance(w, dict) and w.get("name") for w in wrappers):
        raise XnatInputError("%s: 'xnat' must be a list of wrappers, each with a 'name'" % where)
    return {"document": with_current_output_keys(document), "image": item["image"], "state": item["state"]}


def is_subset(desired, current):
    """True when every value in desired is equal in current (dicts by key, lists element-wise)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            is_subset(value, current.get(key)) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(desired) == len(current)
            and all(is_subset(d, c) for d, c in zip(desired, current))  # noqa: B905 - lengths checked
        )
    return normalise(desired) == normalise(current)


def command_key(document):
    return (document.get("name"), document.get("version"))


def command_label(document):
    return ("%s %s" % (document["name"], document.get("version") or "")).strip()


def with_server_ids(document, existing):
    """The desired command carrying the ids XNAT gave the command and its wrappers."""
    update = dict(document)
    update["id"] = existing["id"]
    wrapper_ids = {w.get("name"): w.get("id") for w in existing.get("xnat") or []}
    update["xnat"] = [
        dict(w, id=wrapper_ids[w["name"]]) if wrapper_ids.get(w["name"]) else dict(w)
        for w in document.get("xnat") or []
    ]
    return update


BACKENDS = ("docker", "swarm", "kubernetes")
GPU_VENDORS = ("nvidia", "amd")


def blank(value):
    return value is None or not str(value).strip()


def checked_docker_server(desired):
    """The Docker server settings with C(backend) lowercased, or XnatInputError naming every problem
    (CS model/server/docker/Backend.java: lowercase @JsonValue; DockerServerBase.DockerServer.validate)."""
    server = dict(desired)
    problems = []
    if server.get("backend") is not None:
        backend = str(server["backend"]).strip().lower()
        if backend not in BACKENDS:
            problems.append("backend %r is not one of %s" % (server["backend"], ", ".join(BACKENDS)))
        server["backend"] = backend
    backend = server.get("backend") or ("swarm" if server.get("swarm-mode") in (True, "true") else "docker")
    if backend == "kubernetes":
        if server.get("container-user") not in (None, "") and not str(server["container-user"]).isdigit():
            problems.append("container-user must be an integer uid with the kubernetes backend")
        vendor = server.get("gpu-vendor")
        if vendor not in (None, "") and str(vendor).lower() not in GPU_VENDORS:
            problems.append("gpu-vendor must be nvidia or amd")
        for kind in ("pvc-name", "path-translation"):
            separate = [key for key in ("archive-" + kind, "build-" + kind) if not blank(server.get(key))]
            if not blank(server.get("combined-" + kind)) and separate:
                problems.append("combined-%s cannot be set with %s" % (kind, " or ".join(separate)))
    elif "host" in server and blank(server["host"]):
        problems.append("host cannot be empty for the %s backend" % backend)
    for index, constraint in enumerate(server.get("swarm-constraints") or []):
        values = constraint.get("values") if isinstance(constraint, dict) else None
        if not isinstance(constraint, dict) or blank(constraint.get("attribute")):
            problems.append("swarm-constraints[%d]: attribute cannot be blank" % index)
        if not isinstance(values, list) or not values or any(blank(value) for value in values):
            problems.append("swarm-constraints[%d]: values cannot be empty or blank" % index)
    if problems:
        raise XnatInputError("docker_server: %s. %s" % ("; ".join(problems), NOTHING_CHANGED))
    return server


def reconcile_docker_server(api, diff, desired):
    current = api.get_docker_server() or {}
    if isinstance(current.get("backend"), str):  # container services before 3.7 wrote DOCKER, SWARM
        current = dict(current, backend=current["backend"].lower())
    if is_subset(desired, current):
        return
    diff.record("docker_server", {k: current.get(k) for k in desired}, dict(desired))
    body = dict(current)
    body.pop("ping", None)
    body.update(desired)
    api.set_docker_server(body)


def apply_command(api, diff, item, existing):
    """Register, update or delete one command; returns (command after the run or None, report)."""
    document = item["document"]
    label = command_label(document)
    if item["state"] == "absent":
        if existing is None:
            return None, None
        diff.record(label, existing, {})
        api.delete_command(existing["id"])
        return None, {"name": document["name"], "version": document.get("version"), "action": "deleted"}
    if existing is None:
        diff.record(label, {}, document)
        new_id = api.create_command(document, item["image"])
        existing = dict(document, id=None) if new_id is None else api.get_command(new_id)
        action = "created"
    elif not is_subset(document, existing):
        diff.record(label, existing, document)
        api.update_command(existing["id"], with_server_ids(document, existing))
        if not api.check_mode:
            existing = api.get_command(existing["id"])
        action = "updated"
    else:
        action = "unchanged"
    report = {
        "name": document["name"],
        "version": document.get("version"),
        "id": existing.get("id"),
        "action": action,
        "wrappers": {w.get("name"): w.get("id") for w in existing.get("xnat") or []},
    }
    return existing, report


def find_command(by_key, item, index):
    matches = [
        c
        for (name, version), c in by_key.items()
        if name == item["command"] and (item["version"] is None or version == item["version"])
    ]
    if not matches:
        raise XnatInputError(
            "wrappers[%d]: no command named %r%s is registered"
            % (index, item["command"], " version %s" % item["version"] if item["version"] else "")
        )
    if len(matches) > 1:
        raise XnatInputError(
            "wrappers[%d]: several versions of command %r are registered; set 'version'"
            % (index, item["command"])
        )
    names = [w.get("name") for w in matches[0].get("xnat") or []]
    if item["wrapper"] not in names:
        raise XnatInputError(
            "wrappers[%d]: command %r has no wrapper %r (it has: %s)"
            % (index, item["command"], item["wrapper"], ", ".join(names) or "none")
        )
    return matches[0]


def apply_wrapper(api, diff, item, command):
    label = "%s/%s" % (item["command"], item["wrapper"])
    command_id, wrapper = command.get("id"), item["wrapper"]
    flags = sorted((str(project), bool(enabled)) for project, enabled in (item["projects"] or {}).items())
    if command_id is None:  # check mode: the command is not registered yet, so nothing can be read
        currents = [False] * len(flags)
        site_current = False
    else:
        site_current = api.get_wrapper_enabled(command_id, wrapper) if item["enabled"] is not None else None
        currents = api.map_reads(lambda flag: project_flag(api, label, flag[0], command_id, wrapper), flags)
    if item["enabled"] is not None and site_current != bool(item["enabled"]):
        diff.record_field("wrappers", label, site_current, bool(item["enabled"]))
        api.set_wrapper_enabled(command_id, wrapper, item["enabled"])
    for (project, enabled), current in zip(flags, currents):  # noqa: B905 - runs on Python 3.8 targets
        if bool(current) != enabled:
            diff.record_field("project_wrappers", "%s@%s" % (label, project), bool(current), enabled)
            api.set_project_wrapper_enabled(project, command_id, wrapper, enabled)


def project_flag(api, label, project, command_id, wrapper):
    enabled = api.get_project_wrapper_enabled(project, command_id, wrapper)
    if enabled is None:
        raise XnatInputError(
            "unknown project %s in wrappers (%s): XNAT answered 404; create the project first. %s"
            % (project, label, NOTHING_CHANGED)
        )
    return enabled


def reconcile(module, api, diff):
    params = module.params
    wanted = [parse_command(item, index) for index, item in enumerate(params["commands"] or [])]
    server = checked_docker_server(params["docker_server"]) if params["docker_server"] else None
    wrappers = params["wrappers"] or []
    require_known_projects(api, [p for item in wrappers for p in item["projects"] or {}], "wrappers")
    if server:
        reconcile_docker_server(api, diff, server)
    reports = []
    by_key = {}
    if wanted or wrappers:
        by_key = {command_key(c): c for c in api.list_commands()}
    for item in wanted:
        key = command_key(item["document"])
        command, report = apply_command(api, diff, item, by_key.get(key))
        if command is None:
            by_key.pop(key, None)
        else:
            by_key[key] = command
        if report is not None:
            reports.append(report)
    for index, item in enumerate(wrappers):
        apply_wrapper(api, diff, item, find_command(by_key, item, index))
    return {"commands": reports}


def main():
    argument_spec = {
        "docker_server": {"type": "dict"},
        "commands": {"type": "list", "elements": "dict", "options": COMMAND_OPTIONS},
        "wrappers": {"type": "list", "elements": "dict", "options": WRAPPER_OPTIONS},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
