"""enclave import plan: 0, 1 or many studies per row, series kept and excluded, labels, files (fake DQR)."""

from __future__ import annotations

import json
import stat

from fake_dqr import PROJECT, FakeSeries, study
from import_helpers import KEY, accession_csv, plan_args, write_csv

from compliance.cli import main
from compliance.importer.labels import PseudonymKey, session_pseudonym
from compliance.importer.planfile import load_plan

QUERY = "POST /xapi/dqr/query/studies"


def plan_rows(out):
    return {row.row: row for row in load_plan(out / "plan.json").rows}


def test_rows_resolve_to_one_study_and_none_or_many_are_refused(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1), study(2, dose=True), study(3), study(4, patient=3))
    csv = write_csv(
        tmp_path / "c.csv",
        "Accession Number,Patient ID,Study Date",
        "ACC00001,,",
        "ACC00002,,",
        ",PID00003,20210105",
        "ACC00077,,",
    )
    code = main(plan_args(fake_dqr, csv, tmp_path / "job", key_file))
    captured = capsys.readouterr()
    assert code == 1
    rows = plan_rows(tmp_path / "job")
    assert [rows[2].status, rows[3].status, rows[4].status, rows[5].status] == [
        "ready",
        "ready",
        "refused",
        "refused",
    ]
    assert [series.description for series in rows[2].series] == ["Axial 1.25mm", "Coronal MPR"]
    assert [(series.description, series.rule) for series in rows[3].excluded] == [
        ("Dose Report", "dose-report"),
        ("Dose SR", "non-image-object"),
    ]
    assert (rows[4].code, rows[4].candidates) == ("many-studies", 2), "several studies: refused, none taken"
    assert "none is taken" in rows[4].reason and not rows[4].study_uid and not rows[4].series
    assert rows[5].code == "no-study"
    assert fake_dqr.count(QUERY) == 4
    assert fake_dqr.count("POST /xapi/dqr/import") == 0, "planning imports nothing"
    assert "2 of 4 rows ready, 2 refused; 4 series to import, 2 excluded" in captured.out
    assert not any(value in captured.out + captured.err for value in fake_dqr.phi())


def test_bad_rows_are_refused_before_anything_is_queried(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1))
    csv = write_csv(
        tmp_path / "c.csv", "Accession Number,Patient ID,Study Date", ",PID00001,2021-01-05", "ACC00001,,"
    )
    assert main(plan_args(fake_dqr, csv, tmp_path / "job", key_file)) == 1
    assert fake_dqr.count(QUERY) == 1, "only the valid row is queried"
    assert f"{csv}: row 2: Study Date is written with dashes" in capsys.readouterr().err
    assert plan_rows(tmp_path / "job")[2].code == "csv"

    bad_header = write_csv(tmp_path / "bad.csv", "Accession Number,Acession", "ACC00001,x")
    fake_dqr.calls.clear()
    assert main(plan_args(fake_dqr, bad_header, tmp_path / "job2", key_file)) == 2
    assert "unknown header 'Acession'" in capsys.readouterr().err
    assert fake_dqr.calls == [], "a bad file reaches no server"


def test_labels_come_from_the_csv_or_are_keyed_pseudonyms(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1), study(2))
    csv = write_csv(
        tmp_path / "c.csv", "Accession Number,Subject,Session", "ACC00001,S01,S01_CT1", "ACC00002,,"
    )
    assert main(plan_args(fake_dqr, csv, tmp_path / "job", key_file)) == 0
    rows = plan_rows(tmp_path / "job")
    key = PseudonymKey(KEY.encode(), "test")
    assert (rows[2].subject, rows[2].session, rows[2].label_source) == ("S01", "S01_CT1", "csv")
    assert rows[3].subject == key.subject(PROJECT, "PID00002")
    assert rows[3].session == session_pseudonym(key, PROJECT, accession_number="ACC00002")
    assert rows[3].session == key.session_from_accession(PROJECT, "ACC00002"), "keyed on the accession"
    assert rows[3].label_source == "pseudonym"
    assert rows[3].relabel == {"Subject": rows[3].subject, "Session": rows[3].session}
    assert load_plan(tmp_path / "job" / "plan.json").key_id == key.key_id


def test_no_key_is_needed_when_the_csv_gives_every_label(fake_dqr, credentials, tmp_path, capsys):
    fake_dqr.add(study(1), study(2))
    labelled = write_csv(tmp_path / "a.csv", "Accession Number,Subject,Session", "ACC00001,S01,S01_CT1")
    assert main(plan_args(fake_dqr, labelled, tmp_path / "job", None)) == 0
    unlabelled = write_csv(tmp_path / "b.csv", "Accession Number,Subject,Session", "ACC00002,S02,")
    fake_dqr.calls.clear()
    assert main(plan_args(fake_dqr, unlabelled, tmp_path / "job2", None)) == 2
    assert "no pseudonym key" in capsys.readouterr().err
    assert fake_dqr.calls == []


def test_a_label_that_is_a_pacs_identifier_is_refused(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1))  # its accession number is ACC00001: the CSV cannot know that from a patient search
    csv = write_csv(tmp_path / "c.csv", "Patient ID,Study Date,Session", "PID00001,20210105,ACC00001")
    assert main(plan_args(fake_dqr, csv, tmp_path / "job", key_file)) == 1
    row = plan_rows(tmp_path / "job")[2]
    assert (row.status, row.code) == ("refused", "label")
    assert "no hospital identifier may become an XNAT label" in row.reason


def test_a_study_is_planned_once_and_existing_sessions_are_not_imported_again(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1), study(2))
    csv = write_csv(
        tmp_path / "c.csv",
        "Accession Number,Study Instance UID,Session",
        "ACC00001,,",
        f",{study(1).uid},",
        "ACC00002,,OLD_E2",
    )
    fake_dqr.experiments.append({"ID": "XNAT_E9", "label": "OLD_E2", "project": PROJECT})
    assert main(plan_args(fake_dqr, csv, tmp_path / "job", key_file)) == 1
    rows = plan_rows(tmp_path / "job")
    assert rows[2].ready
    assert (rows[3].code, rows[3].reason) == (
        "duplicate-study",
        "the same study as row 2: it is imported once",
    )
    assert rows[4].code == "already-archived"


def test_a_study_with_nothing_left_to_import_is_refused(fake_dqr, key_file, tmp_path):
    only_dose = study(1)
    only_dose.series = [FakeSeries(f"{only_dose.uid}.9", 9, "SR", "Dose SR")]
    fake_dqr.add(only_dose)
    assert main(plan_args(fake_dqr, accession_csv(tmp_path / "c.csv", [1]), tmp_path / "job", key_file)) == 1
    assert plan_rows(tmp_path / "job")[2].code == "all-excluded"


def test_the_trusts_rules_file_is_applied_and_checked(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1))
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "rules:\n  - name: coronal\n    reason: not wanted\n    series_description: ['coronal']\n"
    )
    csv = accession_csv(tmp_path / "c.csv", [1])
    assert main([*plan_args(fake_dqr, csv, tmp_path / "job", key_file), "--exclude-rules", str(rules)]) == 0
    assert [series.rule for series in plan_rows(tmp_path / "job")[2].excluded] == ["coronal"]
    rules.write_text("rules:\n  - name: coronal\n    reason: not wanted\n    series_description: ['(']\n")
    fake_dqr.calls.clear()
    assert main([*plan_args(fake_dqr, csv, tmp_path / "job2", key_file), "--exclude-rules", str(rules)]) == 2
    assert f"{rules}:4:26: series_description: not a valid regular expression" in capsys.readouterr().err
    assert fake_dqr.calls == []


def test_the_receiver_is_the_dqr_one_or_named(fake_dqr, key_file, tmp_path, capsys):
    fake_dqr.add(study(1))
    csv = accession_csv(tmp_path / "c.csv", [1])
    fake_dqr.receivers[0]["customProcessing"] = False
    assert main(plan_args(fake_dqr, csv, tmp_path / "job", key_file)) == 2
    assert "no enabled DICOM receiver with custom processing on" in capsys.readouterr().err
    assert main([*plan_args(fake_dqr, csv, tmp_path / "job", key_file), "--receiver", "OTHER:8105"]) == 0
    plan = load_plan(tmp_path / "job" / "plan.json")
    assert (plan.receiver_ae, plan.receiver_port) == ("OTHER", 8105)


def test_a_study_level_pacs_cannot_leave_series_out(fake_dqr, key_file, tmp_path):
    fake_dqr.pacs[0]["retrieveLevel"] = "STUDY"
    fake_dqr.add(study(1), study(2, dose=True))
    assert (
        main(plan_args(fake_dqr, accession_csv(tmp_path / "c.csv", [1, 2]), tmp_path / "job", key_file)) == 1
    )
    rows = plan_rows(tmp_path / "job")
    assert rows[2].ready and rows[3].code == "study-level-pacs"
    assert any("retrieves whole studies" in note for note in load_plan(tmp_path / "job" / "plan.json").notes)


def test_plan_files_are_private_and_only_the_map_names_patients(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1), study(2, dose=True))
    out = tmp_path / "job"
    assert main(plan_args(fake_dqr, accession_csv(tmp_path / "c.csv", [1, 2]), out, key_file)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in ("plan.json", "plan.csv", "plan.html", "reidentification.csv"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    identifiers = [
        value for entry in fake_dqr.studies.values() for value in (entry.accession, entry.patient_id)
    ]
    names = [part for entry in fake_dqr.studies.values() for part in entry.patient_name.split("^")]
    for name in ("plan.json", "plan.csv", "plan.html"):
        text = (out / name).read_text()
        assert not [value for value in identifiers + names if value in text], name
    assert study(1).uid not in (out / "plan.csv").read_text() + (out / "plan.html").read_text()
    reidentification = (out / "reidentification.csv").read_text()
    assert "ACC00001" in reidentification and "PID00002" in reidentification
    assert "PATIENTNAME002,FIRSTNAME002" in reidentification, "kept to mask it in XNAT's error texts"
    plan_csv = (out / "plan.csv").read_text().splitlines()
    assert plan_csv[0] == (
        "row,status,code,reason,subject,session,label_source,modalities,series_to_import,"
        "series_excluded,excluded_by_rule"
    )
    assert plan_csv[2].endswith(",CT SR,2,2,dose-report x1; non-image-object x1")
    html = (out / "plan.html").read_text()
    assert "Dose Report" in html and "dose-report" in html and "Patient identifiers are not shown" in html
    document = json.loads((out / "plan.json").read_text())
    assert document["format"] == "xnat-enclave/import-plan" and document["pacs_id"] == 1


def test_show_identifiers_puts_them_in_the_plan_reports(fake_dqr, key_file, tmp_path):
    fake_dqr.add(study(1))
    out = tmp_path / "job"
    main([*plan_args(fake_dqr, accession_csv(tmp_path / "c.csv", [1]), out, key_file), "--show-identifiers"])
    assert "ACC00001" in (out / "plan.csv").read_text() and "PID00001" in (out / "plan.html").read_text()
    assert "ACC00001" not in (out / "plan.json").read_text()


def test_a_plan_that_has_been_run_is_not_overwritten(fake_dqr, key_file, tmp_path, capsys):
    out = tmp_path / "job"
    out.mkdir()
    (out / "journal.jsonl").write_text('{"at":"2024-01-01T00:00:00Z","event":"job"}\n')
    assert main(plan_args(fake_dqr, accession_csv(tmp_path / "c.csv", [1]), out, key_file)) == 2
    assert "holds a plan that has been run" in capsys.readouterr().err
