"""The access_list lookup: the membership the configure playbook applies, from the one access-list loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from ansible_collections.xnat_enclave.xnat.plugins.lookup.access_list import projects_for_xnat

from compliance.access.accesslist import parse_access_list

REPO = Path(__file__).resolve().parents[2]
ACCESS_TEXT = """\
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
ACCESS = parse_access_list(ACCESS_TEXT, "trust_a.yml")


def test_current_memberships_are_kept_and_expired_ones_dropped():
    projects = projects_for_xnat(ACCESS, date(2026, 7, 1))
    assert [project["id"] for project in projects] == ["CARDIO01", "ZETA"]
    assert projects[0] == {
        "id": "CARDIO01",
        "name": "Cardio",
        "description": "",
        "accessibility": "protected",
        "owners": ["bob"],
        "members": ["carol"],
        "collaborators": [],
    }


def test_expiry_and_end_dates_are_the_last_approved_day():
    assert projects_for_xnat(ACCESS, date(2026, 12, 31))[0]["members"] == ["carol"]
    assert projects_for_xnat(ACCESS, date(2027, 1, 1))[0]["members"] == []
    assert projects_for_xnat(ACCESS, date(2027, 3, 31))[0]["owners"] == ["bob"], "the end date itself counts"
    assert projects_for_xnat(ACCESS, date(2027, 4, 1))[0]["owners"] == []


def test_project_past_end_date_is_emptied_but_kept():
    zeta = projects_for_xnat(ACCESS, date(2026, 7, 1))[1]
    assert (zeta["id"], zeta["name"], zeta["accessibility"]) == ("ZETA", "ZETA", "private")
    assert (zeta["owners"], zeta["members"], zeta["collaborators"]) == ([], [], [])


def run_lookup(tmp_path: Path, access_file: Path) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        """---
- name: Render the approved projects
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the projects
      ansible.builtin.copy:
        content: "{{ lookup('xnat_enclave.xnat.access_list', access, today='2026-11-01') | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""
    )
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            f"access={access_file}",
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
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )


def test_lookup_works_inside_ansible_on_the_reference_list(tmp_path: Path):
    result = run_lookup(tmp_path, REPO / "inventories/trusts/access/trust_a.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    projects = json.loads((tmp_path / "projects.json").read_text())
    assert [(project["id"], project["members"]) for project in projects] == [
        ("CARDIO01", ["carol"]),
        ("NEURO02", ["erin", "carol"]),
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("members:", "memebers:"), "trust_a.yml:11:5: projects.CARDIO01: unknown key 'memebers'"),
        (("end_date: 2027-03-31", "end-date: 2027-03-31"), "unknown key 'end-date'"),
        (("expires: 2027-03-31}", "expires: 2030-13-45}"), "'2030-13-45' is not a real calendar date"),
    ],
)
def test_a_broken_list_fails_with_file_line_and_column(tmp_path: Path, change, expected):
    text = ACCESS_TEXT.replace("  ZETA:\n    approval: IRAS 1\n    end_date: 2026-01-31\n", "")
    text = text.replace("    owners: [{user: olga, expires: 2027-01-01}]\n", "").replace(*change)
    broken = tmp_path / "trust_a.yml"
    broken.write_text(text)
    result = run_lookup(tmp_path, broken)
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "the access list is not valid" in output
    assert f"{broken}:" in output and expected in output, output[-1500:]
