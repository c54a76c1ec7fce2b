"""Fixtures of the pixel tests: tesseract must be installed, and a synthetic study on disk.

The synthetic instances (identifiers rendered into the pixels, with the ground truth) come from
compliance.pixels.synthetic; nothing is real patient data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compliance.pixels.synthetic import KINDS


@pytest.fixture(scope="session", autouse=True)
def _tesseract_is_installed() -> None:
    """CI installs tesseract through scripts/setup: a missing one is a broken setup, not a skip."""
    assert shutil.which("tesseract"), (
        "tesseract is not installed: run scripts/setup (it installs Debian's tesseract-ocr and "
        "tesseract-ocr-eng); these tests do not skip without it"
    )


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A directory with one file per kind, written to disk."""
    root = tmp_path / "study"
    root.mkdir()
    for name, make in KINDS.items():
        make().save_as(root / f"{name}.dcm", enforce_file_format=True)
    return root
