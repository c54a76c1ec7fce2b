"""Run a playbook of the repository as a user would, with the JSON callback, and return its document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def run_playbook(playbook: str, inventory: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    """``ansible-playbook -i INVENTORY playbooks/PLAYBOOK EXTRA…``: the JSON callback's document plus
    ``rc`` and ``raw`` (stdout and stderr, for assertion messages and for what must never be printed)."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / playbook)]
    done = subprocess.run(
        [*command, *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    document = json.loads(done.stdout[start:])
    document["rc"] = done.returncode
    document["raw"] = done.stdout + done.stderr
    return document
