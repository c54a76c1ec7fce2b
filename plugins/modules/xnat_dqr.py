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
  - O(settings) sets DQR preferences (at C(/xapi/dqr/settings), or C(/xapi/dqr) on older plugin releases);
    only differing keys are written. Unknown keys fail before any write.
  - O(pacs) manages PACS entries matched by O(pacs[].label), or, when no entry has that label, by the
    entry's host, port and AE title (XNAT keeps those unique, and an entry made in XNAT's UI may have no
    label; it is then given O(pacs[].label)). Entries are created, updated in place (keeping their id)
    or deleted. AE titles and ports are validated before any request.
  - Weekly availability windows are added when missing. A listed window that overlaps a different window
    XNAT already has fails the task before any write (XNAT would refuse it). Older DQR releases keep
    windows under C(/xapi/dqr/pacsAvailability) with numbered days; with such a release
    O(pacs[].availability) fails before any write.
  - With O(pacs[].echo=true), XNAT performs a C-ECHO after the entry is in place, and the task fails with
    a clear message when the PACS does not answer.
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  settings:
    description:
      - DQR preferences, for example C(dqrCallingAe), C(allowAllUsersToUseDqr) (keep V(false) and grant the
        C(Dqr) role instead), C(dqrMaxPacsRequestAttempts).
    type: dict
  pacs:
    description: PACS entries.
    type: list
    elements: dict
    suboptions:
      label:
        description:
          - Name of the entry, which identifies it; an entry with the same host, port and AE title but
            another label or none is renamed to it.
        type: str
        required: true
      state:
        description: Whether the entry exists.
        type: str
        choices: [present, absent]
        default: present
      ae_title:
        description: The PACS's AE title; required for O(pacs[].state=present).
        type: str
      host:
        description: Host name or address of the PACS; required for O(pacs[].state=present).
        type: str
      port:
        description: Query/retrieve port of the PACS; required for O(pacs[].state=present).
        type: int
      queryable:
        description: Whether XNAT may query this PACS.
        type: bool
      storable:
        description: Whether XNAT may send data to this PACS.
        type: bool
      default_storage:
        description: The default PACS to send to.
        type: bool
      default_query_retrieve:
        description: The default PACS to query.
        type: bool
      orm_strategy:
        description: ORM strategy bean id.
        type: str
        default: dicomOrmStrategy
      dicom_object_identifier:
        description: DICOM object identifier bean used for data retrieved from this PACS.
        type: str
      supports_extended_negotiations:
        description: Whether the PACS supports extended negotiation.
        type: bool
      retrieve_level:
        description: Level at which studies are retrieved, for example V(STUDY) or V(SERIES).
        type: str
      anonymization:
        description:
          - Whether XNAT anonymises data retrieved from this PACS. XNAT's REST API cannot change it (the
            DQR PacsSettings body has no such field and every PACS keeps the default, on), so only V(true)
            is accepted, and nothing is sent for it; V(false) fails the task before any write.
        type: bool
      dicom_web_enabled:
        description: Use DICOMweb for this PACS.
        type: bool
      dicom_web_root_url:
        description: Root URL of the PACS's DICOMweb service.
        type: str
      availability:
        description: Weekly windows in which XNAT may query and retrieve.
        type: list
        elements: dict
        suboptions:
          dayOfWeek:
            description: Day of the week.
            type: str
            required: true
            choices: [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY]
          availabilityStart:
            description: Start time, C(HH:MM).
            type: str
            required: true
          availabilityEnd:
            description: End time, C(HH:MM) (V(00:00) is midnight at the end of the day).
            type: str
            required: true
          threads:
            description: Parallel requests in the window.
            type: int
          utilizationPercent:
            description: Share of the PACS the window may use.
            type: int
          enabled:
            description: Whether the window is in use.
            type: bool
      echo:
        description:
          - Ask XNAT to C-ECHO the PACS once the entry is in place (in check mode, only an existing entry).
        type: bool
        default: false
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
notes:
  - Needs an administrator account.
"""

EXAMPLES = r"""
- name: DQR settings and the trust PACS, checked with C-ECHO
  xnat_enclave.xnat.xnat_dqr:
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
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query).
  returned: always
  type: list
  elements: str
  sample: ["POST /xapi/pacs", "POST /xapi/pacs/1/availability"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    NOTHING_CHANGED,
    XnatInputError,
    differs,
    run_xnat_module,
    unique_or_fail,
    validate_ae_title,
    validate_port,
)

# (option, XNAT's PacsSettings field)
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
    ("dicom_web_enabled", "dicomWebEnabled"),
    ("dicom_web_root_url", "dicomWebRootUrl"),
)
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
WINDOW_OPTIONS = {
    "dayOfWeek": {"type": "str", "required": True, "choices": DAYS},
    "availabilityStart": {"type": "str", "required": True},
    "availabilityEnd": {"type": "str", "required": True},
    "threads": {"type": "int"},
    "utilizationPercent": {"type": "int"},
    "enabled": {"type": "bool"},
}
PACS_OPTIONS = {
    "label": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "ae_title": {"type": "str"},
    "host": {"type": "str"},
    "port": {"type": "int"},
    "queryable": {"type": "bool"},
    "storable": {"type": "bool"},
    "default_storage": {"type": "bool"},
    "default_query_retrieve": {"type": "bool"},
    "orm_strategy": {"type": "str", "default": "dicomOrmStrategy"},
    "dicom_object_identifier": {"type": "str"},
    "supports_extended_negotiations": {"type": "bool"},
    "retrieve_level": {"type": "str"},
    "anonymization": {"type": "bool"},
    "dicom_web_enabled": {"type": "bool"},
    "dicom_web_root_url": {"type": "str"},
    "availability": {"type": "list", "elements": "dict", "options": WINDOW_OPTIONS},
    "echo": {"type": "bool", "default": False},
}
WINDOW_KEY = ("dayOfWeek", "availabilityStart", "availabilityEnd")


def validate(item):
    where = "PACS %r" % item["label"]
    if item["anonymization"] is False:
        raise XnatInputError(
            "%s: anonymization: false cannot be applied: XNAT's DQR REST API has no such setting (the "
            "PacsSettings body has no anonymizationEnabled) and every PACS keeps anonymisation on. Remove "
            "'anonymization' from the entry. %s" % (where, NOTHING_CHANGED)
        )
    if item["state"] == "present":
        missing = [key for key in ("ae_title", "host", "port") if item[key] in (None, "")]
        if missing:
            raise XnatInputError("%s: %s required for state present" % (where, " and ".join(missing)))
        item["ae_title"] = validate_ae_title(item["ae_title"], "%s ae_title" % where)
        validate_port(item["port"], "%s port" % where)
    for window in item["availability"] or []:
        window_span(window, where)
    return item


def body_of(item):
    body = {"label": item["label"]}
    body.update((field, item[option]) for option, field in FIELDS if item.get(option) is not None)
    return body


def window_span(window, where):
    """(start, end) in minutes of the day; an end of 00:00 is midnight at the end of the day."""
    try:
        start, end = [_minutes(window[key]) for key in ("availabilityStart", "availabilityEnd")]
    except ValueError:
        raise XnatInputError(
            "%s: availability %s %s-%s: times must be HH:MM"
            % (where, window["dayOfWeek"], window["availabilityStart"], window["availabilityEnd"])
        ) from None
    end = end or 24 * 60
    if start >= end:
        raise XnatInputError(
            "%s: availability %s starts at %s, not before its end %s"
            % (where, window["dayOfWeek"], window["availabilityStart"], window["availabilityEnd"])
        )
    return start, end


def _minutes(text):
    hours, minutes = str(text).split(":")[:2]
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 24 * 60:
        raise ValueError(text)
    return value


def window_key(window):
    return tuple(str(window.get(key)) for key in WINDOW_KEY)


def windows_to_add(label, wanted, current):
    """The wanted windows XNAT lacks; one that overlaps a different existing window is an error."""
    have = {window_key(window) for window in current}
    missing = []
    for window in wanted:
        if window_key(window) in have:
            continue
        start, end = window_span(window, "PACS %r" % label)
        for existing in current:
            if existing.get("dayOfWeek") != window["dayOfWeek"]:
                continue
            other_start, other_end = window_span(existing, "PACS %r (in XNAT)" % label)
            if start < other_end and other_start < end:
                raise XnatInputError(
                    "PACS %r: availability %s %s-%s overlaps the window %s-%s that XNAT already has, which "
                    "XNAT would refuse; list the existing window as it is or change it in XNAT first. %s"
                    % (
                        label,
                        window["dayOfWeek"],
                        window["availabilityStart"],
                        window["availabilityEnd"],
                        existing.get("availabilityStart"),
                        existing.get("availabilityEnd"),
                        NOTHING_CHANGED,
                    )
                )
        missing.append({key: value for key, value in window.items() if value is not None})
    return missing


def check_settings(wanted):
    """The settings whose form is known, checked before any request: the calling AE is an AE title."""
    if wanted.get("dqrCallingAe") is not None:
        wanted["dqrCallingAe"] = validate_ae_title(wanted["dqrCallingAe"], "settings.dqrCallingAe")
    return wanted


def reconcile_settings(api, diff, wanted):
    found = api.get_dqr_settings()
    if found is None:
        raise XnatInputError(
            "XNAT answered 404 on every DQR settings route (%s): the dicom-query-retrieve plugin is not "
            "installed or still loading" % ", ".join(api.dqr_settings_routes)
        )
    route, current = found
    unknown = sorted(key for key in wanted if key not in current)
    if unknown:
        raise XnatInputError(
            "the DQR plugin has no setting(s) %s (known: %s). %s"
            % (", ".join(unknown), ", ".join(sorted(current)), NOTHING_CHANGED)
        )
    changed = {k: v for k, v in wanted.items() if differs(current.get(k), v)}
    if changed:
        diff.record("settings", {k: current.get(k) for k in changed}, changed)
        api.set_dqr_settings(route, changed)
    return route


def plan_windows(api, item, existing):
    """The windows to add, read and checked before any write (a new entry has none yet)."""
    if item["state"] != "present" or not item["availability"]:
        return []
    if existing is None:
        current = None if api.has_older_dqr_availability_api() else []
    else:
        current = api.list_pacs_availability(existing["id"])
    if current is None:
        raise XnatInputError(
            "PACS %r: this DQR plugin release keeps availability windows under /xapi/dqr/pacsAvailability "
            "(numbered days) and has no /xapi/pacs/{id}/availability, which xnat_dqr manages. Upgrade the "
            "plugin or leave 'availability' out. %s" % (item["label"], NOTHING_CHANGED)
        )
    return windows_to_add(item["label"], item["availability"], current)


def pacs_identity(entry):
    """(host, port, AE title): unique in XNAT (DQR Pacs.java), the identity of an entry without a label.
    Host names are compared without case, as DNS does."""
    port = entry.get("queryRetrievePort")
    host = str(entry.get("host") or "").lower()
    return (host, int(port) if str(port).isdigit() else None, entry.get("aeTitle"))


def match_existing(items, entries):
    """Each item's entry: the one with its label, else the one with its host, port and AE title."""
    by_label = {entry.get("label"): entry for entry in entries if entry.get("label")}
    by_identity = {pacs_identity(entry): entry for entry in entries}
    matched = []
    for item in items:
        entry = by_label.get(item["label"])
        if entry is None and item["host"] and item["port"] and item["ae_title"]:
            wanted = {"host": item["host"], "queryRetrievePort": item["port"], "aeTitle": item["ae_title"]}
            entry = by_identity.get(pacs_identity(wanted))
        matched.append(entry)
    claimed = [entry["id"] for entry in matched if entry is not None]
    repeated = sorted({str(i) for i in claimed if claimed.count(i) > 1})
    if repeated:
        raise XnatInputError(
            "two PACS entries of the task match the same XNAT entry (id %s), by label or by host, port and "
            "AE title; give each its own label and address. %s" % (", ".join(repeated), NOTHING_CHANGED)
        )
    return matched


def apply_pacs(api, diff, item, existing, windows):
    label = item["label"]
    if item["state"] == "absent":
        if existing is None:
            return {"label": label, "action": "absent"}
        diff.record(label, existing, {})
        api.delete_pacs(existing["id"])
        return {"label": label, "id": existing["id"], "action": "deleted"}
    body = body_of(item)
    if existing is None:
        diff.record(label, {}, body)
        saved, action = api.create_pacs(body) or dict(body, id=None), "created"
    else:
        changed = {k: v for k, v in body.items() if differs(existing.get(k), v)}
        saved, action = existing, "unchanged"
        if changed:
            diff.record(label, {k: existing.get(k) for k in changed}, changed)
            saved, action = api.update_pacs(existing["id"], changed) or dict(existing, **changed), "updated"
    report = {"label": label, "id": saved.get("id"), "action": action}
    if item["availability"]:
        for window in windows:
            api.add_pacs_availability(saved.get("id"), window)
        if windows:
            diff.record_field(label, "availability_added", [], windows)
        report["availability_added"] = windows
    if item["echo"] and saved.get("id") is not None:
        report["echo"] = echo(api, saved["id"], item)
    return report


def echo(api, pacs_id, item):
    ping = api.echo_pacs(pacs_id)
    if not ping.get("successful"):
        raise XnatInputError(
            "C-ECHO from XNAT to PACS %r (%s@%s:%s) failed: the PACS did not answer. "
            "Check the PACS's host, port and AE title, that it lists XNAT's calling AE, and "
            "the firewall between them." % (item["label"], item["ae_title"], item["host"], item["port"])
        )
    return ping


def reconcile(module, api, diff):
    items = [validate(dict(item)) for item in module.params["pacs"] or []]
    unique_or_fail(items, "label", "PACS labels")
    settings = check_settings(dict(module.params["settings"] or {}))
    existing = match_existing(items, api.list_pacs()) if items else []
    windows = [plan_windows(api, item, entry) for item, entry in zip(items, existing)]  # noqa: B905
    # Everything is read and checked; from here on the task writes.
    result = {}
    if settings:
        result["settings_path"] = reconcile_settings(api, diff, settings)
    result["pacs"] = [
        apply_pacs(api, diff, item, entry, planned)
        for item, entry, planned in zip(items, existing, windows)  # noqa: B905 - runs on Python 3.8 targets
    ]
    return result


def main():
    argument_spec = {
        "settings": {"type": "dict"},
        "pacs": {"type": "list", "elements": "dict", "options": PACS_OPTIONS},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
