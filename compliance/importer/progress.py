"""Progress of a run on stderr: a rich progress bar on a terminal, plain lines otherwise (logs, systemd)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO

from compliance.importer.rowstate import ARCHIVED, CANCELLED, FAILED, IN_FLIGHT, MISSING

DONE = (ARCHIVED, FAILED, MISSING, CANCELLED)
PLAIN_INTERVAL = 30.0  # seconds between plain lines when only the in-flight numbers move


def describe(counts: dict[str, int]) -> str:
    in_flight = sum(counts.get(phase, 0) for phase in IN_FLIGHT)
    parts = [f"{counts.get(ARCHIVED, 0)} archived", f"{in_flight} in flight"]
    parts += [
        f"{counts[name]} {name}"
        for name in ("received", FAILED, MISSING, CANCELLED, "stale")
        if counts.get(name)
    ]
    return ", ".join(parts)


class PlainProgress:
    """A line when a row finishes, and at most every PLAIN_INTERVAL seconds otherwise."""

    def __init__(self, total: int, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self._total = total
        self._stream = stream
        self._clock = clock
        self._last_line = ""
        self._last_done = -1
        self._last_time = -PLAIN_INTERVAL

    def update(self, counts: dict[str, int]) -> None:
        done = sum(counts.get(phase, 0) for phase in DONE)
        line = f"enclave import: {done}/{self._total} done ({describe(counts)})"
        now = self._clock()
        if line != self._last_line and (done != self._last_done or now - self._last_time >= PLAIN_INTERVAL):
            print(line, file=self._stream, flush=True)
            self._last_line, self._last_done, self._last_time = line, done, now

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


class BarProgress:
    """rich's progress bar over the rows to import."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        # Only a terminal needs rich.
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("import"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._bar.add_task("starting", total=total)

    def update(self, counts: dict[str, int]) -> None:
        done = sum(counts.get(phase, 0) for phase in DONE)
        self._bar.update(self._task, completed=done, description=describe(counts))

    def __enter__(self) -> BarProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._bar.stop()


def progress_for(total: int, stream: IO[str] | None = None) -> PlainProgress | BarProgress:
    stream = stream or sys.stderr
    return BarProgress(total, stream) if stream.isatty() else PlainProgress(total, stream)
