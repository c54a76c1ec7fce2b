"""Residual-PHI scan of DICOM files and directories (pydicom's bundled test files and crafted ones)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from compliance.deid import scanner
from compliance.deid.dummies import values_written_by
from compliance.deid.scanner import Scanner, scan_paths
from compliance.deid.synthetic import build_study
from compliance.dicomedit import apply_script, load_script

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
CONFORMANT = EXAMPLES / "basic-profile.das"


def bundled(name: str) -> Path:
    return Path(get_testdata_file(name))


def codes_by_tag(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.tag, set()).add(finding.code)
    return found


def kinds_by_code(report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.kind, set()).add(finding.code)
    return found


def deidentify(ds: Dataset, script: Path = CONFORMANT) -> Dataset:
    apply_script(load_script(script), ds, {"project": "P1", "subject": "SUBJ01", "session": "SESS01"})
    return ds


@pytest.fixture(scope="module")
def deidentified_ct(tmp_path_factory) -> Path:
    """CT_small.dcm run through the conformant example script."""
    ds = deidentify(dcmread(bundled("CT_small.dcm")))
    ds.BurnedInAnnotation = "NO"
    path = tmp_path_factory.mktemp("deid") / "ct.dcm"
    ds.save_as(path)
    return path


@pytest.fixture(scope="module")
def conformant_pipeline(tmp_path_factory) -> Path:
    """What `make demo` scans: the seeded PACS studies (synthetic PHI + pydicom's CT and MR samples) after
    the conformant site script."""
    out = tmp_path_factory.mktemp("pipeline")
    originals = [copy.deepcopy(ds) for ds in build_study().datasets]
    originals += [dcmread(bundled("CT_small.dcm")), dcmread(bundled("MR_small.dcm"))]
    for index, ds in enumerate(originals):
        deidentify(ds).save_as(out / f"{index:02d}.dcm", enforce_file_format=True)
    return out


def test_identifiable_ct_has_residual_phi():
    report = scan_paths([bundled("CT_small.dcm")])
    found = codes_by_tag(report)
    assert report.exit_code == 1
    assert report.verdict == "RESIDUAL PHI FOUND"
    assert "attribute-must-go" in found["(0008,1030)"]  # Study Description (X)
    assert "date-retained" in found["(0008,0020)"]  # Study Date (Z: empty or dummy)
    assert "real-looking-name" in found["(0010,0010)"]
    assert "private-attributes" in found["(0009,xxxx)"]
    assert "not-marked-deidentified" in found["(0012,0062)"]
    kinds = {(finding.code, finding.kind) for finding in report.findings}
    assert {("attribute-must-go", "phi"), ("date-retained", "phi"), ("private-attributes", "review")} <= kinds
    private = next(f for f in report.findings if f.tag == "(0009,xxxx)")
    assert private.example == "10 element(s), creator GEMS_IDEN_01"


def test_deidentified_file_has_no_residual_phi(deidentified_ct):
    report = scan_paths([deidentified_ct])
    assert kinds_by_code(report).get("phi", set()) == set()
    assert report.verdict == "CLEAN"
    assert report.exit_code == 0


def test_the_conformant_pipeline_of_the_rehearsal_scans_without_false_findings(conformant_pipeline):
    """The dummy dates the script writes (19000101, 000000, Context Group Version...) are not PHI."""
    report = Scanner().scan([conformant_pipeline])
    assert report.files == 10
    assert [f for f in report.findings if f.kind == "phi"] == []
    assert not any(f.code == "date-retained" for f in report.findings)
    assert not any(f.tag in {"(0008,0106)", "(0008,0107)"} for f in report.findings)
    assert report.recognised["dummy"] >= 300  # 37 dummy dates and times per file, and more
    assert report.recognised["version"] == 20  # Context Group (Local) Version, in all ten files
    # Left to a person: ultrasound and secondary capture may carry burnt-in text; nothing else.
    assert {(f.code, f.kind) for f in report.findings} == {("burnt-in-risk", "review")}
    assert report.verdict == "NO RESIDUAL PHI FOUND, ITEMS TO REVIEW"
    assert report.exit_code == 0
    assert Scanner(fail_on_review=True).scan([conformant_pipeline]).exit_code == 1


def one_file(tmp_path: Path, **values: str) -> Path:
    """The de-identified CT with some attributes set, as a file."""
    ds = deidentify(dcmread(bundled("CT_small.dcm")))
    ds.BurnedInAnnotation = "NO"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    return path


@pytest.mark.parametrize(
    ("keyword", "value", "phi"),
    [
        ("StudyDate", "20240315", True),
        ("StudyDate", "19000101", False),
        ("StudyTime", "101530", True),
        ("StudyTime", "000000.000", False),
        ("DateTime", "19000101000000+0000", False),
        ("DateTime", "20240315101530", True),
        ("ContextGroupVersion", "20020904000000", False),  # the version of a coding resource
        ("PatientName", "SMITH^JANE", True),
        ("PatientName", "SUBJ01", False),
        ("PatientName", "ANONYMISED", False),
    ],
)
def test_dummies_and_replacements_are_told_apart_from_real_values(tmp_path, keyword, value, phi):
    report = scan_paths([one_file(tmp_path, **{keyword: value})])
    assert (report.verdict == "RESIDUAL PHI FOUND") is phi


def test_values_the_anonymisation_script_writes_are_recognised(tmp_path):
    script = tmp_path / "site.das"
    script.write_text('version "6.3"\nSTUDY := "20000101"\n(0008,0020) := STUDY\n(0008,0030) := "120000"\n')
    path = one_file(tmp_path, StudyDate="20000101", StudyTime="120000")
    assert {f.tag for f in scan_paths([path]).findings if f.code == "date-retained"} == {
        "(0008,0020)",
        "(0008,0030)",
    }
    known = values_written_by(load_script(script))
    assert known == {0x00080020: frozenset({b"20000101"}), 0x00080030: frozenset({b"120000"})}
    report = Scanner(known_values=known).scan([path])
    assert not any(f.code == "date-retained" for f in report.findings)
    assert report.recognised["script value"] == 2


def with_method_codes(path: Path, codes: list[str]) -> Path:
    ds = dcmread(path)
    items = []
    for code in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "DCM", "option"
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.save_as(path)
    return path


def test_dates_kept_or_shifted_under_an_option_the_file_declares(tmp_path):
    path = one_file(tmp_path, StudyDate="20240315")
    shifted = scan_paths([with_method_codes(path, ["113100", "113107"])])  # modified (shifted) dates
    assert not any(f.tag == "(0008,0020)" for f in shifted.findings)
    assert shifted.recognised["shifted as declared"] == 1
    kept = scan_paths([with_method_codes(path, ["113100", "113106"])])  # full dates retained
    [finding] = [f for f in kept.findings if f.tag == "(0008,0020)"]
    assert (finding.kind, finding.code) == ("review", "kept-under-declared-option")
    assert "Retain Longitudinal Temporal Information Full Dates Option (113106)" in finding.message
    assert "--option retain-long-full-dates" in finding.message
    assert kept.verdict == "NO RESIDUAL PHI FOUND, ITEMS TO REVIEW"
    approved = scan_paths([path], options=["retain-long-full-dates"])
    assert not any(f.tag == "(0008,0020)" for f in approved.findings)


def test_findings_are_grouped_one_row_per_attribute(tmp_path):
    for index, name in enumerate(["SMITH^JANE", "JONES^ALAN", "BROWN^ANN", "GREEN^TOM"]):
        ds = dcmread(bundled("MR_small.dcm" if index % 2 else "CT_small.dcm"))
        ds.PatientName = name
        ds.save_as(tmp_path / f"{index}.dcm")
    report = scan_paths([tmp_path])
    rows = {(row.tag, row.code): row for row in report.attribute_rows()}
    names = rows[("(0010,0010)", "real-looking-name")]
    assert (names.kind, names.files, len(names.series)) == ("phi", 4, 2)
    assert names.examples == ["S*********", "J*********", "B********"]  # at most three, redacted
    assert len(rows) == len(report.attribute_rows()) < len(report.findings)
    assert [row.kind for row in report.attribute_rows()] == sorted(
        (row.kind for row in report.attribute_rows()), key=["phi", "review"].index
    )
    data = report.to_json()
    assert (
        data["attributes"][0] == rows[(data["attributes"][0]["tag"], data["attributes"][0]["code"])].to_json()
    )
    per_file = [f for f in data["findings"] if f["code"] == "real-looking-name"]
    assert [Path(f["file"]).name for f in per_file] == ["0.dcm", "1.dcm", "2.dcm", "3.dcm"]
    assert all(
        set(f) == {"file", "tag", "severity", "code", "message", "series", "kind", "example"}
        for f in per_file
    )


def test_retain_safe_private_option_silences_private_tags():
    report = scan_paths([bundled("CT_small.dcm")], options=["retain-safe-private"])
    assert not any(f.code == "private-attributes" for f in report.findings)
    dates = scan_paths([bundled("CT_small.dcm")], options=["retain-long-full-dates"])
    assert not any(f.code == "date-retained" and f.tag == "(0008,0020)" for f in dates.findings)


def test_overlay_data_is_a_review_item():
    report = scan_paths([bundled("examples_overlay.dcm")])
    [overlay] = [f for f in report.findings if f.tag == "(6000,3000)"]
    assert (overlay.code, overlay.kind) == ("overlay", "review")


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
    nhs = next(f for f in report.findings if f.code == "nhs-number")
    assert "9434765919" not in nhs.message + nhs.example and "943 476 5919" not in nhs.message + nhs.example
    assert nhs.example.startswith("9")


def test_identifiers_in_private_text_are_residual_phi(tmp_path):
    ds = deidentify(dcmread(bundled("CT_small.dcm")))
    ds.BurnedInAnnotation = "NO"
    block = ds.private_block(0x0099, "SITE NOTES", create=True)
    block.add_new(0x01, "LO", "seen by Dr Jones")
    ds.save_as(tmp_path / "ct.dcm")
    report = scan_paths([tmp_path / "ct.dcm"])
    assert [(f.tag, f.code, f.kind) for f in report.findings if f.kind == "phi"] == [
        ("(0099,1001)", "titled-name", "phi")
    ]


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
    assert data["files_with_findings"] == 2
    assert [(item["file"], item["kind"]) for item in data["skipped"]] == [
        (str(tmp_path / "README.txt"), "not-dicom")
    ]
    assert report.verdict == "RESIDUAL PHI FOUND"  # a non-DICOM file does not make a scan incomplete
    assert [s["number"] for s in data["series"]] == [1, 2, 3]
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


def test_an_image_declaring_a_huge_decoded_size_is_not_decoded(tmp_path):
    ds = dcmread(bundled("CT_small.dcm"))
    ds.NumberOfFrames = 100_000  # 100,000 frames of 128x128x2 bytes: 3 GiB from a 40 KiB file
    ds.save_as(tmp_path / "huge.dcm")
    report = Scanner(pixels=True).scan([tmp_path / "huge.dcm"])
    [finding] = [f for f in report.findings if f.tag == "(7FE0,0010)"]
    assert finding.code == "pixels-not-decoded"
    assert "declares 3276800000 bytes decoded" in finding.message


def test_unreadable_only_input_is_an_error(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not a dicom file")
    report = scan_paths([tmp_path / "x.dcm"])
    assert report.exit_code == 2
    assert report.skipped[0]["reason"].startswith("not DICOM")


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
def test_fast_header_read_finds_what_pydicom_finds(name, monkeypatch):
    path = bundled(name)
    fast = Scanner().scan([path])

    def pydicom_only(path):
        raise scanner.NeedsPydicom("test: every file through dcmread")

    monkeypatch.setattr(scanner, "read_header_elements", pydicom_only)
    slow = Scanner().scan([path])
    assert (fast.files, fast.skipped) == (slow.files, slow.skipped)
    assert [f[1:] for f in fast.findings] == [f[1:] for f in slow.findings]
