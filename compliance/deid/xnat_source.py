"""Scan what XNAT stored: the DICOM files of a project's archived image sessions, read through REST.

``enclave deid scan --xnat URL --project P [--since WHEN] [--sample N]`` lists the project's image
sessions (``GET /data/projects/P/experiments``: every ``xnat:…SessionData``), keeps those archived on or
after ``--since`` (XNAT's ``insert_date``), lists each session's DICOM resource files
(``GET /data/experiments/ID/scans/ALL/resources/DICOM/files``), takes at most ``--sample`` of them per
session (evenly over the session's scans and files, the same ones every run) and downloads them into a
private temporary directory under names of our own (never the server's, which could point anywhere).
The scan then runs on those files as on local ones, and every report names each file by its XNAT URL.

Credentials come from XNAT_USER/XNAT_PASS or ~/.netrc as for the other XNAT commands; the account
needs read access to the project.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from compliance.xnat import routes
from compliance.xnat.session import XnatReadError, XnatReads

PROJECT_EXPERIMENTS = routes.PROJECT_SESSIONS_LISTING
LISTING_COLUMNS = "ID,label,xsiType,insert_date,project"
SESSION_DICOM_FILES = routes.SESSION_DICOM_FILES
FILE_DOWNLOAD = f"GET {routes.SCAN_RESOURCE_FILE}"
IMAGE_SESSION = re.compile(r"^[\w-]+:\w*SessionData$")  # xnat:ctSessionData, xnat:mrSessionData, ...
SCAN_IN_URI = re.compile(r"/scans/([^/]+)/")
RELATIVE_SINCE = re.compile(r"^(\d+)d$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-11-30`` (from that day, 00:00 UTC) or ``2d`` (the last 48 hours) as a UTC instant."""
    match = RELATIVE_SINCE.fullmatch(text.strip())
    if match:
        return (now or datetime.now(tz=UTC)) - timedelta(days=int(match.group(1)))
    day = date.fromisoformat(text.strip())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_insert_date(value: Any) -> datetime | None:
    """XNAT's table timestamp (``2024-01-05 10:15:00.123``, server time taken as UTC) or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace(" ", "T"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ArchivedSession:
    id: str
    label: str
    xsi_type: str
    archived: datetime | None  # insert_date; None when XNAT gives none (then it is always scanned)

    def to_json(self) -> dict[str, Any]:
        archived = self.archived.isoformat(timespec="seconds") if self.archived else None
        return {"id": self.id, "label": self.label, "xsiType": self.xsi_type, "archived": archived}


@dataclass(frozen=True)
class ArchivedFile:
    session: ArchivedSession
    scan: str
    name: str
    uri: str


@dataclass
class XnatSelection:
    """What was read from XNAT, for the report: which sessions, how many files listed and scanned."""

    url: str
    project: str
    since: datetime | None
    sample: int | None
    sessions: list[ArchivedSession] = field(default_factory=list)
    files_listed: int = 0
    files: list[ArchivedFile] = field(default_factory=list)
    rest_calls: Counter[str] = field(default_factory=Counter)

    def file_url(self, archived: ArchivedFile) -> str:
        return f"{self.url.rstrip('/')}{archived.uri}"

    def describe(self) -> str:
        since = f" archived since {self.since.isoformat(timespec='minutes')}" if self.since else ""
        sample = f", at most {self.sample} file(s) per session" if self.sample else ""
        return (
            f"XNAT {self.url} project {self.project}: {len(self.sessions)} image session(s){since}, "
            f"{len(self.files)} of {self.files_listed} DICOM file(s) read{sample}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "project": self.project,
            "since": self.since.isoformat(timespec="seconds") if self.since else None,
            "sample": self.sample,
            "sessions": [session.to_json() for session in self.sessions],
            "files_listed": self.files_listed,
            "files_read": len(self.files),
            "rest_calls": dict(sorted(self.rest_calls.items())),
        }


def list_sessions(reads: XnatReads, project: str, since: datetime | None) -> list[ArchivedSession]:
    """The project's image sessions archived at or after ``since``, oldest first."""
    sessions = []
    # The site listing answers an empty list for a project that does not exist or cannot be read: ask first.
    reads.json(routes.PROJECT, project=project)
    for row in reads.result_set(PROJECT_EXPERIMENTS, {"project": project, "columns": LISTING_COLUMNS}):
        xsi_type = str(row.get("xsiType") or "")
        if not IMAGE_SESSION.match(xsi_type):
            continue
        archived = parse_insert_date(row.get("insert_date"))
        if since is not None and archived is not None and archived < since:
            continue
        sessions.append(
            ArchivedSession(str(row["ID"]), str(row.get("label") or row["ID"]), xsi_type, archived)
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(sessions, key=lambda session: (session.archived or oldest, session.label, session.id))


def list_session_files(reads: XnatReads, session: ArchivedSession) -> list[ArchivedFile]:
    """The files of the session's DICOM resources, by scan and name."""
    files = []
    for row in reads.result_set(SESSION_DICOM_FILES, experiment=session.id):
        uri = str(row.get("URI") or "")
        if not uri.startswith("/"):
            continue
        scan = SCAN_IN_URI.search(uri)
        files.append(ArchivedFile(session, scan.group(1) if scan else "", str(row.get("Name") or ""), uri))
    return sorted(files, key=lambda archived: (_natural(archived.scan), archived.uri))


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def sample_files(files: Sequence[ArchivedFile], sample: int | None) -> list[ArchivedFile]:
    """At most ``sample`` files, spread evenly over the list (first file included); all when None."""
    if sample is None or len(files) <= sample:
        return list(files)
    return [files[index * len(files) // sample] for index in range(sample)]


def select(
    reads: XnatReads, url: str, project: str, since: datetime | None, sample: int | None
) -> XnatSelection:
    selection = XnatSelection(url, project, since, sample)
    selection.sessions = list_sessions(reads, project, since)
    for session in selection.sessions:
        listed = list_session_files(reads, session)
        selection.files_listed += len(listed)
        selection.files.extend(sample_files(listed, sample))
    return selection


@contextmanager
def downloaded(session: Any, selection: XnatSelection) -> Iterator[list[tuple[str, str]]]:
    """(local path, XNAT URL) of every selected file, downloaded into a temporary directory.

    The local names are numbers: a file name from the server is never used as a path.
    """
    with tempfile.TemporaryDirectory(prefix="enclave-deid-xnat-") as temp:
        pairs = []
        for index, archived in enumerate(selection.files):
            local = Path(temp) / f"{index:07d}.dcm"
            selection.rest_calls[FILE_DOWNLOAD] += 1
            try:
                with local.open("wb") as target:
                    session.download_stream(archived.uri, target)
            except Exception as error:  # xnatpy raises its own and requests' errors
                raise XnatReadError(f"GET {selection.file_url(archived)} failed: {error}") from error
            pairs.append((str(local), selection.file_url(archived)))
        yield pairs


def read_counts(reads: XnatReads, selection: XnatSelection) -> None:
    selection.rest_calls.update(reads.calls)
