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
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  receivers:
    description: The receivers, matched by O(receivers[].ae_title) and O(receivers[].port).
    type: list
    elements: dict
    required: true
    suboptions:
      ae_title:
        description: Called AE title of the receiver.
        type: str
        required: true
      port:
        description: TCP port the receiver listens on.
        type: int
        required: true
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
        description: Run XNAT's custom processing for received data (DQR imports with a relabel map need it).
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
  exclusive:
    description:
      - Delete every receiver that is not listed (for example the C(XNAT:8104) receiver a new XNAT has,
        which accepts any calling AE).
    type: bool
    default: false
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
notes:
  - Needs an administrator account.
"""

EXAMPLES = r"""
- name: Receiver for the trust PACS, whitelisted, and no other receiver
  xnat_enclave.xnat.xnat_dicom_receiver:
    receivers:
      - ae_title: XNAT_TRUST_A
        port: 8104
        identifier: dqrObjectIdentifier
        anonymization: true
        whitelist: [PACS_TRUST_A]
    exclusive: true

- name: Remove the receiver XNAT creates by default
  xnat_enclave.xnat.xnat_dicom_receiver:
    receivers:
      - ae_title: XNAT
        port: 8104
        state: absent
"""

RETURN = r"""
receivers:
  description: The receivers after the task (as XNAT returned them), in the order given.
  returned: always
  type: list
  elements: dict
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query).
  returned: always
  type: list
  elements: str
  sample: ["POST /xapi/dicomscp", "DELETE /xapi/dicomscp/1"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    differs,
    run_xnat_module,
    validate_ae_title,
    validate_port,
)

RECEIVER_OPTIONS = {
    "ae_title": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
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


def desired_body(item, where):
    """Validate one receiver and build the body XNAT expects."""
    body = {
        "aeTitle": validate_ae_title(item["ae_title"], "%s ae_title" % where),
        "port": validate_port(item["port"], "%s port" % where),
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
    return body


def identity(receiver):
    return (str(receiver.get("aeTitle", "")).strip(), int(receiver.get("port", 0)))


def label_of(receiver):
    return "%s:%d" % identity(receiver)


def comparable(receiver, keys):
    """The fields the task manages; the whitelist is a set (XNAT sorts it)."""
    view = {key: receiver.get(key) for key in keys if key not in SERVER_FIELDS}
    if "whitelist" in view:
        view["whitelist"] = sorted(view["whitelist"] or [])
    return view


def apply_receiver(api, diff, state, body, existing):
    """Make one receiver what ``body`` says; returns the receiver as XNAT holds it (None when deleted)."""
    label = label_of(body)
    if state == "absent":
        if existing:
            diff.record(label, comparable(existing, existing), {})
            api.delete_receiver(existing["id"])
        return None
    if existing is None:
        diff.record(label, {}, body)
        return api.create_receiver(body) or body
    old = comparable(existing, body)
    if not differs(old, comparable(body, body)):
        return existing
    diff.record(label, old, comparable(body, body))
    update = dict(existing)
    update.update(body)
    return api.update_receiver(existing["id"], update) or update


def reconcile(module, api, diff):
    wanted = [
        (item["state"], desired_body(item, "receivers[%d]" % index))
        for index, item in enumerate(module.params["receivers"])
    ]
    current = {identity(receiver): receiver for receiver in api.list_receivers()}
    results = []
    for state, body in wanted:
        saved = apply_receiver(api, diff, state, body, current.get(identity(body)))
        if saved is not None:
            results.append(saved)
    if module.params["exclusive"]:
        listed = {identity(body) for _state, body in wanted}
        for key, receiver in sorted(current.items()):
            if key not in listed and receiver.get("id") is not None:
                diff.record(label_of(receiver), comparable(receiver, receiver), {})
                api.delete_receiver(receiver["id"])
    return {"receivers": results}


def main():
    argument_spec = {
        "receivers": {"type": "list", "elements": "dict", "required": True, "options": RECEIVER_OPTIONS},
        "exclusive": {"type": "bool", "default": False},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
