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
    differ, matched by O(subscriptions[].name). XNAT does not keep names unique; when it holds two or
    more subscriptions with a listed name the task fails before any write and names their ids.
  - Every write goes through XNAT's site routes, with O(subscriptions[].project) as the filter's
    C(project-ids), as NRG's own client does; the project routes would store C(act-as-event-user) false
    on create and refuse subscriptions of other projects.
  - Updates send the whole subscription. An empty O(subscriptions[].payload_filter) is sent as C("")
    because XNAT keeps the old filter when an update has none.
  - Payload filters that are about to be written are first compiled by XNAT itself
    (C(POST /xapi/events/subscription/filter/validate), XNAT 1.9 and later); one that does not compile
    fails the task before any write. Older XNATs refuse it at the write (HTTP 424), reported with the
    subscription's name.
  - After a write the subscription is read back; the task fails when XNAT could not resolve it
    (C(valid) false), naming the subscription and XNAT's validation message.
  - O(subscriptions[].active) follows the desired state, which is how a project's DICOM-to-NIfTI switch
    is expressed.
  - O(prefs) sets the event service preferences, for example C(enabled).
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  prefs:
    description:
      - Event service preferences that must hold, for example V(enabled=true).
      - XNAT lists no subscriptions while the service is disabled, so when the task enables it that write
        comes before the subscriptions are read and checked.
    type: dict
  subscriptions:
    description: The subscriptions.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the subscription, which identifies it (unique within the task and in XNAT).
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
        description:
          - Event status to react to, for example V(CREATED).
          - XNAT keeps the status of an existing subscription when an update has none, so removing it
            from an existing subscription fails the task; delete the subscription (V(absent)) first.
        type: str
      payload_filter:
        description:
          - JsonPath predicate on the event payload, without C($[?( )]), for example
            V(@.label == 'DICOM'). Leave it out (or V("")) for no filter.
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
attributes:
  check_mode:
    description: Can run in check mode and report what would change without writing to XNAT.
    support: full
    details:
      - The payload filter check is a POST, so it is not made in check mode.
notes:
  - Needs an administrator account (XNAT lists subscriptions to administrators only).
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
  sample: ["POST /xapi/events/subscription"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import XnatApiError
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    NOTHING_CHANGED,
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
    """The whole subscription, for create and update (XNAT resets what an update leaves out)."""
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
            # EventFilter.update keeps the old filter when this is null; "" clears it.
            "payload-filter": item["payload_filter"] or "",
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


def index_by_name(subscriptions, names):
    """``{name: subscription}`` for the names the task manages; fails when XNAT holds one twice."""
    found = {}
    for subscription in subscriptions:
        if subscription.get("name") in names:
            found.setdefault(subscription["name"], []).append(subscription)
    repeated = sorted(name for name, entries in found.items() if len(entries) > 1)
    if repeated:
        details = "; ".join(
            "%r (ids %s)" % (name, ", ".join(str(s.get("id")) for s in found[name])) for name in repeated
        )
        raise XnatInputError(
            "XNAT holds more than one subscription named %s; names are not unique in XNAT, so the task "
            "cannot tell which one it manages. Delete or rename the extra ones in XNAT. %s"
            % (details, NOTHING_CHANGED)
        )
    return {name: entries[0] for name, entries in found.items()}


def plan(item, existing, action_key):
    """What one subscription needs: its body and the write (``create``, ``update`` or None)."""
    step = {"item": item, "existing": existing, "body": None, "write": None}
    if item["state"] == "absent":
        return step
    step["body"] = body = body_of(item, action_key)
    if existing is None:
        step["write"] = "create"
        return step
    have = comparable(existing)
    if item["status"] is None and have["event-filter"]["status"] is not None:
        raise XnatInputError(
            "subscription %r: XNAT keeps the status %s of an existing subscription when an update has "
            "none, so it cannot be removed; give 'status', or delete the subscription (state: absent) "
            "and create it again. %s" % (item["name"], have["event-filter"]["status"], NOTHING_CHANGED)
        )
    step["write"] = "update" if differs(have, comparable(body)) else None
    return step


def check_payload_filters(api, steps):
    """Let XNAT compile every payload filter about to be written; fail before any write."""
    for step in steps:
        item = step["item"]
        predicate = step["body"]["event-filter"]["payload-filter"] if step["write"] else ""
        if not predicate or api.check_mode:
            continue
        checked, reason = api.check_payload_filter(predicate)
        if not checked:
            return  # an XNAT without the check (before 1.9) refuses a bad filter at the write
        if reason:
            raise XnatInputError(
                "subscription %r: XNAT cannot compile its payload_filter %r as a JsonPath predicate: %s. "
                "Write the predicate without $[?( )], for example @.label == 'DICOM'. %s"
                % (item["name"], predicate, reason, NOTHING_CHANGED)
            )


def apply_subscription(api, diff, step):
    item, existing, body, write = step["item"], step["existing"], step["body"], step["write"]
    name = item["name"]
    if item["state"] == "absent":
        if existing is None:
            return {"name": name, "action": "absent"}
        diff.record(name, existing, {})
        api.delete_subscription(existing["id"])
        return {"name": name, "id": existing["id"], "action": "deleted"}
    if write == "create":
        diff.record(name, {}, body)
        new_id = refused_as_input(item, lambda: api.create_subscription(body))
        if new_id is not None:
            check_valid(api, item, new_id)
        return {"name": name, "id": new_id, "action": "created", "active": body["active"]}
    action = "unchanged"
    if write == "update":
        diff.record(name, comparable(existing), comparable(body))
        update = dict(body)
        update.pop("active")
        refused_as_input(item, lambda: api.update_subscription(existing["id"], update))
        action = "updated"
    if bool(existing.get("active")) != body["active"]:
        diff.record_field(name, "active", bool(existing.get("active")), body["active"])
        api.set_subscription_active(existing["id"], body["active"])
        action = "updated"
    if action == "updated" and not api.check_mode:
        check_valid(api, item, existing["id"])
    return {"name": name, "id": existing["id"], "action": action, "active": body["active"]}


def refused_as_input(item, write):
    """A 424 from XNAT (subscription failed validation) reported with the subscription it was about."""
    try:
        return write()
    except XnatApiError as error:
        if error.status != 424:
            raise
        raise XnatInputError(
            "XNAT refused subscription %r (project %s): %s. Check the event type, the payload filter and "
            "that the wrapper is enabled for the project (xnat_container_service)."
            % (item["name"], item["project"] or "(site)", error)
        ) from None


def check_valid(api, item, subscription_id):
    saved = api.get_subscription(subscription_id)
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
    if module.params["prefs"]:
        reconcile_prefs(api, diff, module.params["prefs"])
    if not items:
        return {"subscriptions": []}
    by_name = index_by_name(api.list_subscriptions() or [], {item["name"] for item in items})
    steps = [
        plan(item, by_name.get(item["name"]), key)
        for item, key in zip(items, keys)  # noqa: B905 - runs on Python 3.8 targets
    ]
    check_payload_filters(api, steps)
    # Everything is read and checked; from here on the task writes.
    return {"subscriptions": [apply_subscription(api, diff, step) for step in steps]}


def main():
    argument_spec = {
        "prefs": {"type": "dict"},
        "subscriptions": {"type": "list", "elements": "dict", "options": SUBSCRIPTION_OPTIONS},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
