"""`enclave export` to a real DICOM node: Debian's Orthanc (``scripts/orthanc-pacs``, its own loopback-only
network namespace, ports in 22000-22999) as the AI-evaluation node. The double's DQR export C-STOREs to it;
the command confirms by C-FIND against Orthanc's own NumberOfSeriesRelatedInstances. Skipped with the
reason when Orthanc cannot start here, as the other Orthanc tests are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from export_helpers import FAST, PROJECT, add_pacs

from compliance.cli import main
from xnat_double.dicom_node import pick_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
ORTHANC_AE = "AIEVAL"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    script = ROOT / "scripts" / "orthanc-pacs"
    if os.geteuid() != 0 or not shutil.which("Orthanc") or not shutil.which("socat"):
        pytest.skip("Orthanc needs root (network namespace), Debian's orthanc and socat; not available here")
    directory = tmp_path_factory.mktemp("orthanc-ai")
    dicom_port, http_port = pick_port(), pick_port()
    command = [str(script), "start", "--aet", ORTHANC_AE, "--dicom-port", str(dicom_port)]
    command += ["--http-port", str(http_port), "--dir", str(directory)]
    started = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    stop = [str(script), "stop", "--dir", str(directory)]
    if started.returncode != 0:
        subprocess.run(stop, capture_output=True, timeout=60, check=False)
        pytest.skip(f"Orthanc could not start here: {started.stderr.strip()[-400:]}")
    try:
        yield {"port": dicom_port, "http": f"http://127.0.0.1:{http_port}"}
    finally:
        subprocess.run(stop, capture_output=True, timeout=60, check=False)


def test_export_is_confirmed_at_a_real_orthanc(exporting, orthanc, tmp_path):
    add_pacs(exporting.url, orthanc["port"], label="Orthanc AI node", ae=ORTHANC_AE)
    command = ["export", "--xnat", exporting.url, "--project", PROJECT, "--to", "Orthanc AI node"]
    assert main([*command, "--out", str(tmp_path), *FAST]) == 0
    for label, datasets in exporting.studies.items():
        document = json.loads((tmp_path / f"{label}.export.json").read_text(encoding="utf-8"))
        assert document["status"] == "confirmed"
        assert document["counts"]["instances_confirmed"] == len(datasets)
    held = requests.get(f"{orthanc['http']}/instances", timeout=10).json()
    assert len(held) == sum(len(datasets) for datasets in exporting.studies.values())
