"""Log in to XNAT with xnatpy and read from it by route template, counting calls per route.

Credentials come from XNAT_USER/XNAT_PASS or the ~/.netrc entry for the host, never from the
command line. Every failed read names the URL and, for 401/403, what the account needs.
"""

from __future__ import annotations

import logging
import netrc
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from compliance.xnat import routes

LOGGER = logging.getLogger("compliance.xnat")


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


def connect(url: str, credentials: Credentials, verify: bool | str = True) -> Any:
    """Log in with xnatpy (no data-model parsing) and return the session."""
    import xnat  # noqa: PLC0415 - importing xnatpy is slow; only commands that read XNAT need it
    import xnat.exceptions  # noqa: PLC0415

    logger = logging.getLogger("compliance.xnat.xnatpy")
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


def disconnect(session: Any, url: str) -> None:
    """Log out; a failure is logged, never raised (it must not hide the command's own result)."""
    try:
        session.disconnect()
    except Exception as error:  # xnatpy raises its own and requests' errors
        LOGGER.warning("logging out of %s failed: %s", url, error)


class XnatReads:
    """Reads through a logged-in xnatpy session by route template (``routes.USER_GROUPS``, ...).

    ``calls`` counts requests by ``GET <template>`` for the reports.
    """

    def __init__(self, session: XnatSessionLike, url: str) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _path(self, template: str, segments: dict[str, Any]) -> str:
        with self._lock:
            self.calls[f"GET {template}"] += 1
        return routes.path(template, **segments)

    def _failure(self, path: str, error: Exception) -> XnatReadError:
        message = f"GET {self._url}{path} failed: {error}"
        if "status 403" in str(error) or "status 401" in str(error):
            message += "; the audit account needs XNAT's Administrator role to read users, roles and members"
        return XnatReadError(message)

    def json(self, template: str, query: dict[str, str] | None = None, **segments: Any) -> Any:
        """JSON of ``template``; ``query`` adds a query string (templates are paths only)."""
        path = self._path(template, segments)
        try:
            return self._session.get_json(path, query=query) if query else self._session.get_json(path)
        except Exception as error:
            raise self._failure(path, error) from error

    def optional_json(self, template: str, **segments: Any) -> Any | None:
        """JSON, or None when XNAT lacks the route or object (404)."""
        path = self._path(template, segments)
        try:
            response = self._session.get(path, format="json", accepted_status=[200, 404])
        except Exception as error:
            raise self._failure(path, error) from error
        return None if response.status_code == 404 else response.json()

    def text(self, template: str, **segments: Any) -> str | None:
        """The body as text; None when there is none (204) or no such object (404)."""
        path = self._path(template, segments)
        try:
            response = self._session.get(path, accepted_status=[200, 204, 404])
        except Exception as error:
            raise self._failure(path, error) from error
        return response.text if response.status_code == 200 else None

    def flag(self, template: str, **segments: Any) -> bool:
        """A bare true/false body."""
        value = self.json(template, **segments)
        return value is True or str(value).lower() == "true"

    def result_set(
        self, template: str, query: dict[str, str] | None = None, **segments: Any
    ) -> list[dict[str, Any]]:
        try:
            return routes.parse_result_set(self.json(template, query, **segments))
        except ValueError as error:
            raise XnatReadError(f"GET {self._url}{routes.path(template, **segments)}: {error}") from error
