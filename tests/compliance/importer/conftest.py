"""Fixtures for the import tests: the fake DQR server, XNAT credentials and the pseudonym key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_dqr import PASSWORD, USER, FakeDqr
from import_helpers import KEY


@pytest.fixture
def fake_dqr() -> Iterator[FakeDqr]:
    server = FakeDqr().start()
    yield server
    server.stop()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XNAT_USER", USER)
    monkeypatch.setenv("XNAT_PASS", PASSWORD)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("ENCLAVE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("ENCLAVE_PSEUDONYM_KEY_FILE", raising=False)


@pytest.fixture
def key_file(credentials: None, tmp_path: Path) -> Path:
    """The trust's pseudonym key (and XNAT credentials in the environment)."""
    path = tmp_path / "pseudonym.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path
