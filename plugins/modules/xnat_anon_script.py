#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_anon_script
short_description: Manage XNAT's site-wide or per-project DicomEdit anonymisation script and its enabled flag
description:
  - Reads the site (C(/xapi/anonymize/site)) or project (C(/xapi/anonymize/projects/{id})) script and its
    enabled flag, and writes only what differs. The flag is sent as the C(enable) query parameter, the
    only thing XNAT reads (a request body is ignored).
  - Before anything is sent, every script is parsed on the Ansible controller by the project's DicomEdit 6
    parser (C(compliance.dicomedit)). A syntax error fails the task naming the file or project, line and
    column, and nothing is pushed. The controller needs the xnat-enclave Python package; managed hosts
    need nothing extra.
  - Many project scripts can be reconciled in one task with O(projects); all are read and validated before
    any write.
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  scope:
    description:
      - V(site) for the site-wide script, V(project) for one project's script (needs O(project)).
      - Ignored when O(projects) is given.
    type: str
    choices: [site, project]
    default: site
  project:
    description: Project ID when O(scope=project).
    type: str
  script:
    description:
      - The DicomEdit 6 script text. Mutually exclusive with O(src).
      - Line endings and trailing blank lines are normalised before comparing.
    type: str
  src:
    description:
      - Path on the controller of a DicomEdit script file (read by the action plugin, so syntax errors
        name this file). Mutually exclusive with O(script).
    type: path
  enabled:
    description: Whether XNAT applies the script. Left alone when not given.
    type: bool
  projects:
    description:
      - Several project scripts in one task. Each item takes C(project), C(script) or C(src), and C(enabled).
      - An item with C(scope=site) instead of C(project) manages the site-wide script in the same task.
    type: list
    elements: dict
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode and diff mode (the diff shows the script text before and after).
  - Setting a project script needs owner (Delete) access to the project; the site script needs an
    administrator.
seealso:
  - module: xnat_dicom_receiver
"""

EXAMPLES = r"""
- name: Site-wide anonymisation script from the trust's inventory
  xnat_anon_script:
    scope: site
    src: "{{ inventory_dir }}/files/trust_a/site-anon.das"
    enabled: true

- name: Per-project scripts, one task for all projects
  xnat_anon_script:
    projects:
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
"""

from ansible.module_utils.xnat_api import XnatInputError, quote_segment, run_xnat_module

SITE_PATH = "/xapi/anonymize/site"


def normalise_script(text):
    if text is None:
        return None
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).rstrip("\n") + "\n"


def desired_targets(params):
    if params.get("src"):
        raise XnatInputError(
            "src was not read on the controller; run xnat_anon_script as a task so its "
            "action plugin can read and parse the file"
        )
    if params["projects"] is not None:
        targets = []
        for index, item in enumerate(params["projects"]):
            site = item.get("scope") == "site"
            if site == bool(item.get("project")):
                raise XnatInputError("projects[%d]: give either 'project' or scope: site" % index)
            if item.get("src"):
                raise XnatInputError("projects[%d]: src was not read on the controller" % index)
            targets.append(
                {
                    "project": None if site else str(item["project"]),
                    "script": item.get("script"),
                    "enabled": item.get("enabled"),
                }
            )
        return targets
    if params["scope"] == "project" and not params["project"]:
        raise XnatInputError("scope=project needs the 'project' option")
    project = params["project"] if params["scope"] == "project" else None
    return [{"project": project, "script": params["script"], "enabled": params["enabled"]}]


def paths_of(target):
    if target["project"] is None:
        return SITE_PATH, "site"
    return "/xapi/anonymize/projects/%s" % quote_segment(target["project"]), "project %s" % target["project"]


def read_current(client, target):
    path, label = paths_of(target)
    response = client.request("GET", path, expected=(200, 204, 404))
    if response.status == 404:
        raise XnatInputError(
            "unknown project %r: XNAT answered 404 for GET %s; create the project first "
            "(xnat_project). Nothing was changed." % (target["project"], path)
        )
    script = None if response.status == 204 else response.text
    enabled = None
    if target["enabled"] is not None:
        enabled = client.get_bool(path + "/enabled")
    return {"path": path, "label": label, "script": script, "enabled": enabled}


def plan(target, current):
    script_changed = target["script"] is not None and (
        normalise_script(current["script"]) != normalise_script(target["script"])
    )
    enabled_changed = target["enabled"] is not None and current["enabled"] != target["enabled"]
    return script_changed, enabled_changed


def render(script, enabled):
    flag = "unchanged" if enabled is None else str(enabled).lower()
    return "# enabled: %s\n%s" % (flag, normalise_script(script) or "# (no script)\n")


def reconcile(module, client):
    targets = desired_targets(module.params)
    currents = client.map_reads(lambda target: read_current(client, target), targets)
    results, diffs, changed = [], [], False
    for target, current in zip(targets, currents):  # noqa: B905 - runs on Python 3.8 targets
        script_changed, enabled_changed = plan(target, current)
        if (script_changed or enabled_changed) and not module.check_mode:
            if script_changed:
                client.request("PUT", current["path"], text_body=normalise_script(target["script"]))
            if enabled_changed:
                client.request(
                    "PUT", current["path"] + "/enabled", query={"enable": target["enabled"]}, json_body={}
                )
        changed = changed or script_changed or enabled_changed
        results.append(
            {
                "target": current["label"],
                "script_changed": script_changed,
                "enabled_changed": enabled_changed,
                "enabled": target["enabled"] if target["enabled"] is not None else current["enabled"],
            }
        )
        if module._diff and (script_changed or enabled_changed):
            after_script = target["script"] if target["script"] is not None else current["script"]
            after_enabled = target["enabled"] if target["enabled"] is not None else current["enabled"]
            diffs.append(
                {
                    "before_header": "%s anonymisation script" % current["label"],
                    "after_header": "%s anonymisation script" % current["label"],
                    "before": render(current["script"], current["enabled"]),
                    "after": render(after_script, after_enabled),
                }
            )
    result = {"changed": changed, "targets": results}
    if module._diff:
        result["diff"] = diffs
    return result


def main():
    argument_spec = {
        "scope": {"type": "str", "choices": ["site", "project"], "default": "site"},
        "project": {"type": "str"},
        "script": {"type": "str"},
        "src": {"type": "path"},
        "enabled": {"type": "bool"},
        "projects": {"type": "list", "elements": "dict"},
    }
    run_xnat_module(argument_spec, reconcile, mutually_exclusive=[("script", "src"), ("projects", "project")])


if __name__ == "__main__":
    main()
