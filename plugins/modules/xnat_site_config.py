#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: xnat_site_config
short_description: Set XNAT siteConfig preferences, initialise a fresh site, change the default admin password
description:
  - Reads C(GET /xapi/siteConfig), compares it with O(settings) and POSTs only the keys that differ,
    in one request. Keys XNAT does not know fail the task before anything is written.
  - With O(initialize=true) a fresh site is initialised (C(initialized=true) is sent with the other keys;
    XNAT applies it last). On XNAT 1.10 O(settings) must hold C(siteUrl) for a fresh site.
  - With O(bootstrap_password), a refused login as C(admin) is retried with that password (XNAT's
    default is C(admin)) and the admin password is then changed to O(xnat_password).
  - Needs an administrator account.
version_added: "0.1.0"
author: xnat-enclave contributors (@xnat-enclave)
options:
  settings:
    description:
      - siteConfig preference names and the values they must have, for example C(siteUrl), C(requireLogin).
      - Keys not given are left alone.
      - A null value (YAML C(~)) fails the task before any write, because XNAT 1.8 and 1.9 answer a null
        with HTTP 500 after setting the keys before it. Use an empty string for an empty value.
    type: dict
    default: {}
  initialize:
    description:
      - Mark the site initialised (the first-run setup XNAT asks for in its UI).
    type: bool
    default: false
  bootstrap_password:
    description:
      - Only used when O(xnat_user=admin). If XNAT refuses O(xnat_password), log in with this password
        instead and change the admin password to O(xnat_password). Use C(admin) on a new XNAT.
      - One failed login is made on the first run, which is below XNAT's lockout threshold.
    type: str
extends_documentation_fragment:
  - xnat_enclave.xnat.xnat
notes:
  - A password change is reported but never shown.
seealso:
  - module: xnat_enclave.xnat.xnat_info
"""

EXAMPLES = r"""
- name: Initialise XNAT and change the default admin password
  xnat_enclave.xnat.xnat_site_config:
    xnat_url: https://xnat.trust-a.nhs.uk
    xnat_user: admin
    xnat_password: "{{ vault_xnat_admin_password }}"
    bootstrap_password: admin
    initialize: true
    settings:
      siteUrl: https://xnat.trust-a.nhs.uk
      siteId: TRUST_A
      requireLogin: true
      userRegistration: false

- name: Set only the keys that differ, as the service account
  xnat_enclave.xnat.xnat_site_config:
    xnat_url: https://xnat.trust-a.nhs.uk
    xnat_user: svc_xnat
    xnat_password: "{{ vault_xnat_service_password }}"
    ca_path: /usr/local/share/ca-certificates/trust-a-root-ca.crt
    settings:
      uiAllowNonAdminProjectCreation: false

# Ad hoc, with the connection read from XNAT_URL, XNAT_USER and XNAT_PASS:
#   ansible localhost -c local -m xnat_enclave.xnat.xnat_site_config \
#     -a '{"settings": {"requireLogin": true}}' --check --diff
"""

RETURN = r"""
changed_settings:
  description: Keys that were (or in check mode would be) written, with their new values.
  returned: always
  type: dict
  sample: {"siteUrl": "https://xnat.trust-a.nhs.uk"}
initialized:
  description: Whether the site is initialised after the task.
  returned: always
  type: bool
admin_password_changed:
  description: Whether the admin password was (or would be) changed.
  returned: always
  type: bool
actions:
  description: The writes made (in check mode, that would be made), as C(METHOD /path?query); no bodies.
  returned: always
  type: list
  elements: str
  sample: ["POST /xapi/siteConfig", "PUT /xapi/users/admin"]
"""

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import XnatApiError
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_module import (
    NOTHING_CHANGED,
    XnatInputError,
    differs,
    run_xnat_module,
)


def login_for_setup(module, api):
    """Read siteConfig, falling back to the bootstrap password for admin.
    Returns (current settings, whether the admin password must change)."""
    try:
        return api.get_site_config(), False
    except XnatApiError as error:
        bootstrap = module.params["bootstrap_password"]
        if error.status != 401 or not bootstrap or module.params["xnat_user"] != "admin":
            raise
    api.switch_login("admin", module.params["bootstrap_password"])
    try:
        return api.get_site_config(), True
    except XnatApiError as error:
        if error.status == 401:
            raise XnatInputError(
                "XNAT at %s refused both xnat_password and bootstrap_password for 'admin'; "
                "set xnat_password to the current admin password" % module.params["xnat_url"]
            ) from None
        raise


def is_true(value):
    return str(value).lower() == "true"


def reconcile(module, api, diff):
    settings = module.params["settings"] or {}
    nulls = sorted(key for key, value in settings.items() if value is None)
    if nulls:
        raise XnatInputError(
            "settings %s: a null value cannot be sent: XNAT 1.8 and 1.9 answer it with HTTP 500 "
            '(SiteConfigApi) after setting the keys before it. Give the value, or "" for an empty one. %s'
            % (", ".join(nulls), NOTHING_CHANGED)
        )
    current, password_needs_change = login_for_setup(module, api)
    if not isinstance(current, dict) or (settings and not current):
        raise XnatInputError(
            "XNAT returned no siteConfig preferences: %s must be an XNAT administrator"
            % module.params["xnat_user"]
        )
    unknown = sorted(key for key in settings if key not in current)
    if unknown:
        raise XnatInputError(
            "XNAT does not know the siteConfig key(s) %s (check the spelling; keys are "
            "case-sensitive, e.g. siteUrl). %s" % (", ".join(unknown), NOTHING_CHANGED)
        )
    changed = {key: value for key, value in settings.items() if differs(current.get(key), value)}
    was_initialized = is_true(current.get("initialized"))
    if module.params["initialize"] and not was_initialized:
        changed["initialized"] = True
    if changed:
        api.set_site_config(changed)
    if password_needs_change:
        api.update_user("admin", {"password": module.params["xnat_password"]})
    keys = sorted(set(settings) | set(changed))
    before = {key: current.get(key) for key in keys}
    after = dict(before)
    after.update(changed)
    diff.record_single(before, after)
    return {
        "changed_settings": changed,
        "initialized": was_initialized or "initialized" in changed,
        "admin_password_changed": password_needs_change,
    }


def main():
    argument_spec = {
        "settings": {"type": "dict", "default": {}},
        "initialize": {"type": "bool", "default": False},
        "bootstrap_password": {"type": "str", "no_log": True},
    }
    run_xnat_module(argument_spec, reconcile)


if __name__ == "__main__":
    main()
