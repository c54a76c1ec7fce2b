"""`enclave export` to a real DICOM node: Debian's Orthanc (``scripts/orthanc-pacs``, its own loopback-only
network namespace, ports in 22000-22999) as the AI-evaluation node. The double's DQR export C-STOREs to it;
the command confirms by C-FIND against Orthanc's own NumberOfSeriesRelatedInstances. Skipped with the
reason when Orthanc cannot start here, as the other Orthanc tests are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from export_helpers import FAST, PROJECT, add_pacs

from compliance.cli import main
from tests.orthanc_pacs import Orthanc, orthanc_pacs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with orthanc_pacs(tmp_path_factory.mktemp("orthanc-ai"), "AIEVAL") as started:
        yield started


def test_export_is_confirmed_at_a_real_orthanc(exporting, orthanc, tmp_path):
    add_pacs(exporting.url, orthanc.port, label="Orthanc AI node", ae=orthanc.ae)
    command = ["export", "--xnat", exporting.url, "--project", PROJECT, "--to", "Orthanc AI node"]
    assert main([*command, "--out", str(tmp_path), *FAST]) == 0
    for label, datasets in exporting.studies.items():
        document = json.loads((tmp_path / f"{label}.export.json").read_text(encoding="utf-8"))
        assert document["status"] == "confirmed"
        assert document["counts"]["instances_confirmed"] == len(datasets)
    held = requests.get(f"{orthanc.http}/instances", timeout=10).json()
    assert len(held) == sum(len(datasets) for datasets in exporting.studies.values())
