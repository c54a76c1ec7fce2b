"""Progress on stderr for every command: rich's bar on a terminal, plain lines otherwise (logs, systemd).

A command says once, in a Style, what its plain lines read and what its bar counts, and progress_for
gives it a bar, plain lines or the silent Progress (the Python API's default). A count begins with
``start(total, description)``; ``advance`` moves it on by items or bytes, ``update`` sets it from counts
by kind (the import's rows by phase), and ``note`` is a line of its own.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, TaskID

Choice = Literal["auto", "bar", "plain", "none"]
Unit = Literal["items", "bytes"]
Tally = Callable[[Mapping[str, int]], tuple[int, str]]  # counts by kind -> (done, summary)


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns


@dataclass(frozen=True)
class Style:
    """What one command's progress says. The line templates take {done}, {total}, {description} and
    {line} (advance's) or {summary} (update's, from the tally)."""

    prefix: str  # every plain line begins "{prefix}: "
    label: str = ""  # the bar's name for a count, before the count's description ("fetch" + "E1")
    unit: Unit = "items"  # items: done/total and time elapsed; bytes: sizes, speed and time left
    started: str = ""  # the plain line when a count starts; none when empty
    step: str = ""  # the plain line of advance and update; none when empty
    tenths: bool = False  # a step line only every tenth of the way and at the end
    tally: Tally | None = None  # how update reads counts by kind; the bar then shows the summary too
    quiet_for: float = math.inf  # seconds before a changed summary alone earns a step line
    replace: bool = False  # a new count's bar replaces the last one's instead of joining it


class Progress:
    """Silent: the interface the plain lines and the bar follow."""

    def start(self, total: int, description: str = "") -> None:
        return None

    def advance(self, amount: int = 1, line: str = "") -> None:
        return None

    def update(self, counts: Mapping[str, int]) -> None:
        return None

    def note(self, line: str) -> None:
        return None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


class PlainLines(Progress):
    """Whole lines, each flushed at once, for logs and schedulers."""

    def __init__(self, style: Style, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self._style = style
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()
        self._total, self._description, self._done = 0, "", 0
        self._last_done, self._last_line, self._last_time = -1, "", clock()

    def start(self, total: int, description: str = "") -> None:
        with self._lock:
            self._total, self._description, self._done = total, description, 0
            self._last_done, self._last_line, self._last_time = -1, "", self._clock()
            if self._style.started:
                self._print(self._fill(self._style.started, done=0), done=0)

    def advance(self, amount: int = 1, line: str = "") -> None:
        with self._lock:
            self._done += amount
            self._step(self._done, line=line)

    def update(self, counts: Mapping[str, int]) -> None:
        if self._style.tally is None:
            return
        done, summary = self._style.tally(counts)
        with self._lock:
            self._step(done, summary=summary)

    def note(self, line: str) -> None:
        with self._lock:
            print(f"{self._style.prefix}: {line}", file=self._stream, flush=True)

    def _step(self, done: int, line: str = "", summary: str = "") -> None:
        if not self._style.step:
            return
        text = self._fill(self._style.step, done=done, line=line, summary=summary)
        moved = done != self._last_done and self._at_mark(done)
        due = text != self._last_line and self._clock() - self._last_time >= self._style.quiet_for
        if moved or due:
            self._print(text, done)

    def _at_mark(self, done: int) -> bool:
        every = max(1, self._total // 10) if self._style.tenths else 1
        return done == self._total or done % every == 0

    def _fill(self, template: str, **fields: object) -> str:
        return template.format(total=self._total, description=self._description, **fields)

    def _print(self, text: str, done: int) -> None:
        print(f"{self._style.prefix}: {text}", file=self._stream, flush=True)
        self._last_done, self._last_line, self._last_time = done, text, self._clock()


class Bar(Progress):
    """rich's progress bar, a row a count."""

    def __init__(self, style: Style, stream: IO[str]) -> None:
        from rich.console import Console  # noqa: PLC0415 - only a terminal needs rich
        from rich.progress import Progress as RichProgress  # noqa: PLC0415
        from rich.progress import TextColumn  # noqa: PLC0415

        self._style = style
        columns = (TextColumn("{task.description}"), *_columns(style))
        self._bar = RichProgress(*columns, console=Console(file=stream))
        self._task: TaskID | None = None
        self._lock = threading.Lock()

    def start(self, total: int, description: str = "") -> None:
        name = " ".join(part for part in (self._style.label, description) if part)
        with self._lock:
            if self._task is not None and self._style.replace:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(name, total=total, summary="starting")

    def advance(self, amount: int = 1, line: str = "") -> None:
        if line:
            self.note(line)
        with self._lock:
            if self._task is not None:
                self._bar.advance(self._task, amount)

    def update(self, counts: Mapping[str, int]) -> None:
        if self._style.tally is None:
            return
        done, summary = self._style.tally(counts)
        with self._lock:
            if self._task is not None:
                self._bar.update(self._task, completed=done, summary=summary)

    def note(self, line: str) -> None:
        self._bar.console.print(line, markup=False, highlight=False)

    def __enter__(self) -> Bar:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._bar.stop()


def _columns(style: Style) -> list[ProgressColumn]:
    from rich import progress as rich  # noqa: PLC0415 - only a terminal needs rich

    columns: list[ProgressColumn] = [rich.BarColumn()]
    if style.unit == "bytes":
        columns += [rich.DownloadColumn(), rich.TransferSpeedColumn(), rich.TimeRemainingColumn()]
    else:
        columns += [rich.MofNCompleteColumn(), rich.TimeElapsedColumn()]
    if style.tally is not None:
        columns.append(rich.TextColumn("{task.fields[summary]}"))
    return columns


def progress_for(style: Style, stream: IO[str] | None = None, choice: Choice = "auto") -> Progress:
    """``auto``: the bar on a terminal, plain lines otherwise; ``none``: silent."""
    stream = stream or sys.stderr
    if choice == "auto":
        choice = "bar" if stream.isatty() else "plain"
    if choice == "bar":
        return Bar(style, stream)
    return PlainLines(style, stream) if choice == "plain" else Progress()
