"""`enclave anon apply` never overwrites an input, never merges two inputs, never writes through a link."""

import shutil

import pytest
from pydicom.data import get_testdata_file

from compliance.cli import main

SCRIPT = 'version "6.3"\n(0010,0010) := "ANON"\n'


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "site.das"
    path.write_text(SCRIPT)
    return path


def dicom_dir(path):
    path.mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), path / "a.dcm")
    return path


def snapshot(directory):
    return {path: path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def run(script, *arguments):
    return main(["anon", "apply", str(script), *map(str, arguments)])


@pytest.mark.parametrize("out_of", [lambda inputs: inputs, lambda inputs: inputs / "deid"])
def test_out_equal_to_or_inside_an_input_is_refused_and_nothing_is_written(tmp_path, script, capsys, out_of):
    inputs = dicom_dir(tmp_path / "in")
    before = snapshot(inputs)
    out = out_of(inputs)
    assert run(script, inputs, "--out", out) == 2
    assert f"--out {out} is inside the input directory {inputs}" in capsys.readouterr().err
    assert snapshot(inputs) == before


def test_an_input_file_whose_output_would_replace_it_is_refused(tmp_path, script, capsys):
    inputs = dicom_dir(tmp_path / "in")
    before = snapshot(inputs)
    assert run(script, inputs / "a.dcm", "--out", inputs) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert snapshot(inputs) == before


def test_two_inputs_with_the_same_name_are_refused_before_any_write(tmp_path, script, capsys):
    first, second = dicom_dir(tmp_path / "one"), dicom_dir(tmp_path / "two")
    out = tmp_path / "out"
    assert run(script, first / "a.dcm", second / "a.dcm", "--out", out) == 2
    error = capsys.readouterr().err
    assert f"{first / 'a.dcm'} and {second / 'a.dcm'} would both be written to {out / 'a.dcm'}" in error
    assert not out.exists()


@pytest.mark.parametrize("link_kind", ["file", "directory"])
def test_a_link_in_out_is_never_written_through(tmp_path, script, capsys, link_kind):
    dicom_dir(tmp_path / "in" / "series")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "a.dcm"
    victim.write_bytes(b"must stay")
    out = tmp_path / "out"
    out.mkdir()
    if link_kind == "file":
        (out / "series").mkdir()
        (out / "series" / "a.dcm").symlink_to(victim)
        link = out / "series" / "a.dcm"
    else:
        (out / "series").symlink_to(elsewhere, target_is_directory=True)
        link = out / "series"
    assert run(script, tmp_path / "in", "--out", out) == 2
    assert f"{link} is a link; refusing to write" in capsys.readouterr().err
    assert victim.read_bytes() == b"must stay"


def test_a_clean_run_writes_every_output_and_leaves_no_partial_files(tmp_path, script):
    inputs = dicom_dir(tmp_path / "in")
    out = tmp_path / "out"
    assert run(script, inputs, "--out", out) == 0
    assert [path.name for path in out.rglob("*")] == ["a.dcm"]
