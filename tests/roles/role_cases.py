"""Run a role's task file on the controller once for many input cases, each case an inventory host.

One ansible-playbook run for all cases (each host fails or passes on its own), with the ansible.posix.json
callback, so the tests read each failed task's message as Ansible wrote it. The inventory is JSON, so every
input string arrives exactly (newlines, quotes, braces).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv/bin/ansible-playbook"


def run_cases(
    work: Path, role: str, tasks_from: str, cases: dict, *, common: dict, template: str | None = None
) -> dict[str, tuple[list[str], Path]]:
    """Include `role`'s `tasks_from` (vars public), then render the role's `template`, on every case.

    Returns {case: (messages of its failed tasks, where its template was rendered)}; `common` holds the
    variables every case shares. A case whose checks fail has no rendered file.
    """
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (work / "inventory.json").write_text(json.dumps({"all": {"vars": {**local, **common}, "hosts": cases}}))
    include = {"name": role, "tasks_from": tasks_from, "public": True}
    tasks = [{"name": f"Run {role}/{tasks_from}", "ansible.builtin.include_role": include}]
    if template:
        render = {
            "src": str(REPO / "roles" / role / "templates" / template),
            "dest": f"{work}/{{{{ inventory_hostname }}}}.rendered",
            "mode": "0644",
        }
        tasks.append({"name": f"Render {role}/{template}", "ansible.builtin.template": render})
    play = {
        "name": f"{role}/{tasks_from} on every case",
        "hosts": "all",
        "gather_facts": False,
        "tasks": tasks,
    }
    (work / "play.yml").write_text(yaml.safe_dump([play]))
    result = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(work / "inventory.json"), str(work / "play.yml")],
        cwd=REPO,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout.startswith("{"), result.stdout + result.stderr
    messages: dict[str, list[str]] = {case: [] for case in cases}
    for task in json.loads(result.stdout)["plays"][0]["tasks"]:
        for host, host_result in task["hosts"].items():
            for item in [host_result, *host_result.get("results", [])]:
                if item.get("failed"):
                    messages[host].append(item.get("msg", ""))
    return {case: (messages[case], work / f"{case}.rendered") for case in cases}


def listed_tasks(work: Path, role: str) -> list[str]:
    """`role`'s task names in the order a play runs them (`--list-tasks`), argument validation left out."""
    play = [{"name": role, "hosts": "localhost", "gather_facts": False, "roles": [role]}]
    (work / "play.yml").write_text(yaml.safe_dump(play))
    listing = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "--list-tasks", str(work / "play.yml")],
        cwd=REPO,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    prefix = f"{role} : "
    return [
        line.strip().split("\t")[0].removeprefix(prefix)
        for line in listing.stdout.splitlines()
        if prefix in line and "Validating arguments" not in line
    ]


def check_names(role: str) -> list[str]:
    """The names of the tasks in `role`'s tasks/checks.yml."""
    return [task["name"] for task in yaml.safe_load((REPO / "roles" / role / "tasks/checks.yml").read_text())]
