#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_info
short_description: Read-only facts about an XNAT - version, plugins, receivers, PACS, subscriptions, commands
description:
  - Gathers facts for asserts and audits. Never writes.
  - A plugin area that is not installed (404) is returned as V(null) rather than failing.
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  gather:
    description: What to read.
    type: list
    elements: str
    choices: [version, plugins, receivers, pacs, subscriptions, commands, docker_server, site_anonymization]
    default: [version, plugins, receivers, pacs, subscriptions, commands]
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Read XNAT facts
  xnat_info:
    gather: [version, plugins, receivers]
  register: xnat

- name: The DICOM receiver whitelist is on
  ansible.builtin.assert:
    that: xnat.xnat.receivers | selectattr('whitelistEnabled') | list | length == xnat.xnat.receivers | length
"""

RETURN = r"""
xnat:
  description: The facts gathered, one key per O(gather) entry.
  returned: always
  type: dict
  contains:
    version:
      description: XNAT's version from C(/xapi/siteConfig/buildInfo).
      type: str
      sample: 1.9.2
    build_info:
      description: The whole build information.
      type: dict
    plugins:
      description: Installed plugins by id, with C(version) and C(name).
      type: dict
    receivers:
      description: DICOM SCP receivers.
      type: list
    pacs:
      description: DQR PACS entries (null when the plugin is not installed).
      type: list
    subscriptions:
      description: Event service subscriptions.
      type: list
    commands:
      description: Container service commands (null when the plugin is not installed).
      type: list
"""

from ansible.module_utils.xnat_api import run_xnat_module

SOURCES = {
    "receivers": ("/xapi/dicomscp", None),
    "pacs": ("/xapi/pacs", {"storable": False, "queryable": False}),
    "subscriptions": ("/xapi/events/subscriptions", None),
    "commands": ("/xapi/commands", None),
    "docker_server": ("/xapi/docker/server", None),
}


def gather(client, name):
    if name == "version":
        build_info = client.get_json("/xapi/siteConfig/buildInfo") or {}
        return {"version": build_info.get("version"), "build_info": build_info}
    if name == "plugins":
        plugins = client.get_json("/xapi/plugins") or {}
        return {
            "plugins": {
                key: {"version": value.get("version"), "name": value.get("name")}
                for key, value in plugins.items()
            }
        }
    if name == "site_anonymization":
        return {
            "site_anonymization": {
                "script": client.get_text("/xapi/anonymize/site"),
                "enabled": client.get_bool("/xapi/anonymize/site/enabled"),
            }
        }
    path, query = SOURCES[name]
    response = client.request("GET", path, query=query, expected=(200, 404, 424))
    if response.status != 200:
        return {name: None}
    # An empty list is sometimes sent as an empty body; it is still "installed, and nothing there".
    body = response.json()
    return {name: body if body is not None else ({} if name == "docker_server" else [])}


def reconcile(module, client):
    facts = {}
    for name in module.params["gather"]:
        facts.update(gather(client, name))
    return {"changed": False, "xnat": facts}


def main():
    choices = [
        "version",
        "plugins",
        "receivers",
        "pacs",
        "subscriptions",
        "commands",
        "docker_server",
        "site_anonymization",
    ]
    argument_spec = {
        "gather": {
            "type": "list",
            "elements": "str",
            "choices": choices,
            "default": ["version", "plugins", "receivers", "pacs", "subscriptions", "commands"],
        },
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
