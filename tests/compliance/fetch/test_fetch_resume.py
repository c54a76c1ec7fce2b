"""Resume: after an interruption a rerun fetches only what is missing; verified files are never fetched again,
a local file that changed is."""

from __future__ import annotations

from fetch_helpers import PROJECT, PSEUDO_LABEL, downloads, fetch_args, md5, stored, tree

from compliance.cli import main
from compliance.fetch.archive import Placer

ZIP = "zip"


def test_an_interrupted_fetch_continues_without_fetching_verified_files_again(
    archive, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    session = out / PROJECT / PSEUDO_LABEL
    real_write = Placer.write
    written = []

    def interrupted(self, listed, source, where, progress=None):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(listed.path)
        return real_write(self, listed, source, where, progress)

    monkeypatch.setattr(Placer, "write", interrupted)
    assert main(fetch_args(archive, out, "--session", PSEUDO_LABEL)) == 2
    assert "enclave: interrupted" in capsys.readouterr().err
    first = {name for name in tree(session) if name.startswith("1/DICOM/")}
    assert len(first) == 2 and not (out / ".enclave-fetch").exists(), "no temporary files are left"

    monkeypatch.setattr(Placer, "write", real_write)
    archive.clear_requests()
    assert main(fetch_args(archive, out, "--session", PSEUDO_LABEL)) == 0
    experiment = archive.state.archive.find_experiment(PROJECT, PSEUDO_LABEL)
    resource, disk = stored(archive, PSEUDO_LABEL, "1", "DICOM")
    fetched = downloads(archive)
    singles = sorted(path.rsplit("/", 1)[1] for path, form in fetched if form != ZIP)
    assert singles == sorted(set(disk) - {name.rsplit("/", 1)[1] for name in first}), "only the missing files"
    assert (f"/data/experiments/{experiment.id}/scans/1/resources/DICOM/files", ZIP) not in fetched
    assert {path for path, form in fetched if form == ZIP} == {
        f"/data/experiments/{experiment.id}/scans/{scan}/resources/DICOM/files" for scan in ("2", "900")
    }
    for path, disk_path in disk.items():
        assert md5(session / "1" / "DICOM" / path) == md5(disk_path) == resource.files[path].digest

    archive.clear_requests()
    assert main(fetch_args(archive, out, "--session", PSEUDO_LABEL)) == 0
    assert downloads(archive) == [], "a finished fetch downloads nothing"
    assert "900 DICOM: already fetched" in capsys.readouterr().err

    changed = session / "2" / "DICOM" / "1.2.826.0.1.1.dcm"
    changed.write_bytes(b"x" * changed.stat().st_size)
    archive.clear_requests()
    assert main(fetch_args(archive, out, "--session", PSEUDO_LABEL)) == 0
    assert [path.rsplit("/", 1)[1] for path, _ in downloads(archive)] == ["1.2.826.0.1.1.dcm"]
    assert md5(changed) == stored(archive, PSEUDO_LABEL, "2", "DICOM")[0].files["1.2.826.0.1.1.dcm"].digest
