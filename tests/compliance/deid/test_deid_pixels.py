"""`enclave deid scan --pixels`: burnt-in text found by deid's recipes and OCR, boxes and matches redacted.

The images are compliance.pixels.synthetic's: a synthetic patient's identifiers rendered into the pixels
at known places (the ground truth is RENDERED), and a CT slice without text.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from deid_cli import run

from compliance.deid import scanner as scanner_module
from compliance.deid.cli import scan_html, scan_text
from compliance.deid.scanner import PixelSettings, Scanner
from compliance.pixels import recipes
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
PIXEL_TAG = "(7FE0,0010)"


@pytest.fixture(scope="module", autouse=True)
def _tesseract_is_installed() -> None:
    assert shutil.which("tesseract"), (
        "tesseract is not installed: run scripts/setup (these tests do not skip)"
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pixels")
    for name, make in {"dose-report": dose_report, "ultrasound": ultrasound, "clean-ct": clean_ct}.items():
        make().save_as(root / f"{name}.dcm", enforce_file_format=True)
    return root


@pytest.fixture(scope="module")
def report(study):
    return Scanner(pixels=True).scan([study])


def by_file(report) -> dict[str, list[dict]]:
    lines: dict[str, list[dict]] = {}
    for line in report.pixel_text:
        lines.setdefault(Path(line["file"]).stem, []).append(line)
    return lines


def test_every_rendered_identifier_is_found_with_its_box_and_none_on_the_clean_frame(report):
    lines = by_file(report)
    for kind in ("dose-report", "ultrasound"):
        found = {name for line in lines[kind] for name in line["identifiers"]}
        assert found == RENDERED[kind], kind
        for line in lines[kind]:
            x0, y0, x1, y1 = line["box"]
            assert 0 <= x0 < x1 and 0 <= y0 < y1 and line["frame"] == 0
    assert "clean-ct" not in lines
    clean = [f for f in report.findings if Path(f.file).stem == "clean-ct" and f.tag == PIXEL_TAG]
    assert clean == []
    accession = next(line for line in lines["dose-report"] if "AccessionNumber" in line["identifiers"])
    x0, y0, _, y1 = accession["box"]
    assert x0 <= 12 and 195 <= y0 <= 210 and y1 <= 225  # drawn at (8, 200)


def test_identifying_text_is_residual_phi_and_other_text_is_a_review_item(report):
    assert report.verdict == "RESIDUAL PHI FOUND"
    identifying = [f for f in report.findings if f.code == "burnt-in-identifier"]
    assert {Path(f.file).stem for f in identifying} == {"dose-report", "ultrasound"}
    assert all(f.kind == "phi" and f.severity == "error" and f.tag == PIXEL_TAG for f in identifying)
    assert all(f.example.startswith("frame 0, box ") and "matches " in f.example for f in identifying)
    other = [f for f in report.findings if f.code == "burnt-in-text"]
    assert all(f.kind == "review" for f in other)  # e.g. the dose screen's "Total DLP 512"
    regions = [f for f in report.findings if f.code == "recipe-region"]
    assert [Path(f.file).stem for f in regions] == ["dose-report"]
    assert "0,0,512,110" in regions[0].example  # deid's GE Dose Report rule
    [row] = [r for r in report.attribute_rows("phi") if r.code == "burnt-in-identifier"]
    assert row.files == 2 and row.name == "Pixel Data"


def test_no_identifier_appears_in_any_report_format(report):
    rendered = [json.dumps(report.to_json()), scan_text(report, verbose=True), scan_html(report)]
    for text in rendered:
        for value in RAW_VALUES:
            assert value not in text, f"{value!r} is shown unredacted"


def test_reports_say_what_was_checked_and_not_checked_only_without_pixels(study, report):
    text, html = scan_text(report), scan_html(report)
    assert "not checked" not in text and "not checked" not in html
    assert "pixels checked (heuristics, deid recipe deid.dicom, OCR of up to 3 frame(s)" in text
    assert "Burnt-in text in pixel data" in text and 'id="pixel-text"' in html
    assert report.summary["pixel_text_matching_header"] == sum(
        1 for line in report.pixel_text if line["identifiers"]
    )
    headers = Scanner().scan([study])
    assert "pixels not checked (headers only)" in scan_text(headers)
    assert "not checked (headers only)" in scan_html(headers) and 'id="pixel-text"' not in scan_html(headers)
    assert headers.pixel_text == [] and not any(f.tag == PIXEL_TAG for f in headers.findings)


def comparable(report) -> dict:
    data = report.to_json()
    data["summary"].pop("jobs")
    return data


def test_parallel_pixel_scan_equals_serial_and_loads_the_recipe_once_per_process(tmp_path, monkeypatch):
    for index in range(3):
        dose_report().save_as(tmp_path / f"{index}-dose.dcm", enforce_file_format=True)
        ultrasound().save_as(tmp_path / f"{index}-us.dcm", enforce_file_format=True)
        clean_ct(seed=index).save_as(tmp_path / f"{index}-ct.dcm", enforce_file_format=True)
    log = tmp_path.parent / f"{tmp_path.name}-loads.log"
    real = recipes.load_recipe

    def counting(path=None):
        with log.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        return real(path)

    monkeypatch.setattr(recipes, "load_recipe", counting)
    monkeypatch.setattr(scanner_module, "_RECIPES", {})
    serial = Scanner(pixels=True, jobs=1).scan([tmp_path])
    assert log.read_text().split() == [str(os.getpid())]  # nine files, one load
    log.unlink()
    monkeypatch.setattr(scanner_module, "_RECIPES", {})
    parallel = Scanner(pixels=True, jobs=2).scan([tmp_path])
    assert parallel.jobs == 2 and serial.files == 9
    assert comparable(parallel) == comparable(serial)
    assert len(serial.pixel_text) >= 12
    loads = log.read_text().split()
    assert len(loads) == len(set(loads)) <= 1 + 2  # once per process at most (forked workers inherit it)


def test_max_frames_bounds_the_frames_read(tmp_path):
    ultrasound_cine(frames=5).save_as(tmp_path / "cine.dcm", enforce_file_format=True)
    one = Scanner(pixels=True, pixel=PixelSettings(max_frames=1)).scan([tmp_path])
    three = Scanner(pixels=True, pixel=PixelSettings(max_frames=3)).scan([tmp_path])
    assert {line["frame"] for line in one.pixel_text} == {0}
    assert {line["frame"] for line in three.pixel_text} == {0, 2, 4}
    assert all(line["identifiers"] == ["PatientID"] for line in three.pixel_text)


def test_without_ocr_only_recipes_and_heuristics(study):
    report = Scanner(pixels=True, pixel=PixelSettings(ocr=False)).scan([study])
    assert report.pixel_text == []
    assert {Path(f.file).stem for f in report.findings if f.code == "recipe-region"} == {"dose-report"}
    assert "no OCR" in report.summary["pixel_checks"]


def test_a_header_saying_no_burnt_in_text_is_contradicted_by_what_ocr_reads(tmp_path):
    image = ultrasound()
    image.BurnedInAnnotation = "NO"
    image.save_as(tmp_path / "us.dcm", enforce_file_format=True)
    report = Scanner(pixels=True).scan([tmp_path])
    codes = {f.code for f in report.findings}
    assert {"burnt-in-identifier", "burned-in-annotation-contradicted"} <= codes


def test_cli_pixels_json_and_option_errors(study, tmp_path, capsys):
    code, out, _ = run(capsys, str(study / "ultrasound.dcm"), "--pixels", "--format", "json", "--jobs", "1")
    assert code == 1
    data = json.loads(out)
    assert {name for line in data["pixel_text"] for name in line["identifiers"]} == RENDERED["ultrasound"]
    assert data["summary"]["pixels_checked"] is True
    code, _, err = run(capsys, str(study), "--recipe", str(tmp_path / "none.deid"))
    assert code == 2 and "use them with --pixels" in err
    bad = tmp_path / "bad.deid"
    bad.write_text("not a recipe\n")
    code, _, err = run(capsys, str(study), "--pixels", "--recipe", str(bad))
    assert code == 2 and "not a deid recipe" in err


def test_cli_pixels_without_tesseract_is_an_error_unless_no_ocr(study, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run(capsys, str(study / "dose-report.dcm"), "--pixels", "--jobs", "1")
    assert code == 2 and "tesseract" in err and "--no-ocr" in err
    code, out, _ = run(capsys, str(study / "dose-report.dcm"), "--pixels", "--no-ocr", "--jobs", "1")
    assert code in {0, 1} and "recipe-region" in out
