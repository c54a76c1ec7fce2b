# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""How every xnat_* module runs: one AnsibleModule set-up, one result shape, one error path.

``run_xnat_module(argument_spec, reconcile)`` builds the module with the shared connection options,
hands ``reconcile(module, api, diff)`` an :class:`XnatAPI` (whose write funnel records every write
and skips it in check mode) and a :class:`Diff`, and exits with the same keys for every module:

* ``changed`` — whether a write was made (or, in check mode, would be);
* ``actions`` — those writes, ``METHOD /path?query`` in order (the preview in check mode);
* ``diff`` — ``{"before": {...}, "after": {...}}`` keyed by object, in diff mode;
* ``http_requests`` / ``http_writes`` — what the run sent to XNAT;
* plus whatever ``reconcile`` returns about the objects it handled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import (
    XnatApiError,
    XnatClient,
    xnat_argument_spec,
)
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_resources import XnatAPI

NOTHING_CHANGED = "Nothing was changed."


class XnatInputError(Exception):
    """Bad module input or an XNAT state the task cannot work with, found before the next write."""


class Diff:
    """Before/after of every object a run changes, keyed by a label the user recognises."""

    def __init__(self):
        self.before = {}
        self.after = {}

    def record(self, label, before, after):
        """The whole before and after of one object (``{}`` for absent)."""
        self.before[label] = before
        self.after[label] = after

    def record_field(self, label, field, before, after):
        """One changed field of an object; fields of the same object accumulate."""
        self.before.setdefault(label, {})[field] = before
        self.after.setdefault(label, {})[field] = after

    def record_single(self, before, after):
        """For a module that manages one object (site settings): its fields are the diff's keys."""
        self.before.update(before)
        self.after.update(after)

    def as_result(self):
        return {"before": self.before, "after": self.after}


def run_xnat_module(argument_spec, reconcile, **module_kwargs):
    """Build the module, run ``reconcile(module, api, diff) -> dict`` and exit with the common keys."""
    spec = xnat_argument_spec()
    spec.update(argument_spec)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **module_kwargs)
    try:
        client = XnatClient.from_module(module)
    except ValueError as error:  # xnat_url unusable: a configuration error, never retried
        module.fail_json(msg=str(error), actions=[], http_requests=0, http_writes=0)
    api = XnatAPI(client, check_mode=module.check_mode)
    diff = Diff()
    counters = {}
    try:
        result = dict(reconcile(module, api, diff) or {})
    except XnatInputError as error:
        counters = _counters(client, api)
        module.fail_json(msg=str(error), **counters)
    except XnatApiError as error:
        counters = _counters(client, api)
        module.fail_json(msg=str(error), status=error.status, url=error.url, method=error.method, **counters)
    result.update(_counters(client, api))
    result["changed"] = bool(api.actions)
    if module._diff:
        result["diff"] = diff.as_result()
    module.exit_json(**result)


def _counters(client, api):
    return {
        "actions": list(api.actions),
        "http_requests": client.request_count,
        "http_writes": client.write_count,
    }


def require_known_projects(api, project_ids, where):
    """Fail on unknown project ids before anything is written."""
    unknown = api.missing_projects(project_ids)
    if unknown:
        raise XnatInputError(
            "%s: unknown project(s) %s; create them first (xnat_project). %s"
            % (where, ", ".join(unknown), NOTHING_CHANGED)
        )


def unique_or_fail(items, key, what):
    """Fail when two items share ``key`` (each object may be listed once)."""
    values = [item[key] for item in items]
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise XnatInputError(
            "%s listed more than once: %s. %s" % (what, ", ".join(repeated), NOTHING_CHANGED)
        )


# --- comparing what XNAT holds with what is wanted ---------------------------------------------------
def _normalise_scalar(value):
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 18:
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise(value):
    """XNAT writes booleans and numbers back as strings at times; compare them as values."""
    if isinstance(value, (str, float)) and not isinstance(value, bool):
        return _normalise_scalar(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def differs(current, desired):
    """True when the desired value is not what XNAT holds (after normalising shapes)."""
    return normalise(current) != normalise(desired)


# --- XNAT identifier checks (what XNAT refuses, refused here before the first request) -----------
# Project ids: XNAT answers 417 "Invalid character in project ID." (ProjectResource); usernames and
# e-mail addresses: UsersApi.validateUser with Patterns.EXPR_USERNAME and Users.EXPRESSION_EMAIL.
PROJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
USERNAME = re.compile(r"[a-zA-Z][A-Za-z0-9\-_'.]{0,63}")
EMAIL = re.compile(
    r"[A-Za-z0-9_!#$%&'*+/=?`{|}~^-]+(?:\.[A-Za-z0-9_!#$%&'*+/=?`{|}~^-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


def validate_project_id(value, where="project"):
    if not PROJECT_ID.fullmatch(str(value)):
        raise XnatInputError(
            "%s: project id %r is not one XNAT accepts: 1-64 letters, digits, '_' or '-' (no spaces, slashes "
            "or accents). %s" % (where, value, NOTHING_CHANGED)
        )
    return str(value)


def validate_username(value, where="user"):
    if not USERNAME.fullmatch(str(value)):
        raise XnatInputError(
            "%s: username %r is not one XNAT accepts: a letter, then up to 63 letters, digits or - _ ' . "
            "%s" % (where, value, NOTHING_CHANGED)
        )
    return str(value)


def validate_email(value, where="user"):
    if not EMAIL.fullmatch(str(value)):
        raise XnatInputError(
            "%s: e-mail address %r is not one XNAT accepts. %s" % (where, value, NOTHING_CHANGED)
        )
    return str(value)


# --- DICOM input checks --------------------------------------------------------------------------------
def validate_ae_title(value, where="ae_title"):
    """DICOM AE title: 1-16 characters of the default repertoire, no backslash or control
    characters, not all spaces (PS3.5 table 6.2-1, VR AE)."""
    if not isinstance(value, str) or not value:
        raise XnatInputError("%s: an AE title is required (1-16 characters)" % where)
    if len(value) > 16:
        raise XnatInputError(
            "%s: AE title %r is %d characters long; DICOM allows at most 16" % (where, value, len(value))
        )
    for char in value:
        if char == "\\" or not (" " <= char <= "~"):
            raise XnatInputError(
                "%s: AE title %r contains %r; only printable ASCII without backslash is "
                "allowed (DICOM default repertoire)" % (where, value, char)
            )
    if not value.strip():
        raise XnatInputError("%s: AE title must not be all spaces" % where)
    return value.strip()


def validate_port(value, where="port"):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise XnatInputError("%s: port %r is not a TCP port number (1-65535)" % (where, value))
    return value
