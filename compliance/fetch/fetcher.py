"""Fetch one session's scan resources into ``OUT/{project}/{session label}/{scan}/{resource}/…``.

Per requested resource type: one listing of the scans' resources and one file listing (names, sizes, MD5
digests) for the whole session, then per scan resource either nothing (every file already verified), the
missing files one by one (an interrupted earlier run), or one zip (``structure=simplified``) unpacked by
``archive.extract_verified`` while the next zip downloads. Scans without the resource are findings; a
resource with a catalog but no files (FLIP#676) is an error naming the session and scan, and no folder is
made for it. Temporary files live in ``OUT/.enclave-fetch/``, so nothing is written outside --out.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from compliance.fetch.archive import (
    CHUNK,
    ListedFile,
    Placer,
    Verified,
    extract_verified,
    missing_members,
    safe_segment,
)
from compliance.fetch.errors import FetchError, UnsafeArchiveError, VerificationError
from compliance.fetch.manifest import Manifest
from compliance.fetch.resolve import FoundSession
from compliance.fetch.xnat_io import Reader
from compliance.pixels.gate import ReleaseMarker, marker_from_keywords, release_decisions
from compliance.progress import Progress, human
from compliance.xnat import routes

STAGING_NAME = ".enclave-fetch"
FILE_URI = re.compile(r"/scans/(?P<scan>[^/]+)/resources/[^/]+/files/(?P<path>.+)$")
PENDING_ZIPS = 2  # zips downloaded ahead of the unpacking (bounds the temporary space)
SPOOL_BYTES = 256 * 1024 * 1024  # a scan's zip up to this size stays in memory (never in the system's /tmp)


def count_files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


@dataclass
class ScanOutcome:
    scan: str
    resource: str
    status: str  # fetched | already | missing | empty | error
    files: int = 0
    bytes: int = 0
    message: str = ""


@dataclass
class FetchResult:
    project: str
    session: FoundSession | None
    path: Path | None
    asked: str  # how the session was asked for, safe to print ("accession ******42", "label E1")
    outcomes: list[ScanOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "error" if self.errors else "findings" if self.findings else "ok"

    def document(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "asked": self.asked,
            "session": self.session.label if self.session else None,
            "found_by": self.session.found_by if self.session else None,
            "path": str(self.path) if self.path else None,
            "status": self.status,
            "scans": [vars(outcome) for outcome in self.outcomes],
            "errors": self.errors,
            "findings": self.findings,
        }


@dataclass
class _Work:
    scan: str
    resource: str
    files: list[ListedFile]
    missing: list[ListedFile]


class SessionFetch:
    """One session: listings, plan, downloads. ``run()`` fills ``result``."""

    def __init__(
        self, reader: Reader, session: FoundSession, resources: list[str], out: Path, progress: Progress
    ) -> None:
        self.reader = reader
        self.session = session
        self.resources = resources
        self.out = out
        self.progress = progress
        self.root = (
            out / safe_segment(session.project, "project") / safe_segment(session.label, "session label")
        )
        self.staging = out / STAGING_NAME / str(os.getpid())  # two fetches into one --out do not collide
        self.where = f"session {session.label}"

    def run(self, result: FetchResult) -> None:
        work = self._plan(result)
        if result.errors and not work:
            return
        self.staging.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(self.root)
        for item in work:
            item.missing = [f for f in item.files if not manifest.is_verified(f, self._placer().target(f))]
        total = sum(f.size for item in work for f in item.missing)
        self.progress.start(total, self.session.label)
        try:
            self._download(work, manifest, result)
        finally:
            if self.root.exists():
                manifest.save()
            shutil.rmtree(self.staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.staging.parent.rmdir()  # only when no other fetch is using it
        result.path = self.root if self.root.exists() else None

    def _placer(self) -> Placer:
        return Placer(self.out, self.root, self.staging)

    # --- listings ----------------------------------------------------------------------------------
    def _plan(self, result: FetchResult) -> list[_Work]:
        experiment = self.session.id
        scan_rows = self.reader.rows(routes.EXPERIMENT_SCANS, experiment=experiment)
        scans = [str(row.get("ID")) for row in scan_rows]
        resource_rows = self.reader.rows(routes.EXPERIMENT_SCAN_RESOURCES, experiment=experiment, scans="ALL")
        marker = self._release_marker()
        work: list[_Work] = []
        for resource in self.resources:
            if not marker.any:
                self._plan_resource(resource, scans, resource_rows, result, work)
                continue
            # The project requires pixel cleaning or defacing: some scans only leave as their cleaned
            # (or defaced) resource, and none leaves without it (compliance/pixels/gate.py).
            by_label: dict[str, list[str]] = {}
            for decision in release_decisions(_with_resources(scan_rows, resource_rows), marker, resource):
                if decision.allowed and decision.resource:
                    by_label.setdefault(decision.resource, []).append(decision.scan)
                elif decision.by_policy:
                    message = f"{self.where} scan {decision.scan}: {resource} not released: {decision.reason}"
                    result.findings.append(message)
                    result.outcomes.append(ScanOutcome(decision.scan, resource, "refused", message=message))
                else:
                    by_label.setdefault(resource, []).append(decision.scan)  # reported missing below
            for label, allowed in by_label.items():
                self._plan_resource(label, allowed, resource_rows, result, work)
        return work

    def _release_marker(self) -> ReleaseMarker:
        fields = self.reader.document(routes.PROJECT, project=self.session.project)
        return marker_from_keywords(fields.get("keywords"))

    def _plan_resource(
        self,
        resource: str,
        scans: list[str],
        resource_rows: list[dict[str, Any]],
        result: FetchResult,
        work: list[_Work],
    ) -> None:
        """Plan the scans' ``resource`` (the one asked for, or the cleaned one the release gate gives)."""
        holders = {str(row.get("cat_id")) for row in resource_rows if row.get("label") == resource}
        holders &= set(scans)
        lacking = [scan for scan in scans if scan not in holders]
        if not holders:
            result.errors.append(
                f"{self.where}: no scan has a {resource} resource ({len(scans)} scans: "
                f"{', '.join(scans) or 'none'}); nothing fetched for {resource}"
            )
            result.outcomes += [ScanOutcome(scan, resource, "missing") for scan in scans]
            return
        if lacking:
            result.findings.append(f"{self.where}: scans {', '.join(lacking)} have no {resource} resource")
            result.outcomes += [ScanOutcome(scan, resource, "missing") for scan in lacking]
        listed = self._files(resource)
        for scan in scans:
            if scan not in holders:
                continue
            files = listed.get(scan, [])
            if not files:
                message = (
                    f"{self.where} scan {scan}: the {resource} resource is empty (XNAT has a catalog "
                    "but no files); nothing fetched for this scan - ask the XNAT administrator to "
                    "rebuild or re-import it"
                )
                result.errors.append(message)
                result.outcomes.append(ScanOutcome(scan, resource, "empty", message=message))
                continue
            safe_segment(scan, f"{self.where}: scan id")
            work.append(_Work(scan, resource, files, files))

    def _files(self, resource: str) -> dict[str, list[ListedFile]]:
        rows = self.reader.rows(
            routes.EXPERIMENT_SCAN_RESOURCE_FILES, experiment=self.session.id, scans="ALL", resource=resource
        )
        by_scan: dict[str, list[ListedFile]] = {}
        for row in rows:
            uri = str(row.get("URI") or "")
            match = FILE_URI.search(uri)
            if match is None:
                raise FetchError(
                    f"{self.where}: XNAT listed a {resource} file with an unexpected URI {uri!r}"
                )
            digest = str(row.get("digest") or "")
            try:
                size = int(row.get("Size") or 0)
            except ValueError as error:
                raise FetchError(
                    f"{self.where}: XNAT listed {uri!r} with size {row.get('Size')!r}"
                ) from error
            path = unquote(match["path"])
            listed = ListedFile(unquote(match["scan"]), resource, path, size, digest, uri)
            by_scan.setdefault(listed.scan, []).append(listed)
        return by_scan

    # --- downloads ---------------------------------------------------------------------------------
    def _download(self, work: list[_Work], manifest: Manifest, result: FetchResult) -> None:
        pending: list[tuple[_Work, Future[tuple[list[Verified], list[str]]], BinaryIO]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enclave-fetch-unzip") as unpacker:
            try:
                for item in work:
                    if not item.missing:
                        result.outcomes.append(
                            ScanOutcome(item.scan, item.resource, "already", len(item.files))
                        )
                        self.progress.note(f"{self.where} scan {item.scan} {item.resource}: already fetched")
                        continue
                    if len(item.missing) < len(item.files):
                        self._fetch_files(item, manifest, result)
                        continue
                    zipped = self._download_zip(item, result)
                    if zipped is None:
                        continue
                    future = unpacker.submit(self._unpack, item, zipped)
                    pending.append((item, future, zipped))
                    while len(pending) >= PENDING_ZIPS:
                        self._finish(pending.pop(0), manifest, result)
                while pending:
                    self._finish(pending.pop(0), manifest, result)
            finally:
                for _item, future, _zip in pending:
                    future.cancel()

    def _unpack(self, item: _Work, zipped: BinaryIO) -> tuple[list[Verified], list[str]]:
        expected = {f.path: f for f in item.files}
        prefix = f"{self.session.label}/scans/{item.scan}/{item.resource}/"
        where = f"{self.where} scan {item.scan} {item.resource}"
        try:
            return extract_verified(
                zipped, expected, prefix, self._placer(), where=where, progress=self.progress.advance
            )
        finally:
            zipped.close()

    def _finish(
        self, entry: tuple[_Work, Future[Any], BinaryIO], manifest: Manifest, result: FetchResult
    ) -> None:
        item, future, _zipped = entry
        try:
            verified, problems = future.result()
        except (UnsafeArchiveError, FetchError) as error:
            self._record(item, [], [str(error)], manifest, result)
            return
        absent = missing_members(item.files, verified)
        problems += [
            f"{self.where} scan {item.scan} {item.resource}: {f.path} is in XNAT's listing but not in its zip"
            for f in absent
            if not any(f.path in problem for problem in problems)
        ]
        self._record(item, verified, problems, manifest, result)

    def _record(
        self,
        item: _Work,
        verified: list[Verified],
        problems: list[str],
        manifest: Manifest,
        result: FetchResult,
    ) -> None:
        for done in verified:
            manifest.record(done)
        if verified:
            manifest.save()
        count = len(verified) + len(item.files) - len(item.missing)
        size = sum(done.file.size for done in verified)
        unverified = [done.file.path for done in verified if not done.file.digest]
        if unverified:
            result.findings.append(
                f"{self.where} scan {item.scan} {item.resource}: {count_files(len(unverified))} checked by "
                "size only (XNAT lists no digest: its checksums preference is off)"
            )
        if problems:
            result.errors += problems
            result.outcomes.append(ScanOutcome(item.scan, item.resource, "error", count, size, problems[0]))
            self.progress.note(problems[0])
            return
        result.outcomes.append(ScanOutcome(item.scan, item.resource, "fetched", count, size))
        self.progress.note(
            f"{self.where} scan {item.scan} {item.resource}: {count_files(count)} verified "
            f"({human(size)} fetched)"
        )

    def _download_zip(self, item: _Work, result: FetchResult) -> BinaryIO | None:
        """XNAT's zip of one scan resource, in memory up to SPOOL_BYTES, beyond that in --out's staging."""
        path = routes.path(
            routes.EXPERIMENT_SCAN_RESOURCE_FILES,
            experiment=self.session.id,
            scans=item.scan,
            resource=item.resource,
        )
        where = f"{self.where} scan {item.scan} {item.resource}"
        response = self.reader.open(
            path,
            {"format": "zip", "structure": "simplified"},
            template=routes.EXPERIMENT_SCAN_RESOURCE_FILES + "?format=zip",
        )
        with response:
            if response.status_code in (204, 404):
                message = (
                    f"{where}: XNAT lists {len(item.files)} files but serves none (a catalog whose files are "
                    "missing on disk, FLIP#676); nothing fetched for this scan"
                )
                self._record(item, [], [message], Manifest(self.root), result)
                return None
            if response.status_code != 200:
                self._record(item, [], [self.reader.failure(path, response)], Manifest(self.root), result)
                return None
            zipped = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=self.staging)  # noqa: SIM115
            try:
                for chunk in response.iter_content(chunk_size=CHUNK):
                    zipped.write(chunk)
            except BaseException:
                zipped.close()
                raise
        zipped.seek(0)
        return zipped

    def _fetch_files(self, item: _Work, manifest: Manifest, result: FetchResult) -> None:
        """Resume: only the files an earlier run did not verify, one GET each."""
        verified, problems = [], []
        where = f"{self.where} scan {item.scan} {item.resource}"
        placer = self._placer()
        for listed in item.missing:
            response = self.reader.open(listed.uri, template="GET listed file URI")
            with response:
                if response.status_code != 200:
                    problems.append(f"{where}: {listed.path}: {self.reader.failure(listed.uri, response)}")
                    continue
                response.raw.decode_content = True
                try:
                    verified.append(placer.write(listed, response.raw, where, self.progress.advance))
                except VerificationError as error:
                    problems.append(str(error))
        self._record(item, verified, problems, manifest, result)


def _with_resources(
    scan_rows: list[dict[str, Any]], resource_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Scan rows with their resources (label, file count), as the release gate reads them."""
    by_scan: dict[str, list[dict[str, Any]]] = {}
    for row in resource_rows:
        by_scan.setdefault(str(row.get("cat_id")), []).append(
            {"label": row.get("label"), "file_count": row.get("file_count")}
        )
    return [{**row, "resources": by_scan.get(str(row.get("ID")), [])} for row in scan_rows]
