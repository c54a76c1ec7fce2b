# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""XNAT's REST resources, one method per operation, for every xnat_* module.

Modelled on community.general's Keycloak client: modules call ``api.get_project_accessibility(id)``
or ``api.add_project_member(id, "Owners", user)`` and never build a URL or parse a response body
themselves. Reads return XNAT's answer decoded once (ResultSet rows, bare booleans, JSON); a 404 on
an object that may be absent returns None.

Every write goes through :meth:`XnatAPI._write`, the one write funnel: it records the request in
``actions`` (the preview, as community.postgresql returns ``queries``) and, in check mode, sends
nothing and returns None. Modules therefore make the same calls in check mode as in a real run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible_collections.xnat_enclave.xnat.plugins.module_utils import xnat_routes as routes
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import XnatApiError

MEMBER_GROUPS = ("Owners", "Members", "Collaborators")


class XnatAPI:
    """The resources of one XNAT, reached through an :class:`XnatClient`."""

    dqr_settings_routes = routes.DQR_SETTINGS_ROUTES

    def __init__(self, client, check_mode=False):
        self.client = client
        self.check_mode = check_mode
        self.actions = []

    # --- the write funnel and the read helpers ------------------------------------------------------
    def _write(self, method, path, *, query=None, json_body=None, text_body=None, expected=(200,)):
        """Record the write; send it unless in check mode. Returns the XnatResponse, or None."""
        self.actions.append(describe(method, path, query))
        if self.check_mode:
            return None
        return self.client.request(
            method, path, query=query, json_body=json_body, text_body=text_body, expected=expected
        )

    def _get(self, path, query=None, expected=(200,)):
        return self.client.request("GET", path, query=query, expected=expected)

    def _get_json(self, path, query=None):
        return self._get(path, query).json()

    def _get_optional_json(self, path, query=None, absent=(404,)):
        """JSON body, or None when XNAT answers one of ``absent`` (object or plugin not there)."""
        response = self._get(path, query, expected=(200, *tuple(absent)))
        return None if response.status in absent else response.json()

    def _get_bool(self, path):
        response = self._get(path)
        try:
            return routes.parse_bool_body(response.text)
        except ValueError as error:
            raise XnatApiError("GET", response.url, response.status, str(error)) from None

    def _get_result_set(self, path, query=None):
        query = dict(query or {})
        query.setdefault("format", "json")
        response = self._get(path, query)
        try:
            return routes.parse_result_set(response.json())
        except ValueError as error:
            raise XnatApiError("GET", response.url, response.status, str(error)) from None

    def map_reads(self, func, items):
        """Reads overlapping on a few threads (writes stay in task order)."""
        return self.client.map_reads(func, items)

    def switch_login(self, user, password):
        self.client.switch_login(user, password)

    # --- site ---------------------------------------------------------------------------------------
    def get_site_config(self):
        return self._get_json(routes.SITE_CONFIG)

    def set_site_config(self, changes):
        return self._write("POST", routes.SITE_CONFIG, json_body=changes)

    def get_build_info(self):
        return self._get_json(routes.BUILD_INFO) or {}

    def list_plugins(self):
        return self._get_json(routes.PLUGINS) or {}

    # --- users --------------------------------------------------------------------------------------
    def list_usernames(self):
        return self._get_json(routes.USERS) or []

    def list_user_profiles(self):
        return self._get_json(routes.USER_PROFILES) or []

    def create_user(self, body):
        return self._write("POST", routes.USERS, json_body=body, expected=(200, 201))

    def update_user(self, username, changes):
        """PUT the changed profile fields (and a password); XNAT answers 304 when nothing changed."""
        path = routes.path(routes.USER, username=username)
        return self._write("PUT", path, json_body=changes, expected=(200, 304))

    def set_user_flag(self, username, flag, value):
        """``flag`` is ``enabled`` or ``verified``."""
        path = routes.path(routes.USER_FLAG, username=username, flag=flag, value=str(bool(value)).lower())
        return self._write("PUT", path)

    def get_user_roles(self, username):
        return self._get_json(routes.path(routes.USER_ROLES, username=username)) or []

    def add_user_role(self, username, role):
        return self._write("PUT", routes.path(routes.USER_ROLE, username=username, role=role))

    def remove_user_role(self, username, role):
        return self._write("DELETE", routes.path(routes.USER_ROLE, username=username, role=role))

    def get_user_groups(self, username):
        return self._get_json(routes.path(routes.USER_GROUPS, username=username)) or []

    def add_user_group(self, username, group):
        path = routes.path(routes.USER_GROUP, username=username, group=group)
        return self._write("PUT", path, expected=(200, 202))

    # --- projects -----------------------------------------------------------------------------------
    def list_projects(self):
        """Rows of ``GET /data/projects`` (``ID``, ``name``, ``description``, ...)."""
        return self._get_result_set(routes.PROJECTS)

    def missing_projects(self, project_ids):
        """The ids among ``project_ids`` that XNAT does not have (one request for all of them)."""
        wanted = {str(p) for p in project_ids if p}
        if not wanted:
            return []
        known = {row.get("ID") for row in self.list_projects()}
        return sorted(wanted - known)

    def put_project(self, project_id, fields):
        """Create the project, or update its name/description (XNAT takes them as query fields)."""
        query = {"xsiType": "xnat:projectData"}
        query.update(fields)
        return self._write("PUT", routes.path(routes.PROJECT, project=project_id), query=query)

    def get_project_fields(self, project_id):
        """The project document's fields (``ID``, ``name``, ``description``, ``keywords``, ...)."""
        return routes.parse_item_fields(
            self._get_json(routes.path(routes.PROJECT, project=project_id), query={"format": "json"})
        )

    def delete_project(self, project_id, remove_files=False):
        query = {"removeFiles": "true"} if remove_files else None
        return self._write("DELETE", routes.path(routes.PROJECT, project=project_id), query=query)

    def get_project_accessibility(self, project_id):
        path = routes.path(routes.PROJECT_ACCESSIBILITY, project=project_id)
        return self._get(path).text.strip().lower()

    def set_project_accessibility(self, project_id, level):
        path = routes.path(routes.PROJECT_SET_ACCESSIBILITY, project=project_id, level=level)
        return self._write("PUT", path)

    def get_project_prearchive_code(self, project_id):
        text = self._get(routes.path(routes.PROJECT_PREARCHIVE_CODE, project=project_id)).text.strip()
        return int(text or 0)

    def set_project_prearchive_code(self, project_id, code):
        path = routes.path(routes.PROJECT_SET_PREARCHIVE_CODE, project=project_id, code=int(code))
        return self._write("PUT", path)

    def list_project_members(self, project_id, include_disabled=False):
        """``{username: role}``, role ``owner``/``member``/``collaborator`` (or a custom group id)."""
        template = routes.PROJECT_USERS_WITH_DISABLED if include_disabled else routes.PROJECT_USERS
        rows = self._get_result_set(routes.path(template, project=project_id))
        return {
            row.get("login"): routes.project_role(str(row.get("GROUP_ID", "")), project_id) for row in rows
        }

    def add_project_member(self, project_id, group, username):
        """Put ``username`` in ``group`` (``Owners``, ``Members``, ``Collaborators``); no e-mail is sent."""
        path = routes.path(routes.PROJECT_MEMBER, project=project_id, group=group, username=username)
        return self._write("PUT", path, query={"sendemail": "false"})

    def remove_project_member(self, project_id, group, username):
        path = routes.path(routes.PROJECT_MEMBER, project=project_id, group=group, username=username)
        return self._write("DELETE", path)

    # --- anonymisation scripts ------------------------------------------------------------------------
    @staticmethod
    def _anon_paths(project):
        if project is None:
            return routes.SITE_ANON_SCRIPT, routes.SITE_ANON_ENABLED
        return (
            routes.path(routes.PROJECT_ANON_SCRIPT, project=project),
            routes.path(routes.PROJECT_ANON_ENABLED, project=project),
        )

    def get_anon_script(self, project=None):
        """The site (``project=None``) or project script; None when there is none (204).

        An unknown project is an XnatApiError with status 404.
        """
        response = self._get(self._anon_paths(project)[0], expected=(200, 204))
        return None if response.status == 204 else response.text

    def get_anon_enabled(self, project=None):
        return self._get_bool(self._anon_paths(project)[1])

    def set_anon_script(self, project, script):
        return self._write("PUT", self._anon_paths(project)[0], text_body=script)

    def set_anon_enabled(self, project, enabled):
        """XNAT reads only the ``enable`` query parameter (a request body is ignored)."""
        return self._write("PUT", self._anon_paths(project)[1], query={"enable": bool(enabled)}, json_body={})

    # --- DICOM receivers ----------------------------------------------------------------------------
    def list_receivers(self):
        return self._get_json(routes.RECEIVERS) or []

    def create_receiver(self, body):
        return _json_or_none(self._write("POST", routes.RECEIVERS, json_body=body))

    def update_receiver(self, receiver_id, body):
        return _json_or_none(self._write("PUT", routes.path(routes.RECEIVER, id=receiver_id), json_body=body))

    def delete_receiver(self, receiver_id):
        return self._write("DELETE", routes.path(routes.RECEIVER, id=receiver_id))

    # --- DICOM Query-Retrieve -------------------------------------------------------------------------
    def get_dqr_settings(self):
        """``(route, settings)`` from the first settings route the plugin answers on; None without DQR."""
        for path in routes.DQR_SETTINGS_ROUTES:
            response = self._get(path, expected=(200, 404))
            if response.status == 200:
                return path, response.json() or {}
        return None

    def set_dqr_settings(self, route, changes):
        """DQR takes every value as a string."""
        as_strings = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in changes.items()
        }
        return self._write("POST", route, json_body=as_strings)

    def list_pacs(self):
        """Every PACS entry (XNAT filters on storable/queryable unless both are false)."""
        return self._get_json(routes.PACS_LIST, query={"storable": False, "queryable": False}) or []

    def create_pacs(self, body):
        return _json_or_none(self._write("POST", routes.PACS_LIST, json_body=body))

    def update_pacs(self, pacs_id, changes):
        return _json_or_none(self._write("PUT", routes.path(routes.PACS, id=pacs_id), json_body=changes))

    def delete_pacs(self, pacs_id):
        return self._write("DELETE", routes.path(routes.PACS, id=pacs_id), expected=(200, 204))

    def list_pacs_availability(self, pacs_id):
        """Availability windows as a flat list (XNAT may group them by day); None when the route is not
        there (404: an older DQR release, see :meth:`has_older_dqr_availability_api`)."""
        response = self._get(routes.path(routes.PACS_AVAILABILITY, id=pacs_id), expected=(200, 404))
        if response.status == 404:
            return None
        windows = response.json() or []
        if isinstance(windows, dict):
            windows = [w for day in windows.values() for w in (day if isinstance(day, list) else [day])]
        return [window for window in windows if isinstance(window, dict)]

    def add_pacs_availability(self, pacs_id, window):
        return self._write(
            "POST", routes.path(routes.PACS_AVAILABILITY, id=pacs_id), json_body=window, expected=(200, 201)
        )

    def has_older_dqr_availability_api(self):
        """True when the DQR plugin is the older release that keeps availability windows under
        /xapi/dqr/pacsAvailability (integer days); such a release answers the probe with a list."""
        probe = routes.path(routes.LEGACY_PACS_AVAILABILITY, id=0)
        return self._get(probe, expected=(200, 404)).status == 200

    def echo_pacs(self, pacs_id):
        """XNAT C-ECHOes the PACS; returns its answer (``successful``, ``pingTime``, ...). Older DQR
        releases ping at /xapi/dqr/pacsStatus/ping/{id}, which is tried when the current route is 404."""
        response = self._get(routes.path(routes.PACS_STATUS, id=pacs_id), expected=(200, 404))
        if response.status == 404:
            response = self._get(routes.path(routes.LEGACY_PACS_PING, id=pacs_id))
        return response.json() or {}

    # --- container service --------------------------------------------------------------------------
    def get_docker_server(self):
        """The Docker server settings; None when the container service is absent or not configured."""
        return self._get_optional_json(routes.DOCKER_SERVER, absent=routes.NOT_INSTALLED)

    def set_docker_server(self, body):
        return self._write("POST", routes.DOCKER_SERVER, json_body=body, expected=(200, 201))

    def list_commands(self):
        return self._get_json(routes.COMMANDS) or []

    def get_command(self, command_id):
        return self._get_json(routes.path(routes.COMMAND, id=command_id))

    def create_command(self, document, image=None):
        """Register a command; returns its new id (None in check mode)."""
        response = self._write(
            "POST", routes.COMMANDS, query={"image": image}, json_body=document, expected=(200, 201)
        )
        return None if response is None else routes.parse_created_id(response.text)

    def update_command(self, command_id, document):
        path = routes.path(routes.COMMAND, id=command_id)
        return self._write("POST", path, json_body=document, expected=(200, 201, 204))

    def delete_command(self, command_id):
        return self._write("DELETE", routes.path(routes.COMMAND, id=command_id), expected=(200, 204))

    def get_wrapper_enabled(self, command_id, wrapper):
        return self._get_bool(routes.path(routes.WRAPPER_SITE, id=command_id, wrapper=wrapper) + "/enabled")

    def set_wrapper_enabled(self, command_id, wrapper, enabled):
        path = routes.path(routes.WRAPPER_SITE, id=command_id, wrapper=wrapper)
        return self._write("PUT", path + ("/enabled" if enabled else "/disabled"))

    def get_project_wrapper_enabled(self, project, command_id, wrapper):
        """Whether the wrapper is enabled for the project; None when XNAT has no such project (404)."""
        path = routes.path(routes.WRAPPER_PROJECT, project=project, id=command_id, wrapper=wrapper)
        report = self._get_optional_json(path + "/enabled")
        if isinstance(report, dict):
            return bool(report.get("enabled-for-project"))
        return None if report is None else bool(report)

    def set_project_wrapper_enabled(self, project, command_id, wrapper, enabled):
        path = routes.path(routes.WRAPPER_PROJECT, project=project, id=command_id, wrapper=wrapper)
        return self._write("PUT", path + ("/enabled" if enabled else "/disabled"))

    # --- event service ------------------------------------------------------------------------------
    def get_event_prefs(self):
        return self._get_json(routes.EVENT_PREFS) or {}

    def set_event_prefs(self, prefs):
        return self._write("PUT", routes.EVENT_PREFS, json_body=prefs)

    def list_subscriptions(self):
        """Every subscription; None without the event service, or while it is disabled (empty body)."""
        return self._get_optional_json(routes.SUBSCRIPTIONS, absent=routes.NOT_INSTALLED)

    def get_subscription(self, subscription_id):
        return self._get_json(routes.path(routes.SUBSCRIPTION, id=subscription_id))

    def create_subscription(self, body):
        """Create a subscription on the site route (project ones name their project in project-ids);
        returns its new id (None in check mode)."""
        response = self._write("POST", routes.SUBSCRIPTION_CREATE, json_body=body, expected=(200, 201))
        return None if response is None else routes.parse_created_id(response.text)

    def update_subscription(self, subscription_id, body):
        return self._write("PUT", routes.path(routes.SUBSCRIPTION, id=subscription_id), json_body=body)

    def set_subscription_active(self, subscription_id, active):
        template = routes.SUBSCRIPTION_ACTIVATE if active else routes.SUBSCRIPTION_DEACTIVATE
        return self._write("POST", routes.path(template, id=subscription_id))

    def delete_subscription(self, subscription_id):
        path = routes.path(routes.SUBSCRIPTION, id=subscription_id)
        return self._write("DELETE", path, expected=(200, 204))

    def check_payload_filter(self, predicate):
        """XNAT's own JsonPath compile of a payload filter. Not a write, but a POST: modules skip it in
        check mode. Returns ``(checked, reason)``: ``checked`` is False when this XNAT has no such
        route (404, before 1.9); ``reason`` is XNAT's message when the predicate does not compile."""
        response = self.client.request(
            "POST", routes.PAYLOAD_FILTER_VALIDATE, text_body=predicate, expected=(200, 404, 424)
        )
        if response.status == 404:
            return False, None
        return True, (response.text.strip() or "does not compile") if response.status == 424 else None

    # --- read-only areas that may not be installed ----------------------------------------------------
    def list_if_installed(self, area):
        """``receivers``, ``pacs``, ``subscriptions``, ``commands`` or ``docker_server``; None without the
        plugin that serves it. An empty body is "installed, and nothing there"."""
        path, query = {
            "receivers": (routes.RECEIVERS, None),
            "pacs": (routes.PACS_LIST, {"storable": False, "queryable": False}),
            "subscriptions": (routes.SUBSCRIPTIONS, None),
            "commands": (routes.COMMANDS, None),
            "docker_server": (routes.DOCKER_SERVER, None),
        }[area]
        response = self._get(path, query, expected=(200, *routes.NOT_INSTALLED))
        if response.status != 200:
            return None
        body = response.json()
        if body is None:
            return {} if area == "docker_server" else []
        return body


def describe(method, path, query=None):
    """``PUT /data/projects/P1/accessibility/private`` — a write as the preview lists it."""
    pairs = [(key, _query_text(value)) for key, value in sorted((query or {}).items()) if value is not None]
    return "%s %s%s" % (method, path, "?" + urlencode(pairs) if pairs else "")


def _query_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _json_or_none(response):
    return None if response is None else response.json()
