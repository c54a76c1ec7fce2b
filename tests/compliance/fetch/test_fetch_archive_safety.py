"""Hostile zips: members that would escape --out, links, unlisted or oversized members are refused and nothing
is written outside --out (or, for a refused archive, anywhere).

The double builds its zips from stored paths it has already checked, so it cannot serve a hostile one: the
extraction function is tested with crafted zips, and the whole command with a crafted zip put where the
download would have put XNAT's.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest
from fetch_helpers import PROJECT, fetch_args, tree

from compliance.cli import main
from compliance.fetch.archive import ListedFile, Placer, extract_verified, member_kind
from compliance.fetch.errors import UnsafeArchiveError
from compliance.fetch.fetcher import SessionFetch

PREFIX = "E1/scans/1/DICOM/"
DATA = b"DICM" * 100


def listed(path: str, data: bytes = DATA) -> ListedFile:
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return ListedFile(
        "1", "DICOM", path, len(data), digest, f"/data/experiments/E/scans/1/resources/7/files/{path}"
    )


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                archive.writestr(member, b"/etc/passwd" if member.external_attr >> 16 else DATA)
            else:
                archive.writestr(member, DATA)
    return path


def link(name: str, kind: int = stat.S_IFLNK) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | 0o777) << 16
    return info


@pytest.fixture
def place(tmp_path):
    out = tmp_path / "work" / "out"
    root, staging = out / PROJECT / "E1", out / ".enclave-fetch"
    staging.mkdir(parents=True)
    return Placer(out, root, staging)


def everything(tmp_path) -> set[str]:
    return {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if not path.is_dir()}


@pytest.mark.parametrize(
    "name",
    [
        "../../evil.dcm",
        f"{PREFIX}../../../../../evil.dcm",
        "/tmp/evil.dcm",
        "C:/evil.dcm",
        f"{PREFIX}..\\..\\evil.dcm",
        "../evil.dcm",
    ],
)
def test_a_member_that_would_escape_is_refused_before_anything_is_written(tmp_path, place, name):
    hostile = write_zip(tmp_path / "hostile.zip", [f"{PREFIX}a.dcm", name])
    before = everything(tmp_path)
    expected = {"a.dcm": listed("a.dcm"), "evil.dcm": listed("evil.dcm")}
    with pytest.raises(UnsafeArchiveError, match="would be written outside its folder"):
        extract_verified(hostile, expected, PREFIX, place, where="session E1 scan 1 DICOM")
    assert everything(tmp_path) == before, "not even the safe member is written"


@pytest.mark.parametrize(("kind", "word"), [(stat.S_IFLNK, "symbolic link"), (stat.S_IFIFO, "named pipe")])
def test_a_link_member_is_refused(tmp_path, place, kind, word):
    hostile = write_zip(tmp_path / "hostile.zip", [f"{PREFIX}a.dcm", link(f"{PREFIX}b.dcm", kind)])
    assert member_kind(zipfile.ZipFile(hostile).infolist()[1]) == word
    before = everything(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=f"is a {word}: links are refused"):
        extract_verified(
            hostile, {"a.dcm": listed("a.dcm"), "b.dcm": listed("b.dcm")}, PREFIX, place, where="x"
        )
    assert everything(tmp_path) == before
    assert not any(path.is_symlink() for path in tmp_path.rglob("*"))


def test_unlisted_and_duplicate_members_are_refused(tmp_path, place):
    unlisted = write_zip(tmp_path / "u.zip", [f"{PREFIX}a.dcm", f"{PREFIX}extra.sh"])
    with pytest.raises(
        UnsafeArchiveError, match=r"'E1/scans/1/DICOM/extra\.sh' is not in XNAT's file listing"
    ):
        extract_verified(unlisted, {"a.dcm": listed("a.dcm")}, PREFIX, place, where="x")
    twice = write_zip(tmp_path / "d.zip", [f"{PREFIX}a.dcm", "a.dcm"])
    with pytest.raises(UnsafeArchiveError, match="appears twice"):
        extract_verified(twice, {"a.dcm": listed("a.dcm")}, PREFIX, place, where="x")
    assert not place.root.exists()


def test_a_member_larger_than_listed_stops_at_the_listed_size_and_is_not_kept(tmp_path, place):
    bomb = write_zip(tmp_path / "b.zip", [f"{PREFIX}a.dcm"])
    small = listed("a.dcm", DATA[:10])
    verified, problems = extract_verified(bomb, {"a.dcm": small}, PREFIX, place, where="scan 1")
    assert verified == [] and problems == ["scan 1: a.dcm is larger than the 10 bytes XNAT lists: not kept"]
    assert not (place.root / "1" / "DICOM" / "a.dcm").exists() and list(place.staging.iterdir()) == []


def test_a_link_planted_inside_out_is_not_written_through(tmp_path, place):
    outside = tmp_path / "outside"
    outside.mkdir()
    place.root.mkdir(parents=True)
    (place.root / "1").symlink_to(outside, target_is_directory=True)
    good = write_zip(tmp_path / "g.zip", [f"{PREFIX}a.dcm"])
    with pytest.raises(UnsafeArchiveError, match="outside --out"):
        extract_verified(good, {"a.dcm": listed("a.dcm")}, PREFIX, place, where="x")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "case", [("../../../../escaped.dcm", "would be written outside its folder"), (None, "is a symbolic link")]
)
def test_the_command_refuses_a_hostile_zip_and_writes_nothing_outside_out(
    archive, tmp_path, capsys, monkeypatch, case
):
    member, message = case
    real = SessionFetch._download_zip

    def hostile(self, item, result):
        zipped = real(self, item, result)
        if item.scan != "2" or zipped is None:
            return zipped
        zipped.close()
        names = [f"S01_CT1/scans/2/DICOM/{name}" for name in sorted(f.path for f in item.files)]
        crafted = write_zip(io.BytesIO(), [names[0], member or link(names[1])])
        crafted.seek(0)
        return crafted

    monkeypatch.setattr(SessionFetch, "_download_zip", hostile)
    out = tmp_path / "out"
    before = everything(tmp_path)
    assert main(fetch_args(archive, out, "--session", "S01_CT1")) == 2
    assert message in capsys.readouterr().err
    added = everything(tmp_path) - before
    assert all(name.startswith("out/") for name in added), added
    assert not [name for name in tree(out) if "/2/" in name], "nothing of the refused archive"
    assert len([name for name in tree(out) if "/1/DICOM/" in name]) == 5, "the other scans are fetched"
