"""What the export tests share: the studies (real DICOM full of PHI), the PACS entry, fast polling options."""

from __future__ import annotations

import requests
from pydicom.dataset import Dataset

from xnat_double.archive_synthetic import synthetic_series

PROJECT = "CARDIO01"
PACS_LABEL = "AI evaluation node"
PATIENT_NAME = "PHISURNAME^PHIFIRST"
PATIENT_ID = "PHIID0042"
ACCESSION = "ACC77042"
FAST = ("--poll-interval", "0.05", "--settle", "0.5", "--timeout", "20", "--dicom-timeout", "5")


def study(number: int, *, dose: bool = False) -> list[Dataset]:
    """A CT study: series 1 (3 instances), series 2 (2); ``dose`` adds a Dose Report screen (series 999)."""
    uid = f"1.2.826.0.1.3680043.8.498.55{number:04d}"
    fields = {"accession_number": ACCESSION, "study_date": "20210105"}
    series = synthetic_series(uid, 1, 3, description="Axial 1.25mm", **fields)
    series += synthetic_series(uid, 2, 2, description="Coronal MPR", **fields)
    if dose:
        series += synthetic_series(uid, 999, 1, modality="OT", description="Dose Report", **fields)
    for dataset in series:
        dataset.PatientName = PATIENT_NAME
        dataset.PatientID = PATIENT_ID
    return series


def add_pacs(url: str, port: int, *, ae: str, label: str = PACS_LABEL, storable: bool = True) -> int:
    body = {"aeTitle": ae, "host": "127.0.0.1", "queryRetrievePort": port, "label": label}
    response = requests.post(
        f"{url}/xapi/pacs",
        json={**body, "storable": storable, "queryable": False},
        auth=("admin", "admin"),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]
