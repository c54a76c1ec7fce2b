"""REST calls of `enclave project close` through a logged-in xnatpy session, counted per route template.

Every path comes from the route table (``compliance.xnat.routes``). ``calls`` counts requests by
``METHOD template`` so the record and the benchmark can show that calls grow with sessions, not files.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from compliance.xnat import routes

PAGE_SIZE = 500


class XnatWriteError(Exception):
    """A REST call of the close failed; the message names the call and XNAT's answer."""


class ForbiddenError(XnatWriteError):
    """XNAT answered 401/403: the account may not read this."""


class CloseClient:
    def __init__(self, session: Any, url: str) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _path(self, method: str, template: str, segments: dict[str, Any]) -> str:
        with self._lock:
            self.calls[f"{method} {template}"] += 1
        return routes.path(template, **segments)

    def where(self, method: str, template: str, **segments: Any) -> str:
        """``METHOD URL`` of a call, for an error that names it (not counted: no request is made)."""
        return f"{method} {self._url}{routes.path(template, **segments)}"

    def _failed(self, method: str, path: str, error: Exception) -> XnatWriteError:
        message = f"{method} {self._url}{path} failed: {error}"
        if "status 403" in str(error) or "status 401" in str(error):
            message += "; closing a project needs an XNAT Administrator (or the project's owner)"
        return XnatWriteError(message)

    def get(self, template: str, query: dict[str, str] | None = None, **segments: Any) -> Any | None:
        """JSON of a GET, or None for 404 (no such object or route)."""
        path = self._path("GET", template, segments)
        try:
            response = self._session.get(path, query=query, accepted_status=[200, 204, 404])
        except Exception as error:
            raise self._failed("GET", path, error) from error
        if response.status_code in (204, 404) or not response.text.strip():
            return None
        try:
            return response.json()
        except ValueError as error:
            raise XnatWriteError(f"GET {self._url}{path}: not JSON: {response.text[:200]!r}") from error

    def rows(
        self, template: str, query: dict[str, str] | None = None, **segments: Any
    ) -> list[dict[str, Any]]:
        """The rows of a Restlet listing (``format=json``); none for 404."""
        payload = self.get(template, {"format": "json", **(query or {})}, **segments)
        if payload is None:
            return []
        try:
            return routes.parse_result_set(payload)
        except ValueError as error:
            raise XnatWriteError(f"GET {self._url}{routes.path(template, **segments)}: {error}") from error

    def pages(self, template: str, query: dict[str, str]) -> list[dict[str, Any]] | None:
        """Every entry of a paged DQR listing; None when the plugin or the route is absent."""
        entries: list[dict[str, Any]] = []
        page = 1
        while True:
            try:
                chunk = self.get(template, {**query, "page": str(page), "pageSize": str(PAGE_SIZE)})
            except XnatWriteError as error:
                if "status 403" in str(error) or "status 401" in str(error):
                    raise ForbiddenError(str(error)) from error  # not a DQR user, or no all-data access
                raise
            if chunk is None:
                return entries if page > 1 else None
            if not isinstance(chunk, list):
                raise XnatWriteError(f"GET {self._url}{template}: expected a list, got {str(chunk)[:200]!r}")
            entries.extend(chunk)
            if len(chunk) < PAGE_SIZE:
                return entries
            page += 1

    def send(
        self,
        method: str,
        template: str,
        query: dict[str, str] | None = None,
        *,
        data: Any = None,
        json: Any = None,
        accepted: tuple[int, ...] = (200, 201, 204),
        **segments: Any,
    ) -> int:
        """A write (PUT, POST or DELETE); returns the status (404 is returned, not raised, for DELETE)."""
        path = self._path(method, template, segments)
        ok = [*accepted, 404] if method == "DELETE" else list(accepted)
        try:
            if method == "DELETE":
                response = self._session.delete(path, query=query, accepted_status=ok)
            elif method == "PUT":
                response = self._session.put(path, query=query, data=data, json=json, accepted_status=ok)
            else:
                response = self._session.post(path, query=query, data=data, json=json, accepted_status=ok)
        except Exception as error:
            raise self._failed(method, path, error) from error
        return response.status_code
