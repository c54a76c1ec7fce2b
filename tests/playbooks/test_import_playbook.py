"""playbooks/import.yml on the controller's own host: plan, run, fetch the reports; a second run changes
nothing. XNAT is the import tests' fake DQR (tests/compliance/importer/fake_dqr.py) until the double's DQR
does real C-FIND/C-MOVE."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from playbook_runner import VENV_BIN, run_playbook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "compliance" / "importer"))

from fake_dqr import PASSWORD, PROJECT, USER, FakeDqr, study  # noqa: E402

HOST = "audit-test"
KEY = "trust-pseudonym-secret-TEST-ONLY-0123456789"


@pytest.fixture
def fake_dqr():
    server = FakeDqr().start()
    yield server
    server.stop()


def write_inventory(tmp_path: Path, variables: dict[str, Any]) -> Path:
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    hosts = {"all": {"children": {"audit_hosts": {"hosts": {HOST: None}}}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    connection = {
        "ansible_connection": "local",
        "ansible_become": False,
        "ansible_python_interpreter": sys.executable,
    }
    (inventory / "host_vars" / f"{HOST}.yml").write_text(yaml.safe_dump({**connection, **variables}))
    return inventory


def run_import(inventory: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    return run_playbook("import.yml", inventory, tmp_path, *extra)


@pytest.fixture
def trust(fake_dqr, tmp_path):
    csv = tmp_path / "cardio-cohort.csv"
    csv.write_text("Accession Number\nACC00001\nACC00002\n")
    variables = {
        "xnat_import_csv": str(csv),
        "xnat_import_project": PROJECT,
        "xnat_import_pacs": "TRUSTPACS",
        "xnat_import_enclave": str(VENV_BIN / "enclave"),
        "xnat_import_url": fake_dqr.url,
        "xnat_import_user": USER,
        "xnat_import_password": PASSWORD,
        "xnat_import_jobs_dir": str(tmp_path / "imports"),
        "xnat_import_fetch_dir": str(tmp_path / "fetched"),
        "xnat_import_pseudonym_key": KEY,
        "xnat_import_poll_interval": 0,
        "xnat_import_exclusion_rules": {
            "mode": "extend",
            "rules": [
                {"name": "no-coronal", "reason": "trust rule: reformats", "series_description": ["coronal"]}
            ],
        },
    }
    return write_inventory(tmp_path, variables)


def test_import_plans_runs_fetches_and_a_second_run_changes_nothing(fake_dqr, trust, tmp_path):
    fake_dqr.add(study(1), study(2, dose=True))
    first = run_import(trust, tmp_path)
    assert first["rc"] == 0, first["raw"][-4000:]
    bodies = fake_dqr.import_bodies
    assert len(bodies) == 2
    sent = sorted(uid for body in bodies for uid in body["studies"][0]["seriesInstanceUids"])
    assert sent == [f"{study(1).uid}.1", f"{study(2).uid}.1"], (
        "dose, SR and the trust's coronal rule left out"
    )
    labels = {body["studies"][0]["relabelMap"]["Session"] for body in bodies}
    assert labels == set(fake_dqr.archives_by_label), "archived under the plan's labels"
    assert not {label for label in labels if "ACC" in label or "PID" in label}, "no identifier in a label"

    job = tmp_path / "imports" / "cardio-cohort"
    assert oct((tmp_path / "imports").stat().st_mode & 0o777) == "0o700"
    assert oct((job / "pseudonym.key").stat().st_mode & 0o777) == "0o600"
    report = json.loads((tmp_path / "fetched" / "cardio-cohort" / "report.json").read_text())
    assert [row["outcome"] for row in report["rows"]] == ["archived", "archived"]
    fetched = " ".join(path.read_text() for path in (tmp_path / "fetched").rglob("*") if path.is_file())
    assert "ACC00001" not in fetched and "PATIENTNAME001" not in fetched, "reports carry pseudonyms only"
    assert PASSWORD not in first["raw"] and KEY not in first["raw"]

    second = run_import(trust, tmp_path)
    assert second["rc"] == 0, second["raw"][-4000:]
    assert second["stats"][HOST]["changed"] == 0
    assert len(fake_dqr.import_bodies) == 2, "a finished job imports nothing again"


def test_refused_rows_stop_the_run_before_anything_is_imported(fake_dqr, trust, tmp_path):
    fake_dqr.add(study(1))
    (tmp_path / "cardio-cohort.csv").write_text("Accession Number,Study Date\nACC00001,2021-13-45\n")
    result = run_import(trust, tmp_path)
    assert result["rc"] != 0
    output = " ".join(result["raw"].split())
    assert "refused rows" in output and "row 2" in output, output[-3000:]
    assert fake_dqr.import_bodies == []
