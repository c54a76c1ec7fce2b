"""Which files a scan covers, and scanning them on every core with the order of a single process.

:func:`list_files` walks the named directories in a stable order (names sorted, a directory's files
before its subdirectories, links to directories not followed) and sets aside, with the reason, what
cannot be scanned: missing paths, FIFOs, devices, sockets, directories that cannot be listed.
:func:`scan_all` scans the rest in this process or, with ``jobs`` > 1, in worker processes. Results
come back in listing order either way, so a report does not depend on how many processes made it.
A worker that dies (a crash in a decoder, the out-of-memory killer) costs only the file it was
scanning: that file is reported unreadable and the scan carries on.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from compliance.deid.fastread import file_kind
from compliance.deid.report import FileResult

if TYPE_CHECKING:
    from compliance.deid.scanner import Scanner, ScanSettings

Entry = str | FileResult  # a path to scan, or a file already set aside
PARALLEL_MIN_FILES = 32  # below this, starting processes costs more than it saves
PARALLEL_MIN_FILES_PIXELS = 4  # decoding and OCR take far longer per file than reading a header
MAX_CHUNK = 256

_worker_scanner: Scanner | None = None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and cgroups narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def list_files(paths: Iterable[Path | str]) -> list[Entry]:
    entries: list[Entry] = []
    for path in map(str, paths):
        try:
            mode = Path(path).stat().st_mode
        except FileNotFoundError:
            entries.append(_set_aside(path, "no such file or directory", "missing"))
            continue
        except OSError as error:
            entries.append(_set_aside(path, f"cannot be read: {error.strerror or error}", "unreadable"))
            continue
        if stat.S_ISDIR(mode):
            entries.extend(_walk(path))
        elif stat.S_ISREG(mode):
            entries.append(path)
        else:
            entries.append(_not_regular(path, mode))
    return entries


def _walk(top: str) -> Iterator[Entry]:
    """Files below ``top``: each directory's own files (sorted) before its subdirectories (sorted)."""
    pending = [top]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            yield _set_aside(directory, f"cannot list directory: {error.strerror or error}", "unreadable")
            continue
        subdirectories = []
        for entry in children:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.path)
            elif entry.is_file():
                yield entry.path
            elif not entry.is_symlink():
                yield _not_regular(entry.path, entry.stat(follow_symlinks=False).st_mode)
            elif Path(entry.path).is_dir():
                yield _set_aside(entry.path, "link to a directory: not followed", "not-regular")
            elif not Path(entry.path).exists():
                yield _set_aside(entry.path, "broken symbolic link", "broken-link")
            else:
                yield _not_regular(entry.path, entry.stat().st_mode)
        pending.extend(reversed(subdirectories))


def _not_regular(path: str, mode: int) -> FileResult:
    reason = f"not a regular file ({file_kind(mode)}); only regular files are scanned"
    return _set_aside(path, reason, "not-regular")


def _set_aside(path: str, reason: str, kind: str) -> FileResult:
    from compliance.deid.scanner import display_name  # noqa: PLC0415 - scanner imports this module

    return FileResult(display_name(path), skipped=reason, skip_kind=kind)


def scan_all(scanner: Scanner, entries: Sequence[Entry], jobs: int) -> Iterator[FileResult]:
    """Every entry's result in order; files scanned by ``jobs`` processes when there are enough."""
    paths = [entry for entry in entries if isinstance(entry, str)]
    minimum = PARALLEL_MIN_FILES_PIXELS if scanner.pixels else PARALLEL_MIN_FILES
    if jobs <= 1 or len(paths) < minimum:
        for entry in entries:
            yield entry if isinstance(entry, FileResult) else scanner.scan_file(entry)
        return
    scanned = _scan_in_processes(scanner.settings, paths, jobs)
    for entry in entries:
        yield entry if isinstance(entry, FileResult) else next(scanned)


def _scan_in_processes(settings: ScanSettings, paths: list[str], jobs: int) -> Iterator[FileResult]:
    chunk = max(1, min(MAX_CHUNK, len(paths) // (jobs * 4)))
    position = 0
    while position < len(paths):
        try:
            with _executor(settings, jobs) as pool:
                for result in pool.map(_scan_in_worker, paths[position:], chunksize=chunk):
                    position += 1
                    yield result
        except BrokenProcessPool:
            # Which file stopped a worker is not known: the next one is scanned alone to find out.
            yield _scan_alone(settings, paths[position])
            position += 1


def _scan_alone(settings: ScanSettings, path: str) -> FileResult:
    try:
        with _executor(settings, 1) as pool:
            return pool.submit(_scan_in_worker, path).result()
    except BrokenProcessPool:
        from compliance.deid.scanner import display_name  # noqa: PLC0415

        reason = "could not be scanned: the process reading it stopped (crashed or ran out of memory)"
        return FileResult(display_name(path), skipped=reason, skip_kind="unreadable")


def _executor(settings: ScanSettings, jobs: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers in milliseconds with pydicom already imported; spawn where there is no fork.
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(settings,))


def _start_worker(settings: ScanSettings) -> None:
    from compliance.deid.scanner import Scanner, pixel_recipe  # noqa: PLC0415

    global _worker_scanner  # noqa: PLW0603 - one scanner per worker process, built once
    _worker_scanner = Scanner.from_settings(settings)
    if settings.pixels and settings.pixel is not None:
        pixel_recipe(settings.pixel.recipe_file)  # once per worker (inherited from the parent on fork)


def _scan_in_worker(path: str) -> FileResult:
    if _worker_scanner is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker process started without a scanner")
    return _worker_scanner.scan_file(path)
