# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
# What every xnat_* module shares: the connection options (plugins/module_utils/xnat_client.py holds
# the matching argument spec) and the attributes (check mode and diff through the one write funnel,
# membership of the action group). Modules say `extends_documentation_fragment: [xnat_enclave.xnat.xnat]`.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  xnat_url:
    description:
      - Base URL of XNAT, for example V(https://xnat.trust-a.nhs.uk).
      - Falls back to the environment variable E(XNAT_URL).
    type: str
    required: true
  xnat_user:
    description:
      - Account the module logs in as (Basic auth on the first request, then the JSESSIONID cookie).
      - Falls back to E(XNAT_USER).
    type: str
    required: true
  xnat_password:
    description:
      - Password of O(xnat_user), or the secret of an alias token. Never printed or logged.
      - Falls back to E(XNAT_PASS).
    type: str
    required: true
  validate_certs:
    description:
      - Verify XNAT's TLS certificate. Only turn off for a throw-away test server.
      - Falls back to E(XNAT_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed XNAT's certificate (for a trust's internal CA).
      - Falls back to E(XNAT_CA_PATH).
    type: path
  timeout:
    description:
      - Seconds to wait for one HTTP response. Falls back to E(XNAT_TIMEOUT).
    type: int
    default: 30
  retry_timeout:
    description:
      - Time budget in seconds for retrying a request while XNAT refuses connections or answers
        502, 503 or 504 (XNAT takes minutes to start). Retries back off exponentially.
      - Falls back to E(XNAT_RETRY_TIMEOUT).
    type: int
    default: 300
attributes:
  check_mode:
    description: Can run in check mode and report what would change without writing to XNAT.
    support: full
    details:
      - Every write goes through one funnel that, in check mode, lists the request in RV(actions)
        instead of sending it.
  diff_mode:
    description: Returns the before and after of every object it changes (or would change).
    support: full
  action_group:
    description: Part of the action group C(xnat_enclave.xnat.xnat), so one C(module_defaults) entry sets
      the connection options of every xnat_* task.
    support: full
    membership:
      - xnat_enclave.xnat.xnat
  platform:
    description: Runs wherever Python can reach XNAT over HTTPS; no extra Python package is needed.
    support: N/A
    platforms: all
"""
