"""`enclave deid scan` on dcm2niix outputs: JSON sidecars, NIfTI header text and every file's name.

The sidecars are written as dcm2niix 1.0.20260724 writes them (keys and BIDS date/time forms observed
with `-ba y` and `-ba n`); the NIfTI headers are built with struct. When a dcm2niix binary is on PATH (or
in the venv: the PyPI wheel), two more tests run it with the command's own flags
(roles/xnat_config/files/dcm2niix-command.json) on a synthetic series.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from compliance.cli import main
from compliance.deid.names import find_dates
from compliance.deid.scanner import Scanner
from compliance.dicomedit import apply_script, load_script
from xnat_double.archive_synthetic import synthetic_series

ROOT = Path(__file__).resolve().parents[3]
CONFORMANT = ROOT / "examples" / "anon" / "basic-profile.das"
COMMAND_FILE = ROOT / "roles" / "xnat_config" / "files" / "dcm2niix-command.json"
USER, PASSWORD = "svc_audit", "svc_audit-pw"
NAME, NHS_NUMBER, BIRTH_DATE = "SMITH^JOHN", "9434765919", "19600101"

# What dcm2niix -b y -ba y writes for a series that went through the conformant script (observed).
ANONYMISED_SIDECAR = {
    "Modality": "CT",
    "InstitutionalDepartmentName": "None",
    "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
    "DeidentificationMethod": ["PS3.15 Annex E Basic Profile (xnat-enclave)"],
    "DeidentificationMethodCodeSequence": [
        {
            "CodeValue": "113100",
            "CodingSchemeDesignator": "DCM",
            "CodeMeaning": "Basic Application Confidentiality Profile",
        }
    ],
    "SeriesNumber": 3,
    "SliceThickness": 2.5,
    "ImageOrientationPatientDICOM": [1, 0, 0, 0, 1, 0],
    "BidsGuess": ["ct", "_ct"],
    "ConversionSoftware": "dcm2niix",
    "ConversionSoftwareVersion": "v1.0.20260724",
}  # fmt: skip
# ... and what -ba n adds for a series that was not de-identified.
NOT_ANONYMISED_KEYS = {
    "PatientName": NAME,
    "PatientID": NHS_NUMBER,
    "PatientBirthDate": "1960-01-01",
    "AcquisitionDateTime": "2024-01-05T10:15:00.000000",
    "AcquisitionTime": "10:15:00.000000",
    "InstitutionName": "ST ELSEWHERE HOSPITAL",
}


def nifti(path: Path, descrip: str = "TE=2.4e+02;Time=0.000", aux_file: str = "", version: int = 1) -> Path:
    """A little-endian NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header and 4x4x1 uint8 voxels."""
    if version == 1:
        header = bytearray(348)
        struct.pack_into("<i", header, 0, 348)
        struct.pack_into("<8h", header, 40, 3, 4, 4, 1, 1, 1, 1, 1)
        struct.pack_into("<2h", header, 70, 2, 8)
        struct.pack_into("<f", header, 108, 352.0)
        header[148 : 148 + len(descrip)] = descrip.encode()
        header[228 : 228 + len(aux_file)] = aux_file.encode()
        header[344:348] = b"n+1\x00"
    else:
        header = bytearray(540)
        struct.pack_into("<i", header, 0, 540)
        header[4:12] = b"n+2\x00\r\n\x1a\n"
        header[240 : 240 + len(descrip)] = descrip.encode()
        header[320 : 320 + len(aux_file)] = aux_file.encode()
    data = bytes(header) + b"\x00" * 4 + bytes(16)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def sidecar(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"))
    return path


def output(directory: Path, stem: str = "series_3", document: dict | None = None, **header: str) -> Path:
    """A dcm2niix output pair: ``stem.nii.gz`` and its ``stem.json``."""
    nifti(directory / f"{stem}.nii.gz", **header)
    sidecar(directory / f"{stem}.json", ANONYMISED_SIDECAR if document is None else document)
    return directory


def dicom_series(
    directory: Path, count: int = 4, *, deidentify: bool = False, **fields: str
) -> list[Dataset]:
    """A synthetic axial CT series (xnat_double.archive_synthetic) with geometry, times and the patient's
    identifiers, written to ``directory`` (through the conformant script with ``deidentify``; ``fields``
    are set after it)."""
    datasets = synthetic_series(generate_uid(), 3, count)
    for index, ds in enumerate(datasets):
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, NHS_NUMBER, BIRTH_DATE
        ds.AcquisitionDate, ds.AcquisitionTime = "20240105", "101500"
        ds.InstitutionName, ds.StationName = "ST ELSEWHERE HOSPITAL", "CT01"
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, index * 2.5]
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.8], 2.5
        if deidentify:
            script = load_script(CONFORMANT)
            apply_script(script, ds, {"project": "P1", "subject": "SUBJ01", "session": "SESS01"})
            ds.BurnedInAnnotation = "NO"
        for keyword, value in fields.items():
            setattr(ds, keyword, value)
        directory.mkdir(parents=True, exist_ok=True)
        ds.save_as(directory / f"{index:03d}.dcm", enforce_file_format=True)
    return datasets


def scan(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["deid", "scan", *argv, "--format", "json"])
    captured = capsys.readouterr()
    assert code < 2, captured.err
    return code, json.loads(captured.out)


def found(report: dict, kind: str | None = None) -> set[tuple[str, str]]:
    return {(f["tag"], f["code"]) for f in report["findings"] if kind is None or f["kind"] == kind}


# --- sidecars ------------------------------------------------------------------------------------------
def test_a_sidecar_with_the_patients_name_and_acquisition_datetime_is_flagged(tmp_path, capsys):
    output(tmp_path / "NIFTI", document={**ANONYMISED_SIDECAR, **NOT_ANONYMISED_KEYS})
    code, report = scan(capsys, str(tmp_path / "NIFTI"))
    assert code == 1 and report["summary"]["verdict"] == "RESIDUAL PHI FOUND"
    phi = found(report, "phi")
    assert ("json:PatientName", "real-looking-name") in phi
    assert ("json:AcquisitionDateTime", "date-retained") in phi
    assert ("json:PatientBirthDate", "date-retained") in phi
    assert ("json:PatientID", "nhs-number") in phi
    assert ("json:AcquisitionTime", "attribute-must-go") in phi  # X/Z, as the DICOM attribute
    # X/Z/D: a dummy would do, but with no DICOM beside it the scan cannot tell one from a real value
    assert ("json:InstitutionName", "identifying-key-in-sidecar") in phi
    assert ("json", "sidecar-not-anonymised") in found(report, "review")
    rows = {row["tag"]: row for row in report["attributes"]}
    assert rows["json:PatientName"]["name"] == "JSON sidecar key PatientName = Patient's Name (0010,0010)"
    assert rows["json:PatientName"]["examples"] == ["S*********"]
    assert rows["json:AcquisitionDateTime"]["severity"] == "warning"  # as Acquisition DateTime in DICOM
    assert rows["json:AcquisitionTime"]["severity"] == "error"
    text = json.dumps(report)
    assert (
        "SMITH" not in text
        and NHS_NUMBER not in text
        and "ELSEWHERE" not in text
        and "2024-01-05" not in text
    )


def test_a_clean_anonymised_sidecar_is_not_flagged(tmp_path, capsys):
    output(tmp_path / "NIFTI")
    code, report = scan(capsys, str(tmp_path / "NIFTI"))
    assert (code, report["summary"]["verdict"]) == (0, "CLEAN")
    assert report["files"] == 2 and report["findings"] == []
    # dcm2niix's "None" for the department and Time=0.000: placeholders, counted, not findings
    assert report["summary"]["recognised_values"] == {"dummy": 2}


def test_sidecar_values_the_dicom_beside_it_holds_are_judged_as_in_the_dicom(tmp_path, capsys):
    """With the DICOM beside it, a value the DICOM itself holds is judged by the DICOM's rules alone: a
    station name the DICOM keeps (X/Z/D, text with no identifier) is no more a finding in the sidecar."""
    dicom_series(tmp_path / "scan" / "DICOM", 2, deidentify=True, StationName="CT01")
    output(tmp_path / "scan" / "NIFTI", document={**ANONYMISED_SIDECAR, "StationName": "CT01"})
    sidecar(tmp_path / "other" / "series_3.json", {**ANONYMISED_SIDECAR, "StationName": "CT01"})
    nifti(tmp_path / "other" / "series_3.nii")
    _, report = scan(capsys, str(tmp_path))
    stations = {
        f["file"].split(str(tmp_path))[1] for f in report["findings"] if f["tag"] == "json:StationName"
    }
    assert stations == {"/other/series_3.json"}


def test_options_the_dicom_declares_apply_to_its_outputs(tmp_path, capsys):
    """Retained full dates declared in (0012,0064) (code 113106) keep dates in the sidecar and times in the
    NIfTI header, as they are kept in the DICOM."""
    document = {**ANONYMISED_SIDECAR, "AcquisitionDateTime": "2024-01-05T10:15:00.000000"}
    document["DeidentificationMethodCodeSequence"] = [
        {"CodeValue": "113100"},
        {"CodeValue": "113106", "CodingSchemeDesignator": "DCM"},
    ]
    output(tmp_path, document=document, descrip="TE=30;Time=101500.000")
    code, report = scan(capsys, str(tmp_path))
    assert ("json:AcquisitionDateTime", "date-retained") not in found(report)
    assert ("nifti:descrip", "time-of-day-retained") in found(report)  # the NIfTI declares nothing
    code, report = scan(capsys, str(tmp_path), "--option", "retain-long-full-dates")
    assert (code, found(report, "phi")) == (0, set())


# --- NIfTI headers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["series_3.nii", "series_3.nii.gz"])
def test_a_time_of_day_in_the_nifti_descrip_is_flagged(tmp_path, capsys, name):
    """dcm2niix writes the acquisition time into descrip (TE=..;Time=hhmmss.fff): Acquisition Time kept,
    an error as in DICOM (the profile removes it, X/Z); Time=0.000 (no time) is a placeholder."""
    nifti(tmp_path / name, descrip="TE=30;Time=101500.000;phase=1")
    code, report = scan(capsys, str(tmp_path))
    [finding] = report["findings"]
    assert (code, finding["tag"], finding["code"], finding["severity"], finding["kind"]) == (
        1, "nifti:descrip", "time-of-day-retained", "error", "phi",
    )  # fmt: skip
    assert finding["example"] == "1*********"
    assert report["attributes"][0]["name"] == "NIfTI header descrip (80 bytes)"


def test_nifti2_headers_and_aux_file_text(tmp_path, capsys):
    nifti(tmp_path / "a.nii", version=2, descrip="Time=083000.000", aux_file="Mr Smith follow up")
    code, report = scan(capsys, str(tmp_path))
    assert code == 1
    assert found(report) == {
        ("nifti:descrip", "time-of-day-retained"),
        ("nifti:aux_file", "header-text"),  # dcm2niix copies Image Comments there: a review item
        ("nifti:aux_file", "titled-name"),
    }


def test_foreign_and_broken_outputs_are_skipped_with_the_reason(tmp_path, capsys):
    (tmp_path / "notes.nii").write_bytes(b"not a nifti header at all")
    nifti(tmp_path / "cut.nii.gz")
    (tmp_path / "cut.nii.gz").write_bytes((tmp_path / "cut.nii.gz").read_bytes()[:20])
    nifti(tmp_path / "bad.nii")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "lonely.json").write_text("{}")  # no NIfTI beside it: not a sidecar (and not DICOM)
    code, report = scan(capsys, str(tmp_path))
    kinds = {item["file"].rsplit("/", 1)[1]: item["kind"] for item in report["skipped"]}
    assert kinds == {
        "notes.nii": "not-nifti",
        "cut.nii.gz": "unreadable",
        "bad.json": "not-json",
        "lonely.json": "not-dicom",
    }
    assert (code, report["summary"]["verdict"]) == (1, "INCOMPLETE")  # the cut header could not be checked


# --- names ---------------------------------------------------------------------------------------------
def test_a_file_name_with_a_date_is_flagged_and_shown_masked(tmp_path, capsys):
    output(tmp_path / "20240105_CT", stem="series_T1_20240105101500_3")  # dcm2niix's default %t
    output(tmp_path / "clean", stem="series_3")
    uid_named = f"1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322-3-1-{'ab12cd34'}.json"
    sidecar(tmp_path / "clean" / uid_named, ANONYMISED_SIDECAR)
    nifti(tmp_path / "clean" / uid_named.replace(".json", ".nii"))
    nifti(tmp_path / "clean" / "series_19000101.nii")  # the dummy date
    code, report = scan(capsys, str(tmp_path))
    assert code == 1
    named = {f["file"].split(str(tmp_path))[1] for f in report["findings"] if f["code"] == "date-in-name"}
    assert named == {
        "/2*******_CT/series_T1_2*************_3.nii.gz",
        "/2*******_CT/series_T1_2*************_3.json",
    }
    row = next(row for row in report["attributes"] if row["code"] == "date-in-name")
    assert (row["tag"], row["name"], row["severity"], row["files"]) == (
        "name",
        "file or folder name",
        "warning",
        2,
    )
    assert "20240105" not in json.dumps(report)
    # the scanned directory's own name is the user's choice: only what lies below it is judged
    dated_root = output(tmp_path.parent / f"{tmp_path.name}-20240105")
    code, report = scan(capsys, str(dated_root))
    assert code == 0


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("series_20240105.nii", ["20240105"]),
        ("T1_20040826185059_1", ["20040826185059"]),
        ("2024-01-05_scan", ["2024-01-05"]),
        ("scan_05.01.2024", ["05.01.2024"]),
        ("1.2.840.113619.2.55.3.20240105.1.dcm", []),  # a UID, not judged
        ("series_20241305", []),  # no 13th month
        ("study_19000101", []),  # the dummy
        ("IM_000123", []),
    ],
)
def test_dates_in_names(text, dates):
    assert [date for date, _, _ in find_dates(text)] == dates


def test_identifiers_of_the_dicom_beside_are_found_in_names_and_sidecars(tmp_path, capsys):
    dicom_series(tmp_path / "S1" / "scan3" / "DICOM", 2)
    output(
        tmp_path / "S1" / "scan3" / "NIFTI",
        stem="smith_john_9434765919_3",  # dcm2niix -f %n_%i_%s
        document={**ANONYMISED_SIDECAR, "ProcedureStepDescription": "SMITH follow up"},
    )
    dicom_series(tmp_path / "S2" / "DICOM", 2, deidentify=True)
    output(tmp_path / "S2" / "NIFTI", stem="SUBJ01_series_3")  # the pseudonym the script wrote
    dicom_series(tmp_path / "S3" / "SUBJ01" / "DICOM", 2, deidentify=True)
    output(tmp_path / "S3" / "SUBJ01" / "NIFTI")  # a folder named by its label, as XNAT and fetch do
    _, report = scan(capsys, str(tmp_path))
    by_file: dict[str, set] = {}
    for finding in report["findings"]:
        if "header" in finding["code"]:
            short = finding["file"].split(str(tmp_path))[1]
            by_file.setdefault(short, set()).add((finding["tag"], finding["code"], finding["example"]))
    assert by_file["/S1/scan3/NIFTI/s****_j***_9*********_3.nii.gz"] == {
        ("name", "matches-header-identifier", "PatientName S****"),
        ("name", "matches-header-identifier", "PatientName J***"),
        ("name", "matches-header-identifier", "PatientID 9*********"),
    }
    assert ("json:ProcedureStepDescription", "matches-header-identifier", "PatientName S****") in by_file[
        "/S1/scan3/NIFTI/s****_j***_9*********_3.json"
    ]
    # a pseudonym in a name: not judged identifying by the DICOM scan, a review item
    assert by_file["/S2/NIFTI/S*****_series_3.nii.gz"] == {
        ("name", "matches-header-value", "PatientName S*****"),
        ("name", "matches-header-value", "PatientID S*****"),
    }
    assert not any("/S3/" in finding["file"] for finding in report["findings"])
    assert "smith" not in json.dumps(report).lower()


def test_outputs_come_after_the_dicom_in_the_same_report_with_any_number_of_processes(tmp_path):
    dicom_series(tmp_path / "scan" / "DICOM", 40)
    output(tmp_path / "scan" / "NIFTI", stem="smith_3")
    one = Scanner(jobs=1).scan([tmp_path]).to_json()
    two = Scanner(jobs=2).scan([tmp_path]).to_json()
    assert (one["summary"].pop("jobs"), two["summary"].pop("jobs")) == (1, 2)
    assert one == two
    files = [f["file"] for f in one["findings"]]
    assert files[-1].endswith("/NIFTI/s****_3.nii.gz")
    assert one["files"] == 42


# --- XNAT ----------------------------------------------------------------------------------------------
def test_xnat_scans_the_nifti_resources_of_the_project(xnat_double, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XNAT_USER", USER)
    monkeypatch.setenv("XNAT_PASS", PASSWORD)
    monkeypatch.setenv("NETRC", "/dev/null")
    dicom_series(tmp_path / "dicom", 1, deidentify=True)
    dicom, dated = tmp_path / "dicom" / "000.dcm", "series_20240105_3"
    clean = output(tmp_path / "clean")
    dirty = output(
        tmp_path / "dirty",
        stem=dated,
        document={**ANONYMISED_SIDECAR, **NOT_ANONYMISED_KEYS},
        descrip="TE=30;Time=101500.000",
    )

    def scan_entry(scan_id: str, outputs: Path, stem: str) -> dict:
        return {
            "id": scan_id,
            "resources": [
                {"label": "DICOM", "format": "DICOM", "files": {"000.dcm": {"path": str(dicom)}}},
                {
                    "label": "NIFTI",
                    "format": "NIFTI",
                    "files": {
                        f"{stem}.nii.gz": {"path": str(outputs / f"{stem}.nii.gz")},
                        f"{stem}.json": {"path": str(outputs / f"{stem}.json")},
                        f"{stem}.bval": "0 1000",
                    },
                },
            ],
        }  # fmt: skip

    xnat_double.seed(
        {
            "site_config": {"initialized": True},
            "users": [{"username": USER, "password": PASSWORD, "roles": ["Administrator"]}],
            "projects": [{"id": "P1", "owners": [USER]}],
            "archive": [
                {
                    "project": "P1", "subject": "SUBJ01", "session": "SESS01", "modality": "CT",
                    "scans": [scan_entry("1", clean, "series_3"), scan_entry("2", dirty, dated)],
                },
            ],
        }
    )  # fmt: skip
    code, report = scan(capsys, "--xnat", xnat_double.url, "--project", "P1", "--sample", "1")
    assert code == 1
    assert report["xnat"]["nifti_output_files"] == 6  # all of them, whatever --sample says
    assert report["xnat"]["files_read"] == 1
    listing = "GET /data/experiments/{experiment}/scans/{scans}/resources/{resource}/files"
    assert report["xnat"]["rest_calls"][listing] == 1  # one NIFTI listing per session
    assert report["xnat"]["description"].endswith(
        "1 of 2 DICOM file(s) read, at most 1 file(s) per session, 6 file(s) of NIFTI resources checked "
        "(sidecars, NIfTI headers, names)"
    )
    flagged = {f["file"].split("/data/experiments/")[1].split("/", 1)[1]: set() for f in report["findings"]}
    for f in report["findings"]:
        flagged[f["file"].split("/data/experiments/")[1].split("/", 1)[1]].add(f["code"])
    dirty_json = next(name for name in flagged if name.endswith("series_2*******_3.json"))
    assert dirty_json.startswith("scans/2/resources/")
    assert {"real-looking-name", "date-retained", "date-in-name"} <= flagged[dirty_json]
    assert "time-of-day-retained" in flagged[dirty_json.replace(".json", ".nii.gz")]
    assert flagged[dirty_json.replace(".json", ".bval")] == {"date-in-name"}  # judged by name, never read
    assert not any("scans/1/" in name for name in flagged)  # the clean outputs and the DICOM
    assert "20240105" not in json.dumps(report)
    bval = [e for e in xnat_double.requests() if e["path"].endswith(".bval") and e["method"] == "GET"]
    assert bval == []


# --- a real dcm2niix ----------------------------------------------------------------------------------------
def _dcm2niix() -> str | None:
    beside = Path(sys.executable).parent / "dcm2niix"
    return str(beside) if beside.exists() else shutil.which("dcm2niix")


needs_dcm2niix = pytest.mark.skipif(
    _dcm2niix() is None, reason="no dcm2niix (pip install dcm2niix into .venv, or Debian's dcm2niix)"
)


def command_flags() -> list[str]:
    """The dcm2niix command line of the registered command, with its inputs' defaults, before -o."""
    command = json.loads(COMMAND_FILE.read_text())
    line = command["command-line"]
    for spec in command["inputs"]:
        value = ""
        if spec["type"] == "boolean":
            truth = spec.get("default-value") == "true"
            value = f"{spec['command-line-flag']} {spec['true-value'] if truth else spec['false-value']}"
        line = line.replace(spec["replacement-key"], value)
    words = line.split()
    return words[1 : words.index("-o")]


def run_dcm2niix(flags: list[str], source: Path, out: Path) -> None:
    out.mkdir(parents=True)
    done = subprocess.run(
        [_dcm2niix(), *flags, "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_dcm2niix
def test_the_commands_dcm2niix_run_on_archived_dicom_scans_clean(tmp_path, capsys):
    flags = command_flags()
    assert flags == ["-b", "y", "-ba", "y", "-z", "y", "-f", "series_%s"]
    dicom_series(tmp_path / "scan" / "DICOM", 4, deidentify=True)
    run_dcm2niix(flags, tmp_path / "scan" / "DICOM", tmp_path / "scan" / "NIFTI")
    assert sorted(path.name for path in (tmp_path / "scan" / "NIFTI").iterdir()) == [
        "series_3.json",
        "series_3.nii.gz",
    ]
    code, report = scan(capsys, str(tmp_path))
    assert code == 0
    assert found(report, "phi") == set()
    assert [f for f in report["findings"] if "/NIFTI/" in f["file"]] == []
    assert report["skipped"] == [] and report["files"] == 6


@needs_dcm2niix
def test_dcm2niix_without_anonymisation_and_a_date_pattern_is_flagged(tmp_path, capsys):
    dicom_series(tmp_path / "DICOM", 4)
    run_dcm2niix(["-b", "y", "-ba", "n", "-z", "n", "-f", "%p_%t_%s"], tmp_path / "DICOM", tmp_path / "NIFTI")
    code, report = scan(capsys, str(tmp_path / "NIFTI"))
    assert code == 1
    codes = found(report, "phi")
    assert {
        ("json:PatientName", "real-looking-name"),
        ("json:PatientBirthDate", "date-retained"),
        ("json:AcquisitionDateTime", "date-retained"),
        ("json:AcquisitionTime", "attribute-must-go"),
        ("name", "date-in-name"),
        ("nifti:descrip", "time-of-day-retained"),
    } <= codes
    assert ("json", "sidecar-not-anonymised") in found(report, "review")
    assert "20240105" not in json.dumps(report)
