"""scripts/xnat-double: the command-line launcher (always the project virtualenv) with a YAML seed file."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import requests

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "xnat-double"
SEED = """\
site_config: {initialized: true}
users:
  - {username: alice, password: pw, email: a@x.nhs.uk}
projects:
  - {id: CARDIO01, name: Cardio, owners: [alice]}
double: {dqr_api: legacy}
"""


def test_script_serves_a_seeded_double_on_a_free_port(tmp_path):
    seed = tmp_path / "seed.yml"
    seed.write_text(SEED, encoding="utf-8")
    # A python3 first on PATH that lacks the double's dependencies must not matter.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python3").write_text("#!/bin/sh\nexit 99\n")
    (fake_bin / "python3").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen(
        [str(SCRIPT), "--port", "0", "--seed", str(seed)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        banner = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
        assert (
            requests.get(f"{url}/data/auth", auth=("alice", "pw"), timeout=5).text
            == "User 'alice' is logged in"
        )
        assert requests.get(f"{url}/xapi/dqr/settings", auth=("admin", "admin"), timeout=5).status_code == 404
        assert requests.get(f"{url}/__double__/requests", timeout=5).json()[0]["user"] == "alice"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_script_rejects_a_bad_seed_with_exit_2(tmp_path):
    seed = tmp_path / "seed.yml"
    seed.write_text("projects:\n  - {id: P1, owners: [nobody]}\n", encoding="utf-8")
    result = subprocess.run(
        [str(SCRIPT), "--port", "0", "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown user 'nobody'" in result.stderr
