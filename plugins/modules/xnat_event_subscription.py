#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_event_subscription
short_description: Manage XNAT event service subscriptions (site or per project), reconciled by name
description:
  - Reads all subscriptions once and creates, updates, activates, deactivates or deletes only those that
    differ, matched by O(subscriptions[].name).
  - After a write the subscription is read back; the task fails when XNAT could not resolve it
    (C(valid) false), naming the subscription and XNAT's validation message.
  - O(subscriptions[].active) follows the desired state, which is how a project's DICOM-to-NIfTI switch
    is expressed.
  - O(prefs) sets the event service preferences, for example C(enabled).
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  prefs:
    description: Event service preferences that must hold, for example V(enabled=true).
    type: dict
  subscriptions:
    description: The subscriptions.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the subscription, which identifies it (unique within the task).
        type: str
        required: true
      project:
        description: Project the subscription is for; omit for a site-wide subscription.
        type: str
      event_type:
        description:
          - Event class, for example V(org.nrg.xnat.eventservice.events.ScanEvent).
          - Required for O(subscriptions[].state=present).
        type: str
      status:
        description: Event status to react to, for example V(CREATED).
        type: str
      payload_filter:
        description: JsonPath predicate on the event payload.
        type: str
      action_key:
        description: Action to run; or give O(subscriptions[].command) and O(subscriptions[].wrapper).
        type: str
      command:
        description: Container service command name, to use the wrapper's action.
        type: str
      version:
        description: Command version, when several are registered.
        type: str
      wrapper:
        description: Container service wrapper name, to use its action.
        type: str
      attributes:
        description: Attributes passed to the action.
        type: dict
      act_as_event_user:
        description: Run the action as the user who caused the event.
        type: bool
        default: false
      active:
        description: Whether the subscription is active.
        type: bool
        default: true
      state:
        description: Whether the subscription exists.
        type: str
        choices: [present, absent]
        default: present
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
notes:
  - Project subscriptions are written through the project routes, which need owner access to the project.
"""

EXAMPLES = r"""
- name: Convert DICOM to NIfTI for new scans in two projects (off for NEURO02)
  xnat_enclave.xnat.xnat_event_subscription:
    prefs:
      enabled: true
    subscriptions:
      - name: CARDIO01 dcm2niix
        project: CARDIO01
        event_type: org.nrg.xnat.eventservice.events.ScanEvent
        status: CREATED
        payload_filter: '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)'
        command: dcm2niix
        wrapper: dcm2niix-scan
        active: true
      - name: NEURO02 dcm2niix
        project: NEURO02
        event_type: org.nrg.xnat.eventservice.events.ScanEvent
        status: CREATED
        command: dcm2niix
        wrapper: dcm2niix-scan
        active: false
"""

RETURN = r"""
subscriptions:
  description: Per subscription, its id and what the task did.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "CARDIO01 dcm2niix", "id": 12, "action": "created", "active": true}]
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query).
  returned: always
  type: list
  elements: str
  sample: ["POST /xapi/projects/CARDIO01/events/subscription"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    XnatInputError,
    differs,
    require_known_projects,
    run_xnat_module,
    unique_or_fail,
)

ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
SUBSCRIPTION_OPTIONS = {
    "name": {"type": "str", "required": True},
    "project": {"type": "str"},
    "event_type": {"type": "str"},
    "status": {"type": "str"},
    "payload_filter": {"type": "str"},
    "action_key": {"type": "str", "no_log": False},
    "command": {"type": "str"},
    "version": {"type": "str"},
    "wrapper": {"type": "str"},
    "attributes": {"type": "dict"},
    "act_as_event_user": {"type": "bool", "default": False},
    "active": {"type": "bool", "default": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def validate(item):
    where = "subscription %r" % item["name"]
    if item["state"] == "present":
        if not item["event_type"]:
            raise XnatInputError("%s: 'event_type' is required" % where)
        if not item["action_key"] and not (item["command"] and item["wrapper"]):
            raise XnatInputError("%s: give 'action_key', or 'command' and 'wrapper'" % where)
    return item


def wrapper_ids(api):
    ids = {}
    for command in api.list_commands():
        for wrapper in command.get("xnat") or []:
            ids.setdefault((command.get("name"), wrapper.get("name")), []).append(
                (command.get("version"), wrapper.get("id"))
            )
    return ids


def resolve_action_key(item, ids):
    if item["action_key"]:
        return item["action_key"]
    found = ids.get((item["command"], item["wrapper"]), [])
    if item["version"] is not None:
        found = [entry for entry in found if entry[0] == item["version"]]
    if len(found) != 1:
        problem = "no" if not found else "more than one"
        raise XnatInputError(
            "subscription %r: %s registered command %r has a wrapper %r; register it with "
            "xnat_container_service first" % (item["name"], problem, item["command"], item["wrapper"])
        )
    return "%s:%s" % (ACTION_PROVIDER, found[0][1])


def body_of(item, action_key):
    return {
        "name": item["name"],
        "active": bool(item["active"]),
        "action-key": action_key,
        "attributes": item["attributes"] or {},
        "act-as-event-user": bool(item["act_as_event_user"]),
        "event-filter": {
            "event-type": item["event_type"],
            "project-ids": [item["project"]] if item["project"] else [],
            "status": item["status"],
            "payload-filter": item["payload_filter"],
        },
    }


def comparable(subscription):
    event_filter = subscription.get("event-filter") or {}
    return {
        "action-key": subscription.get("action-key"),
        "attributes": subscription.get("attributes") or {},
        "act-as-event-user": bool(subscription.get("act-as-event-user")),
        "event-filter": {
            "event-type": event_filter.get("event-type"),
            "project-ids": sorted(event_filter.get("project-ids") or []),
            "status": event_filter.get("status"),
            "payload-filter": event_filter.get("payload-filter") or None,
        },
    }


def apply_subscription(api, diff, item, existing, action_key):
    name, project = item["name"], item["project"]
    if item["state"] == "absent":
        if existing is None:
            return {"name": name, "action": "absent"}
        diff.record(name, existing, {})
        api.delete_subscription(existing["id"], project)
        return {"name": name, "id": existing["id"], "action": "deleted"}
    body = body_of(item, action_key)
    if existing is None:
        diff.record(name, {}, body)
        new_id = api.create_subscription(body, project)
        if new_id is not None:
            check_valid(api, item, new_id)
        return {"name": name, "id": new_id, "action": "created", "active": body["active"]}
    action = "unchanged"
    wanted, have = comparable(body), comparable(existing)
    if differs(have, wanted):
        diff.record(name, have, wanted)
        update = dict(body)
        update.pop("active")
        api.update_subscription(existing["id"], update, project)
        action = "updated"
    if bool(existing.get("active")) != body["active"]:
        diff.record_field(name, "active", bool(existing.get("active")), body["active"])
        api.set_subscription_active(existing["id"], body["active"], project)
        action = "updated"
    if action == "updated" and not api.check_mode:
        check_valid(api, item, existing["id"])
    return {"name": name, "id": existing["id"], "action": action, "active": body["active"]}


def check_valid(api, item, subscription_id):
    saved = api.get_subscription(subscription_id, item["project"])
    if not saved.get("valid", True):
        raise XnatInputError(
            "XNAT saved subscription %r (id %s) but cannot resolve it: %s. Check the "
            "event type, the action key and that the wrapper is enabled for project %s."
            % (
                item["name"],
                subscription_id,
                saved.get("validation-message") or "no reason given",
                item["project"] or "(site)",
            )
        )
    if bool(saved.get("active")) != bool(item["active"]):
        raise XnatInputError(
            "subscription %r (id %s) is active=%s after the write, wanted %s"
            % (item["name"], subscription_id, saved.get("active"), item["active"])
        )


def reconcile_prefs(api, diff, prefs):
    current = api.get_event_prefs()
    changed = {k: v for k, v in prefs.items() if differs(current.get(k), v)}
    if changed:
        diff.record("prefs", {k: current.get(k) for k in changed}, changed)
        merged = dict(current)
        merged.update(changed)
        api.set_event_prefs(merged)


def reconcile(module, api, diff):
    items = [validate(dict(item)) for item in module.params["subscriptions"] or []]
    unique_or_fail(items, "name", "subscription names")
    present = [item for item in items if item["state"] == "present"]
    require_known_projects(api, [item["project"] for item in present], "subscriptions")
    ids = wrapper_ids(api) if any(not item["action_key"] for item in present) else {}
    keys = [resolve_action_key(item, ids) if item["state"] == "present" else None for item in items]
    # Everything is validated; from here on the task writes.
    if module.params["prefs"]:
        reconcile_prefs(api, diff, module.params["prefs"])
    reports = []
    if items:
        existing = {s.get("name"): s for s in api.list_subscriptions() or []}
        reports = [
            apply_subscription(api, diff, item, existing.get(item["name"]), key)
            for item, key in zip(items, keys)  # noqa: B905 - runs on Python 3.8 targets
        ]
    return {"subscriptions": reports}


def main():
    argument_spec = {
        "prefs": {"type": "dict"},
        "subscriptions": {"type": "list", "elements": "dict", "options": SUBSCRIPTION_OPTIONS},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
