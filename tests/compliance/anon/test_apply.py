"""`enclave anon apply`: a script run over files as XNAT would, inputs untouched."""

import shutil

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from compliance.cli import main

SCRIPT = """version "6.3"
(0010,0010) := "ANON"
(0010,0020) := subject
-(0008,0090)
(0020,000D) := hashUID[(0020,000D)]
"""


@pytest.fixture
def inputs(tmp_path):
    source = tmp_path / "in" / "series1"
    source.mkdir(parents=True)
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), source / name)
    (source / "notes.txt").write_text("not DICOM")
    return tmp_path / "in"


def test_apply_writes_deidentified_copies_and_leaves_inputs(tmp_path, inputs, capsys):
    script = tmp_path / "site.das"
    script.write_text(SCRIPT)
    original = dcmread(inputs / "series1" / "CT_small.dcm")
    code = main(
        ["anon", "apply", str(script), str(inputs), "--out", str(tmp_path / "out"), "--subject", "SUBJ01"]
    )
    captured = capsys.readouterr()
    assert code == 1, "the text file is skipped, and said so"
    assert "skipped" in captured.err
    assert "notes.txt" in captured.err
    assert "wrote 2 files" in captured.out
    result = dcmread(tmp_path / "out" / "series1" / "CT_small.dcm")
    assert str(result.PatientName) == "ANON"
    assert result.PatientID == "SUBJ01"
    assert "ReferringPhysicianName" not in result
    assert result.StudyInstanceUID.startswith("2.25.")
    assert result.StudyInstanceUID != original.StudyInstanceUID
    assert dcmread(inputs / "series1" / "CT_small.dcm").PatientName == original.PatientName


def test_apply_with_a_syntax_error_writes_nothing(tmp_path, inputs, capsys):
    script = tmp_path / "broken.das"
    script.write_text('version "6.3"\n(0010,0010 := "x"\n')
    code = main(["anon", "apply", str(script), str(inputs), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "broken.das:2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_apply_names_a_missing_input(tmp_path, capsys):
    script = tmp_path / "site.das"
    script.write_text(SCRIPT)
    code = main(["anon", "apply", str(script), str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err


def test_notes_are_summarised_once_and_listed_on_request(tmp_path, inputs, capsys):
    script = tmp_path / "site.das"
    script.write_text('version "6.3"\n(0008,0019) := hashUID[(0008,0019)]\n')
    out = tmp_path / "out"
    main(["anon", "apply", str(script), str(inputs), "--out", str(out)])
    summary = capsys.readouterr().err
    assert summary.count("nothing to act on") == 1
    assert "site.das:2:" in summary
    main(["anon", "apply", str(script), str(inputs), "--out", str(out), "--verbose"])
    listed = capsys.readouterr().err
    assert "note: " in listed
    assert "(0008,0019)" in listed
