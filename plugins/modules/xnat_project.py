#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_project
short_description: Manage many XNAT projects, their accessibility, prearchive code and members in one task
description:
  - Reconciles a declarative list of projects (for example the trust's access list through the
    P(xnat_enclave.xnat.access_list#lookup) lookup) in one task. The project list and the user list are read
    once; accessibility, prearchive code and membership are read per project only when the item sets them.
  - Creates missing projects, updates name and description, accessibility and prearchive code.
  - Membership uses XNAT's groups Owners, Members and Collaborators. A user listed in another group of the
    same project is moved. With O(exclusive=true), members not on the list are removed.
  - Every listed member must be an existing XNAT user (XNAT would otherwise e-mail an invitation); unknown
    users fail the task before any write. No e-mail is sent for membership changes.
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  projects:
    description:
      - The projects.
      - A membership list (O(projects[].owners), O(projects[].members), O(projects[].collaborators)) that is
        left out is not managed for that project.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: XNAT project id.
        type: str
        required: true
      name:
        description: Project title (XNAT's C(name)); a new project gets its id when not given.
        type: str
      description:
        description: Project description.
        type: str
      secondary_id:
        description: Running title (XNAT's C(secondary_ID)); a new project gets its id when not given.
        type: str
      keywords:
        description:
          - The project's keywords (XNAT's C(keywords), one space-separated field), compared as a set.
          - The release gate of C(enclave fetch) and C(enclave export) reads its markers from here
            (C(enclave-requires-pixel-cleaning), C(enclave-requires-pixel-cleaning-all),
            C(enclave-requires-defacing)).
          - Left out, the keywords are not managed; V([]) clears them.
        type: list
        elements: str
      accessibility:
        description: Who can see the project.
        type: str
        choices: [private, protected, public]
      prearchive_code:
        description:
          - V(0) sends received data to the prearchive, V(4) archives it, V(5) archives and overwrites.
        type: int
        choices: [0, 4, 5]
      owners:
        description: Usernames in the Owners group.
        type: list
        elements: str
      members:
        description: Usernames in the Members group.
        type: list
        elements: str
      collaborators:
        description: Usernames in the Collaborators group.
        type: list
        elements: str
      state:
        description: V(absent) deletes the project.
        type: str
        choices: [present, absent]
        default: present
  exclusive:
    description:
      - Remove members who are not listed in any of the given groups, for every project whose item sets
        at least one of O(projects[].owners), O(projects[].members), O(projects[].collaborators).
    type: bool
    default: false
  remove_files:
    description: When deleting a project (O(projects[].state=absent)), also delete its files.
    type: bool
    default: false
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
notes:
  - The account needs to be an administrator (or owner of every listed project).
seealso:
  - module: xnat_enclave.xnat.xnat_user
"""

EXAMPLES = r"""
- name: Projects and members from the trust's access list
  xnat_enclave.xnat.xnat_project:
    projects: "{{ lookup('xnat_enclave.xnat.access_list', 'access/trust-a.yml') }}"
    exclusive: true

- name: One project with auto-archive
  xnat_enclave.xnat.xnat_project:
    projects:
      - id: CARDIO01
        name: Cardiac MR study
        accessibility: private
        prearchive_code: 4
        owners: [alice]
        members: [bob, carol]
        collaborators: []

- name: Release scans that carry burnt-in text only once cleaned
  xnat_enclave.xnat.xnat_project:
    projects:
      - id: US_AI01
        keywords: [ultrasound, enclave-requires-pixel-cleaning]
"""

RETURN = r"""
projects:
  description: Per project, what the task did.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "CARDIO01", "created": true, "updated": [], "added": {"owners": ["alice"]}, "removed": {}}]
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query).
  returned: always
  type: list
  elements: str
  sample: ["PUT /data/projects/CARDIO01/users/Owners/alice?sendemail=false"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    NOTHING_CHANGED,
    XnatInputError,
    differs,
    run_xnat_module,
    unique_or_fail,
    validate_project_id,
)
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_routes import parse_keywords

# (option, XNAT's role suffix of the group id, XNAT's group display name)
GROUPS = (
    ("owners", "owner", "Owners"),
    ("members", "member", "Members"),
    ("collaborators", "collaborator", "Collaborators"),
)
PROJECT_OPTIONS = {
    "id": {"type": "str", "required": True},
    "name": {"type": "str"},
    "description": {"type": "str"},
    "secondary_id": {"type": "str"},
    "keywords": {"type": "list", "elements": "str", "no_log": False},
    "accessibility": {"type": "str", "choices": ["private", "protected", "public"]},
    "prearchive_code": {"type": "int", "choices": [0, 4, 5]},
    "owners": {"type": "list", "elements": "str"},
    "members": {"type": "list", "elements": "str"},
    "collaborators": {"type": "list", "elements": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def check_members(item, known_users):
    """Every member is an XNAT user, and in one group only."""
    seen = {}
    for key, _role, _display in GROUPS:
        for username in item.get(key) or []:
            if username not in known_users:
                raise XnatInputError(
                    "project %s: %s lists %r, who is not an XNAT user; create the account first "
                    "(xnat_user). %s" % (item["id"], key, username, NOTHING_CHANGED)
                )
            if username in seen and seen[username] != key:
                raise XnatInputError(
                    "project %s: %r is listed in both %s and %s" % (item["id"], username, seen[username], key)
                )
            seen[username] = key


def managed_membership(item):
    return any(item.get(key) is not None for key, _role, _display in GROUPS)


def members_by_group(api, project_id):
    members = {key: set() for key, _role, _display in GROUPS}
    roles = {role: key for key, role, _display in GROUPS}
    for username, role in api.list_project_members(project_id).items():
        if role in roles:
            members[roles[role]].add(username)
    return members


def read_state(api, item, row):
    """Current values of what the item manages; None for a project that does not exist."""
    if row is None:
        return None
    current = {"name": row.get("name"), "description": row.get("description") or ""}
    if item.get("keywords") is not None:
        current["keywords"] = parse_keywords(api.get_project_fields(item["id"]).get("keywords"))
    if item.get("accessibility") is not None:
        current["accessibility"] = api.get_project_accessibility(item["id"])
    if item.get("prearchive_code") is not None:
        current["prearchive_code"] = api.get_project_prearchive_code(item["id"])
    if managed_membership(item):
        current["membership"] = members_by_group(api, item["id"])
    return current


def state_of_new_project(api, item):
    """What XNAT holds right after creating the project (in check mode: what it would hold)."""
    if api.check_mode:
        return {
            "name": None,
            "description": None,
            "keywords": [],
            "accessibility": item.get("accessibility"),
            "prearchive_code": 0,
            "membership": {key: set() for key, _r, _d in GROUPS},
        }
    # Read back: XNAT applies its own defaults and makes the creating account an owner (which
    # exclusive then removes).
    return read_state(api, item, {"name": item.get("name"), "description": item.get("description")})


def plan_membership(item, current_members, exclusive):
    """(removals, additions) as lists of (group key, username)."""
    wanted = {}
    for key, _role, _display in GROUPS:
        for username in item.get(key) or []:
            wanted[username] = key
    removals, additions = [], []
    for key, _role, _display in GROUPS:
        for username in sorted(current_members[key]):
            target = wanted.get(username)
            moved = target is not None and target != key
            if moved or (target is None and exclusive):
                removals.append((key, username))
    for username, key in sorted(wanted.items()):
        if username not in current_members[key]:
            additions.append((key, username))
    return removals, additions


def display_name(key):
    return {k: display for k, _role, display in GROUPS}[key]


def project_fields(item, new):
    fields = {}
    for key, field in (("name", "name"), ("description", "description"), ("secondary_id", "secondary_ID")):
        if item.get(key) is not None:
            fields[field] = item[key]
    if item.get("keywords") is not None:
        fields["keywords"] = " ".join(parse_keywords(" ".join(item["keywords"])))
    if new:
        fields.setdefault("name", item["id"])
        fields.setdefault("secondary_ID", item["id"])
        if item.get("accessibility"):
            fields["accessibility"] = item["accessibility"]
    return fields


def apply_project(module, api, item, row, current):
    report = {"id": item["id"], "created": False, "deleted": False, "updated": [], "added": {}, "removed": {}}
    if item["state"] == "absent":
        if row is not None:
            api.delete_project(item["id"], remove_files=module.params["remove_files"])
            report["deleted"] = True
        return report
    if row is None:
        api.put_project(item["id"], project_fields(item, new=True))
        report["created"] = True
        current = state_of_new_project(api, item)
    else:
        updates = [
            key
            for key in ("name", "description")
            if item.get(key) is not None and differs(current.get(key), item[key])
        ]
        if item.get("keywords") is not None and keywords_differ(current.get("keywords"), item["keywords"]):
            updates.append("keywords")
        if updates:
            api.put_project(item["id"], project_fields(item, new=False))
            report["updated"].extend(updates)
    if item.get("accessibility") is not None and current.get("accessibility") != item["accessibility"]:
        api.set_project_accessibility(item["id"], item["accessibility"])
        report["updated"].append("accessibility")
    if item.get("prearchive_code") is not None and current.get("prearchive_code") != item["prearchive_code"]:
        api.set_project_prearchive_code(item["id"], item["prearchive_code"])
        report["updated"].append("prearchive_code")
    if managed_membership(item):
        removals, additions = plan_membership(item, current["membership"], module.params["exclusive"])
        for key, username in removals:
            api.remove_project_member(item["id"], display_name(key), username)
            report["removed"].setdefault(key, []).append(username)
        for key, username in additions:
            api.add_project_member(item["id"], display_name(key), username)
            report["added"].setdefault(key, []).append(username)
    return report


def keywords_differ(current, wanted):
    return set(current or []) != set(parse_keywords(" ".join(wanted)))


def is_change(report):
    return report["created"] or report["deleted"] or report["updated"] or report["added"] or report["removed"]


def diff_view(item, current, report):
    """Before/after of one project (only what the item manages)."""
    before = {}
    if current is not None:
        before = {k: v for k, v in current.items() if k != "membership"}
        for key, members in (current.get("membership") or {}).items():
            before[key] = sorted(members)
    if report["deleted"]:
        return before, {}
    after = dict(before)
    for key in ("name", "description", "accessibility", "prearchive_code"):
        if item.get(key) is not None:
            after[key] = item[key]
    if item.get("keywords") is not None:
        after["keywords"] = parse_keywords(" ".join(item["keywords"]))
    for key, _role, _display in GROUPS:
        if key in before or item.get(key) is not None:
            members = set(before.get(key, [])) - set(report["removed"].get(key, []))
            after[key] = sorted(members | set(report["added"].get(key, [])))
    return before, after


def reconcile(module, api, diff):
    items = [
        dict(item, id=validate_project_id(item["id"], "projects[%d]" % index))
        for index, item in enumerate(module.params["projects"])
    ]
    unique_or_fail(items, "id", "projects")
    known_users = set(api.list_usernames())
    for item in items:
        check_members(item, known_users)
    rows = {row.get("ID"): row for row in api.list_projects()}
    states = api.map_reads(lambda item: read_state(api, item, rows.get(item["id"])), items)
    reports = []
    for item, current in zip(items, states):  # noqa: B905 - runs on Python 3.8 targets
        report = apply_project(module, api, item, rows.get(item["id"]), current)
        reports.append(report)
        if is_change(report):
            diff.record(item["id"], *diff_view(item, current, report))
    return {"projects": reports}


def main():
    argument_spec = {
        "projects": {"type": "list", "elements": "dict", "required": True, "options": PROJECT_OPTIONS},
        "exclusive": {"type": "bool", "default": False},
        "remove_files": {"type": "bool", "default": False},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
