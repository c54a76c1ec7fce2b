"""Fixtures of the fetch tests: a double seeded with the sessions fetch_helpers describes."""

from __future__ import annotations

import pytest
from fetch_helpers import KEPT_ACCESSION, PROJECT, PSEUDO_LABEL, SECRET, scans


@pytest.fixture
def archive(xnat_double, monkeypatch):
    xnat_double.seed(
        {
            "site_config": {"initialized": True},
            "projects": [{"id": PROJECT, "name": "Cardio"}],
            "archive": [
                {"project": PROJECT, "subject": "S4F2A", "session": PSEUDO_LABEL, "modality": "CT",
                 "dcmAccessionNumber": PSEUDO_LABEL, "scans": scans()},
                {"project": PROJECT, "subject": "S01", "session": "S01_CT1", "modality": "CT",
                 "dcmAccessionNumber": KEPT_ACCESSION, "scans": scans()},
                {"project": PROJECT, "subject": "S02", "session": "S02_CT1", "modality": "CT",
                 "dcmAccessionNumber": "ACC00002", "scans": scans(empty_nifti=True)},
            ],
        }
    )  # fmt: skip
    xnat_double.clear_requests()
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    for name in ("ENCLAVE_PSEUDONYM_KEY", "ENCLAVE_PSEUDONYM_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return xnat_double


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "pseudonym.key"
    path.write_text(SECRET)
    path.chmod(0o600)
    return path
