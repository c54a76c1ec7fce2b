"""Progress of a fetch on stderr: rich's bar over the bytes to verify on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import IO


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns


class Progress:
    """Silent (for the Python API): the interface the other two follow."""

    def start(self, label: str, total: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None

    def note(self, line: str) -> None:
        return None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


class PlainProgress(Progress):
    """One line per scan resource done, for logs and schedulers."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def note(self, line: str) -> None:
        print(f"enclave fetch: {line}", file=self._stream, flush=True)


class BarProgress(Progress):
    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console  # noqa: PLC0415 - only a terminal needs rich
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress  # noqa: PLC0415

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
        )
        self._task = None
        self._lock = threading.Lock()

    def start(self, label: str, total: int) -> None:
        with self._lock:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(f"fetch {label}", total=total)

    def advance(self, count: int) -> None:
        with self._lock:
            if self._task is not None:
                self._bar.advance(self._task, count)

    def note(self, line: str) -> None:
        self._bar.console.print(line, markup=False, highlight=False)

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
