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
author: xnat-enclave contributors (@xnat-enclave)
options:
  gather:
    description: What to read.
    type: list
    elements: str
    choices: [version, plugins, receivers, pacs, subscriptions, commands, docker_server, site_anonymization]
    default: [version, plugins, receivers, pacs, subscriptions, commands]
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
attributes:
  check_mode:
    description: Runs in check mode as in a normal run.
    support: full
    details:
      - This module never writes.
  diff_mode:
    description: Has nothing to show in diff mode.
    support: N/A
    details:
      - This module never writes.
"""

EXAMPLES = r"""
- name: Read XNAT facts
  xnat_enclave.xnat.xnat_info:
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

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import run_xnat_module

CHOICES = [
    "version",
    "plugins",
    "receivers",
    "pacs",
    "subscriptions",
    "commands",
    "docker_server",
    "site_anonymization",
]


def gather(api, name):
    if name == "version":
        build_info = api.get_build_info()
        return {"version": build_info.get("version"), "build_info": build_info}
    if name == "plugins":
        plugins = api.list_plugins()
        return {
            "plugins": {
                key: {"version": value.get("version"), "name": value.get("name")}
                for key, value in plugins.items()
            }
        }
    if name == "site_anonymization":
        return {"site_anonymization": {"script": api.get_anon_script(), "enabled": api.get_anon_enabled()}}
    return {name: api.list_if_installed(name)}


def reconcile(module, api, diff):
    facts = {}
    for name in module.params["gather"]:
        facts.update(gather(api, name))
    return {"xnat": facts}


def main():
    argument_spec = {
        "gather": {
            "type": "list",
            "elements": "str",
            "choices": CHOICES,
            "default": ["version", "plugins", "receivers", "pacs", "subscriptions", "commands"],
        },
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
