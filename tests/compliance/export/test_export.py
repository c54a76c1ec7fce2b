"""`enclave export` end to end with real DICOM: the XNAT double's DQR export C-STOREs archived files to a
pynetdicom Storage + Find node, and the command confirms every instance there by C-FIND.

Exports are confirmed, a lost instance is a finding (exit 1), scans the pixel gate holds back never leave,
a non-storable PACS entry is refused before anything is sent, a dry run sends and writes nothing, a rerun
sends only what the node lacks, and the reports carry no patient identifier or UID.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from export_helpers import ACCESSION, FAST, PACS_LABEL, PATIENT_ID, PATIENT_NAME, PROJECT, add_pacs

from compliance.cli import main
from xnat_double import dqr_export
from xnat_double.archive_ingest import encode
from xnat_double.archive_model import add_resource, write_file
from xnat_double.dicom_node import pick_port


def run(double: Any, out: Path, *extra: str, to: str = PACS_LABEL) -> int:
    return main(
        ["export", "--xnat", double.url, "--project", PROJECT, "--to", to, "--out", str(out), *FAST, *extra]
    )


def puts(double: Any) -> list[dict[str, Any]]:
    return [entry for entry in double.requests() if entry["path"] == "/xapi/dqr/export"]


def report(out: Path, label: str) -> dict[str, Any]:
    return json.loads((out / f"{label}.export.json").read_text(encoding="utf-8"))


def scans_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {scan["scan"]: scan for scan in document["scans"]}


def test_every_session_is_exported_once_and_every_instance_confirmed(exporting, node, tmp_path, capsys):
    assert run(exporting, tmp_path) == 0
    sent = {str(ds.SOPInstanceUID) for datasets in exporting.studies.values() for ds in datasets}
    assert node.instance_uids() == sent
    assert len(puts(exporting)) == 2  # one DQR export per session, with all its scans
    assert sorted(record["scans"] for record in dqr_export.exports(exporting.state)) == [
        ["1", "2"],
        ["1", "2", "999"],
    ]
    document = report(tmp_path, "S02_CT1")
    assert document["status"] == "confirmed" and document["destination"]["ae_title"] == "AIEVAL"
    assert document["counts"]["instances_expected"] == document["counts"]["instances_confirmed"] == 6
    assert scans_of(document)["1"]["instances_confirmed"] == 3 and scans_of(document)["999"]["sent"]
    assert (tmp_path / "S01_CT1.export.html").is_file() and (tmp_path / "export-summary.json").is_file()
    out = capsys.readouterr()
    assert "6/6 instances confirmed" in out.out and "[confirmed]" in out.out
    assert "enclave export: [2/2]" in out.err  # progress lines when stderr is not a terminal


def test_an_instance_lost_on_the_way_is_reported_missing(exporting, node, tmp_path, capsys):
    exporting.seed({"double": {"dqr_export_faults": {"drop_instances": 1}}})  # the last of each export
    assert run(exporting, tmp_path, "--sessions", "S01_CT1") == 1
    document = report(tmp_path, "S01_CT1")
    assert document["status"] == "incomplete" and document["counts"]["instances_missing"] == 1
    assert (
        scans_of(document)["2"]["instances_missing"] == 1
        and scans_of(document)["1"]["instances_missing"] == 0
    )
    assert document["confirmation"]["wait_ended"] == "stable"
    assert "scan 2: 1 of 2 instances missing at AIEVAL" in capsys.readouterr().err
    assert not (tmp_path / "S02_CT1.export.json").exists()


def test_a_rerun_sends_only_what_the_node_lacks(exporting, node, tmp_path):
    exporting.seed({"double": {"dqr_export_faults": {"drop_instances": 1}}})
    assert run(exporting, tmp_path, "--sessions", "S01_CT1") == 1
    exporting.seed({"double": {"dqr_export_faults": {"drop_instances": 0}}})
    assert run(exporting, tmp_path, "--sessions", "S01_CT1") == 0
    assert [record["scans"] for record in dqr_export.exports(exporting.state)] == [["1", "2"], ["2"]]
    rows = scans_of(report(tmp_path, "S01_CT1"))
    assert (rows["1"]["sent"], rows["1"]["at_destination_before"]) == (False, 3)
    assert rows["2"]["sent"] and rows["2"]["instances_confirmed"] == 2
    assert run(exporting, tmp_path, "--sessions", "S01_CT1") == 0  # complete: nothing sent again
    assert len(dqr_export.exports(exporting.state)) == 2


def test_scans_the_release_gate_holds_back_never_leave(exporting, node, tmp_path, capsys):
    """A Dose Report in a project that requires pixel cleaning stays, even with a DICOM_CLEANED resource:
    DQR export would send the scan's original DICOM resource."""
    exporting.seed({"projects": [{"id": PROJECT, "keywords": "enclave-requires-pixel-cleaning"}]})
    current = exporting.state
    with current.lock:
        scan = current.archive.find_experiment(PROJECT, "S02_CT1").scans["999"]
        cleaned = add_resource(current.archive, scan, "DICOM_CLEANED", format="DICOM", content="RAW")
        write_file(current, cleaned, "cleaned.dcm", encode(exporting.studies["S02_CT1"][-1]), format="DICOM")
    assert run(exporting, tmp_path, "--sessions", "S02_CT1") == 1
    dose_uid = str(exporting.studies["S02_CT1"][-1].SeriesInstanceUID)
    assert node.series_count(dose_uid) == 0 and len(node.instance_uids()) == 5
    [record] = dqr_export.exports(current)
    assert record["scans"] == ["1", "2"]
    held = scans_of(report(tmp_path, "S02_CT1"))["999"]
    assert held["decision"] == "held back" and "cannot send DICOM_CLEANED" in held["reason"]
    assert "scan 999: held back" in capsys.readouterr().err


def test_reports_name_no_patient_and_no_uid(exporting, node, tmp_path):
    assert run(exporting, tmp_path) == 0
    uids = {str(ds.StudyInstanceUID) for d in exporting.studies.values() for ds in d}
    uids |= {
        str(getattr(ds, name))
        for d in exporting.studies.values()
        for ds in d
        for name in ("SeriesInstanceUID", "SOPInstanceUID")
    }
    for path in tmp_path.iterdir():
        text = path.read_text(encoding="utf-8")
        for secret in (PATIENT_NAME, "PHISURNAME", PATIENT_ID, ACCESSION, *uids):
            assert secret not in text, f"{secret} in {path.name}"


def test_a_pacs_entry_that_is_not_storable_is_refused_before_anything_is_sent(
    exporting, node, tmp_path, capsys
):
    add_pacs(exporting.url, pick_port(), label="Not storable", ae="NOSTORE", storable=False)
    assert run(exporting, tmp_path / "out", to="Not storable") == 2
    err = capsys.readouterr().err
    assert "'Not storable'" in err and "is not storable in XNAT" in err and "storable: true" in err
    assert puts(exporting) == [] and not (tmp_path / "out").exists()
    assert run(exporting, tmp_path / "out", to="Nowhere") == 2
    assert (
        "no PACS entry labelled 'Nowhere' (known: AI evaluation node, Not storable)"
        in capsys.readouterr().err
    )


def test_a_dry_run_sends_and_writes_nothing(exporting, node, tmp_path, capsys):
    assert run(exporting, tmp_path / "out", "--dry-run") == 0
    assert puts(exporting) == [] and node.instance_uids() == set() and not (tmp_path / "out").exists()
    assert "session S02_CT1: would send 3 scans" in capsys.readouterr().out


def test_an_unknown_session_or_an_unreachable_node_is_an_error(exporting, node, tmp_path, capsys):
    assert run(exporting, tmp_path, "--sessions", "S01_CT1", "NOPE") == 2
    assert "has no image session labelled NOPE; nothing was sent" in capsys.readouterr().err
    add_pacs(exporting.url, pick_port(), label="Down", ae="DOWN")
    assert run(exporting, tmp_path, "--sessions", "S01_CT1", to="Down") == 2
    assert "cannot reach DOWN@127.0.0.1" in capsys.readouterr().err
    assert puts(exporting) == []  # the node did not answer: nothing was handed to DQR
    (tmp_path / "a-file").write_text("not a directory")
    assert run(exporting, tmp_path / "a-file") == 2
    assert "cannot create the report directory" in capsys.readouterr().err and puts(exporting) == []


@pytest.mark.parametrize("option", ["--workers", "--calling-ae"])
def test_bad_options_are_refused_by_the_parser(exporting, tmp_path, option, capsys):
    value = "0" if option == "--workers" else "A" * 17
    with pytest.raises(SystemExit) as stopped:
        run(exporting, tmp_path, option, value)
    assert stopped.value.code == 2
