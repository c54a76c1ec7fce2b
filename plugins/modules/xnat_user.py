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
author: xnat-enclave contributors
options:
  users:
    description:
      - The accounts. Each item is a dict with C(username) (required), C(password) (needed to create),
        C(first_name), C(last_name), C(email), C(enabled), C(verified), C(roles), C(groups) and
        C(state) (V(present) or V(absent)).
      - C(roles) is the complete list of site roles (for example C(Administrator), C(Dqr),
        C(ContainerManager), C(DataManager), C(non_expiring)); roles not listed are removed.
      - C(groups) lists site groups the user must be in (for example C(ALL_DATA_ADMIN)); other groups,
        including project groups managed by M(xnat_project), are left alone.
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
  - xnat
notes:
  - Supports check mode and diff mode. Passwords never appear in the diff or the result.
  - Needs an administrator account.
"""

EXAMPLES = r"""
- name: Service account used by the configure layer, and no guest access
  xnat_user:
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
"""

from ansible.module_utils.xnat_api import XnatInputError, differs, quote_segment, run_xnat_module

PROFILE_FIELDS = (("first_name", "firstName"), ("last_name", "lastName"), ("email", "email"))
FLAGS = ("enabled", "verified")
ITEM_KEYS = frozenset(
    [
        "username",
        "password",
        "first_name",
        "last_name",
        "email",
        "enabled",
        "verified",
        "roles",
        "groups",
        "state",
    ]
)


def validate(raw, index):
    raw = {key: value for key, value in (raw or {}).items() if value is not None}
    if not raw.get("username"):
        raise XnatInputError("users[%d]: each user needs a 'username'" % index)
    unknown = sorted(set(raw) - ITEM_KEYS)
    if unknown:
        raise XnatInputError(
            "user %s: unknown key(s) %s; allowed: %s"
            % (raw["username"], ", ".join(unknown), ", ".join(sorted(ITEM_KEYS)))
        )
    item = dict(raw)
    item.setdefault("state", "present")
    if item["state"] == "absent":
        item["enabled"] = False
    elif item["state"] != "present":
        raise XnatInputError("user %s: state must be present or absent" % item["username"])
    return item


def user_path(username, suffix=""):
    return "/xapi/users/%s%s" % (quote_segment(username), suffix)


class UserRun:
    def __init__(self, module, client):
        self.module = module
        self.client = client

    def write(self, method, path, json_body=None, expected=(200,)):
        if not self.module.check_mode:
            self.client.request(method, path, json_body=json_body, expected=expected)

    def create(self, item, report):
        if item["state"] == "absent":
            return
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
        self.write("POST", "/xapi/users", body, expected=(200, 201))
        report["created"] = True
        self.sync_roles_groups(item, {"roles": [], "groups": []}, report)

    def update(self, item, profile, report):
        username = item["username"]
        changes = {
            field: item[option]
            for option, field in PROFILE_FIELDS
            if item.get(option) is not None and differs(profile.get(field), item[option])
        }
        if item.get("password") and self.module.params["update_password"] == "always":  # noqa: S105
            changes["password"] = item["password"]
        if changes:
            self.write("PUT", user_path(username), changes, expected=(200, 304))
            report["updated"].extend(sorted(changes))
        for flag in FLAGS:
            if item.get(flag) is not None and differs(profile.get(flag), item[flag]):
                self.write("PUT", user_path(username, "/%s/%s" % (flag, str(bool(item[flag])).lower())))
                report["updated"].append(flag)
        current = {"roles": [], "groups": []}
        if item.get("roles") is not None:
            current["roles"] = self.client.get_json(user_path(username, "/roles")) or []
        if item.get("groups") is not None:
            current["groups"] = self.client.get_json(user_path(username, "/groups")) or []
        report["before"] = dict(current)
        self.sync_roles_groups(item, current, report)

    def sync_roles_groups(self, item, current, report):
        username = item["username"]
        if item.get("roles") is not None:
            wanted, have = set(item["roles"]), set(current["roles"])
            for role in sorted(wanted - have):
                self.write("PUT", user_path(username, "/roles/%s" % quote_segment(role)))
                report["roles_added"].append(role)
            for role in sorted(have - wanted):
                self.write("DELETE", user_path(username, "/roles/%s" % quote_segment(role)))
                report["roles_removed"].append(role)
        for group in sorted(set(item.get("groups") or []) - set(current["groups"])):
            self.write("PUT", user_path(username, "/groups/%s" % quote_segment(group)), expected=(200, 202))
            report["groups_added"].append(group)


def changed_report(report):
    return any(report[key] for key in ("created", "updated", "roles_added", "roles_removed", "groups_added"))


def public_view(item):
    return {k: v for k, v in item.items() if k != "password"}


def reconcile(module, client):
    items = [validate(raw, index) for index, raw in enumerate(module.params["users"])]
    profiles = {profile.get("username"): profile for profile in client.get_json("/xapi/users/profiles") or []}
    run = UserRun(module, client)
    reports, before, after = [], {}, {}
    for item in items:
        report = {
            "username": item["username"],
            "created": False,
            "updated": [],
            "roles_added": [],
            "roles_removed": [],
            "groups_added": [],
        }
        profile = profiles.get(item["username"])
        if profile is None:
            run.create(item, report)
        else:
            run.update(item, profile, report)
        snapshot = report.pop("before", {})
        reports.append(report)
        if changed_report(report):
            old = {} if profile is None else {option: profile.get(field) for option, field in PROFILE_FIELDS}
            if profile is not None:
                old.update((flag, profile.get(flag)) for flag in FLAGS)
                old.update(snapshot)
            new = dict(old)
            new.update((k, v) for k, v in public_view(item).items() if k != "state")
            if item.get("groups") is not None:
                new["groups"] = sorted(set(old.get("groups", [])) | set(item["groups"]))
            if "password" in report["updated"]:
                new["password"] = "(changed)"  # noqa: S105 - a marker, never the password
            before[item["username"]], after[item["username"]] = old, new
    result = {"changed": any(changed_report(r) for r in reports), "users": reports}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


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
