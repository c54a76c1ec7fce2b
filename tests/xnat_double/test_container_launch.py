"""The double's container service for real: a scan archived into a project with an active dcm2niix
subscription fires ScanEvent CREATED, the command runs on the local Docker engine (the image built by
scripts/build-dcm2niix-image) and its output becomes the scan's NIFTI resource.

The tests marked ``docker`` need a Docker engine (``make pytest`` starts one through scripts/ensure-docker);
without one they fail, naming the fix (deselect them with ``-m "not docker"``).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from xnat_double.archive_ingest import SessionTarget, file_into_archive
from xnat_double.container_launch import launcher_for, payload_matches

ROOT = Path(__file__).resolve().parents[2]
COMMAND_FILE = ROOT / "roles" / "xnat_config" / "files" / "dcm2niix-command.json"
ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
FLIP_FILTER = '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)'  # FLIP projects.py
PATIENT_NAME, PATIENT_ID, BIRTH_DATE, STUDY_DATE = "SMITH^JOHN", "9434765919", "19600101", "20240105"
PHI_KEYS = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientWeight",
    "AccessionNumber", "StudyDate", "SeriesDate", "AcquisitionDate", "AcquisitionDateTime", "ContentDate",
    "StudyInstanceUID", "SeriesInstanceUID",
}  # fmt: skip


def ct_series(slices: int = 8, size: int = 64, series_number: int = 3) -> list[Dataset]:
    """A synthetic axial CT series: ``slices`` int16 images of ``size``², 0.8 mm pixels, 2.5 mm apart,
    with a patient name, id, birth date and dates in the headers (what dcm2niix must not copy out)."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for index in range(slices):
        ds = Dataset()
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", series_number, index + 1
        ds.SeriesDescription = "AXIAL 2.5"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT_NAME, PATIENT_ID, BIRTH_DATE
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY_DATE
        ds.StudyTime = ds.AcquisitionTime = "101500"
        ds.AccessionNumber, ds.StudyID, ds.Manufacturer = "ACC0001", "1", "SYNTH"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Rows = ds.Columns = size
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.8], 2.5
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-25.6, -25.6, index * 2.5]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = (np.arange(size * size, dtype=np.int16).reshape(size, size) + index).tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        datasets.append(ds)
    return datasets


def nifti_header(data: bytes) -> dict:
    """dim, datatype and pixdim of a NIfTI-1 header (little endian), read with struct."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    assert struct.unpack_from("<i", data, 0)[0] == 348, "not a little-endian NIfTI-1 file"
    dim = struct.unpack_from("<8h", data, 40)
    return {
        "dim": dim[1 : dim[0] + 1],
        "datatype": struct.unpack_from("<h", data, 70)[0],
        "pixdim": tuple(round(value, 4) for value in struct.unpack_from("<8f", data, 76)[1 : dim[0] + 1]),
        "magic": data[344:348],
    }


# --- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dcm2niix_image() -> str:
    """The local dcm2niix image, built (or found up to date) by the script, tagged as the command names it."""
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode
    ):
        pytest.fail(
            "no Docker engine answers: run 'sudo scripts/ensure-docker' (or deselect: -m 'not docker')"
        )
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-dcm2niix-image")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    image = built.stdout.strip().splitlines()[-1]
    assert image == json.loads(COMMAND_FILE.read_text())["image"]
    return image


def register(
    admin, command: dict, project: str = "CARDIO01", payload_filter: str | None = FLIP_FILTER
) -> int:
    """Register a command, enable its wrapper on the site and for the project, and subscribe the project's
    ScanEvent CREATED to it, as roles/xnat_config does; the wrapper id."""
    created = admin("POST", "/xapi/commands", json=command)
    assert created.status_code == 201, created.text
    command_id = int(created.text)
    wrapper = command["xnat"][0]["name"]
    assert admin("PUT", f"/xapi/commands/{command_id}/wrappers/{wrapper}/enabled").ok
    assert admin("PUT", f"/xapi/projects/{project}/commands/{command_id}/wrappers/{wrapper}/enabled").ok
    wrapper_id = admin("GET", f"/xapi/commands/{command_id}").json()["xnat"][0]["id"]
    event_filter = {
        "event-type": "org.nrg.xnat.eventservice.events.ScanEvent",
        "status": "CREATED",
        "project-ids": [project],
        "payload-filter": payload_filter,
    }
    body = {
        "name": f"{project} {command['name']}",
        "active": True,
        "action-key": f"{ACTION_PROVIDER}:{wrapper_id}",
        "event-filter": event_filter,
    }
    subscribed = admin("POST", f"/xapi/projects/{project}/events/subscription", json=body)
    assert subscribed.status_code == 201, subscribed.text
    return wrapper_id


@pytest.fixture
def service(site, admin):
    """The double with the event service on; ``containers`` decides whether commands really run."""

    def start(containers: str = "docker"):
        site.seed({"double": {"containers": containers}, "event_prefs": {"enabled": True}})
        launcher_for(site.state).settle = 0.2
        return site.state

    return start


def finished(current, timeout: float = 180.0) -> list[dict]:
    assert launcher_for(current).wait(timeout), "containers still running"
    return list(launcher_for(current).containers.values())


# --- a real run ----------------------------------------------------------------------------------------
@pytest.mark.docker
def test_archived_ct_series_is_converted_to_an_anonymised_nifti_by_the_subscribed_dcm2niix(
    dcm2niix_image, service, admin
):
    current = service("docker")
    register(admin, json.loads(COMMAND_FILE.read_text()))
    experiment = file_into_archive(current, SessionTarget("CARDIO01", "S01", "S01_CT1"), ct_series())

    [container] = finished(current)
    assert container["status"] == "Complete", container["history"]
    assert [item["exitCode"] for item in container["history"] if "exitCode" in item] == ["0"]
    assert container["docker-image"] == dcm2niix_image
    assert container["command-line"] == "dcm2niix -b y -ba y -z y -f series_%s  -o /output /input"
    assert container["project"] == "CARDIO01" and container["user-id"] == "admin"
    [dicom_in] = [m for m in container["mounts"] if m["name"] == "dicom-in"]
    assert dicom_in["writable"] is False
    assert Path(dicom_in["xnat-host-path"]) == experiment.scans["3"].resource("DICOM").directory

    nifti = experiment.scans["3"].resource("NIFTI")
    assert nifti is not None, "no NIFTI resource on the scan"
    assert sorted(nifti.files) == ["series_3.json", "series_3.nii.gz"]
    header = nifti_header(nifti.disk_path(nifti.files["series_3.nii.gz"]).read_bytes())
    assert header["dim"] == (64, 64, 8), header  # the whole series, no slice dropped
    assert header["pixdim"] == (0.8, 0.8, 2.5) and header["datatype"] == 4 and header["magic"] == b"n+1\0"

    sidecar_text = nifti.disk_path(nifti.files["series_3.json"]).read_text()
    sidecar = json.loads(sidecar_text)
    assert sidecar["SeriesNumber"] == 3 and sidecar["Modality"] == "CT"
    assert PHI_KEYS.isdisjoint(sidecar), sorted(PHI_KEYS & set(sidecar))
    for value in (PATIENT_ID, BIRTH_DATE, STUDY_DATE, "SMITH", "2024-01-05"):
        assert value not in sidecar_text
    for name in nifti.files:
        assert not re.search(r"\d{8}|SMITH|JOHN|9434765919", name), name

    listed = admin("GET", "/xapi/containers").json()
    assert [(c["id"], c["status"]) for c in listed] == [(container["id"], "Complete")]
    assert admin("GET", "/xapi/projects/NEURO02/containers").json() == []
    one = admin("GET", f"/xapi/containers/{container['id']}").json()
    assert one["outputs"][0]["created"].endswith(f"/resources/{nifti.id}")


@pytest.mark.docker
def test_a_failing_command_is_reported_failed_and_creates_no_nifti_resource(dcm2niix_image, service, admin):
    current = service("docker")
    broken = json.loads(COMMAND_FILE.read_text())
    broken.update(
        name="dcm2niix-broken", **{"command-line": "dcm2niix-not-installed [BIDS] -o /output /input"}
    )
    broken["xnat"][0]["name"] = "dcm2niix-broken-scan"
    register(admin, broken)
    experiment = file_into_archive(current, SessionTarget("CARDIO01", "S01", "S01_CT1"), ct_series(slices=2))

    [container] = finished(current)
    assert container["status"] == "Failed", container["history"]
    assert container["history"][-1]["status"] == "Failed"
    assert container["history"][-1]["exitCode"] == "127"  # /bin/sh: command not found
    assert experiment.scans["3"].resource("NIFTI") is None
    stderr = Path(next(path for path in container["log-paths"] if path.endswith("stderr.log"))).read_text()
    assert "dcm2niix-not-installed" in stderr


# --- without Docker ------------------------------------------------------------------------------------
def test_off_by_default_the_event_is_delivered_but_nothing_runs(service, admin):
    current = service("off")
    register(admin, json.loads(COMMAND_FILE.read_text()))
    experiment = file_into_archive(current, SessionTarget("CARDIO01", "S01", "S01_CT1"), ct_series(slices=2))
    launcher = launcher_for(current)
    assert launcher.containers == {}
    [delivery] = launcher.deliveries
    assert delivery["object"] == f"/archive/experiments/{experiment.id}/scans/3"
    assert delivery["steps"][:2] == ["SUBSCRIPTION_TRIGGERED", "OBJECT_FILTERED"]
    assert "containers is off" in delivery["steps"][-1]


def test_scan_created_fires_for_new_scans_only_and_only_for_the_subscribed_project(service, admin, site):
    current = service("off")
    site.seed({"projects": [{"id": "NEURO02", "name": "Neuro"}]})
    register(admin, json.loads(COMMAND_FILE.read_text()))
    target = SessionTarget("CARDIO01", "S01", "S01_CT1")
    first = ct_series(slices=3)
    file_into_archive(current, target, first[:2])
    file_into_archive(current, target, first[2:])  # a file more in an existing scan: no new scan, no event
    file_into_archive(current, target, ct_series(slices=1, series_number=4))  # a new scan of the session
    file_into_archive(current, SessionTarget("NEURO02", "S09", "S09_CT1"), ct_series(slices=1))
    assert [d["object"].rsplit("/", 1)[1] for d in launcher_for(current).deliveries] == ["3", "4"]


def test_payload_filters_and_matchers_evaluate_like_jayway_on_the_scan_model():
    scan = {"id": "3", "resources": [{"label": "DICOM"}, {"label": "SNAPSHOTS"}], "frames": 8}
    assert payload_matches(FLIP_FILTER, scan)
    assert payload_matches("'DICOM' in @.resources[*].label", scan)
    assert not payload_matches(FLIP_FILTER, {"id": "3", "resources": []})
    assert not payload_matches("'NIFTI' in @.resources[*].label", scan)
    assert payload_matches("@.frames > 4 && !(@.id == '4')", scan)
    assert payload_matches("@.label == 'DICOM'", {"label": "DICOM"})
    assert not payload_matches("@.modality", scan)  # a lone path: exists
