"""enclave import run/status/cancel on the fake DQR: batches, waiting, retries, stale, archive, cancel."""

from __future__ import annotations

import json
import threading

from fake_dqr import PROJECT, study
from import_helpers import FAST, engine, make_plan, run_args

from compliance.cli import main
from compliance.importer.journal import Journal, journal_path, read_events
from compliance.importer.planfile import load_plan
from compliance.importer.rowstate import IN_FLIGHT, apply, initial_states
from compliance.importer.runner import RunSettings


def outcomes(plan_path) -> dict[int, str]:
    rows = json.loads((plan_path.parent / "report.json").read_text())["rows"]
    return {row["row"]: row["outcome"] for row in rows}


def test_run_imports_the_planned_series_with_the_plan_labels_and_archives_them(
    fake_dqr, key_file, tmp_path, capsys
):
    fake_dqr.add(study(1), study(2, dose=True), study(3))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1, 2, 3])
    plan = load_plan(plan_path)
    assert main(run_args("run", plan_path)) == 0
    captured = capsys.readouterr()
    assert "Import job" in captured.out and "3 archived" in captured.out
    assert set(fake_dqr.imports_by_study.values()) == {1} and len(fake_dqr.imports_by_study) == 3
    assert {row.session for row in plan.rows} == set(fake_dqr.archives_by_label)
    assert {e["label"]: e["subject_label"] for e in fake_dqr.experiments} == {
        r.session: r.subject for r in plan.rows
    }
    bodies = {body["requestId"]: body for body in fake_dqr.import_bodies}
    assert sorted(bodies) == [f"{plan.job}:{row}" for row in (2, 3, 4)], "one /import per row, tagged job:row"
    dose = bodies[f"{plan.job}:3"]
    assert (dose["pacsId"], dose["aeTitle"], dose["port"], dose["projectId"]) == (1, "XNAT", 8104, PROJECT)
    assert dose["forceImport"] is False
    assert dose["studies"][0]["seriesInstanceUids"] == [f"{study(2).uid}.1", f"{study(2).uid}.2"], (
        "no dose series"
    )
    assert dose["studies"][0]["relabelMap"] == {
        "Subject": plan.rows[1].subject,
        "Session": plan.rows[1].session,
    }
    assert outcomes(plan_path) == {2: "archived", 3: "archived", 4: "archived"}


def test_batches_never_exceed_the_limit(fake_dqr, key_file, tmp_path):
    fake_dqr.add(*(study(number) for number in range(1, 26)))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, range(1, 26))
    assert main(run_args("run", plan_path, RunSettings(**{**FAST.__dict__, "max_in_flight": 4}))) == 0
    job = load_plan(plan_path).job
    assert fake_dqr.max_in_flight[job] == 4, (
        "the limit is reached (batches are used) and never exceeded at XNAT"
    )
    states = initial_states(load_plan(plan_path))
    most = 0
    for event in read_events(journal_path(plan_path)):
        if "row" in event:
            apply(states[event["row"]], event)
            most = max(most, sum(1 for state in states.values() if state.phase in IN_FLIGHT))
    assert most == 4, "nor in the journal's own count"
    assert len(fake_dqr.archives_by_label) == 25


def test_a_run_polls_while_its_import_calls_are_out(fake_dqr, key_file, tmp_path):
    """With submit workers, run() does not wait for a batch's /import answers: the next cycles poll XNAT,
    and each answer is journalled when it has come (in row order), never more than the limit at XNAT."""
    fake_dqr.add(*(study(number) for number in range(1, 9)))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, range(1, 9))
    real_import = fake_dqr.app.view_functions["import_"]
    release = threading.Event()
    polled_while_out = []
    calls = iter(range(1000))

    def slow_import():
        if next(calls) == 0:  # the first /import answers only once XNAT was polled meanwhile
            polled_while_out.append(release.wait(10))
        return real_import()

    real_queue = fake_dqr.app.view_functions["queue"]

    def queue_then_release():
        release.set()
        return real_queue()

    fake_dqr.app.view_functions["import_"] = slow_import
    fake_dqr.app.view_functions["queue"] = queue_then_release
    settings = RunSettings(**{**FAST.__dict__, "submit_workers": 4})
    with engine(fake_dqr, plan_path, settings) as run:
        run.start("import run")
        outcome = run.run()
    assert outcome.stopped == "finished"
    assert polled_while_out == [True], "XNAT was polled while an /import call was out"
    assert set(fake_dqr.imports_by_study.values()) == {1} and len(fake_dqr.imports_by_study) == 8
    assert fake_dqr.max_in_flight[load_plan(plan_path).job] <= FAST.max_in_flight
    events = read_events(journal_path(plan_path))
    submitting = [event["row"] for event in events if event["event"] == "submitting"]
    assert sorted(submitting) == list(range(2, 10)), "each row sent once"
    assert {row: state.phase for row, state in run.states.items()} == dict.fromkeys(range(2, 10), "archived")


def test_polls_come_sooner_while_requests_finish_and_back_off_when_nothing_moves(
    fake_dqr, key_file, tmp_path
):
    fake_dqr.add(study(1))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    with engine(fake_dqr, plan_path, RunSettings(**{**FAST.__dict__, "poll_interval": 4.0})) as run:
        run._moved = True  # a poll saw a request received, failed or change status
        assert run._next_wait(4.0) == 1.0, "a quarter of --poll-interval"
        run._moved = False
        assert [run._next_wait(wait) for wait in (1.0, 2.0, 4.0)] == [2.0, 4.0, 4.0], (
            "back to --poll-interval"
        )


def test_failed_requests_are_retried_a_bounded_number_of_times(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1), study(2), study(3))
    fake_dqr.fail_times[study(1).uid] = 1
    fake_dqr.fail_times[study(2).uid] = 9
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1, 2, 3])
    assert main(run_args("run", plan_path)) == 1
    output = capsys.readouterr().out
    assert outcomes(plan_path) == {2: "archived", 3: "failed", 4: "archived"}
    assert fake_dqr.imports_by_study[study(1).uid] == 2
    assert fake_dqr.imports_by_study[study(2).uid] == FAST.max_attempts
    report = json.loads((plan_path.parent / "report.json").read_text())
    failed = next(row for row in report["rows"] if row["row"] == 3)
    assert failed["attempts"] == 3 and failed["xnat_status"] == "FAILED"
    assert failed["reason"] == (
        "Received zero files for study [uid] in project CARDIO01 (patient [redacted], accession [redacted]) "
        "(attempt 3 of 3)"
    )
    assert report["summary"]["retried_rows"] == 2
    assert "row 3: failed: Received zero files for study [uid]" in output


def test_stale_requests_are_flagged_and_resume_picks_them_up(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1), study(2))
    fake_dqr.wedged.add(study(2).uid)
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1, 2])
    stale = RunSettings(**{**FAST.__dict__, "stale_after": 0.2, "poll_interval": 0.02})
    assert main(run_args("run", plan_path, stale)) == 1
    assert "stale" in capsys.readouterr().out
    assert outcomes(plan_path) == {2: "archived", 3: "stale"}
    assert main(["import", "status", str(plan_path)]) == 1
    assert "stale" in capsys.readouterr().out
    fake_dqr.wedged.clear()
    assert main(run_args("resume", plan_path, stale)) == 0
    assert outcomes(plan_path) == {2: "archived", 3: "archived"}
    assert fake_dqr.imports_by_study[study(2).uid] == 1, (
        "resume waited on the request; it did not send it again"
    )


def test_resubmit_stale_sends_a_wedged_request_again(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1))
    fake_dqr.wedged.add(study(1).uid)
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    stale = RunSettings(**{**FAST.__dict__, "stale_after": 0.2, "poll_interval": 0.02})
    assert main(run_args("run", plan_path, stale)) == 1
    fake_dqr.wedged.clear()
    fake_dqr.wedged_requests.add(1)  # the old request stays wedged (XNAT restarted under it)
    assert main([*run_args("resume", plan_path, stale), "--resubmit-stale"]) == 0
    assert fake_dqr.imports_by_study[study(1).uid] == 2
    events = [event["event"] for event in read_events(journal_path(plan_path))]
    assert "abandoned" in events
    assert outcomes(plan_path) == {2: "archived"}


def test_an_auto_archiving_project_needs_no_archive_call(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1))
    fake_dqr.auto_archive = True
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    assert main(run_args("run", plan_path)) == 0
    assert fake_dqr.count("POST /data/services/archive") == 0
    report = json.loads((plan_path.parent / "report.json").read_text())
    assert report["rows"][0]["reason"] == "archived by XNAT on receipt"


def test_a_refused_import_fails_the_row_and_a_forbidden_one_stops_the_run(
    fake_dqr, key_file, tmp_path, capsys
):
    fake_dqr.add(study(1))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    fake_dqr.refuse_imports = (400, "Bad request: no series for PATIENTNAME001 ACC00001")
    assert main(run_args("run", plan_path)) == 1
    reason = json.loads((plan_path.parent / "report.json").read_text())["rows"][0]["reason"]
    assert reason.startswith(
        f"XNAT refused the import: POST {fake_dqr.url}/xapi/dqr/import failed: status 400"
    )
    assert "PATIENTNAME001" not in reason and "ACC00001" not in reason and "[redacted]" in reason

    other = make_plan(fake_dqr, tmp_path / "second", key_file, [1])
    fake_dqr.refuse_imports = (403, "Forbidden")
    assert main(run_args("run", other)) == 2
    error = capsys.readouterr().err
    assert "status 403" in error and "the account needs XNAT's Dqr role" in error
    assert f"continue with 'enclave import resume {other}'" in error


def test_run_and_resume_refuse_the_wrong_job_state(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    assert main(run_args("resume", plan_path)) == 2
    assert "this plan has not been run; use 'enclave import run" in capsys.readouterr().err
    assert main(run_args("run", plan_path)) == 0
    assert main(run_args("run", plan_path)) == 2
    assert "has been run already" in capsys.readouterr().err
    with Journal.open(journal_path(plan_path)):
        assert main(run_args("resume", plan_path)) == 2
    assert (
        "another 'enclave import' (run, resume or cancel) is working on this plan" in capsys.readouterr().err
    )
    assert fake_dqr.imports_by_study[study(1).uid] == 1


def test_status_shows_every_row(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1), study(2))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1, 2, 7])
    capsys.readouterr()
    assert main(["import", "status", str(plan_path), "--format", "json"]) == 1
    before = json.loads(capsys.readouterr().out)["rows"]
    assert [(row["row"], row["outcome"]) for row in before] == [
        (2, "not sent"),
        (3, "not sent"),
        (4, "refused"),
    ]
    main(run_args("run", plan_path))
    capsys.readouterr()
    assert main(["import", "status", str(plan_path)]) == 1
    text = capsys.readouterr().out
    assert "2 archived, 1 refused" in text
    lines = [line.split() for line in text.splitlines()[4:]]
    assert [(line[0], line[1]) for line in lines] == [("2", "archived"), ("3", "archived"), ("4", "refused")]


def test_cancel_removes_queued_requests_and_unsent_rows_only(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(*(study(number) for number in range(1, 7)))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, range(1, 7))
    fake_dqr.auto_advance, fake_dqr.threads = False, 2
    with engine(fake_dqr, plan_path) as run:
        run.start("import run")
        run.cycle()  # 4 requests queued at XNAT
        fake_dqr.advance()  # XNAT starts on 2 of them
    capsys.readouterr()
    assert main(["import", "cancel", str(plan_path)]) == 0
    message = capsys.readouterr().out
    assert "cancelled 2 queued requests (rows 4, 5) and 2 rows not yet sent" in message
    assert "2 rows XNAT is already retrieving go on (rows 2, 3)" in message
    assert sorted(fake_dqr.cancelled) == [3, 4]
    fake_dqr.auto_advance = True
    assert main(run_args("resume", plan_path)) == 1, "cancelled rows are findings"
    assert outcomes(plan_path) == {
        2: "archived",
        3: "archived",
        4: "cancelled",
        5: "cancelled",
        6: "cancelled",
        7: "cancelled",
    }
    assert sum(fake_dqr.imports_by_study.values()) == 4


def test_cancel_during_a_run_asks_the_run_to_cancel(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1), study(2))
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1, 2])
    with engine(fake_dqr, plan_path) as run:
        run.start("import run")
        capsys.readouterr()
        assert main(["import", "cancel", str(plan_path)]) == 0
        assert "a run of this plan is going on; it will cancel" in capsys.readouterr().out
        outcome = run.run()
    assert outcome.stopped == "cancelled"
    assert not (plan_path.parent / "cancel-requested").exists()
    assert {state.phase for state in run.states.values()} == {"cancelled"}
    assert fake_dqr.import_bodies == []
