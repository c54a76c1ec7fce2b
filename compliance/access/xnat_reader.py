"""Read users, roles, groups and project membership from XNAT for the access review.

The number of REST calls grows with users + projects, never users x projects: the user
profiles once, the role map once (per-user roles only where an older XNAT lacks it), each
user's groups, and per project its member list (disabled accounts included) and accessibility.
Every call is counted by route for the report. Routes come from compliance.xnat.routes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from compliance.xnat import routes
from compliance.xnat.session import (
    Credentials,
    XnatReadError,
    XnatReads,
    XnatSessionLike,
    connect,
    disconnect,
)

LOGGER = logging.getLogger("compliance.access.xnat")


@dataclass(frozen=True)
class XnatUser:
    username: str
    enabled: bool
    verified: bool
    last_login: datetime | None
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    # XNAT's User has no creation date; lastModified is the last change to the account (created,
    # enabled, edited), so for an account that never logged in it is when its dormancy starts.
    last_modified: datetime | None = None


@dataclass(frozen=True)
class XnatProject:
    id: str
    name: str
    accessibility: str
    members: dict[str, str]  # username -> owner | member | collaborator (or the raw group id)
    sessions: int = 0  # image sessions archived in the project (a closed project must have none)


@dataclass
class XnatSnapshot:
    url: str
    users: dict[str, XnatUser]
    projects: dict[str, XnatProject]
    rest_calls: Counter[str] = field(default_factory=Counter)


def parse_xnat_time(value: Any) -> datetime | None:
    """XNAT gives lastSuccessfulLogin and lastModified as epoch milliseconds; ISO-8601 text is accepted."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"unrecognised time value {value!r}")


class XnatReader:
    """Collects an :class:`XnatSnapshot` from a logged-in xnatpy session."""

    def __init__(self, session: XnatSessionLike, url: str, workers: int = 8) -> None:
        self._reads = XnatReads(session, url)
        self._url = url.rstrip("/")
        self._workers = max(1, workers)

    def _parallel(self, function: Callable[[str], Any], keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return dict(zip(keys, pool.map(function, keys), strict=True))

    def read(self) -> XnatSnapshot:
        profiles = self._reads.json(routes.USER_PROFILES)
        usernames = [profile["username"] for profile in profiles]
        roles = self._read_roles(usernames)
        groups = self._parallel(lambda user: self._reads.json(routes.USER_GROUPS, username=user), usernames)
        users = {}
        for profile in profiles:
            username = profile["username"]
            last_login = self._time(profile, "lastSuccessfulLogin")
            users[username] = XnatUser(
                username=username,
                enabled=bool(profile.get("enabled")),
                verified=bool(profile.get("verified")),
                last_login=last_login,
                roles=frozenset(roles.get(username, ())),
                groups=frozenset(groups.get(username) or ()),
                last_modified=self._time(profile, "lastModified"),
            )
        projects = self._read_projects()
        return XnatSnapshot(
            url=self._url, users=users, projects=projects, rest_calls=Counter(self._reads.calls)
        )

    def _time(self, profile: dict[str, Any], key: str) -> datetime | None:
        try:
            return parse_xnat_time(profile.get(key))
        except ValueError as error:
            where = f"{self._url}{routes.USER_PROFILES}"
            raise XnatReadError(f"{where}: user {profile['username']}: {key}: {error}") from error

    def _read_roles(self, usernames: list[str]) -> dict[str, set[str]]:
        rolemap = self._reads.optional_json(routes.USER_ROLEMAP)
        if rolemap is not None:
            by_user: dict[str, set[str]] = {}
            for role, holders in rolemap.items():
                for holder in holders:
                    by_user.setdefault(holder, set()).add(role)
            return by_user
        LOGGER.info("XNAT has no %s; reading roles user by user", routes.USER_ROLEMAP)
        per_user = self._parallel(lambda user: self._reads.json(routes.USER_ROLES, username=user), usernames)
        return {user: set(roles or ()) for user, roles in per_user.items()}

    def _read_projects(self) -> dict[str, XnatProject]:
        names = {row["ID"]: row.get("name") or row["ID"] for row in self._reads.result_set(routes.PROJECTS)}

        # One read of the site experiments listing counts every project's sessions (the project listing
        # hides non-secure data types such as DX, FLIP#612).
        sessions = Counter(
            str(row.get("project") or "")
            for row in self._reads.result_set(routes.EXPERIMENTS, {"columns": "ID,project"})
        )

        def read_one(project_id: str) -> XnatProject:
            rows = self._reads.result_set(routes.PROJECT_USERS_WITH_DISABLED, project=project_id)
            accessibility = self._reads.text(routes.PROJECT_ACCESSIBILITY, project=project_id) or ""
            members = {row["login"]: routes.project_role(row["GROUP_ID"], project_id) for row in rows}
            return XnatProject(
                project_id, names[project_id], accessibility.strip().lower(), members, sessions[project_id]
            )

        return self._parallel(read_one, names)


def read_xnat(
    url: str, credentials: Credentials, verify: bool | str = True, workers: int = 8
) -> XnatSnapshot:
    session = connect(url, credentials, verify)
    try:
        return XnatReader(session, url, workers).read()
    finally:
        disconnect(session, url)
