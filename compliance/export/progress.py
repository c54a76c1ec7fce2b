"""Progress of an export on stderr: rich's bar over the sessions on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import IO

PREFIX = "enclave export"


class Progress:
    """Silent: the interface the other two follow."""

    def start(self, sessions: int) -> None:
        return None

    def note(self, line: str) -> None:
        return None

    def session_done(self, line: str) -> None:
        return None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


class PlainProgress(Progress):
    """One line per step, for logs and schedulers."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._total = 0
        self._done = 0

    def start(self, sessions: int) -> None:
        self._total = sessions
        self.note(f"{sessions} sessions to export")

    def note(self, line: str) -> None:
        with self._lock:
            print(f"{PREFIX}: {line}", file=self._stream, flush=True)

    def session_done(self, line: str) -> None:
        with self._lock:
            self._done += 1
            done = self._done
        self.note(f"[{done}/{self._total}] {line}")


class BarProgress(Progress):
    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console  # noqa: PLC0415 - only a terminal needs rich
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress  # noqa: PLC0415

        self._bar = RichProgress(
            TextColumn("export"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self._task = self._bar.add_task("sessions", total=0)
        self._lock = threading.Lock()

    def start(self, sessions: int) -> None:
        with self._lock:
            self._bar.update(self._task, total=sessions)

    def note(self, line: str) -> None:
        self._bar.console.print(line, markup=False, highlight=False)

    def session_done(self, line: str) -> None:
        self.note(line)
        with self._lock:
            self._bar.advance(self._task)

    def __enter__(self) -> BarProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._bar.stop()


def progress_for(stream: IO[str] | None = None) -> Progress:
    stream = stream or sys.stderr
    return BarProgress(stream) if stream.isatty() else PlainProgress(stream)
