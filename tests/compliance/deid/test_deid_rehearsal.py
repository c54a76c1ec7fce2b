"""`make demo`'s own pipeline agrees with itself: the site script the Annex E audit calls conformant leaves
no residual PHI in the scan, while real residual PHI in the same files is still found.

The studies are those scripts/seed-pacs stores in the rehearsal PACS (the synthetic PHI study and
pydicom's CT and MR samples); they go through inventories/local/anon/site.das with `enclave anon apply`
and are scanned with `enclave deid scan`, as scripts/rehearsal does (no --anon-script).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from compliance.cli import main
from compliance.deid.synthetic import build_study

REPO = Path(__file__).resolve().parents[3]
SITE_SCRIPT = REPO / "inventories" / "local" / "anon" / "site.das"
SEED_SAMPLES = ("CT_small.dcm", "MR_small.dcm")


def enclave(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def seeded_studies(tmp_path_factory) -> Path:
    export = tmp_path_factory.mktemp("pacs-export")
    datasets = [copy.deepcopy(ds) for ds in build_study().datasets]
    datasets += [dcmread(get_testdata_file(name)) for name in SEED_SAMPLES]
    for index, ds in enumerate(datasets):
        ds.save_as(export / f"{index:03d}.dcm", enforce_file_format=True)
    return export


@pytest.fixture
def after_site_script(seeded_studies, tmp_path, capsys) -> Path:
    out = tmp_path / "deidentified"
    code, _ = enclave(
        capsys, "anon", "apply", str(SITE_SCRIPT), str(seeded_studies), "--out", str(out),
        "--project", "REHEARSAL01", "--subject", "SUBJ001", "--session", "SESS001",
    )  # fmt: skip
    assert code == 0
    return out


def test_the_site_script_is_conformant_by_the_annex_e_audit(capsys):
    code, out = enclave(capsys, "anon", "lint", str(SITE_SCRIPT))
    assert code == 0
    assert "CONFORMANT" in out.splitlines()[2]


def test_the_studies_after_the_site_script_have_no_residual_phi(after_site_script, capsys):
    code, out = enclave(capsys, "deid", "scan", str(after_site_script), "--format", "json")
    report = json.loads(out)
    assert report["files"] == len(list(after_site_script.iterdir())) == 10
    assert [row for row in report["attributes"] if row["kind"] == "phi"] == []
    assert report["summary"]["verdict"] != "RESIDUAL PHI FOUND"
    assert code == 0
    # the dummies the script wrote were seen and recognised, not missed
    assert report["summary"]["recognised_values"].get("dummy", 0) > 0


def test_the_studies_before_the_site_script_are_full_of_residual_phi(seeded_studies, capsys):
    code, out = enclave(capsys, "deid", "scan", str(seeded_studies), "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert report["summary"]["verdict"] == "RESIDUAL PHI FOUND"
    assert report["files_with_findings"] == report["files"] == 10


def test_real_residual_phi_left_after_the_site_script_is_still_found(after_site_script, capsys):
    victim = sorted(after_site_script.iterdir())[-1]
    ds = dcmread(victim)
    ds.PatientName = "SMITH^JOHN"
    ds.StudyDate = "20240315"  # a real-looking date where the script left it empty
    ds.InstitutionAddress = "1 High Street, Leeds"  # the profile removes it (X)
    ds.InstitutionName = "Ward 3, patient 943 476 5919"  # an NHS number in free text
    ds.save_as(victim)
    code, out = enclave(capsys, "deid", "scan", str(after_site_script), "--format", "json")
    report = json.loads(out)
    phi = {(row["tag"], row["code"]) for row in report["attributes"] if row["kind"] == "phi"}
    assert code == 1
    assert ("(0010,0010)", "real-looking-name") in phi
    assert ("(0008,0020)", "date-retained") in phi
    assert ("(0008,0081)", "attribute-must-go") in phi
    assert ("(0008,0080)", "nhs-number") in phi
    assert {row["files"] for row in report["attributes"] if row["kind"] == "phi"} == {1}
