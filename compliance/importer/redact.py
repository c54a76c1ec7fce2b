"""Keep PHI out of everything the import writes or prints.

DQR's query, queue and history answers carry patient names, patient IDs, accession numbers and study
dates (xnat-data-lifecycle.md §1.3), and XNAT's error texts can echo search criteria. Every server text
the import keeps (error messages) passes through a :class:`Redactor` that knows the identifiers seen so
far, and any DICOM UID in it is masked as well.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

REDACTED = "[redacted]"
REDACTED_UID = "[uid]"
IPV4_PARTS, IPV4_PART_MAX = 4, 255
UID_PATTERN = re.compile(r"(?<![\d.])\d+(?:\.\d+){3,}(?![\d.])")
NAME_SEPARATORS = re.compile(r"[\^,]+")
SHORTEST_SECRET = 3  # shorter parts of a name ("Mr", initials) would mask ordinary words


class Redactor:
    """Masks every identifier it has been told about, longest first, then any DICOM UID."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str | None) -> None:
        fresh = {value.strip() for value in values if value and len(value.strip()) >= SHORTEST_SECRET}
        with self._lock:
            if not fresh <= self._values:
                self._values |= fresh
                self._pattern = None

    def add_name(self, name: str | None) -> None:
        """A person name as DICOM or DQR writes it (``LAST^FIRST``, ``LAST,FIRST``) and its parts."""
        if name:
            self.add(name, *NAME_SEPARATORS.split(name))

    def __call__(self, text: str) -> str:
        with self._lock:
            if self._pattern is None and self._values:
                alternatives = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile(
                    "|".join(re.escape(value) for value in alternatives), re.IGNORECASE
                )
            pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return UID_PATTERN.sub(_uid_masked, text)


def _uid_masked(match: re.Match[str]) -> str:
    """A DICOM UID is masked; an IPv4 address (four parts of 0-255, e.g. XNAT's own host) is not."""
    parts = match.group(0).split(".")
    if len(parts) == IPV4_PARTS and all(int(part) <= IPV4_PART_MAX for part in parts):
        return match.group(0)
    return REDACTED_UID
