"""Hostile and odd input: the scanner reports the file and goes on; never a crash, a hang or a lost report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_bytes import (
    deeply_nested_file,
    deflated_file,
    element,
    file_meta,
    huge_element_file,
    identifying_dataset,
    nested_sequences,
)
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement

from compliance.cli import main
from compliance.deid import fastread
from compliance.deid.fastread import NeedsPydicom, UnreadableFile, read_header_elements
from compliance.deid.scanner import Scanner

CT = Path(get_testdata_file("CT_small.dcm"))


def scan_dir(tmp_path: Path, **files: bytes) -> dict:
    """A directory with one real CT plus ``files``, scanned; the JSON report."""
    shutil.copy(CT, tmp_path / "a-real-ct.dcm")
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return Scanner().scan([tmp_path]).to_json()


def skipped(report: dict) -> dict[str, tuple[str, str]]:
    return {Path(item["file"]).name: (item["kind"], item["reason"]) for item in report["skipped"]}


def test_1500_nested_sequences_are_one_unreadable_file_and_the_rest_is_scanned(tmp_path):
    report = scan_dir(tmp_path, **{"nested.dcm": deeply_nested_file(1500)})
    kind, reason = skipped(report)["nested.dcm"]
    assert kind == "unreadable"
    assert reason.startswith("not readable as DICOM: sequences nested more than 64 levels deep (at byte ")
    assert report["files"] == 1 and report["summary"]["verdict"] == "RESIDUAL PHI FOUND"
    assert report["summary"]["unreadable"] == 1


def test_nesting_within_the_bound_is_scanned_inside_as_well(tmp_path):
    inner = element(0x0040, 0xA123, "PN", b"SMITH^JANE")
    content = file_meta() + identifying_dataset() + nested_sequences(60, inner)
    report = scan_dir(tmp_path, **{"deep.dcm": content})
    assert "deep.dcm" not in skipped(report)
    nested = [f for f in report["findings"] if f["file"].endswith("deep.dcm") and f["tag"] == "(0040,A730)"]
    assert [f["code"] for f in nested] == ["dicom-name"]


def test_a_small_file_declaring_a_4_gib_element_is_reported_and_nothing_is_allocated(tmp_path, monkeypatch):
    reads = []
    real_pread = os.pread
    monkeypatch.setattr(fastread.os, "pread", lambda fd, n, at: reads.append(n) or real_pread(fd, n, at))
    report = scan_dir(tmp_path, **{"huge.dcm": huge_element_file(0xFFFFFFF0)})
    assert skipped(report)["huge.dcm"] == (
        "unreadable",
        "not readable as DICOM: element (0010,4000) declares 4294967280 bytes at byte 338 but the file "
        "has 4 left",
    )
    assert report["files"] == 1
    assert max(reads) <= fastread.FIRST_READ


def test_the_pydicom_fallback_is_bounded_too(tmp_path):
    """Without a DICM prefix the file goes to pydicom, through a reader that refuses the 4 GiB read."""
    content = huge_element_file(0xFFFFFFF0)[128 + 4 :]  # no preamble: pydicom's reader takes it
    (tmp_path / "no-preamble.dcm").write_bytes(content)
    report = Scanner().scan([tmp_path]).to_json()
    kind, reason = skipped(report)["no-preamble.dcm"]
    assert kind in {"unreadable", "not-dicom"}
    assert "4294967280" in reason or "not DICOM" in reason


def test_a_deflate_bomb_is_reported_without_inflating_it_all(tmp_path, monkeypatch):
    monkeypatch.setattr(fastread, "MAX_INFLATED_BYTES", 1024 * 1024)
    bomb = deflated_file(identifying_dataset() + element(0x0009, 0x1010, "OB", bytes(8 * 1024 * 1024)))
    ok = deflated_file(identifying_dataset())
    report = scan_dir(tmp_path, **{"bomb.dcm": bomb, "deflated.dcm": ok})
    assert skipped(report)["bomb.dcm"] == (
        "unreadable",
        "not readable as DICOM: the deflated dataset inflates to more than 1 MiB",
    )
    deflated = {f["code"] for f in report["findings"] if f["file"].endswith("deflated.dcm")}
    assert {"real-looking-name", "date-retained"} <= deflated


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (2000, "the file ends inside an element header at byte 1994 (truncated?)"),
        (2100, "element (0019,1074) declares 8 bytes at byte 2098 but the file has 2 left"),
    ],
)
def test_a_truncated_file_is_reported_unreadable(tmp_path, cut, reason):
    report = scan_dir(tmp_path, **{"truncated.dcm": CT.read_bytes()[:cut]})
    assert skipped(report)["truncated.dcm"] == ("unreadable", f"not readable as DICOM: {reason}")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_the_tree_is_skipped_and_the_scan_finishes(tmp_path):
    """Run as a user would, with a timeout: opening a FIFO for reading would wait for a writer forever."""
    shutil.copy(CT, tmp_path / "a.dcm")
    os.mkfifo(tmp_path / "queue")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "sub" / "pipe.dcm")
    shutil.copy(CT, tmp_path / "sub" / "b.dcm")
    command = [sys.executable, "-m", "compliance.cli", "deid", "scan", str(tmp_path), "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert report["files"] == 2
    reason = "not a regular file (a FIFO); only regular files are scanned"
    assert [(Path(i["file"]).name, i["kind"], i["reason"]) for i in report["skipped"]] == [
        ("queue", "not-regular", reason),
        ("pipe.dcm", "not-regular", reason),
    ]


def test_a_fifo_named_on_the_command_line_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    result = Scanner().scan_file(str(fifo))  # would block here if it opened the FIFO without O_NONBLOCK
    assert (result.skip_kind, result.skipped) == (
        "not-regular",
        "not a regular file (a FIFO); only regular files are scanned",
    )


def test_links_to_directories_are_not_followed_and_broken_links_are_named(tmp_path):
    (tmp_path / "real").mkdir()
    shutil.copy(CT, tmp_path / "real" / "ct.dcm")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    (tmp_path / "alias.dcm").symlink_to(tmp_path / "real" / "ct.dcm")
    report = Scanner().scan([tmp_path]).to_json()
    assert report["files"] == 2  # real/ct.dcm and the link to it
    assert skipped(report) == {
        "gone.dcm": ("broken-link", "broken symbolic link"),
        "loop": ("not-regular", "link to a directory: not followed"),
    }


def test_an_invalid_utf8_file_name_is_shown_escaped_in_every_report_format(tmp_path, capsys):
    scanned, out = tmp_path / "in", tmp_path / "out"
    scanned.mkdir()
    out.mkdir()
    directory = os.fsencode(scanned)
    Path(os.fsdecode(directory + b"/caf\xe9-SMITH.dcm")).write_bytes(CT.read_bytes())
    Path(os.fsdecode(directory + b"/bad\xff.txt")).write_bytes(b"not DICOM")
    shown, not_dicom = str(scanned / "caf\\xe9-SMITH.dcm"), str(scanned / "bad\\xff.txt")
    for output_format in ("text", "json", "html"):
        output = out / f"report.{output_format}"
        assert main(["deid", "scan", str(scanned), "--format", output_format, "--output", str(output)]) == 1
        text = output.read_text(encoding="utf-8")  # written, and valid UTF-8
        if output_format == "json":
            report = json.loads(text)
            assert {f["file"] for f in report["findings"]} == {shown}
            assert [item["file"] for item in report["skipped"]] == [not_dicom]
        else:
            assert not_dicom in text
        if output_format == "html":
            assert shown in text
    assert capsys.readouterr().err == ""


def test_an_unexpected_error_on_one_file_is_that_file_s_problem(tmp_path, monkeypatch):
    shutil.copy(CT, tmp_path / "a.dcm")
    shutil.copy(CT, tmp_path / "b.dcm")
    real = fastread.read_header_elements

    def flaky(path):
        if path.endswith("a.dcm"):
            raise MemoryError("injected")
        return real(path)

    monkeypatch.setattr("compliance.deid.scanner.read_header_elements", flaky)
    report = Scanner().scan([tmp_path]).to_json()
    assert skipped(report) == {"a.dcm": ("unreadable", "could not be scanned (MemoryError: injected)")}
    assert report["files"] == 1


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
        "rtdose.dcm",
        "waveform_ecg.dcm",
        "JPEG-lossy.dcm",
        "GDCMJ2K_TextGBR.dcm",
        "SC_jpeg_no_color_transform.dcm",
    ],
)
def test_the_fast_reader_reads_every_element_pydicom_reads(name):
    path = get_testdata_file(name)
    try:
        header = read_header_elements(path)
    except NeedsPydicom:
        pytest.skip(f"{name} is left to pydicom")
    ds = dcmread(path, stop_before_pixels=True)
    expected = {int(tag): element for tag, element in ds._dict.items() if int(tag) < fastread.FIRST_PIXEL_TAG}
    assert set(header) == set(expected)
    for tag, raw in expected.items():
        if isinstance(raw, RawDataElement) and raw.VR != "SQ" and raw.value is not None:
            assert header[tag][1] == raw.value, f"{tag:08X}"
            assert raw.VR in {None, header[tag][0]}, f"{tag:08X}"  # implicit VR: pydicom leaves it to later


def test_a_truncated_header_is_unreadable_not_a_crash(tmp_path):
    (tmp_path / "short.dcm").write_bytes(file_meta() + element(0x0008, 0x0060, "CS", b"CT")[:5])
    with pytest.raises(UnreadableFile):
        read_header_elements(str(tmp_path / "short.dcm"))
