"""In-memory state of the XNAT double: one object per fresh XNAT, guarded by one lock.

Every collection is a dict keyed the way XNAT looks things up, so a request costs O(1) or
O(size of its answer), never a scan of all users or projects (the access-review benchmark seeds
5,000 users x 300 projects).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .archive_model import ArchiveStore
from .site_config_defaults import DEFAULT_SITE_CONFIG

PROJECT_ROLES = ("owner", "member", "collaborator")
ROLE_DISPLAY_NAMES = {"owner": "Owners", "member": "Members", "collaborator": "Collaborators"}

# DQR API revision the double exposes: "settings" = current /xapi/dqr/settings only,
# "legacy" = the older bare /xapi/dqr only, "both" = both routes.
DQR_API_CHOICES = ("settings", "legacy", "both")

# XNAT release lines whose REST behaviour the double tells apart (seed double.xnat_version), with the
# build version each reports in /xapi/siteConfig/buildInfo. The default is 1.9, the line of the
# NrgXnat/xnat source the double follows.
XNAT_VERSIONS: dict[str, str] = {"1.8": "1.8.10.1", "1.9": "1.9.2", "1.10": "1.10.0"}
DEFAULT_XNAT_VERSION = "1.9"

DEFAULT_BUILD_INFO: dict[str, Any] = {
    "version": "1.9.2",
    "buildNumber": "41",
    "buildDate": "Wed Jul 16 14:21:30 UTC 2025",
    "commit": "d4e1f2a",
    "sha": "d4e1f2a",
    "branch": "release/1.9.2",
}

# W18 src/main/resources/META-INF/xnat/defaults/id.das: what GET /xapi/anonymize/default returns and
# the site script of a fresh XNAT (its copyright banner left out).
DEFAULT_ANON_SCRIPT = """//
// Default XNAT anonymization script
//
version "6.1"
project != "Unassigned" ? (0008,1030) := project
(0010,0010) := subject
(0010,0020) := session
"""

# DQR preference defaults (DQR src/main/java/org/nrg/xnatx/dqr/preferences/DqrPreferences.java).
DEFAULT_DQR_SETTINGS: dict[str, str] = {
    "dqrCallingAe": "XNAT",
    "pacsAvailabilityCheckFrequency": "1 minute",
    "dqrMaxPacsRequestAttempts": "5",
    "dqrWaitToRetryRequestInSeconds": "300",
    "notifyAdminOnImport": "false",
    "assumeSameSessionIfArrivedWithin": "30 minutes",
    "allowAllUsersToUseDqr": "false",
    "allowAllProjectsToUseDqr": "false",
    "leavePacsAuditTrail": "false",
    "dimseResponseTimeoutSeconds": "60",
    "dimseRetrieveTimeoutSeconds": "600",
    "dimseAcceptTimeoutSeconds": "30",
    "dimseConnectTimeoutSeconds": "30",
    "dqrMaxThrottleSleepSeconds": "30",
}

DEFAULT_NOTIFICATIONS: dict[str, Any] = {
    "smtpEnabled": False,
    "smtpHostname": "localhost",
    "smtpPort": 25,
    "smtpProtocol": "smtp",
    "smtpAuth": False,
    "smtpStartTls": False,
    "emailRecipientErrorMessages": "",
    "emailRecipientIssueReports": "",
    "emailRecipientNewUserAlert": "",
    "emailRecipientUpdate": "",
}

DEFAULT_DOCKER_SERVER: dict[str, Any] = {
    "id": 1,
    "name": "Local socket",
    "host": "unix:///var/run/docker.sock",
    "cert-path": "",
    "swarm-mode": False,
    "backend": "docker",  # CS 3.7 Backend: lowercase @JsonValue
    "path-translation-xnat-prefix": "",
    "path-translation-docker-prefix": "",
    "pull-images-on-xnat-init": False,
    "container-user": "",
    "auto-cleanup": True,
    "swarm-constraints": [],
    "status-email-enabled": False,
    "gpu-vendor": "",
    "max-concurrent-finalizing-jobs": None,
    "archive-pvc-name": None,
    "build-pvc-name": None,
    "combined-pvc-name": None,
    "archive-path-translation": None,
    "build-path-translation": None,
    "combined-path-translation": None,
}

# W18 …/dcm/scp/DicomSCPInstance.java field defaults (identifier has none).
RECEIVER_DEFAULTS: dict[str, Any] = {
    "identifier": None,
    "fileNamer": None,
    "enabled": True,
    "customProcessing": False,
    "directArchive": False,
    "anonymizationEnabled": True,
    "whitelistEnabled": False,
    "whitelist": [],
    "routingExpressionsEnabled": False,
    "projectRoutingExpression": None,
    "subjectRoutingExpression": None,
    "sessionRoutingExpression": None,
}

DEFAULT_PLUGINS: dict[str, dict[str, Any]] = {
    "containers": {
        "id": "containers",
        "name": "XNAT Container Service",
        "version": "3.6.2-xpl",
        "pluginClass": "org.nrg.containers.config.ContainersConfig",
        "namespace": "",
        "description": "",
        "beanName": "containersConfig",
        "entityPackages": ["org.nrg.containers.model"],
        "logConfigurationFile": "",
        "dataModelBeans": [],
        "extendedAttributes": {},
    },
    "dicom-query-retrieve": {
        "id": "dicom-query-retrieve",
        "name": "XNAT DICOM Query-Retrieve Plugin",
        "version": "3.0.0-xpl",
        "pluginClass": "org.nrg.xnatx.dqr.DqrPlugin",
        "namespace": "",
        "description": "",
        "beanName": "dqrPlugin",
        "entityPackages": ["org.nrg.xnatx.dqr.domain.entities"],
        "logConfigurationFile": "",
        "dataModelBeans": [],
        "extendedAttributes": {},
    },
}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


DURATION_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 604800,
    "month": 2592000,
    "year": 31536000,
}


def duration_seconds(text: Any, default: float) -> float:
    """PostgreSQL-interval-like preference values such as "1 hour" or "30 minutes"."""
    parts = str(text or "").split()
    if len(parts) != 2 or not parts[0].isdigit():
        return default
    unit = DURATION_UNITS.get(parts[1].lower().rstrip("s"))
    return default if unit is None else int(parts[0]) * unit


def now_ms() -> int:
    return int(time.time() * 1000)


def to_epoch_ms(value: Any) -> int | None:
    """Seed dates may be ISO-8601 strings, epoch milliseconds or null."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class User:
    id: int
    username: str
    password: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    enabled: bool = True
    verified: bool = True
    last_successful_login: int | None = None
    last_modified: int = field(default_factory=now_ms)
    roles: set[str] = field(default_factory=set)
    # Non-project groups (e.g. ALL_DATA_ADMIN); project groups live on Project and are mirrored in
    # project_groups so GET /xapi/users/{u}/groups needs no scan of all projects.
    groups: set[str] = field(default_factory=set)
    project_groups: set[str] = field(default_factory=set)
    failed_logins: int = 0
    locked_until: float = 0.0

    @property
    def is_admin(self) -> bool:
        return "Administrator" in self.roles

    def all_groups(self) -> list[str]:
        return sorted(self.groups | self.project_groups)


@dataclass
class Project:
    id: str
    name: str
    secondary_id: str = ""
    description: str = ""
    keywords: str = ""
    pi_firstname: str = ""
    pi_lastname: str = ""
    accessibility: str = "private"
    prearchive_code: int = 0
    quarantine_code: int = 0
    insert_user: str = "admin"
    members: dict[str, set[str]] = field(default_factory=lambda: {role: set() for role in PROJECT_ROLES})
    anon_script: str | None = None
    anon_enabled: bool = False

    def group_id(self, role: str) -> str:
        return f"{self.id}_{role}"

    def role_of(self, username: str) -> str | None:
        for role in PROJECT_ROLES:
            if username in self.members[role]:
                return role
        return None


@dataclass
class DoubleOptions:
    dqr_api: str = "both"
    xnat_version: str = DEFAULT_XNAT_VERSION
    build_info: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_BUILD_INFO))
    # Timeout in seconds of the real C-ECHO done by GET /xapi/pacs/{id}/status.
    echo_timeout: float = 5.0
    # Whether GET /xapi/docker/server/ping answers "OK" (the double never talks to Docker).
    docker_ping: bool = True
    # Whether the enabled DICOM receivers really listen (pynetdicom on 127.0.0.1; dicom_receivers.py).
    dicom_listen: bool = False
    # Whether subscribed container-service commands really run: "off" or "docker" (the local Docker engine;
    # xnat_double/container_launch.py).
    containers: str = "off"


class DoubleState:
    """Everything a fresh XNAT knows. Handlers take ``state.lock`` around reads and writes."""

    def __init__(self, options: DoubleOptions | None = None) -> None:
        self.lock = threading.RLock()
        self.options = options or DoubleOptions()
        self._ids = itertools.count(1)
        self.request_log: list[dict[str, Any]] = []
        self.sessions: dict[str, str] = {}
        self.site_config: dict[str, Any] = {key: _copy(value) for key, value in DEFAULT_SITE_CONFIG.items()}
        self.site_config["sitewideAnonymizationScript"] = DEFAULT_ANON_SCRIPT
        self.notifications: dict[str, Any] = dict(DEFAULT_NOTIFICATIONS)
        self.users: dict[str, User] = {}
        self.add_user(
            "admin",
            "admin",
            first_name="Admin",
            last_name="Admin",
            email="admin@xnat.org",
            roles={"Administrator"},
            groups={"ALL_DATA_ADMIN"},
        )
        self.add_user("guest", "guest", first_name="Guest", last_name="User", email="")
        self.projects: dict[str, Project] = {}
        self.deleted_project_ids: set[str] = set()
        self.receivers: dict[int, dict[str, Any]] = {}
        self.add_default_receiver()
        self.dqr_settings: dict[str, str] = dict(DEFAULT_DQR_SETTINGS)
        self.pacs: dict[int, dict[str, Any]] = {}
        self.pacs_availability: dict[int, dict[int, dict[str, Any]]] = {}
        self.pacs_pings: dict[int, list[dict[str, Any]]] = {}
        self.docker_server: dict[str, Any] | None = dict(DEFAULT_DOCKER_SERVER)
        self.commands: dict[int, dict[str, Any]] = {}
        self.wrapper_site_enabled: dict[int, bool] = {}
        self.wrapper_project_enabled: dict[tuple[int, str], bool] = {}
        # W18 …/eventservice/services/EventServicePrefsBean.java: the event service starts disabled.
        self.event_prefs: dict[str, Any] = {"enabled": False}
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self.plugins: dict[str, dict[str, Any]] = {key: dict(value) for key, value in DEFAULT_PLUGINS.items()}
        # Subjects, sessions, scans, resources, files and the prearchive (xnat_double/archive_model.py).
        self.archive = ArchiveStore()

    def add_default_receiver(self) -> None:
        """XNAT's first start creates receiver XNAT:8104 (DicomSCPInstance.createDefault)."""
        created = now_ms()
        receiver_id = self.next_id()
        self.receivers[receiver_id] = {
            **RECEIVER_DEFAULTS,
            "whitelist": [],
            "id": receiver_id,
            "aeTitle": "XNAT",
            "port": 8104,
            "identifier": "dicomObjectIdentifier",
            "created": created,
            "timestamp": created,
            "disabled": 0,
            "label": "XNAT:8104",
        }

    def next_id(self) -> int:
        return next(self._ids)

    # --- sessions -------------------------------------------------------------------------------
    def new_session(self, username: str) -> str:
        token = secrets.token_hex(16).upper()
        self.sessions[token] = username
        return token

    def session_user(self, token: str | None) -> User | None:
        if not token:
            return None
        username = self.sessions.get(token)
        return self.users.get(username) if username else None

    # --- users ----------------------------------------------------------------------------------
    def add_user(self, username: str, password: str, **fields: Any) -> User:
        user = User(id=self.next_id(), username=username, password=password, **fields)
        self.users[username] = user
        return user

    @property
    def initialized(self) -> bool:
        return bool(self.site_config.get("initialized"))

    # --- projects -------------------------------------------------------------------------------
    def set_member(self, project: Project, role: str, username: str) -> None:
        """Put a user in one group of a project, taking them out of its other groups (XNAT keeps one)."""
        self.remove_member(project, username)
        project.members[role].add(username)
        user = self.users.get(username)
        if user is not None:
            user.project_groups.add(project.group_id(role))

    def remove_member(self, project: Project, username: str, role: str | None = None) -> bool:
        removed = False
        for each in PROJECT_ROLES if role is None else (role,):
            if username in project.members[each]:
                project.members[each].discard(username)
                removed = True
                user = self.users.get(username)
                if user is not None:
                    user.project_groups.discard(project.group_id(each))
        return removed

    def delete_project(self, project_id: str) -> None:
        project = self.projects.pop(project_id)
        self.deleted_project_ids.add(project_id)
        for role in PROJECT_ROLES:
            for username in list(project.members[role]):
                self.remove_member(project, username, role)
