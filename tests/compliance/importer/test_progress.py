"""Progress: plain lines for logs, a rich progress bar on a terminal."""

from __future__ import annotations

import io

from compliance.importer.progress import BarProgress, PlainProgress, progress_for


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_a_row_finishes_and_at_most_every_interval_otherwise():
    stream, now = io.StringIO(), [0.0]
    progress = PlainProgress(3, stream, clock=lambda: now[0])
    progress.update({"queued": 2})
    progress.update({"processing": 2})  # only the in-flight numbers moved, 0 s later: no line
    progress.update({"archived": 1, "issued": 1})
    now[0] = 31.0
    progress.update({"archived": 1, "received": 1})
    assert stream.getvalue().splitlines() == [
        "enclave import: 0/3 done (0 archived, 2 in flight)",
        "enclave import: 1/3 done (1 archived, 1 in flight)",
        "enclave import: 1/3 done (1 archived, 0 in flight, 1 received)",
    ]


def test_a_terminal_gets_a_progress_bar_and_a_pipe_plain_lines():
    terminal = Terminal()
    progress = progress_for(4, terminal)
    assert isinstance(progress, BarProgress)
    with progress:
        progress.update({"archived": 3, "failed": 1})
    assert "4/4" in terminal.getvalue() and "3 archived" in terminal.getvalue()
    assert isinstance(progress_for(4, io.StringIO()), PlainProgress)
