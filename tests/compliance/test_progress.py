"""Progress on stderr, each command's style: plain lines for logs, rich's bar on a terminal, or silence."""

from __future__ import annotations

import io
import re
import sys
import threading

import pytest

from compliance.export.cli import PROGRESS as EXPORT
from compliance.fetch.cli import PROGRESS as FETCH
from compliance.importer.reports import RUN_PROGRESS as IMPORT
from compliance.importer.reports import run_progress
from compliance.progress import Bar, PlainLines, Progress, Style, human, progress_for
from compliance.projects.cli import PROGRESS as CLOSE

STYLES = [EXPORT, FETCH, IMPORT, CLOSE]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def last_frame(terminal: Terminal) -> str:
    """What the bar shows when it stops: its last redraw, without the escape codes."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue().rsplit("\r", 1)[-1])


def test_human_byte_sizes():
    assert [human(size) for size in (0, 999, 1500, 2_500_000, 3e9, 5e12)] == [
        "0 B",
        "999 B",
        "1.5 KB",
        "2.5 MB",
        "3.0 GB",
        "5000.0 GB",
    ]


# --- plain lines -------------------------------------------------------------------------------------
def test_export_says_how_many_sessions_then_a_numbered_line_for_each_one_done():
    stream = io.StringIO()
    progress = progress_for(EXPORT, stream)
    progress.start(2)
    progress.note("session S01: 2 scans (5 instances) sent")
    progress.advance(line="session S01: confirmed (5/5 instances at AIEVAL)")
    progress.advance(line="session S02: incomplete (4/5 instances at AIEVAL)")
    assert lines(stream) == [
        "enclave export: 2 sessions to export",
        "enclave export: session S01: 2 scans (5 instances) sent",
        "enclave export: [1/2] session S01: confirmed (5/5 instances at AIEVAL)",
        "enclave export: [2/2] session S02: incomplete (4/5 instances at AIEVAL)",
    ]


def test_export_numbers_each_session_once_when_workers_finish_together():
    stream = io.StringIO()
    progress = PlainLines(EXPORT, stream)
    progress.start(40)
    workers = [threading.Thread(target=progress.advance, kwargs={"line": "done"}) for _ in range(40)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(lines(stream)[1:]) == sorted(f"enclave export: [{n}/40] done" for n in range(1, 41))


def test_fetch_prints_its_notes_and_no_byte_counts():
    stream = io.StringIO()
    progress = progress_for(FETCH, stream)
    progress.start(3000, "E1")
    progress.advance(1000)
    progress.note("session E1 scan 1 DICOM: 3 files verified")
    progress.advance(2000)
    assert stream.getvalue() == "enclave fetch: session E1 scan 1 DICOM: 3 files verified\n"


def test_import_a_line_when_a_row_finishes_and_at_most_every_30_s_otherwise():
    stream, now = io.StringIO(), [0.0]
    progress = PlainLines(IMPORT, stream, clock=lambda: now[0])
    progress.start(3)
    progress.update({"queued": 2})
    progress.update({"processing": 2})  # only the in-flight numbers moved, 0 s later: no line
    progress.update({"archived": 1, "issued": 1})
    now[0] = 29.0
    progress.update({"archived": 1, "received": 1})  # 29 s after the last line: not yet
    now[0] = 31.0
    progress.update({"archived": 1, "received": 1})
    progress.update({"archived": 1, "received": 1})  # nothing changed: no line
    progress.update({"archived": 1, "failed": 1, "cancelled": 1, "missing": 0, "stale": 2})
    assert lines(stream) == [
        "enclave import: 0/3 done (0 archived, 2 in flight)",
        "enclave import: 1/3 done (1 archived, 1 in flight)",
        "enclave import: 1/3 done (1 archived, 0 in flight, 1 received)",
        "enclave import: 3/3 done (1 archived, 0 in flight, 1 failed, 1 cancelled, 2 stale)",
    ]


def test_import_run_progress_counts_the_plan_rows_from_the_start():
    stream = io.StringIO()
    progress = run_progress(4, stream)
    assert isinstance(progress, PlainLines) and stream.getvalue() == ""
    progress.update({"archived": 2, "queued": 1})
    assert lines(stream) == ["enclave import: 2/4 done (2 archived, 1 in flight)"]


def test_project_close_a_line_when_a_phase_starts_and_ends_and_every_tenth_of_the_way():
    stream = io.StringIO()
    progress = progress_for(CLOSE, stream, "plain")
    progress.start(0, "counting subjects")
    progress.start(3, "counting sessions")
    for _ in range(3):
        progress.advance()
    progress.start(25, "deleting sessions")
    for _ in range(25):
        progress.advance()
    counting = [f"enclave project close: counting sessions {done}/3" for done in range(4)]
    deleting = [f"enclave project close: deleting sessions {done}/25" for done in (*range(0, 25, 2), 25)]
    assert lines(stream) == ["enclave project close: counting subjects 0/0", *counting, *deleting]


def test_a_style_without_lines_prints_only_notes():
    stream = io.StringIO()
    progress = PlainLines(Style(prefix="enclave test"), stream)
    progress.start(2, "things")
    progress.advance(line="one thing")
    progress.update({"archived": 1})  # no tally: counts mean nothing to this style
    progress.note("a note")
    assert lines(stream) == ["enclave test: a note"]


# --- silent, plain or bar ----------------------------------------------------------------------------
@pytest.mark.parametrize("style", STYLES, ids=lambda style: style.prefix)
def test_a_bar_only_on_a_terminal_unless_asked(style):
    assert isinstance(progress_for(style, Terminal()), Bar)
    assert isinstance(progress_for(style, io.StringIO()), PlainLines)
    assert isinstance(progress_for(style, Terminal(), "plain"), PlainLines)
    assert isinstance(progress_for(style, io.StringIO(), "bar"), Bar)


def test_stderr_is_the_default_stream(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    progress = progress_for(EXPORT)
    assert isinstance(progress, PlainLines)
    progress.note("to stderr")
    assert sys.stderr.getvalue() == "enclave export: to stderr\n"


@pytest.mark.parametrize("stream", [Terminal(), io.StringIO()], ids=["terminal", "pipe"])
def test_none_is_silent(stream):
    progress = progress_for(CLOSE, stream, "none")
    assert type(progress) is Progress
    with progress as entered:
        entered.start(2, "deleting sessions")
        entered.advance()
        entered.update({"archived": 1})
        entered.note("a note")
    assert stream.getvalue() == ""


def test_the_import_bar_counts_rows_done_and_shows_the_summary():
    terminal = Terminal()
    progress = run_progress(4, terminal)
    assert isinstance(progress, Bar)
    with progress:
        progress.update({"archived": 3, "failed": 1})
    assert "starting" in terminal.getvalue()  # before the first update
    frame = last_frame(terminal)
    assert frame.startswith("import ") and "4/4" in frame and "3 archived, 0 in flight, 1 failed" in frame


def test_the_export_bar_prints_each_session_above_it():
    terminal = Terminal()
    with progress_for(EXPORT, terminal) as progress:
        progress.start(2)
        progress.note("session S01: 2 scans sent")
        progress.advance(line="session S01: confirmed")
    text = terminal.getvalue()
    assert "session S01: 2 scans sent\n" in text and "session S01: confirmed\n" in text
    assert "[1/2]" not in text and "sessions to export" not in text  # the plain lines' words
    frame = last_frame(terminal)
    assert frame.startswith("export ") and "1/2" in frame


def test_the_fetch_bar_counts_bytes_a_session_at_a_time():
    terminal = Terminal()
    with progress_for(FETCH, terminal) as progress:
        progress.start(3000, "E1")
        progress.advance(3000)
        progress.start(5000, "E2")
        progress.advance(2500)
    frame = last_frame(terminal)
    assert "fetch E2" in frame and "2.5/5.0 kB" in frame and "fetch E1" not in frame


def test_the_project_close_bar_keeps_a_row_for_each_phase():
    terminal = Terminal()
    with progress_for(CLOSE, terminal) as progress:
        progress.start(2, "counting sessions")
        progress.advance()
        progress.advance()
        progress.start(3, "deleting sessions")
        progress.advance()
    rows = last_frame(terminal).splitlines()
    assert [row.split(" ━")[0] for row in rows] == ["counting sessions", "deleting sessions"]
    assert "2/2" in rows[0] and "1/3" in rows[1]
