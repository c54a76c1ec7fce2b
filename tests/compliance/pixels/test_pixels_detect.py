"""Detection of burnt-in text: header, known carriers, deid's recipes and OCR matched to the header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance.pixels import ocr
from compliance.pixels.detect import Finding, detect_burnt_in, sampled_frames
from compliance.pixels.identifiers import header_identifiers, matching, nhs_numbers
from compliance.pixels.recipes import RecipeError, known_carriers, load_recipe
from compliance.pixels.synthetic import (
    NHS_NUMBER,
    PATIENT,
    RENDERED,
    clean_ct,
    dose_report,
    ultrasound,
    ultrasound_cine,
)

RAW_VALUES = [*PATIENT.values(), "PRICE", "MARTHA", NHS_NUMBER, "03/02/1971"]


@pytest.fixture(scope="module")
def recipe() -> object:
    return load_recipe()


def matched(findings: list[Finding]) -> set[str]:
    return {name for finding in findings if finding.code == "ocr-identifier" for name in finding.identifiers}


def assert_redacted(findings: list[Finding]) -> None:
    rendered = json.dumps([finding.to_json() for finding in findings])
    for value in RAW_VALUES:
        assert value not in rendered, f"{value!r} is shown unredacted"


def test_dose_report_text_is_found_matched_and_redacted(recipe: object) -> None:
    findings = detect_burnt_in(dose_report(), recipe=recipe)
    codes = {finding.code for finding in findings}
    assert {"known-carrier", "recipe-region", "recipe-flag", "ocr-identifier"} <= codes
    assert matched(findings) == RENDERED["dose-report"]
    region = next(finding for finding in findings if finding.code == "recipe-region")
    assert region.boxes == ((0, 0, 512, 110),)  # deid's GE "Dose Report" rule (ctpcoordinates 0,0,512,110)
    accession = next(f for f in findings if "AccessionNumber" in f.identifiers)
    x0, y0, x1, y1 = accession.box
    assert x0 <= 12 and 195 <= y0 <= 210 and y1 <= 225 and x1 > 60  # drawn at (8, 200)
    assert_redacted(findings)


def test_ultrasound_frame_every_rendered_identifier_is_found(recipe: object) -> None:
    findings = detect_burnt_in(ultrasound(), recipe=recipe)
    assert matched(findings) == RENDERED["ultrasound"]
    assert any("Ultrasound" in finding.message for finding in findings if finding.code == "known-carrier")
    assert all(
        finding.box is not None and finding.frame == 0
        for finding in findings
        if finding.code.startswith("ocr")
    )
    assert_redacted(findings)


def test_clean_ct_has_no_finding(recipe: object) -> None:
    assert detect_burnt_in(clean_ct(), recipe=recipe) == []


def test_burned_in_annotation_yes_is_a_finding_without_ocr(recipe: object) -> None:
    dataset = clean_ct()
    dataset.BurnedInAnnotation = "YES"
    findings = detect_burnt_in(dataset, recipe=recipe, use_ocr=False)
    assert [finding.code for finding in findings] == ["burned-in-annotation"]
    assert findings[0].as_tuple() == ("(0028,0301)", "error", "burned-in-annotation", findings[0].message)


def test_cine_samples_frames_and_finds_the_id_in_each(recipe: object) -> None:
    findings = detect_burnt_in(ultrasound_cine(frames=5), recipe=recipe, max_frames=2)
    frames = {finding.frame for finding in findings if finding.code == "ocr-identifier"}
    assert frames == {0, 4}  # first and last of five: bounded work
    assert sampled_frames(5, 3) == [0, 2, 4]
    assert sampled_frames(2, 3) == [0, 1]


def test_known_carriers_by_sop_class_and_series() -> None:
    dataset = clean_ct()
    assert known_carriers(dataset) == []
    dataset.SeriesDescription = "Patient Protocol"
    assert known_carriers(dataset)
    dataset = clean_ct()
    dataset.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    assert known_carriers(dataset) == ["Image Type says SCREEN SAVE"]
    assert "secondary capture" in known_carriers(dose_report())[0]


def test_matching_tolerates_ocr_readings() -> None:
    known = header_identifiers(dose_report())
    names = lambda text: {identifier.attribute for identifier in matching([text], known)}  # noqa: E731
    assert names("PRICE*MARTHA") == {"PatientName"}
    assert names("PRICESMARTHA,") == {"PatientName"}  # the caret read as a letter
    assert names("DOB 03.02.1971") == {"PatientBirthDate"}
    assert names("1971-02-03") == {"PatientBirthDate"}
    assert names("ID PX48Z913") == {"PatientID"}  # one character misread
    assert names("Total DLP 512 mGy.cm") == set()
    assert names("ACC 77310") == {"AccessionNumber"}
    assert nhs_numbers(["NHS 943 476 5919"]) == ["9*********"]
    assert nhs_numbers(["NHS 943 476 5918"]) == []  # wrong check digit


def test_a_trust_recipe_adds_regions(tmp_path: Path) -> None:
    trust = tmp_path / "trust.deid"
    trust.write_text(
        "FORMAT dicom\n\n%filter graylist\n\nLABEL ACME ultrasound banner\n"
        "  contains Modality US\n  + contains Manufacturer ACME\n  coordinates 0,0,320,30\n",
        encoding="utf-8",
    )
    findings = detect_burnt_in(ultrasound(), recipe=load_recipe(trust), use_ocr=False)
    regions = [finding for finding in findings if finding.code == "recipe-region"]
    assert [finding.boxes for finding in regions] == [((0, 0, 320, 30),)]


def test_a_file_that_is_not_a_recipe_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.deid"
    bad.write_text("%filter graylist\nLABEL x\n  coordinates 1,2\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="FORMAT dicom"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="not a file"):
        load_recipe(tmp_path / "missing.deid")


def test_missing_tesseract_is_an_error_not_no_text(monkeypatch: pytest.MonkeyPatch, recipe: object) -> None:
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed")
    with pytest.raises(ocr.OcrUnavailableError, match="tesseract-ocr"):
        detect_burnt_in(ultrasound(), recipe=recipe)


def test_large_frames_are_downscaled_and_boxes_mapped_back() -> None:
    frame = dose_report().pixel_array
    big = frame.repeat(2, axis=0).repeat(2, axis=1)  # 512 x 512
    words = ocr.read_words(big, max_side=256)
    ids_box = next(word.box for word in words if "PX482913" in word.text)
    assert 60 <= ids_box[1] <= 75 and ids_box[2] > 150  # drawn at y=30 in the 256 frame: y=60 here


def test_detect_pixels_command_reports_redacted_findings(
    tmp_path: Path, study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from compliance.cli import main  # noqa: PLC0415

    assert main(["anon", "detect-pixels", str(study), "--format", "json"]) == 1
    output = capsys.readouterr().out
    document = json.loads(output)
    by_file = {Path(name).name: findings for name, findings in document.items()}
    assert by_file["clean-ct.dcm"] == []
    found = {
        name for f in by_file["ultrasound.dcm"] if f["code"] == "ocr-identifier" for name in f["identifiers"]
    }
    assert found == RENDERED["ultrasound"]
    for value in RAW_VALUES:
        assert value not in output
    clean_only = tmp_path / "ct.dcm"
    clean_ct().save_as(clean_only, enforce_file_format=True)
    assert main(["anon", "detect-pixels", str(clean_only)]) == 0
    assert "no burnt-in text found" in capsys.readouterr().out
