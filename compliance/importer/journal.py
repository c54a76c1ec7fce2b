"""The job journal beside the plan: append-only JSON lines, each fsync'd before the import goes on.

Every step is written *before* it is taken (``submitting``, ``archiving``) and its result after
(``submitted``, ``archived``), so after a crash or ``kill -9`` the journal says which steps may have
reached XNAT; ``resume`` asks XNAT about exactly those. A line cut short by a crash is the last one and is
dropped when the journal is opened again. One process at a time holds the journal (``flock``).

The journal holds request ids, statuses, labels and redacted reasons; no patient identifier.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

JOURNAL_NAME = "journal.jsonl"
CANCEL_REQUEST_NAME = "cancel-requested"


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class JournalError(Exception):
    """The journal cannot be used; the message says which file and why."""


class JournalBusyError(JournalError):
    """Another process holds the journal (a run, resume or cancel of the same plan)."""


def journal_path(plan_path: Path) -> Path:
    return plan_path.with_name(JOURNAL_NAME)


def read_events(path: Path) -> list[dict[str, Any]]:
    """The journal's events; a missing journal has none. A torn last line (crash mid-write) is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise JournalError(f"{path}: cannot read the journal ({error.strerror or error})") from error
    return _parse(data, path)


def _parse(data: bytes, path: Path) -> list[dict[str, Any]]:
    # The text after the last newline, if any, is a write a crash cut short: its event never happened.
    complete = data.split(b"\n")[:-1]
    events = []
    for number, line in enumerate(complete, start=1):
        try:
            event = json.loads(line)
        except ValueError as error:
            raise JournalError(
                f"{path}:{number}: damaged journal line ({error}); it was not written by a crash (only the "
                "last line can be cut short): restore the file or start a new plan"
            ) from error
        events.append(event)
    return events


class Journal:
    """An open, locked journal; ``append`` returns once the event is on disk."""

    def __init__(
        self, path: Path, descriptor: int, events: list[dict[str, Any]], clock: Callable[[], datetime]
    ) -> None:
        self.path = path
        self._descriptor = descriptor
        self.events = events
        self._clock = clock

    @classmethod
    def open(cls, path: Path, clock: Callable[[], datetime] = utc_now) -> Journal:
        existed = path.exists()
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise JournalError(f"{path}: cannot open the journal ({error.strerror or error})") from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(descriptor)
            raise JournalBusyError(
                f"{path}: another 'enclave import' (run, resume or cancel) is working on this plan; wait "
                "for it, or use 'enclave import cancel' to stop it"
            ) from error
        try:
            events = cls._repair(path, descriptor)
            if not existed:
                _fsync_directory(path.parent)
        except BaseException:
            os.close(descriptor)
            raise
        return cls(path, descriptor, events, clock)

    @staticmethod
    def _repair(path: Path, descriptor: int) -> list[dict[str, Any]]:
        data = path.read_bytes()
        events = _parse(data, path)
        if data and not data.endswith(b"\n"):
            os.ftruncate(descriptor, data.rfind(b"\n") + 1)
            os.fsync(descriptor)
        return events

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        entry = {"at": timestamp(self._clock()), "event": event, **fields}
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        os.write(self._descriptor, line.encode("utf-8"))
        os.fsync(self._descriptor)
        self.events.append(entry)
        return entry

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)  # releases the lock
            self._descriptor = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _fsync_directory(directory: Path) -> None:
    """Make the new journal's directory entry durable too."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
