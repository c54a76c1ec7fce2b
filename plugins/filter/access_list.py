# -*- coding: utf-8 -*-
"""Filter turning a trust's access list into the project list the xnat_project module applies."""

from __future__ import annotations

DOCUMENTATION = r"""
name: access_list_projects
short_description: Projects and current memberships from an xnat-enclave access list
description:
  - Takes the parsed access-list YAML of a trust (C(trust), C(admins), C(dormant_after_days), C(projects))
    and returns the list of projects, in ID order, with the owners, members and collaborators whose
    approval has not expired.
  - A membership whose C(expires) date has passed is left out, so applying the list removes it.
  - A project past its C(end_date) is returned with no owners, members or collaborators.
  - The same file is what C(enclave access review) audits XNAT against.
options:
  _input:
    description: The parsed access list (for example from C(ansible.builtin.include_vars) or C(from_yaml)).
    type: dict
    required: true
  today:
    description: Date (YYYY-MM-DD) to judge expiry against; defaults to the controller's current date.
    type: str
"""

EXAMPLES = r"""
- name: Apply the approved project membership
  xnat_project:
    projects: "{{ access_list | access_list_projects }}"
    exclusive: true
"""

RETURN = r"""
_value:
  description: List of C({id, name, description, accessibility, owners, members, collaborators}).
  type: list
  elements: dict
"""

import datetime

from ansible.errors import AnsibleFilterError

ROLES = ("owners", "members", "collaborators")


def _as_date(value, where):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError as error:
        raise AnsibleFilterError(
            "access_list_projects: %s: %r is not a date in YYYY-MM-DD form" % (where, value)
        ) from error


def _current_users(grants, today, where):
    users = []
    for index, grant in enumerate(grants or []):
        if not isinstance(grant, dict) or "user" not in grant or "expires" not in grant:
            raise AnsibleFilterError(
                "access_list_projects: %s[%d] must be a mapping with 'user' and 'expires'" % (where, index)
            )
        if _as_date(grant["expires"], "%s[%d].expires" % (where, index)) >= today:
            users.append(str(grant["user"]))
    return users


def access_list_projects(access_list, today=None):
    if not isinstance(access_list, dict) or not isinstance(access_list.get("projects"), dict):
        raise AnsibleFilterError(
            "access_list_projects: expected the parsed access list (a mapping with a 'projects' mapping), "
            "got %s" % type(access_list).__name__
        )
    today = _as_date(today, "today") if today else datetime.date.today()
    projects = []
    for project_id in sorted(access_list["projects"]):
        entry = access_list["projects"][project_id] or {}
        where = "projects.%s" % project_id
        ended = "end_date" in entry and _as_date(entry["end_date"], where + ".end_date") < today
        project = {
            "id": str(project_id),
            "name": str(entry.get("name", project_id)),
            "description": str(entry.get("description", "")),
            "accessibility": str(entry.get("accessibility", "private")),
        }
        for role in ROLES:
            project[role] = [] if ended else _current_users(entry.get(role), today, "%s.%s" % (where, role))
        projects.append(project)
    return projects


class FilterModule(object):
    def filters(self):
        return {"access_list_projects": access_list_projects}
