"""What a session folder already holds, verified: ``.enclave-fetch.json`` beside the scans.

A file counts as fetched when it is a regular file whose size, modification time and digest the manifest
recorded at verification and the listing still agrees; a file the manifest does not know (an interrupted
run placed it after the last save) is hashed once and recorded if it matches. Anything else is fetched
again. The manifest is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from compliance.fetch.archive import CHUNK, ListedFile, Verified

MANIFEST_NAME = ".enclave-fetch.json"
VERSION = 1


def md5_of(path: Path) -> str:
    hasher = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class Manifest:
    def __init__(self, root: Path) -> None:
        self.path = root / MANIFEST_NAME
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, Any]] = {}
        if self.path.is_file() and not self.path.is_symlink():
            try:
                document = json.loads(self.path.read_text())
                if document.get("version") == VERSION:
                    self._files = dict(document.get("files") or {})
            except (OSError, ValueError):
                self._files = {}  # an unreadable manifest only costs re-hashing

    def is_verified(self, listed: ListedFile, target: Path) -> bool:
        if target.is_symlink() or not target.is_file():
            return False
        info = target.stat()
        if info.st_size != listed.size:
            return False
        with self._lock:
            record = self._files.get(listed.key)
        digest = listed.digest.lower()
        if (
            record
            and record.get("size") == info.st_size
            and record.get("mtime_ns") == info.st_mtime_ns
            and (not digest or record.get("md5") == digest)
        ):
            return True
        md5 = md5_of(target)
        if digest and md5 != digest:
            return False
        self.record(Verified(listed, target, md5))
        return True

    def record(self, verified: Verified) -> None:
        info = verified.target.stat()
        with self._lock:
            self._files[verified.file.key] = {
                "size": info.st_size,
                "mtime_ns": info.st_mtime_ns,
                "md5": verified.md5,
            }

    def save(self) -> None:
        with self._lock:
            document = {"version": VERSION, "files": dict(sorted(self._files.items()))}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{MANIFEST_NAME}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, indent=1) + "\n")
        temporary.replace(self.path)
