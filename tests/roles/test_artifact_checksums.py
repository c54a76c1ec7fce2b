"""A tampered artifact is REJECTED before anything is installed.

Runs the roles' own staging task files (xnat: stage_artifact.yml, tomcat: stage_archive.yml)
with ansible-playbook against localhost. The artifacts are STAND-INS (tests/roles/artifacts.py):
a minimal WAR, and a small file named like the Tomcat archive - the checksum check happens
before the archive is ever opened. Real XNAT and Apache downloads are impossible in CI.
"""

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.roles.artifacts import build_standin_war, file_digest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv/bin/ansible-playbook"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="staged files are owned by root")


def run_role_tasks(
    tmp_path: Path, role: str, tasks_from: str, variables: dict
) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": f"Run {role}/{tasks_from}",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Stage",
                            "ansible.builtin.include_role": {"name": role, "tasks_from": tasks_from},
                            "vars": variables,
                        }
                    ],
                }
            ]
        )
    )
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            *("-i", "localhost,", "-c", "local"),
            *("-e", f"ansible_python_interpreter={sys.executable}"),
            str(playbook),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def war(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    path = build_standin_war(artifacts / "xnat-web-1.9.2-standin.war")
    stage = tmp_path / "stage"
    stage.mkdir()
    return path, stage


def xnat_vars(war_path: Path, stage: Path, sha256: str, url: str = "") -> dict:
    return {
        "xnat_artifacts_dir": "" if url else str(war_path.parent),
        "xnat_stage_dir": str(stage),
        "xnat_artifact": {"file": war_path.name, "sha256": sha256, "url": url},
    }


@needs_root
def test_pinned_war_is_staged(tmp_path, war):
    path, stage = war
    pinned = file_digest(path, "sha256")
    result = run_role_tasks(tmp_path, "xnat", "stage_artifact.yml", xnat_vars(path, stage, pinned))
    assert result.returncode == 0, result.stdout
    assert file_digest(stage / path.name, "sha256") == pinned


def test_tampered_war_is_rejected(tmp_path, war):
    path, stage = war
    pinned = file_digest(path, "sha256")
    with path.open("ab") as handle:  # tamper after pinning
        handle.write(b"\0")
    actual = file_digest(path, "sha256")

    result = run_role_tasks(tmp_path, "xnat", "stage_artifact.yml", xnat_vars(path, stage, pinned))

    assert result.returncode != 0
    assert "CHECKSUM MISMATCH, not installing" in result.stdout
    assert str(path) in result.stdout
    assert pinned in result.stdout
    assert actual in result.stdout
    assert not (stage / path.name).exists()


def test_missing_war_is_reported(tmp_path, war):
    path, stage = war
    result = run_role_tasks(
        tmp_path, "xnat", "stage_artifact.yml", xnat_vars(path.with_name("absent.war"), stage, "0" * 64)
    )
    assert result.returncode != 0
    assert "XNAT artifact not found on the controller" in result.stdout
    assert "absent.war" in result.stdout


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_tampered_download_is_rejected(tmp_path, war):
    path, stage = war
    pinned = file_digest(path, "sha256")
    with path.open("ab") as handle:
        handle.write(b"tampered")
    handler = functools.partial(_QuietHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        result = run_role_tasks(
            tmp_path, "xnat", "stage_artifact.yml", xnat_vars(path, stage, pinned, url=url)
        )
    finally:
        server.shutdown()
    assert result.returncode != 0
    assert "did not match" in result.stdout
    assert pinned in result.stdout
    assert not (stage / path.name).exists()


def test_tampered_tomcat_archive_is_rejected(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    archive = artifacts / "apache-tomcat-9.0.43.tar.gz"
    archive.write_bytes(b"stand-in archive bytes")
    pinned = hashlib.sha512(b"the archive Apache published").hexdigest()
    result = run_role_tasks(
        tmp_path,
        "tomcat",
        "stage_archive.yml",
        {
            "tomcat_version": "9.0.43",
            "tomcat_artifacts_dir": str(artifacts),
            "tomcat_stage_dir": str(tmp_path / "stage"),
            "tomcat_archive_sha512": pinned,
        },
    )
    assert result.returncode != 0
    assert "CHECKSUM MISMATCH, not installing" in result.stdout
    assert str(archive) in result.stdout
    assert pinned in result.stdout
    assert file_digest(archive, "sha512") in result.stdout
    assert not (tmp_path / "stage" / archive.name).exists()
