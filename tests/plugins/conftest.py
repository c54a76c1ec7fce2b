"""Run xnat_* modules the way users do: real ansible-playbook subprocesses with the repo's ansible.cfg.

``run_tasks(tasks, check=False, diff=False)`` writes a one-play playbook for localhost whose tasks
log in to the ``xnat_double`` fixture through the XNAT_* environment variables, runs it and returns
a ``PlayRun`` with each task's result (from the ansible.posix.json callback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@dataclass
class PlayRun:
    rc: int
    stdout: str
    stderr: str
    results: list[dict[str, Any]] = field(default_factory=list)

    def result(self, index: int = 0) -> dict[str, Any]:
        return self.results[index]

    @property
    def failed(self) -> bool:
        return any(r.get("failed") for r in self.results)


def ansible_env(extra: dict[str, str] | None = None, tmp_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    if tmp_path is not None:
        env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-tmp")
    env.update(extra or {})
    return env


def parse_json_callback(stdout: str) -> list[dict[str, Any]]:
    start = stdout.find("{")
    if start < 0:
        return []
    document = json.loads(stdout[start:])
    results = []
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            for host_result in task.get("hosts", {}).values():
                results.append(host_result)
    return results


@pytest.fixture
def run_tasks(xnat_double: Any, tmp_path: Path) -> Callable[..., PlayRun]:
    def run(
        tasks: list[dict[str, Any]],
        *,
        check: bool = False,
        diff: bool = False,
        env: dict[str, str] | None = None,
        user: str = "admin",
        password: str = "admin",
        extra_args: list[str] | None = None,
    ) -> PlayRun:
        play = [{"name": "xnat module test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        playbook = tmp_path / "play.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        xnat_env = {
            "XNAT_URL": xnat_double.url,
            "XNAT_USER": user,
            "XNAT_PASS": password,
            "XNAT_RETRY_TIMEOUT": "2",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        }
        xnat_env.update(env or {})
        command = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
        command += (["--check"] if check else []) + (["--diff"] if diff else []) + (extra_args or [])
        done = subprocess.run(
            command,
            cwd=tmp_path,
            env=ansible_env(xnat_env, tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return PlayRun(done.returncode, done.stdout, done.stderr, parse_json_callback(done.stdout))

    return run


@pytest.fixture
def initialised(xnat_double: Any) -> Any:
    """The double as an initialised site (most modules' precondition)."""
    xnat_double.seed({"site_config": {"initialized": True, "siteUrl": "http://xnat.test"}})
    return xnat_double
