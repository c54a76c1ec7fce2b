#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_user
short_description: Manage XNAT user accounts, their enabled and verified flags, roles and groups
description:
  - Reconciles a list of accounts in one task. C(GET /xapi/users/profiles) is read once; roles and groups
    are read only for users whose item sets them.
  - A password is only sent when the account is created, or on every run with O(update_password=always)
    (XNAT never returns passwords, so that setting always reports a change).
  - XNAT has no account deletion; C(state=absent) disables the account instead.
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  users:
    description:
      - The accounts. Each item is a dict with C(username) (required), C(password) (needed to create),
        C(first_name), C(last_name), C(email), C(enabled), C(verified), C(roles), C(groups) and
        C(state) (V(present) or V(absent)).
      - C(roles) is the complete list of site roles (for example C(Administrator), C(Dqr),
        C(ContainerManager), C(DataManager), C(non_expiring)); roles not listed are removed.
      - C(groups) lists site groups the user must be in (for example C(ALL_DATA_ADMIN)); other groups,
        including project groups managed by M(xnat_enclave.xnat.xnat_project), are left alone.
    type: list
    elements: dict
    required: true
    suboptions:
      username:
        description: Login name.
        type: str
        required: true
      password:
        description: Password; only sent on create unless O(update_password=always). Never logged.
        type: str
      first_name:
        description: First name.
        type: str
      last_name:
        description: Last name.
        type: str
      email:
        description: E-mail address.
        type: str
      enabled:
        description: Whether the account can log in.
        type: bool
      verified:
        description: Whether the e-mail address counts as verified.
        type: bool
      roles:
        description: Complete list of site roles.
        type: list
        elements: str
      groups:
        description: Site groups the user must be in.
        type: list
        elements: str
      state:
        description: V(absent) disables the account.
        type: str
        choices: [present, absent]
        default: present
  update_password:
    description:
      - V(on_create) sets the password only for new accounts; V(always) sets it on every run.
    type: str
    choices: [always, on_create]
    default: on_create
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
notes:
  - Passwords never appear in the diff or the result.
  - Needs an administrator account.
"""

EXAMPLES = r"""
- name: Service account used by the configure layer, and no guest access
  xnat_enclave.xnat.xnat_user:
    xnat_user: admin
    xnat_password: "{{ vault_xnat_admin_password }}"
    users:
      - username: svc_config
        password: "{{ vault_xnat_service_password }}"
        first_name: Configuration
        last_name: Service
        email: xnat-admins@trust-a.nhs.uk
        roles: [Administrator, Dqr, ContainerManager, DataManager, non_expiring]
        groups: [ALL_DATA_ADMIN]
      - username: guest
        enabled: false
"""

RETURN = r"""
users:
  description: Per user, what the task did (no passwords).
  returned: always
  type: list
  elements: dict
  sample:
    - {"username": "svc_config", "created": true, "updated": [], "roles_added": ["Dqr"], "roles_removed": []}
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query); no bodies.
  returned: always
  type: list
  elements: str
  sample: ["POST /xapi/users", "PUT /xapi/users/svc_config/roles/Dqr"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    XnatInputError,
    differs,
    run_xnat_module,
    validate_email,
    validate_username,
)

PROFILE_FIELDS = (("first_name", "firstName"), ("last_name", "lastName"), ("email", "email"))
FLAGS = ("enabled", "verified")


def desired(raw):
    item = {key: value for key, value in raw.items() if value is not None}
    if item["state"] == "absent":
        item["enabled"] = False
    return item


def checked(item, index):
    """Username and e-mail address as XNAT accepts them, refused before the first request otherwise."""
    where = "users[%d]" % index
    validate_username(item["username"], where)
    if item.get("email"):
        validate_email(item["email"], "%s (%s)" % (where, item["username"]))
    return item


def new_report(username):
    return {
        "username": username,
        "created": False,
        "updated": [],
        "roles_added": [],
        "roles_removed": [],
        "groups_added": [],
    }


def create(api, item, report):
    if item["state"] == "absent":
        return {"roles": [], "groups": []}
    if not item.get("password"):
        raise XnatInputError(
            "user %s does not exist and has no 'password' to create it with" % item["username"]
        )
    body = {
        "username": item["username"],
        "password": item["password"],
        "enabled": item.get("enabled", True),
        "verified": item.get("verified", True),
    }
    for option, field in PROFILE_FIELDS:
        body[field] = item.get(option) or ""
    api.create_user(body)
    report["created"] = True
    return {"roles": [], "groups": []}


def update(api, item, profile, report, update_password):
    username = item["username"]
    changes = {
        field: item[option]
        for option, field in PROFILE_FIELDS
        if item.get(option) is not None and differs(profile.get(field), item[option])
    }
    if item.get("password") and update_password == "always":  # noqa: S105
        changes["password"] = item["password"]
    if changes:
        api.update_user(username, changes)
        report["updated"].extend(sorted(changes))
    for flag in FLAGS:
        if item.get(flag) is not None and differs(profile.get(flag), item[flag]):
            api.set_user_flag(username, flag, item[flag])
            report["updated"].append(flag)
    current = {"roles": [], "groups": []}
    if item.get("roles") is not None:
        current["roles"] = api.get_user_roles(username)
    if item.get("groups") is not None:
        current["groups"] = api.get_user_groups(username)
    return current


def sync_roles_groups(api, item, current, report):
    username = item["username"]
    if item.get("roles") is not None:
        wanted, have = set(item["roles"]), set(current["roles"])
        for role in sorted(wanted - have):
            api.add_user_role(username, role)
            report["roles_added"].append(role)
        for role in sorted(have - wanted):
            api.remove_user_role(username, role)
            report["roles_removed"].append(role)
    for group in sorted(set(item.get("groups") or []) - set(current["groups"])):
        api.add_user_group(username, group)
        report["groups_added"].append(group)


def changed_report(report):
    return any(report[key] for key in ("created", "updated", "roles_added", "roles_removed", "groups_added"))


def diff_view(item, profile, current, report):
    """Before/after of one account; the password is shown as a marker, never as itself."""
    old = {}
    if profile is not None:
        old = {option: profile.get(field) for option, field in PROFILE_FIELDS}
        old.update((flag, profile.get(flag)) for flag in FLAGS)
        if item.get("roles") is not None:
            old["roles"] = current["roles"]
        if item.get("groups") is not None:
            old["groups"] = current["groups"]
    new = dict(old)
    new.update((k, v) for k, v in item.items() if k not in ("state", "password"))
    if item.get("groups") is not None:
        new["groups"] = sorted(set(old.get("groups", [])) | set(item["groups"]))
    if "password" in report["updated"]:
        new["password"] = "(changed)"  # noqa: S105 - a marker, never the password
    return old, new


def reconcile(module, api, diff):
    items = [checked(desired(raw), index) for index, raw in enumerate(module.params["users"])]
    profiles = {profile.get("username"): profile for profile in api.list_user_profiles()}
    reports = []
    for item in items:
        report = new_report(item["username"])
        profile = profiles.get(item["username"])
        if profile is None:
            current = create(api, item, report)
        else:
            current = update(api, item, profile, report, module.params["update_password"])
        if item["state"] == "present" or profile is not None:
            sync_roles_groups(api, item, current, report)
        reports.append(report)
        if changed_report(report):
            diff.record(item["username"], *diff_view(item, profile, current, report))
    return {"users": reports}


def main():
    user_options = {
        "username": {"type": "str", "required": True},
        "password": {"type": "str", "no_log": True},
        "first_name": {"type": "str"},
        "last_name": {"type": "str"},
        "email": {"type": "str"},
        "enabled": {"type": "bool"},
        "verified": {"type": "bool"},
        "roles": {"type": "list", "elements": "str"},
        "groups": {"type": "list", "elements": "str"},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }
    argument_spec = {
        "users": {"type": "list", "elements": "dict", "required": True, "options": user_options},
        "update_password": {
            "type": "str",
            "choices": ["always", "on_create"],
            "default": "on_create",
            "no_log": False,
        },
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
