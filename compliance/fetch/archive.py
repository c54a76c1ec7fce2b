"""Unpack XNAT's zip of one scan resource into --out, member by member, verified against the file listing.

Nothing here calls ``ZipFile.extractall`` (xnatpy's ``download_dir`` does, without zip-slip checks,
xnat-data-lifecycle.md §4.1). Every member is checked before the first byte is written: a name that is
absolute, has a drive, a backslash or a ``..`` part, a link or any other non-regular entry, a duplicate, or
a member the listing does not name refuses the whole archive. Each member is then streamed into a staging
file inside --out, counted (never more bytes than the listing says: no zip bomb) and hashed (MD5, XNAT's
catalog digest), and only a verified file is renamed into place; a mismatch is kept nowhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from compliance.fetch.errors import FetchError, UnsafeArchiveError, VerificationError

CHUNK = 1024 * 1024
DRIVE = re.compile(r"^[A-Za-z]:")
SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # XNAT labels, scan ids, resource labels
UNPACK_THREADS = 2
UNIX_SYSTEM = 3  # ZipInfo.create_system of archives made on Unix: external_attr holds st_mode


@dataclass(frozen=True)
class ListedFile:
    """One file of XNAT's listing (``…/files?format=json``): where it goes and what it must be."""

    scan: str
    resource: str
    path: str  # relative POSIX path inside the resource
    size: int
    digest: str  # MD5 hex; "" when XNAT's checksums preference is off
    uri: str

    @property
    def key(self) -> str:
        return f"{self.scan}/{self.resource}/{self.path}"


@dataclass(frozen=True)
class Verified:
    file: ListedFile
    target: Path
    md5: str


def safe_segment(value: str, what: str) -> str:
    """A folder name taken from XNAT (session label, scan id, resource label), refused unless harmless."""
    if not SAFE_SEGMENT.fullmatch(value or ""):
        raise UnsafeArchiveError(f"{what} {value!r} cannot be a folder name (letters, digits, '.', '_', '-')")
    return value


def safe_relative(name: str, where: str) -> PurePosixPath:
    """A member or listed path that stays inside its folder; UnsafeArchiveError (zip-slip) otherwise."""
    parts = PurePosixPath(name).parts
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or DRIVE.match(name)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise UnsafeArchiveError(
            f"{where}: member {name!r} would be written outside its folder (absolute path, drive, "
            "backslash or '..'): the archive is refused and nothing of it is kept"
        )
    return PurePosixPath(*parts)


def member_kind(info: zipfile.ZipInfo) -> str | None:
    """What a non-regular member is (``symbolic link``, ``device``…), or None for a file or folder."""
    mode = info.external_attr >> 16
    if info.create_system != UNIX_SYSTEM or not mode:
        return None
    file_type = stat.S_IFMT(mode)
    if file_type in (0, stat.S_IFREG, stat.S_IFDIR):
        return None
    names = {stat.S_IFLNK: "symbolic link", stat.S_IFIFO: "named pipe", stat.S_IFSOCK: "socket"}
    return names.get(file_type, "device or other special file")


def plan_members(
    archive: zipfile.ZipFile, expected: dict[str, ListedFile], prefix: str, where: str
) -> list[tuple[zipfile.ZipInfo, ListedFile]]:
    """Match every member to a listed file; refuse the archive if any member is unsafe or unexpected.

    ``prefix`` is the folder XNAT's ``structure=simplified`` puts the files under
    (``{session}/scans/{scan}/{resource}/``); a member without it is matched by its whole name.
    """
    matched: list[tuple[zipfile.ZipInfo, ListedFile]] = []
    seen: set[str] = set()
    for info in archive.infolist():
        kind = member_kind(info)
        if kind is not None:
            raise UnsafeArchiveError(
                f"{where}: member {info.filename!r} is a {kind}: links are refused (one could point "
                "outside --out); the archive is refused and nothing of it is kept"
            )
        relative = str(safe_relative(info.filename.rstrip("/") if info.is_dir() else info.filename, where))
        if info.is_dir():
            continue
        inside = relative[len(prefix) :] if relative.startswith(prefix) else relative
        listed = expected.get(inside)
        if listed is None:
            raise UnsafeArchiveError(
                f"{where}: member {info.filename!r} is not in XNAT's file listing: the archive is refused"
            )
        if inside in seen:
            raise UnsafeArchiveError(
                f"{where}: member {info.filename!r} appears twice: the archive is refused"
            )
        seen.add(inside)
        matched.append((info, listed))
    return matched


class Placer:
    """Writes verified files under ``root`` (the session folder inside --out), never anywhere else."""

    def __init__(self, out: Path, root: Path, staging: Path) -> None:
        self.out = Path(os.path.realpath(out))
        self.root = root
        self.staging = staging

    def target(self, listed: ListedFile) -> Path:
        relative = safe_relative(listed.path, f"scan {listed.scan} {listed.resource}")
        return self.root.joinpath(listed.scan, listed.resource, *relative.parts)

    def _inside_out(self, path: Path) -> None:
        real = Path(os.path.realpath(path))
        if real != self.out and self.out not in real.parents:
            raise UnsafeArchiveError(f"{path} resolves to {real}, outside --out {self.out}: nothing written")

    def _make_parents(self, target: Path) -> None:
        self._inside_out(target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._inside_out(target.parent)
        if target.is_symlink():
            raise UnsafeArchiveError(f"{target} is a link: refusing to write through it")

    def write(
        self, listed: ListedFile, source: BinaryIO, where: str, progress: Callable[[int], None] | None = None
    ) -> Verified:
        """Stream ``source`` into staging, verify size and digest, rename into place."""
        target = self.target(listed)
        self._inside_out(self.staging)
        staged = self.staging / f"{os.getpid()}-{hashlib.sha256(listed.key.encode()).hexdigest()[:24]}.part"
        hasher = hashlib.md5(usedforsecurity=False)
        size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(staged, flags, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > listed.size:
                        raise VerificationError(
                            f"{where}: {listed.path} is larger than the {listed.size} bytes XNAT lists: "
                            "not kept"
                        )
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
            md5 = hasher.hexdigest()
            if size != listed.size:
                raise VerificationError(
                    f"{where}: {listed.path} has {size} bytes, XNAT lists {listed.size}: not kept"
                )
            if listed.digest and md5.lower() != listed.digest.lower():
                raise VerificationError(
                    f"{where}: {listed.path} does not match XNAT's digest (MD5 {md5}, XNAT's catalog says "
                    f"{listed.digest}): the file is corrupt in XNAT or in transit and is not kept; ask the "
                    "XNAT administrator to check the file"
                )
            self._make_parents(target)
            staged.replace(target)
        finally:
            if staged.exists():
                staged.unlink()
        return Verified(listed, target, md5)


def extract_verified(
    zip_path: Path | BinaryIO,
    expected: dict[str, ListedFile],
    prefix: str,
    placer: Placer,
    *,
    where: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Verified], list[str]]:
    """Check every member, then write the verified ones; (verified files, problems of the others).

    An unsafe archive raises UnsafeArchiveError before anything is written; a file that fails verification
    is a problem (the others are kept, so a rerun fetches only what is missing).
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise FetchError(f"{where}: XNAT's answer is not a readable zip ({error})") from error
    with archive:
        matched = plan_members(archive, expected, prefix, where)

        def unpack(pair: tuple[zipfile.ZipInfo, ListedFile]) -> Verified | str:
            info, listed = pair
            try:
                with archive.open(info) as source:
                    return placer.write(listed, source, where, progress)
            except VerificationError as error:
                return str(error)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                return f"{where}: {listed.path} could not be unpacked ({error}): not kept"

        # Members are hashed on UNPACK_THREADS threads (MD5 and writes release the GIL): the unpacking of a
        # scan's zip then keeps up with the next download. ZipFile serialises its reads of the shared file.
        pool = ThreadPoolExecutor(max_workers=UNPACK_THREADS, thread_name_prefix="enclave-fetch-verify")
        try:
            outcomes = [future.result() for future in [pool.submit(unpack, pair) for pair in matched]]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    verified = [outcome for outcome in outcomes if isinstance(outcome, Verified)]
    return verified, [outcome for outcome in outcomes if isinstance(outcome, str)]


def missing_members(expected: Iterable[ListedFile], verified: Iterable[Verified]) -> list[ListedFile]:
    done = {item.file.key for item in verified}
    return [listed for listed in expected if listed.key not in done]
