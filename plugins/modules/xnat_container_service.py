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
  - O(docker_server) sets the Docker server XNAT uses (C(/xapi/docker/server)); only a differing setting
    is written.
  - O(commands) registers command JSON (C(POST /xapi/commands)). A command is matched by C(name) and
    C(version); it is updated in place (keeping its id and wrapper ids) when the JSON differs from what
    XNAT holds. Every JSON document is parsed and checked before any request.
  - O(wrappers) enables or disables a command's wrapper site-wide and per project, by wrapper name.
    The project enablement must exist before an event subscription can use the wrapper.
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  docker_server:
    description:
      - Docker server settings with XNAT's own keys, for example C(name), C(host)
        (V(unix:///var/run/docker.sock) or V(https://docker.internal:2376)), C(cert-path), C(backend),
        C(path-translation-xnat-prefix), C(path-translation-docker-prefix), C(pull-images-on-xnat-init),
        C(container-user), C(auto-cleanup).
    type: dict
  commands:
    description:
      - Commands to register. Each item has C(json) (the command as a JSON string or a dict), an optional
        C(image) query parameter, and C(state) (V(present) or V(absent)).
    type: list
    elements: dict
  wrappers:
    description:
      - Wrapper enablement. Each item has C(command) (command name), optional C(version), C(wrapper)
        (wrapper name), optional C(enabled) (site-wide) and optional C(projects), a dict of project id to
        V(true)/V(false).
    type: list
    elements: dict
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode and diff mode. In check mode a command that is not yet registered has no id, so its
    wrappers are reported as needing enablement without reading XNAT.
  - Needs an administrator (container service 3.4-3.6) or a C(ContainerManager) account (3.7 and later).
"""

EXAMPLES = r"""
- name: Docker server, dcm2niix command, wrapper enabled for two projects
  xnat_container_service:
    docker_server:
      name: Local socket
      host: unix:///var/run/docker.sock
      backend: DOCKER
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
  description: Every change made (or that would be made in check mode).
  returned: always
  type: list
  elements: str
"""

import json

from ansible.module_utils.xnat_api import (
    XnatApiError,
    XnatInputError,
    normalise,
    quote_segment,
    require_projects,
    run_xnat_module,
)


def parse_command(item, index):
    where = "commands[%d]" % index
    if not isinstance(item, dict) or "json" not in item:
        raise XnatInputError("%s: each command needs 'json' (a JSON string or a dict)" % where)
    document = item["json"]
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise XnatInputError(
                "%s: command JSON is not valid JSON: %s. Nothing was changed." % (where, error)
            ) from None
    if not isinstance(document, dict):
        raise XnatInputError("%s: command JSON must be an object, not %s" % (where, type(document).__name__))
    for key in ("name", "image"):
        if not document.get(key):
            raise XnatInputError("%s: command JSON has no %r" % (where, key))
    wrappers = document.get("xnat") or []
    if not isinstance(wrappers, list) or not all(isinstance(w, dict) and w.get("name") for w in wrappers):
        raise XnatInputError("%s: 'xnat' must be a list of wrappers, each with a 'name'" % where)
    state = item.get("state", "present")
    if state not in ("present", "absent"):
        raise XnatInputError("%s: state must be present or absent" % where)
    return {"document": document, "image": item.get("image"), "state": state}


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


class ContainerRun:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.actions = []
        self.before = {}
        self.after = {}

    def write(self, description, method, path, **kwargs):
        self.actions.append(description)
        if self.module.check_mode:
            return None
        return self.client.request(method, path, **kwargs)

    def docker_server(self, desired):
        response = self.client.request("GET", "/xapi/docker/server", expected=(200, 404, 424))
        current = response.json() if response.status == 200 else {}
        current = current or {}
        if is_subset(desired, current):
            return
        self.before["docker_server"] = {k: current.get(k) for k in desired}
        self.after["docker_server"] = dict(desired)
        body = dict(current)
        body.pop("ping", None)
        body.update(desired)
        self.write("set docker server", "POST", "/xapi/docker/server", json_body=body, expected=(200, 201))

    def commands(self, wanted, registered):
        """Create/update/delete commands; returns {(name, version): command} after the run."""
        by_key = {command_key(c): c for c in registered}
        reports = []
        for item in wanted:
            document = item["document"]
            key = command_key(document)
            label = "%s %s" % (document["name"], document.get("version") or "")
            existing = by_key.get(key)
            if item["state"] == "absent":
                if existing:
                    self.write(
                        "delete command %s" % label,
                        "DELETE",
                        "/xapi/commands/%s" % existing["id"],
                        expected=(200, 204),
                    )
                    by_key.pop(key)
                    reports.append(
                        {"name": document["name"], "version": document.get("version"), "action": "deleted"}
                    )
                continue
            if existing is None:
                response = self.write(
                    "register command %s" % label,
                    "POST",
                    "/xapi/commands",
                    query={"image": item["image"]},
                    json_body=document,
                    expected=(200, 201),
                )
                existing = self.read_back(response, document)
                by_key[key] = existing
                action = "created"
            elif not is_subset(document, existing):
                self.before[label] = existing
                self.after[label] = document
                self.write(
                    "update command %s" % label,
                    "POST",
                    "/xapi/commands/%s" % existing["id"],
                    json_body=with_server_ids(document, existing),
                    expected=(200, 201, 204),
                )
                if not self.module.check_mode:
                    existing = self.client.get_json("/xapi/commands/%s" % existing["id"])
                    by_key[key] = existing
                action = "updated"
            else:
                action = "unchanged"
            reports.append(
                {
                    "name": document["name"],
                    "version": document.get("version"),
                    "id": existing.get("id"),
                    "action": action,
                    "wrappers": {w.get("name"): w.get("id") for w in existing.get("xnat") or []},
                }
            )
        return by_key, reports

    def read_back(self, response, document):
        if response is None:  # check mode: nothing registered
            return dict(document, id=None)
        new_id = response.text.strip().strip('"')
        return self.client.get_json("/xapi/commands/%s" % quote_segment(new_id))

    def wrappers(self, items, by_key):
        for index, item in enumerate(items):
            command = find_command(by_key, item, index)
            label = "%s/%s" % (item["command"], item["wrapper"])
            wrapper = quote_segment(item["wrapper"])
            if command.get("id") is None:  # check mode, command not registered yet
                if item.get("enabled") is not None:
                    self.actions.append("set %s site enabled=%s" % (label, item["enabled"]))
                for project, enabled in sorted((item.get("projects") or {}).items()):
                    self.actions.append("set %s enabled=%s for project %s" % (label, enabled, project))
                continue
            base = "/xapi/commands/%s/wrappers/%s" % (command["id"], wrapper)
            if item.get("enabled") is not None:
                current = self.client.get_bool(base + "/enabled")
                if current != bool(item["enabled"]):
                    self.before.setdefault("wrappers", {})[label] = current
                    self.after.setdefault("wrappers", {})[label] = bool(item["enabled"])
                    self.write(
                        "set %s site enabled=%s" % (label, item["enabled"]),
                        "PUT",
                        base + ("/enabled" if item["enabled"] else "/disabled"),
                    )
            flags = sorted(
                (str(project), bool(enabled)) for project, enabled in (item.get("projects") or {}).items()
            )
            paths = [
                "/xapi/projects/%s/commands/%s/wrappers/%s" % (quote_segment(project), command["id"], wrapper)
                for project, _enabled in flags
            ]
            currents = self.client.map_reads(lambda path, label=label: self.project_flag(path, label), paths)
            for (project, enabled), path, current in zip(flags, paths, currents):  # noqa: B905 - py3.8 targets
                self.project_wrapper(path, label, project, enabled, current)

    def project_flag(self, path, label):
        try:
            report = self.client.get_json(path + "/enabled")
        except XnatApiError as error:
            if error.status == 404:
                raise XnatInputError(
                    "unknown project in wrappers (%s): GET %s answered 404; create the "
                    "project first" % (label, error.url)
                ) from None
            raise
        return report.get("enabled-for-project") if isinstance(report, dict) else report

    def project_wrapper(self, path, label, project, enabled, current):
        if bool(current) != enabled:
            key = "%s@%s" % (label, project)
            self.before.setdefault("project_wrappers", {})[key] = bool(current)
            self.after.setdefault("project_wrappers", {})[key] = enabled
            self.write(
                "set %s enabled=%s for project %s" % (label, enabled, project),
                "PUT",
                path + ("/enabled" if enabled else "/disabled"),
            )


def find_command(by_key, item, index):
    for key in ("command", "wrapper"):
        if not item.get(key):
            raise XnatInputError("wrappers[%d]: %r is required" % (index, key))
    matches = [
        c
        for (name, version), c in by_key.items()
        if name == item["command"] and (item.get("version") is None or version == item["version"])
    ]
    if not matches:
        raise XnatInputError(
            "wrappers[%d]: no command named %r%s is registered"
            % (index, item["command"], " version %s" % item["version"] if item.get("version") else "")
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


def reconcile(module, client):
    params = module.params
    wanted = [parse_command(item, index) for index, item in enumerate(params["commands"] or [])]
    for index, item in enumerate(params["wrappers"] or []):
        if item.get("projects") is not None and not isinstance(item["projects"], dict):
            raise XnatInputError("wrappers[%d]: projects must be a dict of project id to true/false" % index)
    require_projects(
        client, [p for item in params["wrappers"] or [] for p in item.get("projects") or {}], "wrappers"
    )
    run = ContainerRun(module, client)
    if params["docker_server"]:
        run.docker_server(params["docker_server"])
    reports = []
    by_key = {}
    if wanted or params["wrappers"]:
        registered = client.get_json("/xapi/commands") or []
        by_key, reports = run.commands(wanted, registered)
    if params["wrappers"]:
        run.wrappers(params["wrappers"], by_key)
    result = {"changed": bool(run.actions), "actions": run.actions, "commands": reports}
    if module._diff:
        result["diff"] = {"before": run.before, "after": run.after}
    return result


def main():
    argument_spec = {
        "docker_server": {"type": "dict"},
        "commands": {"type": "list", "elements": "dict"},
        "wrappers": {"type": "list", "elements": "dict"},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
