"""Debian's Orthanc for the DICOM tests, through ``scripts/orthanc-pacs`` (its own loopback-only network
namespace; DICOM and HTTP bridged to 127.0.0.1, ports in 22000-22999). The test is skipped, with the
reason, when Orthanc cannot start here."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from xnat_double.dicom_node import pick_port

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "orthanc-pacs"


@dataclass(frozen=True)
class Orthanc:
    ae: str
    port: int  # DICOM, on 127.0.0.1
    http: str  # the REST API's base URL
    directory: Path


@contextmanager
def orthanc_pacs(directory: Path, ae: str, moves: Mapping[str, int] | None = None) -> Iterator[Orthanc]:
    """Orthanc answering to ``ae``, with each C-MOVE destination of ``moves`` (AE -> port on 127.0.0.1)."""
    if os.geteuid() != 0 or not shutil.which("Orthanc") or not shutil.which("socat"):
        pytest.skip("Orthanc needs root (network namespace), Debian's orthanc and socat; not available here")
    dicom_port, http_port = pick_port(), pick_port()
    command = [str(SCRIPT), "start", "--aet", ae, "--dicom-port", str(dicom_port)]
    command += ["--http-port", str(http_port), "--dir", str(directory)]
    for destination, port in (moves or {}).items():
        command += ["--move-destination", f"{destination}={port}"]
    started = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    try:
        if started.returncode != 0:
            pytest.skip(f"Orthanc could not start here: {started.stderr.strip()[-400:]}")
        yield Orthanc(ae, dicom_port, f"http://127.0.0.1:{http_port}", directory)
    finally:
        # Also after a failed start: the script may have left socat bridges running.
        subprocess.run(
            [str(SCRIPT), "stop", "--dir", str(directory)], capture_output=True, timeout=60, check=False
        )
