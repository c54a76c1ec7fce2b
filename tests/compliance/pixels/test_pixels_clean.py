"""`enclave anon clean-pixels`: blank, verify by OCR, stamp; inputs untouched and never overwritten."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import RLELossless

from compliance.cli import main
from compliance.pixels import clean, detect
from compliance.pixels.clean import VERIFIED, clean_files
from compliance.pixels.recipes import load_recipe
from compliance.pixels.synthetic import KINDS, NHS_NUMBER, PATIENT, ultrasound_cine


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")}


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str], int, str, str]:
    """The synthetic study cleaned once by the CLI: (input dir, output dir, input digests before, exit,
    stdout, report text)."""
    root = tmp_path_factory.mktemp("clean")
    study = root / "study"
    study.mkdir()
    for name, make in KINDS.items():
        make().save_as(study / f"{name}.dcm", enforce_file_format=True)
    before = digests(study)
    out, report = root / "out", root / "report.json"
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["anon", "clean-pixels", str(study), "--out", str(out), "--report", str(report)])
    return study, out, before, code, stdout.getvalue(), report.read_text(encoding="utf-8")


def test_every_file_is_cleaned_and_verified(cleaned: tuple) -> None:
    study, out, _, code, stdout, report = cleaned
    assert code == 0, stdout
    document = json.loads(report)
    assert document["verified"] == 3 and document["needs_review"] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in study.iterdir())


def test_ocr_reads_nothing_after_cleaning(cleaned: tuple) -> None:
    _, out, _, _, _, _ = cleaned
    for file in sorted(out.iterdir()):
        assert detect.ocr_findings(dcmread(file)) == [], file.name


def test_new_sop_instance_uids_and_the_clean_pixel_stamp(cleaned: tuple) -> None:
    study, out, _, _, _, _ = cleaned
    for file in sorted(out.iterdir()):
        before, after = dcmread(study / file.name), dcmread(file)
        assert after.SOPInstanceUID != before.SOPInstanceUID
        assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
        assert after.SeriesInstanceUID == before.SeriesInstanceUID
        assert after.BurnedInAnnotation == "NO"
        codes = [
            (item.CodeValue, item.CodingSchemeDesignator) for item in after.DeidentificationMethodCodeSequence
        ]
        assert codes == [("113101", "DCM")]


def test_only_the_text_is_blanked(cleaned: tuple) -> None:
    study, out, _, _, _, _ = cleaned
    dose_before, dose_after = (dcmread(d / "dose-report.dcm").pixel_array for d in (study, out))
    assert not dose_after[:110].any()  # deid's GE "Dose Report" region, 0,0,512,110
    assert dose_before[200:216, 8:100].any() and not dose_after[200:216, 8:100].any()  # OCR box: accession
    us_before, us_after = (dcmread(d / "ultrasound.dcm").pixel_array for d in (study, out))
    assert us_before[4:22, 6:120].any() and not us_after[4:22, 6:120].any()  # the name
    assert np.array_equal(us_before[60:200, 120:200], us_after[60:200, 120:200])  # the sector is kept
    ct_before, ct_after = (dcmread(d / "clean-ct.dcm").pixel_array for d in (study, out))
    assert np.array_equal(ct_before, ct_after)


def test_inputs_are_untouched_and_reports_are_redacted(cleaned: tuple) -> None:
    study, _, before, _, stdout, report = cleaned
    assert digests(study) == before
    for value in [*PATIENT.values(), "PRICE", "MARTHA", NHS_NUMBER]:
        assert value not in report and value not in stdout


def test_burned_in_annotation_is_no_only_after_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = tmp_path / "in"
    study.mkdir()
    KINDS["ultrasound"]().save_as(study / "us.dcm", enforce_file_format=True)
    monkeypatch.setattr(clean, "_blank_box", lambda *_args: None)  # a cleaner that blanks nothing
    code = main(["anon", "clean-pixels", str(study), "--out", str(tmp_path / "out")])
    assert code == 1
    written = dcmread(tmp_path / "out" / "us.dcm")
    assert written.BurnedInAnnotation == "YES"
    assert "DeidentificationMethodCodeSequence" not in written


def test_a_cine_is_cleaned_in_every_frame_and_rle_input_is_decoded(tmp_path: Path) -> None:
    study = tmp_path / "in"
    study.mkdir()
    cine = ultrasound_cine(frames=4)
    cine.compress(RLELossless)
    cine.save_as(study / "cine.dcm", enforce_file_format=True)
    result = clean_files([study], tmp_path / "out", max_frames=2)
    assert [outcome.status for outcome in result.outcomes] == [VERIFIED]
    after = dcmread(tmp_path / "out" / "cine.dcm")
    assert not after.file_meta.TransferSyntaxUID.is_compressed
    frames = after.pixel_array
    assert frames.shape == (4, 120, 200)
    assert not frames[:, 100:116, 110:180].any()  # the ID, in the frames OCR read and those it did not
    assert frames[:, 40:80, 80:120].any()  # the sector remains


def test_a_trust_recipe_region_is_blanked(tmp_path: Path) -> None:
    study = tmp_path / "in"
    study.mkdir()
    KINDS["clean-ct"]().save_as(study / "ct.dcm", enforce_file_format=True)
    trust = tmp_path / "trust.deid"
    trust.write_text(
        "FORMAT dicom\n\n%filter graylist\n\nLABEL ACME corner\n  contains Manufacturer ACME\n"
        "  coordinates 0,0,64,16\n",
        encoding="utf-8",
    )
    code = main(["anon", "clean-pixels", str(study), "--out", str(tmp_path / "out"), "--recipe", str(trust)])
    assert code == 0
    before, after = dcmread(study / "ct.dcm").pixel_array, dcmread(tmp_path / "out" / "ct.dcm").pixel_array
    assert not after[:16, :64].any() and before[:16, :64].any()
    assert np.array_equal(before[16:], after[16:])
    assert load_recipe(trust).recipes[1][0] == "trust.deid"


@pytest.mark.parametrize("where", ["inside", "same", "onto-input"])
def test_refuses_to_write_into_or_over_its_input(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "study"
    study.mkdir()
    KINDS["ultrasound"]().save_as(study / "us.dcm", enforce_file_format=True)
    before = digests(study)
    source, out = {
        "inside": (study, study / "cleaned"),
        "same": (study, study),
        "onto-input": (study / "us.dcm", study),
    }[where]
    assert main(["anon", "clean-pixels", str(source), "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err
    assert digests(study) == before


def test_refuses_a_link_on_the_way_to_an_output(tmp_path: Path) -> None:
    study, out, elsewhere = tmp_path / "study", tmp_path / "out", tmp_path / "elsewhere"
    for directory in (study, out, elsewhere):
        directory.mkdir()
    KINDS["ultrasound"]().save_as(study / "us.dcm", enforce_file_format=True)
    (out / "us.dcm").symlink_to(elsewhere / "victim.dcm")
    assert main(["anon", "clean-pixels", str(study), "--out", str(out)]) == 2
    assert not (elsewhere / "victim.dcm").exists()


def test_missing_tesseract_stops_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compliance.pixels import ocr  # noqa: PLC0415

    study = tmp_path / "in"
    study.mkdir()
    KINDS["ultrasound"]().save_as(study / "us.dcm", enforce_file_format=True)
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed")
    assert main(["anon", "clean-pixels", str(study), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_declared_burnt_in_text_that_nothing_finds_needs_review(tmp_path: Path) -> None:
    study = tmp_path / "in"
    study.mkdir()
    dataset = KINDS["clean-ct"]()
    dataset.BurnedInAnnotation = "YES"  # the device says so; no recipe region, no text OCR can read
    dataset.save_as(study / "ct.dcm", enforce_file_format=True)
    result = clean_files([study], tmp_path / "out")
    assert [outcome.status for outcome in result.outcomes] == ["needs review"]
    assert "was YES" in result.outcomes[0].reason
    assert dcmread(tmp_path / "out" / "ct.dcm").BurnedInAnnotation == "YES"
