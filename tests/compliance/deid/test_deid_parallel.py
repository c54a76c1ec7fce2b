"""The scan on several processes: the report of one process, in its order; a dead worker costs one file."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
from dicom_bytes import deeply_nested_file, huge_element_file
from pydicom import dcmread
from pydicom.data import get_testdata_file

from compliance.deid import parallel
from compliance.deid.scanner import Scanner
from compliance.deid.synthetic import build_study

SAMPLES = ("CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm", "SC_rgb_small_odd.dcm", "rtplan.dcm")


@pytest.fixture(scope="module")
def mixed_tree(tmp_path_factory) -> Path:
    """Sixty-odd files in nested directories: samples, synthetic PHI, hostile files, non-DICOM, a FIFO."""
    root = tmp_path_factory.mktemp("tree")
    for index in range(48):
        directory = root / f"d{index % 3}" / f"s{index % 4}"
        directory.mkdir(parents=True, exist_ok=True)
        name = SAMPLES[index % len(SAMPLES)]
        ds = dcmread(get_testdata_file(name))
        if index % 2:
            ds.PatientName = f"SMITH^PATIENT{index}"
        ds.save_as(directory / f"{index:03d}-{name}")
    for index, ds in enumerate(build_study().datasets):
        copy.deepcopy(ds).save_as(root / f"synthetic-{index}.dcm", enforce_file_format=True)
    (root / "d1" / "nested.dcm").write_bytes(deeply_nested_file(200))
    (root / "d2" / "huge.dcm").write_bytes(huge_element_file())
    (root / "notes.txt").write_text("not DICOM")
    os.mkfifo(root / "d0" / "queue")
    return root


def comparable(report) -> dict:
    data = report.to_json()
    data["summary"].pop("jobs")
    return data


def test_parallel_results_equal_serial_results_in_the_same_order(mixed_tree):
    serial = Scanner(jobs=1).scan([mixed_tree])
    parallel_report = Scanner(jobs=2).scan([mixed_tree])
    assert parallel_report.jobs == 2 and serial.files >= 56
    assert comparable(parallel_report) == comparable(serial)
    assert [f.file for f in parallel_report.findings] == [f.file for f in serial.findings]
    assert len(serial.skipped) == 4


def test_more_processes_than_files_and_several_paths_keep_the_order(mixed_tree):
    paths = [mixed_tree / "d2", get_testdata_file("CT_small.dcm"), mixed_tree / "d0"]
    assert comparable(Scanner(jobs=7).scan(paths)) == comparable(Scanner(jobs=1).scan(paths))


def test_a_worker_that_dies_costs_only_the_file_it_was_scanning(mixed_tree, monkeypatch):
    """A worker killed mid-file (a crash in a decoder, the OOM killer): the others are still scanned."""
    real = Scanner.scan_file

    def dies_on_one_file(self, path):
        if path.endswith("003-SC_rgb_small_odd.dcm"):
            os._exit(137)  # as the out-of-memory killer would leave it
        return real(self, path)

    serial = Scanner(jobs=1).scan([mixed_tree])
    monkeypatch.setattr(Scanner, "scan_file", dies_on_one_file)  # the forked workers inherit it
    report = Scanner(jobs=2).scan([mixed_tree])
    [lost] = [item for item in report.skipped if item["file"].endswith("003-SC_rgb_small_odd.dcm")]
    assert lost["kind"] == "unreadable"
    assert (
        lost["reason"]
        == "could not be scanned: the process reading it stopped (crashed or ran out of memory)"
    )
    assert report.files == serial.files - 1
    others = [f for f in serial.findings if not f.file.endswith("003-SC_rgb_small_odd.dcm")]
    assert report.findings == others


def test_small_scans_stay_in_one_process(monkeypatch, tmp_path):
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "a.dcm")
    monkeypatch.setattr(parallel, "_executor", lambda *args: pytest.fail("started processes for one file"))
    assert Scanner(jobs=4).scan([tmp_path]).files == 1


def test_every_core_by_default():
    assert parallel.available_cores() == len(os.sched_getaffinity(0))
