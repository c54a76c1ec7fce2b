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
  - Reads all subscriptions once (C(GET /xapi/events/subscriptions)) and creates, updates, activates,
    deactivates or deletes only those that differ, matched by C(name).
  - After a write the subscription is read back; the task fails when XNAT could not resolve it
    (C(valid) false), naming the subscription and XNAT's validation message.
  - C(active) follows the desired state, which is how a project's DICOM-to-NIfTI switch is expressed.
  - O(prefs) sets the event service preferences (C(/xapi/events/prefs)), for example C(enabled).
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  prefs:
    description: Event service preferences that must hold, for example V(enabled=true).
    type: dict
  subscriptions:
    description:
      - The subscriptions. Each item is a dict with C(name) (required, unique), C(project) (omit for a
        site-wide subscription), C(event_type) (for example V(org.nrg.xnat.eventservice.events.ScanEvent)),
        C(status) (for example V(CREATED)), C(payload_filter) (JsonPath predicate), C(action_key), or
        C(command) and C(wrapper) names to use the container service wrapper's action
        (V(org.nrg.containers.services.CommandActionProvider:<wrapper id>)), C(attributes) (dict),
        C(act_as_event_user) (bool), C(active) (bool, default V(true)) and C(state) (V(present)/V(absent)).
    type: list
    elements: dict
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode and diff mode.
  - Project subscriptions are written through the project routes, which need owner access to the project.
"""

EXAMPLES = r"""
- name: Convert DICOM to NIfTI for new scans in two projects (off for NEURO02)
  xnat_event_subscription:
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
"""

from ansible.module_utils.xnat_api import (
    XnatInputError,
    differs,
    quote_segment,
    require_projects,
    run_xnat_module,
)

ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
ITEM_KEYS = frozenset(
    [
        "name",
        "project",
        "event_type",
        "status",
        "payload_filter",
        "action_key",
        "command",
        "version",
        "wrapper",
        "attributes",
        "act_as_event_user",
        "active",
        "state",
    ]
)


def validate(raw, index):
    if not isinstance(raw, dict) or not raw.get("name"):
        raise XnatInputError("subscriptions[%d]: each subscription needs a 'name'" % index)
    where = "subscription %r" % raw["name"]
    unknown = sorted(set(raw) - ITEM_KEYS)
    if unknown:
        raise XnatInputError("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
    item = dict(raw)
    item.setdefault("state", "present")
    item.setdefault("active", True)
    if item["state"] == "present":
        if not item.get("event_type"):
            raise XnatInputError("%s: 'event_type' is required" % where)
        if not item.get("action_key") and not (item.get("command") and item.get("wrapper")):
            raise XnatInputError("%s: give 'action_key', or 'command' and 'wrapper'" % where)
    return item


def wrapper_ids(client):
    ids = {}
    for command in client.get_json("/xapi/commands") or []:
        for wrapper in command.get("xnat") or []:
            ids.setdefault((command.get("name"), wrapper.get("name")), []).append(
                (command.get("version"), wrapper.get("id"))
            )
    return ids


def resolve_action_key(item, ids):
    if item.get("action_key"):
        return item["action_key"]
    found = ids.get((item["command"], item["wrapper"]), [])
    if item.get("version") is not None:
        found = [entry for entry in found if entry[0] == item["version"]]
    if len(found) != 1:
        problem = "no" if not found else "more than one"
        raise XnatInputError(
            "subscription %r: %s registered command %r has a wrapper %r; register it with "
            "xnat_container_service first" % (item["name"], problem, item["command"], item["wrapper"])
        )
    return "%s:%s" % (ACTION_PROVIDER, found[0][1])


def body_of(item, action_key):
    event_filter = {
        "event-type": item["event_type"],
        "project-ids": [item["project"]] if item.get("project") else [],
        "status": item.get("status"),
        "payload-filter": item.get("payload_filter"),
    }
    return {
        "name": item["name"],
        "active": bool(item["active"]),
        "action-key": action_key,
        "attributes": item.get("attributes") or {},
        "act-as-event-user": bool(item.get("act_as_event_user")),
        "event-filter": event_filter,
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


def base_path(item):
    if item.get("project"):
        return "/xapi/projects/%s/events" % quote_segment(item["project"])
    return "/xapi/events"


class SubscriptionRun:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.before = {}
        self.after = {}
        self.changed = False

    def write(self, method, path, **kwargs):
        self.changed = True
        if self.module.check_mode:
            return None
        return self.client.request(method, path, **kwargs)

    def apply(self, item, existing, action_key):
        name = item["name"]
        if item["state"] == "absent":
            if existing is None:
                return {"name": name, "action": "absent"}
            self.before[name] = existing
            self.write(
                "DELETE", "%s/subscription/%s" % (base_path(item), existing["id"]), expected=(200, 204)
            )
            return {"name": name, "id": existing["id"], "action": "deleted"}
        body = body_of(item, action_key)
        if existing is None:
            self.after[name] = body
            response = self.write(
                "POST", "%s/subscription" % base_path(item), json_body=body, expected=(200, 201)
            )
            new_id = None
            if response is not None:
                new_id = response.text.strip().strip('"').rsplit(":", 1)[-1]
                self.check_valid(item, new_id)
            return {"name": name, "id": new_id, "action": "created", "active": body["active"]}
        action = "unchanged"
        path = "%s/subscription/%s" % (base_path(item), existing["id"])
        wanted, have = comparable(body), comparable(existing)
        if differs(have, wanted):
            self.before.setdefault(name, {}).update(have)
            self.after.setdefault(name, {}).update(wanted)
            update = dict(body)
            update.pop("active")
            self.write("PUT", path, json_body=update)
            action = "updated"
        if bool(existing.get("active")) != body["active"]:
            self.before.setdefault(name, {})["active"] = bool(existing.get("active"))
            self.after.setdefault(name, {})["active"] = body["active"]
            self.write("POST", path + ("/activate" if body["active"] else "/deactivate"))
            action = "updated"
        if action == "updated" and not self.module.check_mode:
            self.check_valid(item, existing["id"])
        return {"name": name, "id": existing["id"], "action": action, "active": body["active"]}

    def check_valid(self, item, subscription_id):
        saved = self.client.get_json("%s/subscription/%s" % (base_path(item), quote_segment(subscription_id)))
        if not saved.get("valid", True):
            raise XnatInputError(
                "XNAT saved subscription %r (id %s) but cannot resolve it: %s. Check the "
                "event type, the action key and that the wrapper is enabled for project %s."
                % (
                    item["name"],
                    subscription_id,
                    saved.get("validation-message") or "no reason given",
                    item.get("project") or "(site)",
                )
            )
        if bool(saved.get("active")) != bool(item["active"]):
            raise XnatInputError(
                "subscription %r (id %s) is active=%s after the write, wanted %s"
                % (item["name"], subscription_id, saved.get("active"), item["active"])
            )


def reconcile_prefs(module, client, prefs, run):
    current = client.get_json("/xapi/events/prefs") or {}
    changed = {k: v for k, v in prefs.items() if differs(current.get(k), v)}
    if changed:
        run.before["prefs"] = {k: current.get(k) for k in changed}
        run.after["prefs"] = changed
        merged = dict(current)
        merged.update(changed)
        run.write("PUT", "/xapi/events/prefs", json_body=merged)


def reconcile(module, client):
    items = [validate(raw, index) for index, raw in enumerate(module.params["subscriptions"] or [])]
    names = [item["name"] for item in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise XnatInputError("subscription names must be unique; listed twice: %s" % ", ".join(duplicates))
    require_projects(
        client, [item.get("project") for item in items if item["state"] == "present"], "subscriptions"
    )
    needs_wrappers = any(not i.get("action_key") and i["state"] == "present" for i in items)
    ids = wrapper_ids(client) if needs_wrappers else {}
    keys = [resolve_action_key(item, ids) if item["state"] == "present" else None for item in items]
    # Everything is validated; from here on the task writes.
    run = SubscriptionRun(module, client)
    if module.params["prefs"]:
        reconcile_prefs(module, client, module.params["prefs"], run)
    reports = []
    if items:
        existing = {s.get("name"): s for s in client.get_json("/xapi/events/subscriptions") or []}
        reports = [run.apply(item, existing.get(item["name"]), key) for item, key in zip(items, keys)]  # noqa: B905
    result = {"changed": run.changed, "subscriptions": reports}
    if module._diff:
        result["diff"] = {"before": run.before, "after": run.after}
    return result


def main():
    argument_spec = {
        "prefs": {"type": "dict"},
        "subscriptions": {"type": "list", "elements": "dict"},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
