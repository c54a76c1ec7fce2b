"""playbooks/close-project.yml on the controller's own host against the XNAT double: the ended project is
emptied and its own event subscriptions deactivated, its deletion record fetched; a second run closes
nothing and switches nothing off; the password is never printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from playbook_runner import VENV_BIN, run_playbook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "compliance" / "projects"))

from close_helpers import OTHER, PROJECT, access_list_text, add_processing, seed_project  # noqa: E402
from test_import_playbook import HOST, write_inventory  # noqa: E402

PASSWORD = "admin"  # the double's fresh administrator


def inventory_for(xnat_double, tmp_path: Path, end_date: str) -> Path:
    access_list = tmp_path / "access-list.yml"
    access_list.write_text(access_list_text(end_date=end_date))
    return write_inventory(
        tmp_path,
        {
            "xnat_project_close_project": PROJECT,
            "xnat_project_close_enclave": str(VENV_BIN / "enclave"),
            "xnat_project_close_url": xnat_double.url,
            "xnat_project_close_user": "admin",
            "xnat_project_close_password": PASSWORD,
            "xnat_project_close_access_list": str(access_list),
            "xnat_project_close_reports_dir": str(tmp_path / "records"),
            "xnat_project_close_fetch_dir": str(tmp_path / "fetched"),
        },
    )


def test_the_playbook_closes_an_ended_project_once_and_fetches_its_record(xnat_double, tmp_path):
    double = seed_project(xnat_double)
    ids = add_processing(double)
    inventory = inventory_for(double, tmp_path, end_date="2024-01-01")
    first = run_playbook("close-project.yml", inventory, tmp_path)
    assert first["rc"] == 0, first["raw"][-4000:]
    assert first["stats"][HOST]["changed"] == 2, "the close, and the records fetched"
    assert not any(double.state.projects[PROJECT].members.values()), "every member removed"
    directory = double.state.archive.project_directory(PROJECT)
    assert not directory.exists() or not [path for path in directory.rglob("*") if path.is_file()], "no files"
    [record_json] = (tmp_path / "fetched").glob(f"{PROJECT}-deletion-record-*.json")
    assert (tmp_path / "fetched" / record_json.name.replace(".json", ".html")).exists()
    record = json.loads(record_json.read_text())
    assert record["project"] == PROJECT and record["deleted"]["sessions"] == 3
    switched = {entry["id"] for entry in record["switched_off"]["event_subscriptions"]}
    assert switched == {ids[f"{PROJECT} dcm2niix"], ids[f"{PROJECT} deleted"]}
    subscriptions = double.state.subscriptions
    assert not any(subscriptions[i]["active"] for i in switched), "deactivated, and still there"
    assert subscriptions[ids[f"{OTHER} dcm2niix"]]["active"], "another project's is left alone"
    double.clear_requests()
    assert f"password: {PASSWORD}" not in first["raw"] and "XNAT_PASS" not in first["raw"]

    second = run_playbook("close-project.yml", inventory, tmp_path)
    assert second["rc"] == 0, second["raw"][-4000:]
    assert second["stats"][HOST]["changed"] == 0
    assert len(list((tmp_path / "records").glob("*.json"))) == 1, "closed once"
    assert not [entry for entry in double.writes() if "/xapi/" in entry["path"]], "nothing switched off"


def test_the_playbook_refuses_a_project_that_has_not_ended(xnat_double, tmp_path):
    double = seed_project(xnat_double)
    result = run_playbook(
        "close-project.yml", inventory_for(double, tmp_path, end_date="2099-12-31"), tmp_path
    )
    assert result["rc"] != 0
    assert "end date" in " ".join(result["raw"].split()) or "not closed" in result["raw"], result["raw"][
        -3000:
    ]
    assert any(double.state.projects[PROJECT].members.values()), "nothing removed"
    assert not (tmp_path / "records").exists() or not list((tmp_path / "records").glob("*.json"))
