"""resume after a crash at any step, or kill -9: no study imported twice, none lost (fake DQR)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fake_dqr import FakeDqr, study
from import_helpers import FAST, engine, make_plan, run_args

from compliance.cli import main
from compliance.importer.journal import journal_path, read_events
from compliance.importer.planfile import load_plan
from compliance.importer.runner import RunSettings

ROOT = Path(__file__).resolve().parents[3]
BOUNDARIES = (
    "before-import",
    "after-import",
    "after-submitted",
    "after-status",
    "before-archive",
    "after-archive",
)
STUDIES = range(1, 7)


class SimulatedCrash(BaseException):
    """Raised at a step boundary: nothing after it runs, as with kill -9."""


class CrashAt:
    def __init__(self, step: str, occurrence: int) -> None:
        self.step, self.occurrence, self.seen = step, occurrence, Counter()

    def __call__(self, step: str, row: int) -> None:
        self.seen[step] += 1
        if step == self.step and self.seen[step] == self.occurrence:
            raise SimulatedCrash(f"{step} #{self.occurrence} (row {row})")


def crash_during_run(
    fake: FakeDqr, plan_path: Path, step: str, occurrence: int, settings: RunSettings = FAST
) -> None:
    crash = CrashAt(step, occurrence)
    with pytest.raises(SimulatedCrash), engine(fake, plan_path, settings, boundary=crash) as run:
        run.start("import run")
        run.run()


def assert_each_study_imported_and_archived_once(fake: FakeDqr, plan_path: Path) -> None:
    plan = load_plan(plan_path)
    assert dict(fake.imports_by_study) == {study(number).uid: 1 for number in STUDIES}, "no duplicate import"
    assert dict(fake.archives_by_label) == {row.session: 1 for row in plan.rows}, "no duplicate, no loss"
    assert fake.prearchive == [], "nothing left behind in the prearchive"


@pytest.mark.parametrize("workers", [1, 4], ids=["step-by-step", "overlapped-submits"])
@pytest.mark.parametrize("occurrence", [1, 3])
@pytest.mark.parametrize("step", BOUNDARIES)
def test_a_crash_at_any_step_boundary_loses_and_repeats_nothing(  # noqa: PLR0917 (fixtures)
    step, occurrence, workers, fake_dqr, key_file, tmp_path
):
    fake_dqr.add(*(study(number) for number in STUDIES))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, STUDIES)
    crash_during_run(
        fake_dqr, plan_path, step, occurrence, RunSettings(**{**FAST.__dict__, "submit_workers": workers})
    )
    assert main(run_args("resume", plan_path)) == 0
    assert_each_study_imported_and_archived_once(fake_dqr, plan_path)


def test_a_crash_after_import_is_found_by_study_when_xnat_does_not_echo_the_request_id(
    fake_dqr, key_file, tmp_path
):
    fake_dqr.echo_request_id = False
    fake_dqr.add(*(study(number) for number in STUDIES))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, STUDIES)
    crash_during_run(fake_dqr, plan_path, "after-import", 2)
    assert main(run_args("resume", plan_path)) == 0
    assert_each_study_imported_and_archived_once(fake_dqr, plan_path)
    adopted = [event for event in read_events(journal_path(plan_path)) if event.get("adopted")]
    assert len(adopted) == 1, "the request XNAT had was taken over, not sent again"


def test_an_unanswered_import_is_looked_up_not_repeated(fake_dqr, key_file, tmp_path):
    """XNAT took the /import but the answer was lost (502): the next cycle finds the request by its tag."""
    fake_dqr.add(*(study(number) for number in STUDIES))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, STUDIES)
    real_import = fake_dqr.app.view_functions["import_"]

    def import_then_lose_the_answer():
        real_import()
        fake_dqr.app.view_functions["import_"] = real_import
        return "Bad Gateway", 502

    fake_dqr.app.view_functions["import_"] = import_then_lose_the_answer
    assert main(run_args("run", plan_path)) == 0
    assert_each_study_imported_and_archived_once(fake_dqr, plan_path)


def test_a_torn_last_journal_line_is_dropped_and_a_damaged_one_is_an_error(
    fake_dqr, key_file, tmp_path, capsys
):
    fake_dqr.add(*(study(number) for number in STUDIES))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, STUDIES)
    crash_during_run(fake_dqr, plan_path, "after-submitted", 2)
    journal = journal_path(plan_path)
    with journal.open("ab") as handle:
        handle.write(b'{"at":"2024-01-01T00:00:00Z","event":"submitting","row":')  # kill -9 mid-write
    assert main(run_args("resume", plan_path)) == 0
    assert journal.read_bytes().endswith(b"\n")
    assert_each_study_imported_and_archived_once(fake_dqr, plan_path)

    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    assert main(["import", "status", str(plan_path)]) == 2
    assert f"{journal}:2: damaged journal line" in capsys.readouterr().err


def test_resume_refuses_a_plan_changed_since_the_job_started(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    crash_during_run(fake_dqr, plan_path, "after-import", 1)
    document = json.loads(plan_path.read_text())
    document["project"] = "OTHER"
    plan_path.write_text(json.dumps(document))
    assert main(run_args("resume", plan_path)) == 2
    assert "the plan has changed since job" in capsys.readouterr().err


def journal_count(plan_path: Path, event: str | None = None) -> int:
    return sum(1 for entry in read_events(journal_path(plan_path)) if event in (None, entry["event"]))


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [4, 15, 30])
def test_kill_9_during_a_run_then_resume(kill_after, fake_dqr, key_file, tmp_path):
    """A real process killed (SIGKILL) once its journal has ``kill_after`` lines; resume finishes the job."""
    fake_dqr.add(*(study(number) for number in STUDIES))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, STUDIES)
    slow = [
        *run_args("run", plan_path),
        "--poll-interval",
        "0.05",
        "--max-in-flight",
        "2",
        "--submit-grace",
        "0.5",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "compliance.cli", *slow],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while journal_count(plan_path) < kill_after and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL, "killed mid-run, not finished"
    time.sleep(0.6)  # past the submit grace: an /import that never reached XNAT may be sent again
    assert main(run_args("resume", plan_path)) == 0
    assert_each_study_imported_and_archived_once(fake_dqr, plan_path)
    assert journal_count(plan_path, "run_finished") == 1, "the killed run never finished; the resume did"
