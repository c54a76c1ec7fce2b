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
  xnat_url:
    description:
      - Base URL of XNAT, for example V(https://xnat.trust-a.nhs.uk).
      - Falls back to the environment variable E(XNAT_URL).
    type: str
    required: true
  xnat_user:
    description:
      - Account the module logs in as (Basic auth on the first request, then the JSESSIONID cookie).
      - Falls back to E(XNAT_USER).
    type: str
    required: true
  xnat_password:
    description:
      - Password of O(xnat_user), or the secret of an alias token. Never printed or logged.
      - Falls back to E(XNAT_PASS).
    type: str
    required: true
  validate_certs:
    description:
      - Verify XNAT's TLS certificate. Only turn off for a throw-away test server.
      - Falls back to E(XNAT_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed XNAT's certificate (for a trust's internal CA).
      - Falls back to E(XNAT_CA_PATH).
    type: path
  timeout:
    description:
      - Seconds to wait for one HTTP response. Falls back to E(XNAT_TIMEOUT).
    type: int
    default: 30
  retry_timeout:
    description:
      - Time budget in seconds for retrying a request while XNAT refuses connections or answers
        502, 503 or 504 (XNAT takes minutes to start). Retries back off exponentially.
      - Falls back to E(XNAT_RETRY_TIMEOUT).
    type: int
    default: 300
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
