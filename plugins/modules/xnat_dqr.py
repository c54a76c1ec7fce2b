#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_dqr
short_description: Configure XNAT DICOM Query-Retrieve - settings, PACS entries, availability, C-ECHO
description:
  - O(settings) sets DQR preferences (C(/xapi/dqr/settings), or C(/xapi/dqr) on older plugin releases);
    only differing keys are POSTed. Unknown keys fail before any write.
  - O(pacs) manages PACS entries (C(/xapi/pacs)) matched by C(label); they are created, updated in place
    (keeping their id) or deleted. AE titles and ports are validated before any request.
  - Weekly availability windows are added when missing.
  - With C(echo=true) on a PACS item, XNAT performs a C-ECHO (C(GET /xapi/pacs/{id}/status)) after the
    entry is in place, and the task fails with a clear message when the PACS does not answer.
version_added: "0.1.0"
author: xnat-enclave contributors
options:
  settings:
    description:
      - DQR preferences, for example C(dqrCallingAe), C(allowAllUsersToUseDqr) (keep V(false) and grant the
        C(Dqr) role instead), C(dqrMaxPacsRequestAttempts).
    type: dict
  pacs:
    description:
      - PACS entries. Each item has C(label) (required), C(ae_title), C(host), C(port) (query/retrieve
        port), C(queryable), C(storable), C(default_storage), C(default_query_retrieve),
        C(orm_strategy) (ORM strategy bean id, default V(dicomOrmStrategy)), C(dicom_object_identifier),
        C(supports_extended_negotiations), C(retrieve_level), C(anonymization), C(state)
        (V(present)/V(absent)), C(availability) (list of C(dayOfWeek), C(availabilityStart),
        C(availabilityEnd), C(threads), C(utilizationPercent), C(enabled)) and C(echo) (bool).
    type: list
    elements: dict
extends_documentation_fragment:
  - xnat
notes:
  - Supports check mode and diff mode. In check mode no C-ECHO is sent for a PACS entry that does not exist
    yet.
  - Needs an administrator account.
"""

EXAMPLES = r"""
- name: DQR settings and the trust PACS, checked with C-ECHO
  xnat_dqr:
    settings:
      dqrCallingAe: XNAT_TRUST_A
      allowAllUsersToUseDqr: false
    pacs:
      - label: Trust A PACS
        ae_title: PACS_TRUST_A
        host: pacs.trust-a.nhs.uk
        port: 104
        queryable: true
        storable: true
        default_query_retrieve: true
        default_storage: true
        availability:
          - {dayOfWeek: SATURDAY, availabilityStart: "00:00", availabilityEnd: "23:59", threads: 2,
             utilizationPercent: 100, enabled: true}
        echo: true
"""

RETURN = r"""
settings_path:
  description: The DQR settings route the plugin answered on.
  returned: when O(settings) is given
  type: str
  sample: /xapi/dqr/settings
pacs:
  description: Per PACS entry, its id and what the task did, with the C-ECHO result when asked.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.xnat_api import (
    XnatApiError,
    XnatInputError,
    differs,
    run_xnat_module,
    validate_ae_title,
    validate_port,
)

FIELDS = (
    ("ae_title", "aeTitle"),
    ("host", "host"),
    ("port", "queryRetrievePort"),
    ("queryable", "queryable"),
    ("storable", "storable"),
    ("default_storage", "defaultStoragePacs"),
    ("default_query_retrieve", "defaultQueryRetrievePacs"),
    ("orm_strategy", "ormStrategySpringBeanId"),
    ("dicom_object_identifier", "dicomObjectIdentifier"),
    ("supports_extended_negotiations", "supportsExtendedNegotiations"),
    ("retrieve_level", "retrieveLevel"),
    ("anonymization", "anonymizationEnabled"),
    ("dicom_web_enabled", "dicomWebEnabled"),
    ("dicom_web_root_url", "dicomWebRootUrl"),
)
ITEM_KEYS = frozenset([option for option, _field in FIELDS] + ["label", "state", "availability", "echo"])
SETTINGS_ROUTES = ("/xapi/dqr/settings", "/xapi/dqr")
WINDOW_KEY = ("dayOfWeek", "availabilityStart", "availabilityEnd")


def validate(raw, index):
    if not isinstance(raw, dict) or not raw.get("label"):
        raise XnatInputError("pacs[%d]: each PACS entry needs a 'label'" % index)
    where = "PACS %r" % raw["label"]
    unknown = sorted(set(raw) - ITEM_KEYS)
    if unknown:
        raise XnatInputError(
            "%s: unknown key(s) %s; allowed: %s" % (where, ", ".join(unknown), ", ".join(sorted(ITEM_KEYS)))
        )
    item = dict(raw)
    item.setdefault("state", "present")
    if item["state"] == "present":
        for key in ("ae_title", "host", "port"):
            if item.get(key) in (None, ""):
                raise XnatInputError("%s: %r is required" % (where, key))
        item["ae_title"] = validate_ae_title(item["ae_title"], "%s ae_title" % where)
        validate_port(item["port"], "%s port" % where)
        item.setdefault("orm_strategy", "dicomOrmStrategy")
    for window in item.get("availability") or []:
        if not isinstance(window, dict) or any(window.get(key) in (None, "") for key in WINDOW_KEY):
            raise XnatInputError("%s: each availability window needs %s" % (where, ", ".join(WINDOW_KEY)))
    return item


def body_of(item):
    body = {"label": item["label"]}
    body.update((field, item[option]) for option, field in FIELDS if item.get(option) is not None)
    return body


def read_settings(client):
    for path in SETTINGS_ROUTES:
        response = client.request("GET", path, expected=(200, 404))
        if response.status == 200:
            return path, response.json() or {}
    raise XnatInputError(
        "XNAT answered 404 on %s: the dicom-query-retrieve plugin is not installed or still "
        "loading" % " and ".join(SETTINGS_ROUTES)
    )


class DqrRun:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.changed = False
        self.before = {}
        self.after = {}

    def write(self, method, path, **kwargs):
        self.changed = True
        if self.module.check_mode:
            return None
        return self.client.request(method, path, **kwargs)

    def settings(self, wanted):
        path, current = read_settings(self.client)
        unknown = sorted(key for key in wanted if key not in current)
        if unknown:
            raise XnatInputError(
                "the DQR plugin has no setting(s) %s (known: %s). Nothing was changed."
                % (", ".join(unknown), ", ".join(sorted(current)))
            )
        changed = {k: v for k, v in wanted.items() if differs(current.get(k), v)}
        if changed:
            self.before["settings"] = {k: current.get(k) for k in changed}
            self.after["settings"] = changed
            as_strings = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in changed.items()}
            self.write("POST", path, json_body=as_strings)
        return path

    def pacs(self, item, existing):
        label = item["label"]
        if item["state"] == "absent":
            if existing is not None:
                self.before[label] = existing
                self.write("DELETE", "/xapi/pacs/%s" % existing["id"], expected=(200, 204))
                return {"label": label, "id": existing["id"], "action": "deleted"}
            return {"label": label, "action": "absent"}
        body = body_of(item)
        if existing is None:
            self.after[label] = body
            response = self.write("POST", "/xapi/pacs", json_body=body)
            saved = response.json() if response is not None else dict(body, id=None)
            action = "created"
        else:
            changed = {k: v for k, v in body.items() if differs(existing.get(k), v)}
            saved, action = existing, "unchanged"
            if changed:
                self.before[label] = {k: existing.get(k) for k in changed}
                self.after[label] = changed
                response = self.write("PUT", "/xapi/pacs/%s" % existing["id"], json_body=changed)
                saved = response.json() if response is not None else dict(existing, **changed)
                action = "updated"
        report = {"label": label, "id": saved.get("id"), "action": action}
        if item.get("availability"):
            report["availability_added"] = self.availability(saved.get("id"), label, item["availability"])
        if item.get("echo") and saved.get("id") is not None:
            report["echo"] = self.echo(saved["id"], label, item)
        return report

    def availability(self, pacs_id, label, windows):
        current = []
        if pacs_id is not None:
            current = self.client.get_json("/xapi/pacs/%s/availability" % pacs_id) or []
            if isinstance(current, dict):
                current = [w for day in current.values() for w in (day if isinstance(day, list) else [day])]
        have = {tuple(str(w.get(k)) for k in WINDOW_KEY) for w in current if isinstance(w, dict)}
        added = []
        for window in windows:
            if tuple(str(window.get(k)) for k in WINDOW_KEY) in have:
                continue
            added.append(window)
            if self.module.check_mode or pacs_id is None:
                self.changed = True
                continue
            response = self.client.request(
                "POST", "/xapi/pacs/%s/availability" % pacs_id, json_body=window, expected=(200, 201, 400)
            )
            if response.status == 400 and "overlap" not in response.text.lower():
                raise XnatApiError(
                    "POST",
                    self.client.url_for("/xapi/pacs/%s/availability" % pacs_id),
                    400,
                    response.text[:300],
                )
            self.changed = self.changed or response.status != 400
        if added:
            self.after.setdefault(label, {})["availability_added"] = added
        return added

    def echo(self, pacs_id, label, item):
        ping = self.client.get_json("/xapi/pacs/%s/status" % pacs_id) or {}
        if not ping.get("successful"):
            raise XnatInputError(
                "C-ECHO from XNAT to PACS %r (%s@%s:%s) failed: the PACS did not answer. "
                "Check the PACS's host, port and AE title, that it lists XNAT's calling AE, and "
                "the firewall between them." % (label, item["ae_title"], item["host"], item["port"])
            )
        return ping


def reconcile(module, client):
    params = module.params
    items = [validate(raw, index) for index, raw in enumerate(params["pacs"] or [])]
    labels = [item["label"] for item in items]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise XnatInputError("PACS labels must be unique; listed twice: %s" % ", ".join(duplicates))
    run = DqrRun(module, client)
    result = {}
    if params["settings"]:
        result["settings_path"] = run.settings(params["settings"])
    reports = []
    if items:
        current = client.get_json("/xapi/pacs", query={"storable": False, "queryable": False}) or []
        by_label = {entry.get("label"): entry for entry in current}
        reports = [run.pacs(item, by_label.get(item["label"])) for item in items]
    result.update(changed=run.changed, pacs=reports)
    if module._diff:
        result["diff"] = {"before": run.before, "after": run.after}
    return result


def main():
    argument_spec = {
        "settings": {"type": "dict"},
        "pacs": {"type": "list", "elements": "dict"},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
