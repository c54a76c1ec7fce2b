# Copyright: xnat-enclave contributors
# Apache-2.0
"""Every XNAT REST route the toolkit calls, and the response shapes XNAT answers with.

This file is the one place that knows XNAT's URLs: the resource layer of the modules
(``xnat_resources.XnatAPI``) and the ``enclave`` CLI's XNAT reads (``compliance.xnat``) both build
paths from the templates below with :func:`path`. It imports nothing from Ansible, so the CLI uses
it on hosts without Ansible: ``compliance/xnat/routes.py`` is a link to this file, and the
compliance wheel carries its content.

Templates name their path segments in braces; :func:`path` quotes each value as one segment.
Upstream sources: NrgXnat/xnat (web/ restlet resources and xapi/rest), NrgXnat/container-service,
NrgXnat/dicom-query-retrieve; see shared/reference/xnat-rest-contract.md and xnat-fidelity-notes.md.
"""

import json

try:  # Python 3
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 targets are not supported, kept for sanity tests
    from urllib import quote  # type: ignore[no-redef,attr-defined]

# --- site (SiteConfigApi, XnatPluginApi) -----------------------------------------------------------
SITE_CONFIG = "/xapi/siteConfig"
BUILD_INFO = "/xapi/siteConfig/buildInfo"
PLUGINS = "/xapi/plugins"

# --- users (UsersApi) ------------------------------------------------------------------------------
USERS = "/xapi/users"
USER_PROFILES = "/xapi/users/profiles"
USER_ROLEMAP = "/xapi/users/rolemap"
USER = "/xapi/users/{username}"
USER_FLAG = "/xapi/users/{username}/{flag}/{value}"  # flag: enabled | verified; value: true | false
USER_ROLES = "/xapi/users/{username}/roles"
USER_ROLE = "/xapi/users/{username}/roles/{role}"
USER_GROUPS = "/xapi/users/{username}/groups"
USER_GROUP = "/xapi/users/{username}/groups/{group}"

# --- projects (Restlet: ProjectListResource, ProjectResource, ProjectAccessibilityResource,
#     ProjectMemberResource, ProjectUserListResource) ------------------------------------------------
PROJECTS = "/data/projects"
PROJECT = "/data/projects/{project}"
PROJECT_ACCESSIBILITY = "/data/projects/{project}/accessibility"
PROJECT_SET_ACCESSIBILITY = "/data/projects/{project}/accessibility/{level}"
PROJECT_PREARCHIVE_CODE = "/data/projects/{project}/prearchive_code"
PROJECT_SET_PREARCHIVE_CODE = "/data/projects/{project}/prearchive_code/{code}"
PROJECT_USERS = "/data/projects/{project}/users"
# "/true" (DISPLAY_HIDDEN_USERS) includes disabled accounts, which the plain route leaves out.
PROJECT_USERS_WITH_DISABLED = "/data/projects/{project}/users/true"
PROJECT_MEMBER = "/data/projects/{project}/users/{group}/{username}"  # group: Owners | Members | ...

# --- anonymisation (AnonymizeApi) ------------------------------------------------------------------
SITE_ANON_SCRIPT = "/xapi/anonymize/site"
SITE_ANON_ENABLED = "/xapi/anonymize/site/enabled"
PROJECT_ANON_SCRIPT = "/xapi/anonymize/projects/{project}"
PROJECT_ANON_ENABLED = "/xapi/anonymize/projects/{project}/enabled"

# --- DICOM receivers (DicomSCPApi) -----------------------------------------------------------------
RECEIVERS = "/xapi/dicomscp"
RECEIVER = "/xapi/dicomscp/{id}"

# --- DICOM Query-Retrieve plugin (DqrPacsApi, DicomQueryRetrieveApi) -------------------------------
# The settings live at /xapi/dqr/settings; older plugin releases answer at /xapi/dqr.
DQR_SETTINGS_ROUTES = ("/xapi/dqr/settings", "/xapi/dqr")
PACS_LIST = "/xapi/pacs"
PACS = "/xapi/pacs/{id}"
PACS_AVAILABILITY = "/xapi/pacs/{id}/availability"
PACS_STATUS = "/xapi/pacs/{id}/status"
# The older DicomQueryRetrieveApi (DQR 03e377aa) pings and keeps availability under /xapi/dqr.
LEGACY_PACS_PING = "/xapi/dqr/pacsStatus/ping/{id}"
LEGACY_PACS_AVAILABILITY = "/xapi/dqr/pacsAvailability/windows/{id}"

# --- container service (DockerRestApi, CommandRestApi, CommandConfigurationRestApi) ----------------
DOCKER_SERVER = "/xapi/docker/server"
COMMANDS = "/xapi/commands"
COMMAND = "/xapi/commands/{id}"
WRAPPER_SITE = "/xapi/commands/{id}/wrappers/{wrapper}"
WRAPPER_PROJECT = "/xapi/projects/{project}/commands/{id}/wrappers/{wrapper}"

# --- event service (EventServiceRestApi) -----------------------------------------------------------
# Subscriptions are written through the site routes (Admin), as NRG's own client does: the project
# routes store act-as-event-user false on create and refuse (401) subscriptions of other projects.
EVENT_PREFS = "/xapi/events/prefs"
SUBSCRIPTIONS = "/xapi/events/subscriptions"
SUBSCRIPTION_CREATE = "/xapi/events/subscription"
SUBSCRIPTION = "/xapi/events/subscription/{id}"
SUBSCRIPTION_ACTIVATE = "/xapi/events/subscription/{id}/activate"
SUBSCRIPTION_DEACTIVATE = "/xapi/events/subscription/{id}/deactivate"
PAYLOAD_FILTER_VALIDATE = "/xapi/events/subscription/filter/validate"  # XNAT 1.9: compiles a JsonPath

# Answers that mean "the plugin that serves this area is not installed" (or not ready).
NOT_INSTALLED = (404, 424)


def quote_segment(value):
    """One URL path segment (project ids, usernames, AE titles): nothing is left unquoted."""
    return quote(str(value), safe="")


def path(template, **segments):
    """``template`` with each ``{name}`` replaced by its value, quoted as one path segment.

    A value of None (an object a check-mode run has not created) renders as ``(new)``.
    """
    values = {}
    for name, value in segments.items():
        values[name] = "(new)" if value is None else quote_segment(value)
    return template.format(**values)


def parse_result_set(payload):
    """Rows of a Restlet ``{"ResultSet": {"Result": [...], "totalRecords": "N"}}`` body."""
    if not isinstance(payload, dict) or "ResultSet" not in payload:
        raise ValueError("not an XNAT ResultSet: %s" % (repr(payload)[:200],))
    result_set = payload["ResultSet"]
    rows = result_set.get("Result") or []
    declared = result_set.get("totalRecords")
    if declared not in (None, "") and int(declared) != len(rows):
        raise ValueError("ResultSet says totalRecords=%s but holds %d rows" % (declared, len(rows)))
    return rows


def parse_item_fields(payload):
    """The fields of a Restlet object document (``?format=json``: ``{"items": [{"data_fields": ...}]}``)."""
    try:
        return dict(payload["items"][0]["data_fields"])
    except (KeyError, IndexError, TypeError):
        raise ValueError("not an XNAT object document: %s" % (repr(payload)[:200],)) from None


def parse_keywords(text):
    """A project's keywords (one space-separated string in XNAT, ``xnat:projectData/keywords``), in order."""
    seen = []
    for word in (text or "").replace(",", " ").split():
        if word not in seen:
            seen.append(word)
    return seen


def parse_bool_body(text):
    """XNAT's bare ``true``/``false`` bodies (JSON or text/plain)."""
    value = text.strip().strip('"').lower()
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("expected a bare true/false body, got %r" % text[:100])


def parse_created_id(text):
    """The id in a 201 body: ``"name:id"`` (event subscriptions) or a bare id (commands)."""
    value = text.strip().strip('"')
    ident = value.rsplit(":", 1)[-1]
    return int(ident) if ident.isdigit() else ident


def parse_json_body(text):
    """A JSON body, None for an empty one (XNAT sends empty lists as empty bodies at times)."""
    if not text.strip():
        return None
    return json.loads(text)


def project_role(group_id, project_id):
    """``owner`` from the group id ``CARDIO01_owner`` (a custom group id is returned as it is)."""
    prefix = "%s_" % project_id
    return group_id[len(prefix) :] if group_id.startswith(prefix) else group_id


# --- DQR query and import (DicomQueryRetrieveApi) and the prearchive (Restlet: PrearcSessionListResource,
#     services/Archiver, the experiments listing). See xnat-data-lifecycle.md §2.1. ----------------------
DQR_QUERY_STUDIES = "/xapi/dqr/query/studies"
DQR_QUERY_SERIES = "/xapi/dqr/query/series"
DQR_IMPORT = "/xapi/dqr/import"
DQR_IMPORT_QUEUE = "/xapi/dqr/import/queue"  # GET lists, POST [ids] cancels
DQR_IMPORT_QUEUE_ENTRY = "/xapi/dqr/import/queue/{id}"
DQR_IMPORT_HISTORY = "/xapi/dqr/import/history"
DQR_IMPORT_HISTORY_ENTRY = "/xapi/dqr/import/history/{id}"
DQR_IMPORT_STATUS = "/xapi/dqr/import/status"
PREARCHIVE_PROJECT = "/data/prearchive/projects/{project}"
PREARCHIVE_SESSION = "/data/prearchive/projects/{project}/{timestamp}/{folder}"
ARCHIVE_SERVICE = "/data/services/archive"
EXPERIMENTS = "/data/experiments"


# --- enclave fetch (Restlet: ExperimentListResource, ScanList, CatalogResourceList, FileList). The
#     experiments listing is EXPERIMENTS above (?project=&label= or &dcmAccessionNumber=; the site listing,
#     because the project one hides non-secure data types, FLIP#612). {scans} is a scan id, a comma list or
#     ALL; {resource} a resource label. See xnat-data-lifecycle.md §4. -----------------------------------
EXPERIMENT_SCANS = "/data/experiments/{experiment}/scans"
EXPERIMENT_SCAN_RESOURCES = "/data/experiments/{experiment}/scans/{scans}/resources"
EXPERIMENT_SCAN_RESOURCE_FILES = "/data/experiments/{experiment}/scans/{scans}/resources/{resource}/files"
ARCHIVE_URI_PREFIX = "/data/"  # file URIs of a listing start so; anything else is not followed
# --- end of enclave fetch routes ---------------------------------------------------------------------


# --- enclave project close (Restlet: ProjectResource, ProjectMemberResource, ExperimentResource,
#     SubjectResource, CatalogResourceList; services/prearchive/delete; DicomQueryRetrieveApi import queue
#     and history; SiteConfigApi). Deletes pass removeFiles=true. See xnat-data-lifecycle.md §5. ---------
PROJECT_EXPERIMENT_LISTING = EXPERIMENTS  # ?project=P: the site listing (FLIP#612), as enclave fetch does
PROJECT_SUBJECTS = "/data/projects/{project}/subjects"
PROJECT_SUBJECT = "/data/projects/{project}/subjects/{subject}"
SUBJECT_RESOURCES = "/data/projects/{project}/subjects/{subject}/resources"
PROJECT_RESOURCES = "/data/projects/{project}/resources"
PROJECT_RESOURCE = "/data/projects/{project}/resources/{resource}"
EXPERIMENT = "/data/experiments/{experiment}"
EXPERIMENT_RESOURCES = "/data/experiments/{experiment}/resources"
PREARCHIVE_DELETE = "/data/services/prearchive/delete"  # POST, form field src (repeated) per session
# DQR_IMPORT_QUEUE (GET ?all=true, POST [ids] cancels) and DQR_IMPORT_HISTORY (no REST delete) are above.
# What runs on the project's events is switched off through the PROJECT routes, which are Delete level (an
# owner of the project, or an Administrator), not the Admin-only site ones (NX EventServiceRestApi.java):
# the list holds the project's subscriptions and the site-wide ones (getSubscriptions(project)), and answers
# an empty body while the event service is off (EVENT_PREFS tells); deactivate (200) needs the project in
# the subscription's project-ids and the caller to own every project listed (401 otherwise). Deactivation
# keeps the subscription and its delivery history; DELETE would remove them. Wrapper enablement per
# project (CS CommandConfigurationRestApi.java): GET .../enabled (Edit) answers ProjectEnabledReport,
# PUT .../disabled (Delete, ?reason= is kept in XNAT's configuration history).
PROJECT_SUBSCRIPTIONS = "/xapi/projects/{project}/events/subscriptions"
PROJECT_SUBSCRIPTION_DEACTIVATE = "/xapi/projects/{project}/events/subscription/{id}/deactivate"
PROJECT_WRAPPER_ENABLED = "/xapi/projects/{project}/wrappers/{wrapper}/enabled"
PROJECT_WRAPPER_DISABLE = "/xapi/projects/{project}/wrappers/{wrapper}/disabled"
# COMMANDS (GET: every command with its wrappers) and EVENT_PREFS are above.


def parse_subscription(entry):
    """One Subscription (site list) or SubscriptionDisplay (project list) as what a close records: id,
    name, active, the event type and status, the action key and the project filter. The payload filter
    and the attributes are left out (free text a reviewer's record does not need)."""
    if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("event-filter"), dict):
        raise ValueError("not an event subscription: %s" % (repr(entry)[:200],))
    event_filter = entry["event-filter"]
    return {
        "id": int(entry["id"]),
        "name": str(entry.get("name") or ""),
        "active": entry.get("active") is True or str(entry.get("active")).lower() == "true",
        "event_type": str(event_filter.get("event-type") or ""),
        "status": str(event_filter.get("status") or ""),
        "action_key": str(entry.get("action-key") or ""),
        "project_ids": [str(project) for project in event_filter.get("project-ids") or []],
    }


def parse_command_wrappers(payload):
    """The wrappers of a COMMANDS listing: ``command_id``, ``command``, ``version``, ``wrapper_id``,
    ``wrapper`` (its name), in listing order."""
    if not isinstance(payload, list):
        raise ValueError("not a list of commands: %s" % (repr(payload)[:200],))
    wrappers = []
    for command in payload:
        if not isinstance(command, dict) or "id" not in command:
            raise ValueError("not a command: %s" % (repr(command)[:200],))
        for wrapper in command.get("xnat") or []:
            wrappers.append(
                {
                    "command_id": int(command["id"]),
                    "command": str(command.get("name") or ""),
                    "version": str(command.get("version") or ""),
                    "wrapper_id": int(wrapper["id"]),
                    "wrapper": str(wrapper.get("name") or ""),
                }
            )
    return wrappers


def parse_project_enabled_report(payload):
    """A ProjectEnabledReport as (enabled for the site, enabled for the project). XNAT reports the project
    as enabled only when the site is too (ContainerConfigServiceImpl.isEnabledForProject)."""
    if not isinstance(payload, dict) or "enabled-for-project" not in payload:
        raise ValueError("not a ProjectEnabledReport: %s" % (repr(payload)[:200],))

    def flag(key):
        return payload.get(key) is True or str(payload.get(key)).lower() == "true"

    return flag("enabled-for-site"), flag("enabled-for-project")


# --- end of enclave project close routes ---------------------------------------------------------------


# --- enclave deid scan --xnat (Restlet: ExperimentListResource, FileList). The site experiments listing with
#     ?project=, because the project one hides non-secure data types such as DX (FLIP#612). ---------------
PROJECT_SESSIONS_LISTING = EXPERIMENTS  # ?project=P&columns=ID,label,xsiType,insert_date
SESSION_DICOM_FILES = "/data/experiments/{experiment}/scans/ALL/resources/DICOM/files"
SCAN_RESOURCE_FILE = "/data/experiments/{experiment}/scans/{scan}/resources/{resource}/files/{file}"
# --- end of enclave deid scan routes ---------------------------------------------------------------------


# --- enclave export (DicomQueryRetrieveApi.export, DqrPacsApi; the experiments, scans and scan resources
#     listings of enclave fetch above). PUT DQR_EXPORT with no body and the query of export_query; XNAT
#     answers at once and sends later (fire-and-forget: the workflow it names stays Queued), so arrival is
#     confirmed at the destination. The destination is a PACS entry of PACS_LIST. See
#     xnat-data-lifecycle.md §3. ---------------------------------------------------------------------------
DQR_EXPORT = "/xapi/dqr/export"
EXPORT_SESSION_COLUMNS = "ID,label,UID,xsiType,project"  # ?project=P&columns=... on EXPERIMENTS
EXPORT_SCAN_COLUMNS = "ID,UID,frames,xsiType,type,series_description,modality"  # on EXPERIMENT_SCANS
DICOM_STORAGE_PORT = 104  # DicomConnectionProperties: the PACS's queryRetrievePort, else 104


def export_query(pacs_id, session_id, scan_ids):
    """The query of a DQR export: ``session`` is the experiment ID (not its label), one ``scansToExport``
    per scan id (repeated parameters; DQR also splits a comma-separated value)."""
    return {"pacsId": str(pacs_id), "session": str(session_id), "scansToExport": [str(s) for s in scan_ids]}


def parse_export_answer(payload):
    """``{"session": id, "scans": [ids], "workflow": id}`` as (session, scans, workflow id or None)."""
    if not isinstance(payload, dict) or "session" not in payload or "scans" not in payload:
        raise ValueError("not a DQR export answer: %s" % (repr(payload)[:200],))
    workflow = payload.get("workflow")
    scans = [str(scan) for scan in payload.get("scans") or []]
    return str(payload["session"]), scans, (None if workflow in (None, "") else int(workflow))


def parse_pacs_entry(entry):
    """One DqrPacsApi Pacs of PACS_LIST as the fields a DICOM client needs (``label`` may be absent:
    NON_NULL). C-STORE and C-FIND both go to ``queryRetrievePort``
    (DicomConnectionProperties.getRemoteStoragePort)."""
    if not isinstance(entry, dict) or "id" not in entry:
        raise ValueError("not a DQR PACS entry: %s" % (repr(entry)[:200],))
    return {
        "id": int(entry["id"]),
        "label": entry.get("label"),
        "ae_title": str(entry.get("aeTitle") or ""),
        "host": str(entry.get("host") or ""),
        "port": int(entry.get("queryRetrievePort") or DICOM_STORAGE_PORT),
        "storable": entry.get("storable") is True or str(entry.get("storable")).lower() == "true",
        "queryable": entry.get("queryable") is True or str(entry.get("queryable")).lower() == "true",
    }


# --- end of enclave export routes ------------------------------------------------------------------------
