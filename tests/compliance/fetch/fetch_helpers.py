"""What the fetch tests share: the seeded sessions (see conftest.py) and helpers.

- ``PSEUDO_LABEL``: imported by ``enclave import`` from a PACS study with accession ACC00042: its label is
  the keyed pseudonym and, as DQR's Session relabel leaves it, its dcmAccessionNumber is the label too.
- ``S01_CT1``: a session that kept the PACS accession ACC00001 in dcmAccessionNumber.
- every session has scan 1 (DICOM + NIFTI), scan 2 (DICOM only), scan 900 (a dose report: DICOM; S02_CT1
  also has an empty NIFTI catalog there).
"""

from __future__ import annotations

from compliance.importer.labels import PseudonymKey, session_pseudonym

PROJECT = "CARDIO01"
SECRET = "k" * 40
KEY = PseudonymKey(SECRET.encode(), "test")
PSEUDO_ACCESSION = "ACC00042"
PSEUDO_LABEL = session_pseudonym(KEY, PROJECT, accession_number=PSEUDO_ACCESSION)
KEPT_ACCESSION = "ACC00001"


def dicom_files(count: int, size: int) -> dict[str, dict[str, int]]:
    return {f"1.2.826.0.1.{number}.dcm": {"size": size + number} for number in range(count)}


def resource(label: str, files: dict) -> dict:
    return {"label": label, "format": label, "files": files}


def scans(empty_nifti: bool = False) -> list[dict]:
    nifti = resource("NIFTI", {"scan_1.nii.gz": {"size": 40000}, "scan_1.json": "{}"})
    listed = [
        {"id": "1", "type": "AXIAL", "resources": [resource("DICOM", dicom_files(5, 20000)), nifti]},
        {"id": "2", "type": "CORONAL", "resources": [resource("DICOM", dicom_files(3, 1000))]},
        {"id": "900", "type": "Dose_Report", "resources": [resource("DICOM", {"dose.dcm": "sr"})]},
    ]
    if empty_nifti:
        listed[2]["resources"].append(resource("NIFTI", {}))
    return listed


def stored(double, label: str, scan: str, resource: str):
    """(resource, {path: disk path}) of a seeded scan resource in the double's store."""
    experiment = double.state.archive.find_experiment(PROJECT, label)
    found = experiment.scans[scan].resource(resource)
    return found, {path: found.disk_path(item) for path, item in found.files.items()}


def tree(root) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def fetch_args(double, out, *which: str, resources=("DICOM",), key_file=None) -> list[str]:
    args = ["fetch", "--xnat", double.url, "--project", PROJECT, *which, "--resource", *resources]
    args += ["--out", str(out)]
    return args + (["--pseudonym-key-file", str(key_file)] if key_file else [])


def md5(path) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def downloads(double) -> list[tuple[str, str]]:
    """(path, format) of every file or zip GET the double answered."""
    return [
        (entry["path"], entry["query"].get("format", ""))
        for entry in double.requests()
        if "/files" in entry["path"] and entry["query"].get("format") != "json"
    ]
