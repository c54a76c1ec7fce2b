"""The run report (JSON, CSV, HTML): per-row outcomes, counts, exclusions, failures, timings; no PHI."""

from __future__ import annotations

import csv
import io
import json
import stat

from fake_dqr import study
from import_helpers import make_plan, run_args

from compliance.cli import main
from compliance.importer.planfile import load_plan

OUTPUTS = ("report.json", "report.csv", "report.html", "journal.jsonl", "plan.json", "plan.csv", "plan.html")


def run_mixed_job(fake_dqr, tmp_path, key_file, *extra):
    fake_dqr.add(study(1), study(2, dose=True), study(3))
    fake_dqr.fail_times[study(3).uid] = 9
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1, 2, 3, 77])
    assert main([*run_args("run", plan_path), *extra]) == 1
    return plan_path


def test_the_report_gives_outcomes_counts_exclusions_failures_and_timings(fake_dqr, key_file, tmp_path):
    plan_path = run_mixed_job(fake_dqr, tmp_path, key_file)
    plan = load_plan(plan_path)
    report = json.loads((plan_path.parent / "report.json").read_text())
    summary = report["summary"]
    assert (report["report"], report["job"], report["identifiers_shown"]) == ("import-run", plan.job, False)
    assert summary["by_outcome"] == {"archived": 2, "failed": 1, "refused": 1}
    assert summary["series_imported"] == 4 and summary["series_excluded"] == 2
    assert summary["excluded_by_rule"] == {"dose-report": 1, "non-image-object": 1}
    assert summary["attempts"] == 5 and summary["retried_rows"] == 1 and summary["duplicate_requests"] == []
    assert summary["runs"] == 1 and summary["elapsed_seconds"] >= 0 and summary["started_at"].endswith("Z")
    rows = {row["row"]: row for row in report["rows"]}
    assert [rows[number]["outcome"] for number in (2, 3, 4, 5)] == [
        "archived",
        "archived",
        "failed",
        "refused",
    ]
    assert (
        rows[3]["session"] == plan.rows[1].session
        and rows[3]["excluded_by_rule"] == "dose-report x1; non-image-object x1"
    )
    assert rows[2]["seconds_to_receive"] >= 0 and rows[2]["archived_at"].endswith("Z")
    assert rows[4]["attempts"] == 3 and rows[4]["request_ids"].count(" ") == 2
    assert [(entry["row"], entry["description"], entry["rule"]) for entry in report["exclusions"]] == [
        (3, "Dose Report", "dose-report"),
        (3, "Dose SR", "non-image-object"),
    ]
    assert [(entry["row"], entry["outcome"]) for entry in report["failures"]] == [
        (4, "failed"),
        (5, "refused"),
    ]
    assert report["failures"][1]["reason"] == "no study on PACS 'TRUSTPACS' matched the row's search"
    table = list(csv.DictReader(io.StringIO((plan_path.parent / "report.csv").read_text())))
    assert [(row["row"], row["outcome"]) for row in table] == [
        ("2", "archived"),
        ("3", "archived"),
        ("4", "failed"),
        ("5", "refused"),
    ]
    assert "accession_number" not in table[0]
    html = (plan_path.parent / "report.html").read_text()
    assert "2 archived" in html and "Rows not archived" in html and "Dose Report" in html
    assert "Information-governance sign-off" in html and "Patient identifiers are not shown" in html


def test_nothing_the_import_writes_names_a_patient(fake_dqr, key_file, tmp_path, capsys, caplog):
    plan_path = run_mixed_job(fake_dqr, tmp_path, key_file)
    main(["import", "status", str(plan_path)])
    captured = capsys.readouterr()
    phi = fake_dqr.phi()
    uids = {entry.uid for entry in fake_dqr.studies.values()}
    for name in OUTPUTS:
        path = plan_path.parent / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        forbidden = [value for value in phi if name != "plan.json" or value not in uids]  # run needs the UIDs
        text = path.read_text()
        assert [value for value in forbidden if value in text] == [], name
    seen = captured.out + captured.err + caplog.text
    assert [value for value in phi if value in seen] == []
    assert any("PATIENTNAME" in body for body in fake_dqr.responses), "the fake did send PHI to the client"


def test_show_identifiers_adds_them_to_the_report(fake_dqr, key_file, tmp_path):
    plan_path = run_mixed_job(fake_dqr, tmp_path, key_file, "--show-identifiers")
    report = json.loads((plan_path.parent / "report.json").read_text())
    assert report["identifiers_shown"] is True
    row = next(entry for entry in report["rows"] if entry["row"] == 2)
    assert (row["accession_number"], row["patient_id"], row["study_instance_uid"]) == (
        "ACC00001",
        "PID00001",
        study(1).uid,
    )
    assert "ACC00002" in (plan_path.parent / "report.csv").read_text()
    assert "This copy shows patient identifiers" in (plan_path.parent / "report.html").read_text()


def test_html_reports_escape_what_the_pacs_says(fake_dqr, key_file, tmp_path):
    hostile = study(1)
    hostile.series[0].description = "<script>alert(1)</script>"
    hostile.series[0].modality = "OT"
    fake_dqr.add(hostile)
    plan_path = make_plan(fake_dqr, tmp_path, key_file, [1])
    html = (plan_path.parent / "plan.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
