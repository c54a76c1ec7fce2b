"""The access_list_projects filter: the membership the configure playbook applies."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[3]


def load_filter():
    spec = importlib.util.spec_from_file_location(
        "access_list_filter", REPO / "plugins/filter/access_list.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["access_list_projects"]


access_list_projects = load_filter()

ACCESS = yaml.safe_load(
    """
trust: trust-a
admins: [alice]
dormant_after_days: 90
projects:
  ZETA:
    approval: IRAS 1
    end_date: 2026-01-31
    owners: [{user: olga, expires: 2027-01-01}]
  CARDIO01:
    name: Cardio
    approval: IRAS 123456
    end_date: 2027-03-31
    accessibility: protected
    owners: [{user: bob, expires: 2027-03-31}]
    members: [{user: carol, expires: 2026-12-31}, {user: dan, expires: 2026-06-30}]
    collaborators: []
"""
)


def test_current_memberships_are_kept_and_expired_ones_dropped():
    projects = access_list_projects(ACCESS, today="2026-07-01")
    assert [project["id"] for project in projects] == ["CARDIO01", "ZETA"]
    cardio = projects[0]
    assert cardio == {
        "id": "CARDIO01",
        "name": "Cardio",
        "description": "",
        "accessibility": "protected",
        "owners": ["bob"],
        "members": ["carol"],
        "collaborators": [],
    }


def test_expiry_date_is_the_last_valid_day():
    assert access_list_projects(ACCESS, today="2026-12-31")[0]["members"] == ["carol"]
    assert access_list_projects(ACCESS, today="2027-01-01")[0]["members"] == []


def test_project_past_end_date_is_emptied_but_kept():
    zeta = access_list_projects(ACCESS, today=date(2026, 7, 1))[1]
    assert zeta["id"] == "ZETA"
    assert zeta["name"] == "ZETA"
    assert zeta["accessibility"] == "private"
    assert (zeta["owners"], zeta["members"], zeta["collaborators"]) == ([], [], [])


def test_bad_input_raises_a_filter_error_naming_the_place():
    with pytest.raises(AnsibleFilterError, match="expected the parsed access list"):
        access_list_projects(["not", "a", "mapping"])
    broken = {"projects": {"P1": {"end_date": "2027-01-01", "owners": [{"user": "x", "expires": "soon"}]}}}
    with pytest.raises(AnsibleFilterError, match=r"projects.P1.owners\[0\].expires: 'soon'"):
        access_list_projects(broken, today="2026-01-01")


def test_filter_works_inside_ansible(tmp_path: Path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        """---
- name: Render the approved projects
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Load the access list
      ansible.builtin.include_vars:
        file: "{{ repo }}/inventories/trusts/access/trust_a.yml"
        name: access
    - name: Write the projects
      ansible.builtin.copy:
        content: "{{ access | access_list_projects(today='2026-11-01') | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""
    )
    config = tmp_path / "ansible.cfg"
    config.write_text(
        f"[defaults]\nfilter_plugins = {REPO / 'plugins/filter'}\nstdout_callback = ansible.builtin.default\n"
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            f"repo={REPO}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"out={tmp_path / 'projects.json'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    projects = json.loads((tmp_path / "projects.json").read_text())
    assert [(project["id"], project["members"]) for project in projects] == [
        ("CARDIO01", ["carol"]),
        ("NEURO02", ["erin", "carol"]),
    ]
