"""enclave fetch against the XNAT double: by accession (keyed pseudonym, dcmAccessionNumber), by label, DICOM
and NIFTI, verified against the double's digests; findings, errors and what is never printed."""

from __future__ import annotations

import json

import pytest
from fetch_helpers import (
    KEPT_ACCESSION,
    PROJECT,
    PSEUDO_ACCESSION,
    PSEUDO_LABEL,
    downloads,
    fetch_args,
    md5,
    resource,
    stored,
    tree,
)

from compliance.cli import main
from compliance.fetch import FetchError, get_by_accession_number
from xnat_double.archive_model import add_resource, write_file


def test_fetch_by_accession_finds_the_keyed_pseudonym_and_verifies_every_file(
    archive, key_file, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(fetch_args(archive, out, "--accession", PSEUDO_ACCESSION, key_file=key_file))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    session = out / PROJECT / PSEUDO_LABEL
    assert tree(session) == {
        ".enclave-fetch.json",
        *(f"1/DICOM/1.2.826.0.1.{n}.dcm" for n in range(5)),
        *(f"2/DICOM/1.2.826.0.1.{n}.dcm" for n in range(3)),
        "900/DICOM/dose.dcm",
    }
    for scan in ("1", "2", "900"):
        resource, disk = stored(archive, PSEUDO_LABEL, scan, "DICOM")
        for path, disk_path in disk.items():
            assert md5(session / scan / "DICOM" / path) == resource.files[path].digest == md5(disk_path)
    assert tree(out) == {f"{PROJECT}/{PSEUDO_LABEL}/{name}" for name in tree(session)}, "no temporary files"
    assert f"session {PSEUDO_LABEL} (found by pseudonym label): 9 files in 3 scan resources" in captured.out
    queries = [entry["query"] for entry in archive.requests()]
    assert not any(PSEUDO_ACCESSION in json.dumps(query) for query in queries), "XNAT never saw the number"
    assert PSEUDO_ACCESSION not in captured.out + captured.err


def test_nifti_and_dicom_with_scans_lacking_the_resource_are_findings(archive, key_file, tmp_path, capsys):
    out = tmp_path / "out"
    args = fetch_args(
        archive, out, "--accession", PSEUDO_ACCESSION, resources=("NIFTI", "DICOM"), key_file=key_file
    )
    assert main([*args, "--format", "json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)["sessions"][0]
    assert document["status"] == "findings" and document["found_by"] == "pseudonym label"
    assert document["findings"] == [f"session {PSEUDO_LABEL}: scans 2, 900 have no NIFTI resource"]
    session = out / PROJECT / PSEUDO_LABEL
    assert {name for name in tree(session) if "/NIFTI/" in name} == {
        "1/NIFTI/scan_1.nii.gz",
        "1/NIFTI/scan_1.json",
    }
    assert (session / "1" / "NIFTI" / "scan_1.json").read_text() == "{}"
    assert not (session / "2" / "NIFTI").exists()
    assert (
        f"enclave fetch: finding: session {PSEUDO_LABEL}: scans 2, 900 have no NIFTI resource" in captured.err
    )
    assert "enclave fetch: session" in captured.err, "plain progress lines when stderr is not a terminal"


def test_fetch_by_kept_dcm_accession_number_and_by_label(archive, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(fetch_args(archive, out, "--accession", KEPT_ACCESSION)) == 0
    assert "S01_CT1 (found by dcmAccessionNumber)" in capsys.readouterr().out
    assert (out / PROJECT / "S01_CT1" / "900" / "DICOM" / "dose.dcm").read_bytes() == b"sr"
    assert (
        main(fetch_args(archive, tmp_path / "by-label", "--session", PSEUDO_LABEL, resources=("NIFTI",))) == 1
    )
    assert f"{PSEUDO_LABEL} (found by label)" in capsys.readouterr().out


def test_the_python_function_has_flips_shape_and_returns_the_path(archive, key_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XNAT_URL", archive.url)
    path = get_by_accession_number(
        PROJECT, PSEUDO_ACCESSION, "NIFTI", out=tmp_path, pseudonym_key_file=key_file
    )
    assert path == tmp_path / PROJECT / PSEUDO_LABEL
    assert (path / "1" / "NIFTI" / "scan_1.nii.gz").stat().st_size == 40000
    monkeypatch.setenv("ENCLAVE_PSEUDONYM_KEY_FILE", str(key_file))
    with pytest.raises(FetchError, match=r"project CARDIO01: no session for accession number \*\*\*\*\*\*77"):
        get_by_accession_number(PROJECT, "ACC00077", "NIFTI", out=tmp_path)


def test_a_session_not_found_names_the_project_and_the_redacted_accession(archive, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(fetch_args(archive, out, "--accession", "ACC99999")) == 2
    err = capsys.readouterr().err
    assert "project CARDIO01: no session for accession number ******99" in err
    assert "no pseudonym key was given" in err
    assert "ACC99999" not in err
    assert not out.exists(), "nothing is written for a session not found"


def test_an_empty_resource_is_an_error_naming_session_and_scan_not_an_empty_folder(archive, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(fetch_args(archive, out, "--session", "S02_CT1", resources=("NIFTI",))) == 2
    err = capsys.readouterr().err
    assert "session S02_CT1 scan 900: the NIFTI resource is empty (XNAT has a catalog but no files)" in err
    session = out / PROJECT / "S02_CT1"
    assert not (session / "900").exists(), "no empty folder"
    assert (session / "1" / "NIFTI" / "scan_1.nii.gz").is_file(), "the other scans are still fetched"


def test_no_scan_with_the_resource_is_an_error(archive, tmp_path, capsys):
    assert main(fetch_args(archive, tmp_path / "out", "--session", "S01_CT1", resources=("SEG",))) == 2
    assert "session S01_CT1: no scan has a SEG resource (3 scans: 1, 2, 900)" in capsys.readouterr().err
    assert not (tmp_path / "out" / PROJECT / "S01_CT1").exists()


def test_a_file_that_does_not_match_xnats_digest_is_refused_and_not_kept(archive, tmp_path, capsys):
    resource, disk = stored(archive, "S01_CT1", "1", "DICOM")
    victim = "1.2.826.0.1.3.dcm"
    disk[victim].write_bytes(bytes(len(disk[victim].read_bytes())))  # same size, other bytes
    out = tmp_path / "out"
    assert main(fetch_args(archive, out, "--session", "S01_CT1")) == 2
    err = capsys.readouterr().err
    assert f"session S01_CT1 scan 1 DICOM: {victim} does not match XNAT's digest" in err
    assert f"XNAT's catalog says {resource.files[victim].digest}" in err
    session = out / PROJECT / "S01_CT1"
    assert not (session / "1" / "DICOM" / victim).exists()
    assert len([name for name in tree(session) if name.startswith("1/DICOM/")]) == 4
    assert tree(out) == {f"{PROJECT}/S01_CT1/{name}" for name in tree(session)}, "no staging file is left"
    archive.clear_requests()
    assert main(fetch_args(archive, out, "--session", "S01_CT1")) == 2, "still refused on a rerun"
    assert [path for path, _ in downloads(archive)] == [
        f"/data/experiments/{archive.state.archive.find_experiment(PROJECT, 'S01_CT1').id}/scans/1/resources/"
        f"{resource.id}/files/{victim}"
    ], "only the refused file is asked for again"


def test_bad_resource_labels_are_refused_before_any_request(archive, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(fetch_args(archive, tmp_path, "--session", "S01_CT1", resources=("../x",)))
    assert "use a resource label such as NIFTI or DICOM" in capsys.readouterr().err
    assert archive.requests() == []


def test_missing_credentials_are_an_error(archive, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XNAT_PASS")
    assert main(fetch_args(archive, tmp_path, "--session", "S01_CT1")) == 2
    assert "set both XNAT_USER and XNAT_PASS" in capsys.readouterr().err


def test_files_xnat_lists_but_cannot_serve_are_an_error_naming_the_scan(archive, tmp_path, capsys):
    _resource, disk = stored(archive, "S01_CT1", "2", "DICOM")
    for disk_path in disk.values():
        disk_path.unlink()  # FLIP#676: the catalog names files that are not on disk; XNAT's zip is a 404
    assert main(fetch_args(archive, tmp_path / "out", "--session", "S01_CT1")) == 2
    err = capsys.readouterr().err
    assert "session S01_CT1 scan 2 DICOM: XNAT lists 3 files but serves none" in err
    assert not (tmp_path / "out" / PROJECT / "S01_CT1" / "2").exists()


def test_files_without_a_digest_are_checked_by_size_and_reported(xnat_double, archive, tmp_path, capsys):
    archive.state.site_config["checksums"] = False
    xnat_double.seed(
        {"archive": [{"project": PROJECT, "subject": "S09", "session": "S09_MR1", "modality": "MR",
                      "scans": [{"id": "1", "resources": [resource("NIFTI", {"t1.nii": "x"})]}]}]}
    )  # fmt: skip
    assert main(fetch_args(archive, tmp_path / "out", "--session", "S09_MR1", resources=("NIFTI",))) == 1
    assert "1 file checked by size only (XNAT lists no digest" in capsys.readouterr().err
    assert (tmp_path / "out" / PROJECT / "S09_MR1" / "1" / "NIFTI" / "t1.nii").read_text() == "x"


def test_two_sessions_for_one_accession_number_are_an_error_not_a_guess(
    xnat_double, archive, tmp_path, capsys
):
    xnat_double.seed(
        {"archive": [{"project": PROJECT, "subject": "S01", "session": "S01_CT2", "modality": "CT",
                      "dcmAccessionNumber": KEPT_ACCESSION, "scans": []}]}
    )  # fmt: skip
    assert main(fetch_args(archive, tmp_path / "out", "--accession", KEPT_ACCESSION)) == 2
    err = capsys.readouterr().err
    assert "project CARDIO01: 2 sessions match by dcmAccessionNumber (S01_CT1, S01_CT2)" in err
    assert KEPT_ACCESSION not in err and not (tmp_path / "out").exists()


def test_a_session_labelled_with_the_accession_number_is_found_as_flip_labels_them(
    xnat_double, archive, tmp_path, capsys
):
    xnat_double.seed(
        {"archive": [{"project": PROJECT, "subject": "S05", "session": "ACC00005", "modality": "CT",
                      "scans": [{"id": "1", "resources": [{"label": "DICOM", "files": {"a.dcm": "a"}}]}]}]}
    )  # fmt: skip
    assert main(fetch_args(archive, tmp_path / "out", "--accession", "ACC00005")) == 0
    assert "(found by accession number as label)" in capsys.readouterr().out


def test_one_client_fetches_a_cohort_with_one_login(archive, key_file, tmp_path):
    from compliance.fetch import FetchClient  # noqa: PLC0415

    with FetchClient(archive.url, tmp_path, pseudonym_key_file=key_file) as client:
        paths = [
            client.get_by_accession_number(PROJECT, a, "DICOM") for a in (PSEUDO_ACCESSION, KEPT_ACCESSION)
        ]
    assert paths == [tmp_path / PROJECT / PSEUDO_LABEL, tmp_path / PROJECT / "S01_CT1"]
    assert [entry["path"] for entry in archive.requests()].count("/data/services/auth") <= 1


def test_a_project_requiring_pixel_cleaning_releases_carriers_only_cleaned(archive, tmp_path, capsys):
    """The release gate (compliance/pixels/gate.py): the dose report leaves only as DICOM_CLEANED, and a
    dose report without one is refused, a finding, with nothing written for it."""
    archive.state.projects[PROJECT].keywords = "cardiac enclave-requires-pixel-cleaning"
    cleaned = archive.state.archive.find_experiment(PROJECT, "S01_CT1").scans["900"]
    with archive.state.lock:  # the cleaner's output, as the pixel-clean command stores it
        target = add_resource(archive.state.archive, cleaned, "DICOM_CLEANED", format="DICOM")
        write_file(archive.state, target, "dose.dcm", b"cleaned pixels")

    out = tmp_path / "out"
    assert main(fetch_args(archive, out, "--session", "S01_CT1")) == 0, capsys.readouterr().err
    assert "900/DICOM_CLEANED/dose.dcm" in tree(out / PROJECT / "S01_CT1")
    assert not (out / PROJECT / "S01_CT1" / "900" / "DICOM").exists(), "never the uncleaned dose report"

    capsys.readouterr()
    assert main(fetch_args(archive, out, "--session", "S02_CT1")) == 1
    captured = capsys.readouterr()
    assert "scan 900: DICOM not released" in captured.out + captured.err
    assert "900" not in {path.split("/")[0] for path in tree(out / PROJECT / "S02_CT1")}
    assert "1/DICOM/1.2.826.0.1.0.dcm" in tree(out / PROJECT / "S02_CT1"), "other scans are released"
