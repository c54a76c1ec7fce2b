#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_anon_script
short_description: Manage XNAT's site-wide and per-project DicomEdit anonymisation scripts and flags
description:
  - Reads the site or project script and its enabled flag, and writes only what differs. The flag is sent as
    the C(enable) query parameter, the only thing XNAT reads (a request body is ignored).
  - Before anything is sent, every script is parsed on the Ansible controller by the project's DicomEdit 6
    parser (C(compliance.dicomedit)). A syntax error fails the task naming the file or project, line and
    column, and nothing is pushed. The controller needs the xnat-enclave Python package; managed hosts
    need nothing extra.
  - All scripts of the task are read and validated before any write.
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  scripts:
    description: The scripts, site-wide and per project.
    type: list
    elements: dict
    required: true
    suboptions:
      scope:
        description: V(site) for the site-wide script, V(project) for one project's script.
        type: str
        choices: [site, project]
        default: project
      project:
        description: Project id; required with O(scripts[].scope=project), refused with V(site).
        type: str
      script:
        description:
          - The DicomEdit 6 script text. Mutually exclusive with O(scripts[].src).
          - Line endings and trailing blank lines are normalised before comparing.
        type: str
      src:
        description:
          - Path on the controller of a DicomEdit script file (read by the action plugin, so syntax errors
            name this file). Mutually exclusive with O(scripts[].script).
        type: path
      enabled:
        description: Whether XNAT applies the script. Left alone when not given.
        type: bool
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
attributes:
  action:
    description: An action plugin reads O(scripts[].src) and parses every script on the controller.
    support: full
notes:
  - The diff shows the script text before and after.
  - Setting a project script needs owner (Delete) access to the project; the site script needs an
    administrator.
seealso:
  - module: xnat_enclave.xnat.xnat_dicom_receiver
"""

EXAMPLES = r"""
- name: Site-wide script from the trust's inventory and per-project scripts, in one task
  xnat_enclave.xnat.xnat_anon_script:
    scripts:
      - scope: site
        src: "{{ inventory_dir }}/anon/site.das"
        enabled: true
      - project: CARDIO01
        script: |
          version "6.1"
          (0010,0010) := project
        enabled: true
      - project: NEURO02
        src: files/neuro02.das
        enabled: false
"""

RETURN = r"""
targets:
  description: Each script handled, with what changed.
  returned: always
  type: list
  elements: dict
  sample: [{"target": "project CARDIO01", "script_changed": true, "enabled_changed": false, "enabled": true}]
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query).
  returned: always
  type: list
  elements: str
  sample:
    - PUT /xapi/anonymize/projects/CARDIO01
    - PUT /xapi/anonymize/projects/CARDIO01/enabled?enable=true
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import XnatApiError
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    NOTHING_CHANGED,
    XnatInputError,
    run_xnat_module,
)

SCRIPT_OPTIONS = {
    "scope": {"type": "str", "choices": ["site", "project"], "default": "project"},
    "project": {"type": "str"},
    "script": {"type": "str"},
    "src": {"type": "path"},
    "enabled": {"type": "bool"},
}


def normalise_script(text):
    if text is None:
        return None
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).rstrip("\n") + "\n"


def desired_target(item, index):
    where = "scripts[%d]" % index
    if item["src"]:
        raise XnatInputError(
            "%s: src was not read on the controller; run xnat_anon_script as a task so its action plugin "
            "can read and parse the file" % where
        )
    if item["scope"] == "site" and item["project"]:
        raise XnatInputError("%s: give either scope: site or a project, not both" % where)
    if item["scope"] == "project" and not item["project"]:
        raise XnatInputError("%s: scope project needs 'project'" % where)
    project = item["project"] if item["scope"] == "project" else None
    label = "site" if project is None else "project %s" % project
    return {"project": project, "label": label, "script": item["script"], "enabled": item["enabled"]}


def read_current(api, target):
    try:
        script = api.get_anon_script(target["project"])
    except XnatApiError as error:
        if error.status != 404:
            raise
        raise XnatInputError(
            "unknown project %r: XNAT answered 404 for %s %s; create the project first (xnat_project). %s"
            % (target["project"], error.method, error.url, NOTHING_CHANGED)
        ) from None
    enabled = api.get_anon_enabled(target["project"]) if target["enabled"] is not None else None
    return {"script": script, "enabled": enabled}


def apply_target(api, diff, target, current):
    script_changed = target["script"] is not None and (
        normalise_script(current["script"]) != normalise_script(target["script"])
    )
    enabled_changed = target["enabled"] is not None and current["enabled"] != target["enabled"]
    if script_changed:
        api.set_anon_script(target["project"], normalise_script(target["script"]))
    if enabled_changed:
        api.set_anon_enabled(target["project"], target["enabled"])
    after = dict(current)
    if script_changed:
        after["script"] = normalise_script(target["script"])
    if enabled_changed:
        after["enabled"] = target["enabled"]
    if script_changed or enabled_changed:
        diff.record("%s anonymisation script" % target["label"], current, after)
    return {
        "target": target["label"],
        "script_changed": script_changed,
        "enabled_changed": enabled_changed,
        "enabled": after["enabled"],
    }


def reconcile(module, api, diff):
    targets = [desired_target(item, index) for index, item in enumerate(module.params["scripts"])]
    currents = api.map_reads(lambda target: read_current(api, target), targets)
    results = [
        apply_target(api, diff, target, current)
        for target, current in zip(targets, currents)  # noqa: B905 - runs on Python 3.8 targets
    ]
    return {"targets": results}


def main():
    argument_spec = {
        "scripts": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": SCRIPT_OPTIONS,
            "mutually_exclusive": [("script", "src")],
        },
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
