"""Files that hold PHI or keys: written atomically and readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


def private_directory(path: Path) -> Path:
    """Create ``path`` (and parents) for plans and journals; a new directory is 0700."""
    path.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` via a temporary file, fsync and rename (no reader sees half a file); mode 0600."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        # O_CREAT's mode is masked by the umask and an older temporary file keeps its own mode.
        os.fchmod(handle.fileno(), PRIVATE_FILE)
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    return path
