#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_dicom_receiver
short_description: Manage XNAT DICOM SCP receivers (C(/xapi/dicomscp)) matched by AE title and port
description:
  - Reads the receivers once, matches the wanted one by (AE title, port), and creates, updates or deletes
    only what differs. A receiver keeps its id across runs (no delete-and-recreate).
  - AE titles (1-16 characters of the DICOM default repertoire, no backslash or control characters, not
    all spaces) and ports (1-65535) are validated before any request.
  - Several receivers can be given at once with O(receivers); each item takes the same options as the
    module (O(ae_title), O(port), O(state), ...).
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  ae_title:
    description: Called AE title of the receiver.
    type: str
  port:
    description: TCP port the receiver listens on.
    type: int
  state:
    description: Whether the receiver exists.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description: Whether the receiver accepts associations.
    type: bool
    default: true
  whitelist:
    description:
      - Calling AE titles or addresses allowed to send, as XNAT accepts them (C(AE), an IP address or
        CIDR network, or C(AE@address)).
      - A non-empty list turns XNAT's whitelist on; an empty list turns it off.
    type: list
    elements: str
  anonymization:
    description: Apply the site and project anonymisation scripts to received data.
    type: bool
    default: true
  direct_archive:
    description: Archive directly, skipping the prearchive.
    type: bool
    default: false
  custom_processing:
    description: Run XNAT's custom processing for received data.
    type: bool
    default: false
  identifier:
    description:
      - DICOM object identifier bean, e.g. V(dicomObjectIdentifier) (XNAT's default) or
        V(dqrObjectIdentifier) for DQR.
    type: str
    default: dicomObjectIdentifier
  project_routing_expression:
    description: Routing expression that sets the project. Any routing expression turns routing on.
    type: str
  subject_routing_expression:
    description: Routing expression that sets the subject label.
    type: str
  session_routing_expression:
    description: Routing expression that sets the session label.
    type: str
  receivers:
    description: Several receivers in one task; each item takes the options above.
    type: list
    elements: dict
  exclusive:
    description:
      - Delete every receiver that is not listed (for example the C(XNAT:8104) receiver a new XNAT has,
        which accepts any calling AE).
    type: bool
    default: false
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode and diff mode.
  - Needs an administrator account.
"""

EXAMPLES = r"""
- name: Receiver for the trust PACS, whitelisted
  xnat_dicom_receiver:
    ae_title: XNAT_TRUST_A
    port: 8104
    identifier: dqrObjectIdentifier
    anonymization: true
    whitelist: [PACS_TRUST_A]

- name: Remove the receiver XNAT creates by default
  xnat_dicom_receiver:
    ae_title: XNAT
    port: 8104
    state: absent
"""

RETURN = r"""
receivers:
  description: The receivers after the task (as XNAT returned them), in the order given.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.xnat_api import (
    XnatInputError,
    differs,
    run_xnat_module,
    validate_ae_title,
    validate_port,
)

RECEIVER_OPTIONS = {
    "ae_title": {"type": "str"},
    "port": {"type": "int"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "enabled": {"type": "bool", "default": True},
    "whitelist": {"type": "list", "elements": "str"},
    "anonymization": {"type": "bool", "default": True},
    "direct_archive": {"type": "bool", "default": False},
    "custom_processing": {"type": "bool", "default": False},
    "identifier": {"type": "str", "default": "dicomObjectIdentifier"},
    "project_routing_expression": {"type": "str"},
    "subject_routing_expression": {"type": "str"},
    "session_routing_expression": {"type": "str"},
}
ROUTING = (
    ("project_routing_expression", "projectRoutingExpression"),
    ("subject_routing_expression", "subjectRoutingExpression"),
    ("session_routing_expression", "sessionRoutingExpression"),
)
# Fields XNAT adds or computes; never compared.
SERVER_FIELDS = ("id", "created", "timestamp", "disabled", "label")
PATH = "/xapi/dicomscp"


def desired_item(raw, where):
    """Validate one receiver and build the body XNAT expects."""
    item = {name: spec.get("default") for name, spec in RECEIVER_OPTIONS.items()}
    unknown = sorted(set(raw) - set(item))
    if unknown:
        raise XnatInputError("%s: unknown option(s) %s" % (where, ", ".join(unknown)))
    item.update({k: v for k, v in raw.items() if v is not None})
    if item["state"] not in ("present", "absent"):
        raise XnatInputError("%s: state must be present or absent" % where)
    ae_title = validate_ae_title(item["ae_title"], "%s ae_title" % where)
    port = validate_port(item["port"], "%s port" % where)
    body = {
        "aeTitle": ae_title,
        "port": port,
        "enabled": bool(item["enabled"]),
        "anonymizationEnabled": bool(item["anonymization"]),
        "directArchive": bool(item["direct_archive"]),
        "customProcessing": bool(item["custom_processing"]),
    }
    if item["identifier"]:
        body["identifier"] = item["identifier"]
    if item["whitelist"] is not None:
        body["whitelist"] = list(item["whitelist"])
        body["whitelistEnabled"] = bool(item["whitelist"])
    routing = [(field, item[option]) for option, field in ROUTING if item[option]]
    if routing:
        body["routingExpressionsEnabled"] = True
        body.update(routing)
    return item["state"], body


def desired_list(params):
    if params["receivers"] is not None:
        return [desired_item(raw, "receivers[%d]" % index) for index, raw in enumerate(params["receivers"])]
    single = {name: params[name] for name in RECEIVER_OPTIONS}
    return [desired_item(single, "receiver")]


def find(receivers, body):
    for receiver in receivers:
        if (
            str(receiver.get("aeTitle", "")).strip() == body["aeTitle"]
            and int(receiver.get("port", 0)) == body["port"]
        ):
            return receiver
    return None


def comparable(receiver, keys):
    """The fields the task manages; the whitelist is a set (XNAT sorts it)."""
    view = {key: receiver.get(key) for key in keys if key not in SERVER_FIELDS}
    if "whitelist" in view:
        view["whitelist"] = sorted(view["whitelist"] or [])
    return view


def reconcile(module, client):
    wanted = desired_list(module.params)
    current = client.get_json(PATH) or []
    results, before, after, changed = [], [], [], False
    for state, body in wanted:
        existing = find(current, body)
        label = "%s:%d" % (body["aeTitle"], body["port"])
        if state == "absent":
            if existing:
                changed = True
                before.append(dict(existing))
                if not module.check_mode:
                    client.request("DELETE", "%s/%s" % (PATH, existing["id"]))
            continue
        if existing is None:
            changed = True
            after.append(dict(body, label=label))
            saved = body if module.check_mode else client.request("POST", PATH, json_body=body).json()
            current.append(saved)
            results.append(saved)
            continue
        old = comparable(existing, body)
        if differs(old, comparable(body, body)):
            changed = True
            before.append(dict(old, label=label))
            after.append(dict(body, label=label))
            update = dict(existing)
            update.update(body)
            if not module.check_mode:
                existing = client.request("PUT", "%s/%s" % (PATH, existing["id"]), json_body=update).json()
        results.append(existing)
    if module.params["exclusive"]:
        wanted_keys = {(body["aeTitle"], body["port"]) for _state, body in wanted}
        for receiver in current:
            key = (str(receiver.get("aeTitle", "")).strip(), int(receiver.get("port", 0)))
            if key not in wanted_keys and receiver.get("id") is not None:
                changed = True
                before.append(dict(receiver))
                if not module.check_mode:
                    client.request("DELETE", "%s/%s" % (PATH, receiver["id"]))
    result = {"changed": changed, "receivers": results}
    if module._diff:
        result["diff"] = {"before": {"receivers": before}, "after": {"receivers": after}}
    return result


def main():
    argument_spec = dict(RECEIVER_OPTIONS)
    argument_spec["receivers"] = {"type": "list", "elements": "dict"}
    argument_spec["exclusive"] = {"type": "bool", "default": False}
    run_xnat_module(
        argument_spec,
        reconcile,
        mutually_exclusive=[("receivers", "ae_title")],
        required_one_of=[("receivers", "ae_title")],
        required_together=[("ae_title", "port")],
    )


if __name__ == "__main__":
    main()
