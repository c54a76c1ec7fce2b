"""The fetch's XNAT traffic through a logged-in xnatpy session: listings by route template, and streamed
downloads on xnatpy's own HTTP session (its cookies, TLS settings and retries), counted per route.

Every failure message passes through the redactor, because XNAT's error texts echo the query (an
accession number searched by ``dcmAccessionNumber``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from compliance.fetch.errors import FetchError
from compliance.xnat import routes

DOWNLOAD_TIMEOUT = (30, 600)  # connect, read (between bytes) in seconds


class Reader:
    def __init__(self, session: Any, url: str, redact: Callable[[str], str] = str) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._redact = redact
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.calls[key] += 1

    def rows(
        self, template: str, query: dict[str, str] | None = None, **segments: Any
    ) -> list[dict[str, Any]]:
        """The rows of a Restlet ResultSet listing (``?format=json``)."""
        path = routes.path(template, **segments)
        self._count(f"GET {template}")
        try:
            payload = self._session.get_json(path, query=dict(query or {}))
            return routes.parse_result_set(payload)
        except Exception as error:
            raise FetchError(self._redact(f"GET {self._url}{path} failed: {error}")) from error

    def document(self, template: str, **segments: Any) -> dict[str, Any]:
        """A Restlet object document (``?format=json``: ``{"items": [{"data_fields": …}]}``)."""
        path = routes.path(template, **segments)
        self._count(f"GET {template}")
        try:
            payload = self._session.get_json(path)
            return routes.parse_item_fields(payload)
        except Exception as error:
            raise FetchError(self._redact(f"GET {self._url}{path} failed: {error}")) from error

    def open(self, path: str, query: dict[str, str] | None = None, *, template: str) -> Any:
        """A streamed GET (requests Response) of a path XNAT's listing or the route table gave."""
        if not path.startswith(routes.ARCHIVE_URI_PREFIX) or "://" in path or "/../" in f"{path}/":
            raise FetchError(self._redact(f"XNAT listed a file URI outside /data/: {path!r}; refused"))
        self._count(f"GET {template}")
        try:
            return self._session.interface.get(
                self._url + path, params=query or None, stream=True, timeout=DOWNLOAD_TIMEOUT
            )
        except Exception as error:
            raise FetchError(self._redact(f"GET {self._url}{path} failed: {error}")) from error

    def failure(self, path: str, response: Any) -> str:
        body = (response.text or "").strip().splitlines()
        detail = f": {body[0][:200]}" if body else ""
        return self._redact(f"GET {self._url}{path} answered {response.status_code}{detail}")
