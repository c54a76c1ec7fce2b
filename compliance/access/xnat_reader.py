"""Read users, roles, groups and project membership from XNAT through xnatpy.

The number of REST calls grows with users + projects, never users x projects:
``/xapi/users/profiles`` once, ``/xapi/users/rolemap`` once (per-user roles only where an
older XNAT lacks it), ``/xapi/users/{u}/groups`` once per user, and per project its
member list (disabled accounts included) and accessibility. Every call is counted by route for the report.
"""

from __future__ import annotations

import logging
import netrc
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlparse

LOGGER = logging.getLogger("compliance.access.xnat")


class XnatReadError(Exception):
    """XNAT could not be read; the message says which URL and what to do."""


class CredentialsError(XnatReadError):
    """No credentials were found in the environment or ~/.netrc."""


class XnatSessionLike(Protocol):
    def get(
        self,
        path: str,
        format: str | None = ...,
        query: dict[str, str] | None = ...,
        accepted_status: Any = ...,
    ) -> Any: ...

    def get_json(self, uri: str, query: dict[str, str] | None = ..., accepted_status: Any = ...) -> Any: ...


@dataclass(frozen=True)
class XnatUser:
    username: str
    enabled: bool
    verified: bool
    last_login: datetime | None
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class XnatProject:
    id: str
    name: str
    accessibility: str
    members: dict[str, str]  # username -> owner | member | collaborator (or the raw group id)


@dataclass
class XnatSnapshot:
    url: str
    users: dict[str, XnatUser]
    projects: dict[str, XnatProject]
    rest_calls: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    origin: str


def find_credentials(url: str, environ: dict[str, str] | None = None) -> Credentials:
    """XNAT_USER/XNAT_PASS from the environment, else the ~/.netrc (or $NETRC) entry for the host."""
    environ = dict(os.environ if environ is None else environ)
    user, password = environ.get("XNAT_USER"), environ.get("XNAT_PASS")
    if user and password:
        return Credentials(user, password, "environment (XNAT_USER/XNAT_PASS)")
    if user or password:
        raise CredentialsError("set both XNAT_USER and XNAT_PASS, or neither and use ~/.netrc")
    netrc_path = Path(environ.get("NETRC") or Path.home() / ".netrc")
    host = urlparse(url).hostname or ""
    try:
        entry = netrc.netrc(str(netrc_path)).authenticators(host) if netrc_path.exists() else None
    except (netrc.NetrcParseError, OSError) as error:
        raise CredentialsError(f"cannot read {netrc_path}: {error}") from error
    if entry and entry[0] and entry[2]:
        return Credentials(entry[0], entry[2], f"{netrc_path} (machine {host})")
    raise CredentialsError(
        f"no XNAT credentials for {host}: set XNAT_USER and XNAT_PASS in the environment "
        f"or add 'machine {host} login USER password PASS' to {netrc_path} (mode 0600); "
        "credentials are never taken from the command line"
    )


def parse_login_time(value: Any) -> datetime | None:
    """XNAT gives lastSuccessfulLogin as epoch milliseconds; accept ISO-8601 text as well."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"unrecognised lastSuccessfulLogin value {value!r}")


def _result_rows(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict) and "ResultSet" in payload:
        return list(payload["ResultSet"].get("Result", []))
    if isinstance(payload, list):
        return payload
    raise ValueError("expected a ResultSet listing")


def _project_role(group_id: str, project_id: str) -> str:
    prefix = f"{project_id}_"
    return group_id[len(prefix) :] if group_id.startswith(prefix) else group_id


class XnatReader:
    """Collects an :class:`XnatSnapshot` from a logged-in xnatpy session."""

    def __init__(self, session: XnatSessionLike, url: str, workers: int = 8) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._workers = max(1, workers)
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, route: str) -> None:
        with self._lock:
            self._calls[route] += 1

    def _failure(self, path: str, error: Exception) -> XnatReadError:
        message = f"GET {self._url}{path} failed: {error}"
        if "status 403" in str(error) or "status 401" in str(error):
            message += "; the audit account needs XNAT's Administrator role to read users, roles and members"
        return XnatReadError(message)

    def _get_json(self, route: str, path: str) -> Any:
        self._count(route)
        try:
            return self._session.get_json(path)
        except Exception as error:
            raise self._failure(path, error) from error

    def _get_optional_json(self, route: str, path: str) -> Any | None:
        """GET that returns None when XNAT lacks the route (404) instead of failing."""
        self._count(route)
        try:
            response = self._session.get(path, format="json", accepted_status=[200, 404])
        except Exception as error:
            raise self._failure(path, error) from error
        return None if response.status_code == 404 else response.json()

    def _get_text(self, route: str, path: str) -> str:
        self._count(route)
        try:
            return self._session.get(path).text.strip()
        except Exception as error:
            raise self._failure(path, error) from error

    def _parallel(self, function: Callable[[str], Any], keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return dict(zip(keys, pool.map(function, keys), strict=True))

    def read(self) -> XnatSnapshot:
        profiles = self._get_json("GET /xapi/users/profiles", "/xapi/users/profiles")
        usernames = [profile["username"] for profile in profiles]
        roles = self._read_roles(usernames)
        groups = self._parallel(
            lambda user: self._get_json("GET /xapi/users/{user}/groups", f"/xapi/users/{quote(user)}/groups"),
            usernames,
        )
        users = {}
        for profile in profiles:
            username = profile["username"]
            try:
                last_login = parse_login_time(profile.get("lastSuccessfulLogin"))
            except ValueError as error:
                raise XnatReadError(f"{self._url}/xapi/users/profiles: user {username}: {error}") from error
            users[username] = XnatUser(
                username=username,
                enabled=bool(profile.get("enabled")),
                verified=bool(profile.get("verified")),
                last_login=last_login,
                roles=frozenset(roles.get(username, ())),
                groups=frozenset(groups.get(username) or ()),
            )
        projects = self._read_projects()
        return XnatSnapshot(url=self._url, users=users, projects=projects, rest_calls=Counter(self._calls))

    def _read_roles(self, usernames: list[str]) -> dict[str, set[str]]:
        rolemap = self._get_optional_json("GET /xapi/users/rolemap", "/xapi/users/rolemap")
        if rolemap is not None:
            by_user: dict[str, set[str]] = {}
            for role, holders in rolemap.items():
                for holder in holders:
                    by_user.setdefault(holder, set()).add(role)
            return by_user
        LOGGER.info("XNAT has no /xapi/users/rolemap; reading roles user by user")
        per_user = self._parallel(
            lambda user: self._get_json("GET /xapi/users/{user}/roles", f"/xapi/users/{quote(user)}/roles"),
            usernames,
        )
        return {user: set(roles or ()) for user, roles in per_user.items()}

    def _read_projects(self) -> dict[str, XnatProject]:
        listing = _result_rows(self._get_json("GET /data/projects", "/data/projects"))
        names = {row["ID"]: row.get("name") or row["ID"] for row in listing}

        def read_one(project_id: str) -> XnatProject:
            quoted = quote(project_id)
            # "/true" (DISPLAY_HIDDEN_USERS) includes disabled accounts, which the plain route leaves out
            # (xnat-web ProjectUserListResource; route in XNATApplication).
            rows = _result_rows(
                self._get_json(
                    "GET /data/projects/{project}/users/true", f"/data/projects/{quoted}/users/true"
                )
            )
            accessibility = self._get_text(
                "GET /data/projects/{project}/accessibility", f"/data/projects/{quoted}/accessibility"
            )
            members = {row["login"]: _project_role(row["GROUP_ID"], project_id) for row in rows}
            return XnatProject(project_id, names[project_id], accessibility.lower(), members)

        return self._parallel(read_one, names)


def connect(url: str, credentials: Credentials, verify: bool | str = True) -> Any:
    """Log in with xnatpy (no data-model parsing) and return the session."""
    import xnat  # noqa: PLC0415 - importing xnatpy is slow; only the review needs it
    import xnat.exceptions  # noqa: PLC0415

    logger = logging.getLogger("compliance.access.xnatpy")
    logger.setLevel(logging.WARNING)
    try:
        return xnat.connect(
            url,
            user=credentials.user,
            password=credentials.password,
            verify=verify,
            no_parse_model=True,
            logger=logger,
            default_timeout=120,
        )
    except xnat.exceptions.XNATLoginFailedError as error:
        raise XnatReadError(
            f"login to {url} as {credentials.user!r} (credentials from {credentials.origin}) failed: {error}"
        ) from error
    except Exception as error:
        raise XnatReadError(f"cannot connect to {url}: {error}; check the URL and that XNAT is up") from error


def read_xnat(
    url: str, credentials: Credentials, verify: bool | str = True, workers: int = 8
) -> XnatSnapshot:
    session = connect(url, credentials, verify)
    try:
        return XnatReader(session, url, workers).read()
    finally:
        try:
            session.disconnect()
        except Exception as error:  # logging out must not hide the review's own result
            LOGGER.warning("logging out of %s failed: %s", url, error)
