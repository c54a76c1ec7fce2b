"""Fixtures of the export tests: the XNAT double with two archived sessions of real DICOM full of PHI and a
storable PACS entry for the evaluation node (``node``, tests/conftest.py; the Orthanc test starts its own)."""

from __future__ import annotations

from typing import Any

import pytest
from export_helpers import PROJECT, add_pacs, study

from xnat_double.archive_ingest import SessionTarget, file_into_archive
from xnat_double.dicom_node import DicomNode


@pytest.fixture
def exporting(xnat_double: Any, node: DicomNode, monkeypatch: pytest.MonkeyPatch) -> Any:
    """S01_CT1 (5 instances) and S02_CT1 (5 + a Dose Report) in CARDIO01; the PACS entry; credentials."""
    xnat_double.seed(
        {
            "site_config": {"initialized": True},
            "projects": [{"id": PROJECT, "name": "Cardio"}],
            "double": {"echo_timeout": 2},
        }
    )
    xnat_double.studies = {"S01_CT1": study(1), "S02_CT1": study(2, dose=True)}
    for label, datasets in xnat_double.studies.items():
        file_into_archive(xnat_double.state, SessionTarget(PROJECT, label.split("_")[0], label), datasets)
    xnat_double.pacs_id = add_pacs(xnat_double.url, node.port, ae=node.ae_title)
    xnat_double.clear_requests()
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    return xnat_double
