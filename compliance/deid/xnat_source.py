"""Scan what XNAT stored: the DICOM files of a project's archived image sessions, read through REST.

``enclave deid scan --xnat URL --project P [--since WHEN] [--sample N]`` lists the project's image
sessions (``GET /data/projects/P/experiments``: every ``xnat:…SessionData``), keeps those archived on or
after ``--since`` (XNAT's ``insert_date``), lists each session's DICOM resource files
(``GET /data/experiments/ID/scans/ALL/resources/DICOM/files``), takes at most ``--sample`` of them per
session (evenly over the session's scans and files, the same ones every run) and downloads them into a
private temporary directory under names of our own (never the server's, which could point anywhere).
The scan then runs on those files as on local ones, and every report names each file by its XNAT URL.

The session's ``NIFTI`` resources (what the dcm2niix command stores per scan) are listed too
(``GET /data/experiments/ID/scans/ALL/resources/NIFTI/files``; none, or a 404, is no output) and all of
their files are read, whatever ``--sample`` says: the JSON sidecars whole (up to 4 MiB), the NIfTI images
only as far as their header (the first 64 KiB, enough for a gzip-compressed header), other files
(``.bval``, ``.bvec``) not at all, since only their names are judged. Every file's path inside its
resource is judged as a name; the DICOM of the same scan (else of the session) gives the identifiers the
outputs are compared with.

Credentials come from XNAT_USER/XNAT_PASS or ~/.netrc as for the other XNAT commands; the account
needs read access to the project.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from compliance.deid.context import DICOM, NAME_ONLY, NIFTI, SIDECAR, ListedFile, output_kind
from compliance.deid.nifti import MAX_SIDECAR_BYTES
from compliance.xnat import routes
from compliance.xnat.session import XnatReadError, XnatReads

PROJECT_EXPERIMENTS = routes.PROJECT_SESSIONS_LISTING
LISTING_COLUMNS = "ID,label,xsiType,insert_date,project"
SESSION_DICOM_FILES = routes.SESSION_DICOM_FILES
SESSION_RESOURCE_FILES = routes.EXPERIMENT_SCAN_RESOURCE_FILES  # scans=ALL, resource=NIFTI
OUTPUT_RESOURCE = "NIFTI"  # the label of the dcm2niix command's output handler
HEADER_DOWNLOAD_BYTES = 64 * 1024  # of a NIfTI image: its header, gzip-compressed or not
FILE_DOWNLOAD = f"GET {routes.SCAN_RESOURCE_FILE}"
IMAGE_SESSION = re.compile(r"^[\w-]+:\w*SessionData$")  # xnat:ctSessionData, xnat:mrSessionData, ...
SCAN_IN_URI = re.compile(r"/scans/([^/]+)/")
PATH_IN_URI = re.compile(r"/files/(.+)$")
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
    resource: str = "DICOM"
    kind: str = DICOM  # DICOM, or the kind of a dcm2niix output (compliance.deid.context)

    @property
    def path(self) -> str:
        """The file's path inside its resource (what is judged as its name)."""
        found = PATH_IN_URI.search(self.uri)
        return unquote(found.group(1)) if found else self.name


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
    outputs: list[ArchivedFile] = field(default_factory=list)  # the NIFTI resources' files, all of them
    rest_calls: Counter[str] = field(default_factory=Counter)

    def file_url(self, archived: ArchivedFile) -> str:
        return f"{self.url.rstrip('/')}{archived.uri}"

    def file_name(self, archived: ArchivedFile) -> str:
        """How reports name the file: its URL, with the path inside the resource decoded (as judged)."""
        found = PATH_IN_URI.search(archived.uri)
        if found is None:
            return self.file_url(archived)
        return f"{self.url.rstrip('/')}{archived.uri[: found.start()]}/files/{archived.path}"

    def describe(self) -> str:
        since = f" archived since {self.since.isoformat(timespec='minutes')}" if self.since else ""
        sample = f", at most {self.sample} file(s) per session" if self.sample else ""
        outputs = (
            f", {len(self.outputs)} file(s) of {OUTPUT_RESOURCE} resources checked (sidecars, NIfTI headers, "
            "names)"
            if self.outputs
            else ""
        )
        return (
            f"XNAT {self.url} project {self.project}: {len(self.sessions)} image session(s){since}, "
            f"{len(self.files)} of {self.files_listed} DICOM file(s) read{sample}{outputs}"
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
            "nifti_output_files": len(self.outputs),
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


def list_session_outputs(reads: XnatReads, session: ArchivedSession) -> list[ArchivedFile]:
    """The files of the session's NIFTI resources (dcm2niix outputs), each with its kind; none without."""
    found = reads.optional_json(
        SESSION_RESOURCE_FILES, experiment=session.id, scans="ALL", resource=OUTPUT_RESOURCE
    )
    if found is None:
        return []
    try:
        rows = routes.parse_result_set(found)
    except ValueError as error:
        raise XnatReadError(f"{OUTPUT_RESOURCE} files of session {session.label}: {error}") from error
    files = []
    for row in rows:
        uri = str(row.get("URI") or "")
        if not uri.startswith("/"):
            continue
        scan = SCAN_IN_URI.search(uri)
        listed = ArchivedFile(
            session, scan.group(1) if scan else "", str(row.get("Name") or ""), uri, OUTPUT_RESOURCE
        )
        kind = output_kind(listed.path.rsplit("/", 1)[-1])
        files.append(replace(listed, kind=kind if kind != DICOM else NAME_ONLY))
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
        selection.outputs.extend(list_session_outputs(reads, session))
    return selection


@contextmanager
def downloaded(session: Any, selection: XnatSelection) -> Iterator[list[ListedFile]]:
    """Every selected file as a :class:`ListedFile` named by its XNAT URL, read into a temporary directory.

    The local names are numbers: a file name from the server is never used as a path. NIfTI images are
    read only as far as their header; files judged by name alone are not read.
    """
    with tempfile.TemporaryDirectory(prefix="enclave-deid-xnat-") as temp:
        listed = []
        for index, archived in enumerate([*selection.files, *selection.outputs]):
            local = str(Path(temp) / f"{index:07d}.{'dcm' if archived.kind == DICOM else 'out'}")
            if archived.kind != NAME_ONLY:
                _download(session, selection, archived, local)
            session_id = archived.session.id
            listed.append(
                ListedFile(
                    local,
                    selection.file_name(archived),
                    tuple(part for part in archived.path.split("/") if part),
                    archived.kind,
                    f"{session_id}/{archived.scan}",
                    session_id,
                )
            )
        yield listed


def _download(session: Any, selection: XnatSelection, archived: ArchivedFile, local: str) -> None:
    limit = {NIFTI: HEADER_DOWNLOAD_BYTES, SIDECAR: MAX_SIDECAR_BYTES + 1}.get(archived.kind)
    selection.rest_calls[FILE_DOWNLOAD] += 1
    try:
        with Path(local).open("wb") as target:
            if limit is None:
                session.download_stream(archived.uri, target)
                return
            chunks = session.download_generator(archived.uri, chunk_size=min(limit, 64 * 1024))
            try:
                written = 0
                for chunk in chunks:
                    target.write(chunk[: limit - written])
                    written += len(chunk)
                    if written >= limit:
                        break  # what follows the header is not needed; the connection is dropped
            finally:
                chunks.close()
    except Exception as error:  # xnatpy raises its own and requests' errors
        raise XnatReadError(f"GET {selection.file_url(archived)} failed: {error}") from error


def read_counts(reads: XnatReads, selection: XnatSelection) -> None:
    selection.rest_calls.update(reads.calls)
