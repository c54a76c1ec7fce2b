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
  - Reconciles a declarative list of projects (for example the output of the C(access_list_projects) filter
    applied to a trust's access list) in one task. The project list and the user list are read once;
    accessibility, prearchive code and membership are read per project only when the item sets them.
  - Creates missing projects (C(PUT /data/projects/{id})), updates name and description, accessibility
    (C(PUT .../accessibility/{level})) and prearchive code (C(PUT .../prearchive_code/{code})).
  - Membership uses XNAT's groups Owners, Members and Collaborators. A user listed in another group of the
    same project is moved. With O(exclusive=true), members not on the list are removed.
  - Every listed member must be an existing XNAT user (XNAT would otherwise e-mail an invitation); unknown
    users fail the task before any write. No e-mail is sent for membership changes.
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  projects:
    description:
      - The projects. Each item is a dict with C(id) (required), C(name), C(description), C(accessibility)
        (V(private), V(protected) or V(public)), C(prearchive_code) (V(0) prearchive, V(4) auto-archive,
        V(5) auto-archive and overwrite), C(owners), C(members), C(collaborators) (lists of usernames)
        and C(state) (V(present) or V(absent)).
      - A membership key that is left out is not managed for that project.
    type: list
    elements: dict
    required: true
  exclusive:
    description:
      - Remove members who are not listed in any of the given groups, for every project whose item sets
        at least one of C(owners), C(members), C(collaborators).
    type: bool
    default: false
  remove_files:
    description: When deleting a project (C(state=absent)), also delete its files (C(removeFiles=true)).
    type: bool
    default: false
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode and diff mode.
  - The account needs to be an administrator (or owner of every listed project).
seealso:
  - module: xnat_user
"""

EXAMPLES = r"""
- name: Projects and members from the trust's access list
  xnat_project:
    projects: >-
      {{ lookup('ansible.builtin.file', xnat_config_access_list) | from_yaml | access_list_projects }}
    exclusive: true

- name: One project with auto-archive
  xnat_project:
    projects:
      - id: CARDIO01
        name: Cardiac MR study
        accessibility: private
        prearchive_code: 4
        owners: [alice]
        members: [bob, carol]
        collaborators: []
"""

RETURN = r"""
projects:
  description: Per project, what the task did.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "CARDIO01", "created": true, "updated": [], "added": {"owners": ["alice"]}, "removed": {}}]
"""

from ansible.module_utils.xnat_api import XnatInputError, differs, quote_segment, run_xnat_module

GROUPS = (
    ("owners", "owner", "Owners"),
    ("members", "member", "Members"),
    ("collaborators", "collaborator", "Collaborators"),
)
ACCESSIBILITY = ("private", "protected", "public")
PREARCHIVE_CODES = (0, 4, 5)
ITEM_KEYS = frozenset(
    [
        "id",
        "name",
        "description",
        "accessibility",
        "prearchive_code",
        "state",
        "secondary_id",
        "owners",
        "members",
        "collaborators",
    ]
)


def validate_item(raw, index, known_users):
    where = "projects[%d]" % index
    if not isinstance(raw, dict) or not raw.get("id"):
        raise XnatInputError("%s: each project needs an 'id'" % where)
    item = dict(raw)
    where = "project %s" % item["id"]
    unknown = sorted(set(item) - ITEM_KEYS)
    if unknown:
        raise XnatInputError(
            "%s: unknown key(s) %s; allowed: %s" % (where, ", ".join(unknown), ", ".join(sorted(ITEM_KEYS)))
        )
    item["id"] = str(item["id"])
    item.setdefault("state", "present")
    if item["state"] not in ("present", "absent"):
        raise XnatInputError("%s: state must be present or absent, not %r" % (where, item["state"]))
    if item.get("accessibility") is not None and item["accessibility"] not in ACCESSIBILITY:
        raise XnatInputError(
            "%s: accessibility must be one of %s, not %r"
            % (where, ", ".join(ACCESSIBILITY), item["accessibility"])
        )
    if item.get("prearchive_code") is not None:
        item["prearchive_code"] = int(item["prearchive_code"])
        if item["prearchive_code"] not in PREARCHIVE_CODES:
            raise XnatInputError("%s: prearchive_code must be 0, 4 or 5" % where)
    seen = {}
    for key, _role, _display in GROUPS:
        for username in item.get(key) or []:
            if username not in known_users:
                raise XnatInputError(
                    "%s: %s lists %r, who is not an XNAT user; create the account first "
                    "(xnat_user). Nothing was changed." % (where, key, username)
                )
            if username in seen and seen[username] != key:
                raise XnatInputError(
                    "%s: %r is listed in both %s and %s" % (where, username, seen[username], key)
                )
            seen[username] = key
    return item


def managed_membership(item):
    return any(item.get(key) is not None for key, _role, _display in GROUPS)


def read_members(client, project_id):
    rows = client.get_result_set("/data/projects/%s/users" % quote_segment(project_id))
    members = {key: set() for key, _role, _display in GROUPS}
    for row in rows:
        suffix = str(row.get("GROUP_ID", "")).rsplit("_", 1)[-1]
        for key, role, _display in GROUPS:
            if suffix == role:
                members[key].add(row.get("login"))
    return members


def read_state(client, item, existing_row):
    """Current values of what the item manages (None for a project that does not exist)."""
    if existing_row is None:
        return None
    base = "/data/projects/%s" % quote_segment(item["id"])
    current = {"name": existing_row.get("name"), "description": existing_row.get("description") or ""}
    if item.get("accessibility") is not None:
        current["accessibility"] = client.get_text(base + "/accessibility").strip()
    if item.get("prearchive_code") is not None:
        current["prearchive_code"] = int(client.get_text(base + "/prearchive_code").strip() or 0)
    if managed_membership(item):
        current["membership"] = read_members(client, item["id"])
    return current


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


def project_query(item, existing):
    query = {"xsiType": "xnat:projectData"}
    for key, field in (("name", "name"), ("description", "description"), ("secondary_id", "secondary_ID")):
        if item.get(key) is not None:
            query[field] = item[key]
    if existing is None:
        query.setdefault("name", item["id"])
        query.setdefault("secondary_ID", item["id"])
        if item.get("accessibility"):
            query["accessibility"] = item["accessibility"]
    return query


class ProjectRun:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.check_mode = module.check_mode

    def write(self, method, path, query=None):
        if not self.check_mode:
            self.client.request(method, path, query=query)

    def apply(self, item, existing, current):
        base = "/data/projects/%s" % quote_segment(item["id"])
        report = {
            "id": item["id"],
            "created": False,
            "deleted": False,
            "updated": [],
            "added": {},
            "removed": {},
        }
        if item["state"] == "absent":
            if existing is not None:
                query = {"removeFiles": "true"} if self.module.params["remove_files"] else None
                self.write("DELETE", base, query)
                report["deleted"] = True
            return report
        if existing is None:
            self.write("PUT", base, project_query(item, None))
            report["created"] = True
            if self.check_mode:
                current = {
                    "name": None,
                    "description": None,
                    "accessibility": item.get("accessibility"),
                    "prearchive_code": 0,
                    "membership": {key: set() for key, _r, _d in GROUPS},
                }
            else:
                # Read back what XNAT made: it applies its own defaults and makes the creating account
                # an owner (which exclusive then removes).
                created = {"name": item.get("name"), "description": item.get("description")}
                current = read_state(self.client, item, created)
        else:
            updates = [
                key
                for key in ("name", "description")
                if item.get(key) is not None and differs(current.get(key), item[key])
            ]
            if updates:
                self.write("PUT", base, project_query(item, existing))
                report["updated"].extend(updates)
        if item.get("accessibility") is not None and current.get("accessibility") != item["accessibility"]:
            self.write("PUT", "%s/accessibility/%s" % (base, item["accessibility"]))
            report["updated"].append("accessibility")
        if (
            item.get("prearchive_code") is not None
            and current.get("prearchive_code") != item["prearchive_code"]
        ):
            self.write("PUT", "%s/prearchive_code/%d" % (base, item["prearchive_code"]))
            report["updated"].append("prearchive_code")
        if managed_membership(item):
            self.apply_membership(item, base, current["membership"], report)
        return report

    def apply_membership(self, item, base, current_members, report):
        removals, additions = plan_membership(item, current_members, self.module.params["exclusive"])
        for key, username in removals:
            self.write("DELETE", "%s/users/%s/%s" % (base, display_name(key), quote_segment(username)))
            report["removed"].setdefault(key, []).append(username)
        for key, username in additions:
            self.write(
                "PUT",
                "%s/users/%s/%s" % (base, display_name(key), quote_segment(username)),
                {"sendemail": "false"},
            )
            report["added"].setdefault(key, []).append(username)


def is_change(report):
    return report["created"] or report["deleted"] or report["updated"] or report["added"] or report["removed"]


def diff_view(item, current, report):
    """Before/after of one project for the diff (only what the item manages)."""
    if current is None:
        before = {}
    else:
        before = {k: v for k, v in current.items() if k != "membership"}
        for key, members in (current.get("membership") or {}).items():
            before[key] = sorted(members)
    if report["deleted"]:
        return before, {}
    after = dict(before)
    for key in ("name", "description", "accessibility", "prearchive_code"):
        if item.get(key) is not None:
            after[key] = item[key]
    for key, _role, _display in GROUPS:
        if key in before or item.get(key) is not None:
            members = set(before.get(key, [])) - set(report["removed"].get(key, []))
            after[key] = sorted(members | set(report["added"].get(key, [])))
    return before, after


def reconcile(module, client):
    users = client.get_json("/xapi/users") or []
    known_users = set(users)
    items = [validate_item(raw, index, known_users) for index, raw in enumerate(module.params["projects"])]
    ids = [item["id"] for item in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise XnatInputError("projects listed more than once: %s" % ", ".join(duplicates))
    rows = {row.get("ID"): row for row in client.get_result_set("/data/projects")}
    states = client.map_reads(lambda item: read_state(client, item, rows.get(item["id"])), items)
    run = ProjectRun(module, client)
    reports, before, after = [], {}, {}
    for item, current in zip(items, states):  # noqa: B905 - runs on Python 3.8 targets
        report = run.apply(item, rows.get(item["id"]), current)
        reports.append(report)
        if is_change(report):
            before[item["id"]], after[item["id"]] = diff_view(item, current, report)
    changed = any(is_change(report) for report in reports)
    result = {"changed": changed, "projects": reports}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


def main():
    argument_spec = {
        "projects": {"type": "list", "elements": "dict", "required": True},
        "exclusive": {"type": "bool", "default": False},
        "remove_files": {"type": "bool", "default": False},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
