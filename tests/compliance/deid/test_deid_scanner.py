"""Residual-PHI scan of DICOM files and directories (pydicom's bundled test files and crafted ones)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from compliance.deid import scanner
from compliance.deid.scanner import Scanner, scan_paths
from compliance.dicomedit import apply_script, parse

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"


def bundled(name: str) -> Path:
    return Path(get_testdata_file(name))


def codes_by_tag(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.tag, set()).add(finding.code)
    return found


@pytest.fixture(scope="module")
def deidentified_ct(tmp_path_factory) -> Path:
    """CT_small.dcm run through the conformant example script."""
    ds = dcmread(bundled("CT_small.dcm"))
    script = parse((EXAMPLES / "basic-profile.das").read_text(), source="basic-profile.das")
    apply_script(script, ds, {"project": "P1", "subject": "SUBJ01", "session": "SESS01"})
    ds.BurnedInAnnotation = "NO"
    path = tmp_path_factory.mktemp("deid") / "ct.dcm"
    ds.save_as(path)
    return path


def test_identifiable_ct_has_residual_phi():
    report = scan_paths([bundled("CT_small.dcm")])
    found = codes_by_tag(report)
    assert report.exit_code == 1
    assert "attribute-must-go" in found["(0008,1030)"]  # Study Description (X)
    assert "date-retained" in found["(0008,0020)"]  # Study Date (Z: empty or dummy)
    assert "private-attributes" in found["(0009,xxxx)"]
    assert "not-marked-deidentified" in found["(0012,0062)"]
    private = next(f for f in report.findings if f.tag == "(0009,xxxx)")
    assert "GEMS_IDEN_01" in private.message


def test_deidentified_file_is_much_cleaner(deidentified_ct):
    report = scan_paths([deidentified_ct])
    severities = {f.severity for f in report.findings}
    assert "attribute-must-go" not in {f.code for f in report.findings}
    assert not any(f.tag.endswith(",xxxx)") for f in report.findings)
    assert "error" not in severities


def test_retain_safe_private_option_silences_private_tags():
    report = scan_paths([bundled("CT_small.dcm")], options=["retain-safe-private"])
    assert not any(f.code == "private-attributes" for f in report.findings)
    dates = scan_paths([bundled("CT_small.dcm")], options=["retain-long-full-dates"])
    assert not any(f.code == "date-retained" and f.tag == "(0008,0020)" for f in dates.findings)


def test_overlay_data_is_reported():
    report = scan_paths([bundled("examples_overlay.dcm")])
    assert "overlay" in codes_by_tag(report)["(6000,3000)"]


def test_free_text_identifiers_and_burnt_in_flags(tmp_path):
    ds = dcmread(bundled("MR_small.dcm"))
    ds.PatientIdentityRemoved = "YES"
    ds.ContrastBolusAgent = "Gd, given by Dr Jones; NHS 943 476 5919"  # not in Table E.1-1
    ds.BurnedInAnnotation = "YES"
    path = tmp_path / "mr.dcm"
    ds.save_as(path)
    report = scan_paths([path])
    found = codes_by_tag(report)
    assert {"nhs-number", "titled-name"} <= found["(0018,0010)"]
    assert "burned-in-annotation" in found["(0028,0301)"]
    assert "(0012,0062)" not in found
    message = next(f.message for f in report.findings if f.code == "nhs-number")
    assert "9434765919" not in message and "943 476 5919" not in message


def test_ctp_style_burnt_in_rules(tmp_path):
    ds = dcmread(bundled("CT_small.dcm"))
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    ds.save_as(tmp_path / "save.dcm")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Modality = "US"
    ds.save_as(tmp_path / "us.dcm")
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp_path / "us-declared-clean.dcm")
    report = scan_paths([tmp_path])
    risky = {Path(f.file).name: f.message for f in report.findings if f.code == "burnt-in-risk"}
    assert "Image Type contains SAVE" in risky["save.dcm"]
    assert "ultrasound" in risky["us.dcm"]
    assert "us-declared-clean.dcm" not in risky


def test_directory_scan_groups_by_series_and_skips_non_dicom(tmp_path, deidentified_ct):
    shutil.copy(bundled("CT_small.dcm"), tmp_path / "a.dcm")
    shutil.copy(bundled("MR_small.dcm"), tmp_path / "b.dcm")
    (tmp_path / "sub").mkdir()
    shutil.copy(deidentified_ct, tmp_path / "sub" / "c.dcm")
    (tmp_path / "README.txt").write_text("not DICOM")
    report = scan_paths([tmp_path])
    data = report.to_json()
    assert data["files"] == 3
    assert data["files_with_findings"] >= 2
    assert [item["file"] for item in data["skipped"]] == [str(tmp_path / "README.txt")]
    assert len(data["series"]) == 3
    assert all(set(f) >= {"file", "tag", "severity", "message"} for f in data["findings"])
    series = {s["series_uid"]: s for s in data["series"]}
    ct = series[str(dcmread(bundled("CT_small.dcm")).SeriesInstanceUID)]
    assert ct["files"] == ct["files_with_findings"] == 1


def test_headers_only_unless_pixels_are_asked_for(tmp_path):
    ds = dcmread(bundled("CT_small.dcm"))
    ds.PixelData = b"\x00\x00" * (ds.Rows * ds.Columns)
    ds.save_as(tmp_path / "ct.dcm")
    headers = Scanner().scan([tmp_path])
    assert not any(f.tag == "(7FE0,0010)" for f in headers.findings)
    assert headers.to_json()["summary"]["pixels_checked"] is False


def test_pixel_check_finds_a_bright_text_band(tmp_path):
    ds = dcmread(bundled("CT_small.dcm"))
    image = np.zeros((ds.Rows, ds.Columns), dtype=np.uint16)
    image[2:6, 4:60:3] = 4000  # bright glyph-like strokes along the top edge
    image[20:, :] = np.arange(ds.Columns, dtype=np.uint16) * 10  # anatomy-like gradient
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = image.tobytes()
    ds.save_as(tmp_path / "banner.dcm")
    plain = copy.deepcopy(ds)
    plain.PixelData = (np.arange(ds.Rows * ds.Columns, dtype=np.uint16) % 500).tobytes()
    plain.save_as(tmp_path / "plain.dcm")
    report = Scanner(pixels=True).scan([tmp_path])
    banded = {Path(f.file).name for f in report.findings if f.code == "pixel-text-band"}
    assert banded == {"banner.dcm"}


def test_unreadable_only_input_is_an_error(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not a dicom file")
    report = scan_paths([tmp_path / "x.dcm"])
    assert report.exit_code == 2
    assert report.skipped[0]["reason"].startswith("not readable as DICOM")


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_bigendian.dcm",
        "ExplVR_BigEnd.dcm",
        "examples_overlay.dcm",
        "SC_rgb_small_odd.dcm",
        "reportsi.dcm",
        "rtplan.dcm",
        "nested_priv_SQ.dcm",
        "JPEG2000.dcm",
        "image_dfl.dcm",
        "no_meta.dcm",
    ],
)
def test_fast_header_read_finds_what_dcmread_finds(name, monkeypatch):
    path = bundled(name)
    fast = Scanner().scan([path])
    monkeypatch.setattr(scanner, "_fast_header", lambda path: None)  # every file through dcmread
    slow = Scanner().scan([path])
    assert (fast.files, fast.skipped) == (slow.files, slow.skipped)
    assert [(f.tag, f.code, f.message, f.series) for f in fast.findings] == [
        (f.tag, f.code, f.message, f.series) for f in slow.findings
    ]
