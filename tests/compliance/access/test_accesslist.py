"""The access-list loader: valid lists load, and every problem names its file, line and what is wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from compliance.access.accesslist import AccessListError, load_access_list, parse_access_list

VALID = """\
---
trust: trust-a
admins: [svc_xnat, alice]
dormant_after_days: 90
projects:
  CARDIO01:
    approval: IRAS 123456
    end_date: 2027-03-31
    owners: [{user: bob, expires: 2027-03-31}]
    members: [{user: carol, expires: 2026-12-31}]
    collaborators: []
"""


def problems_of(text: str, source: str = "trust_a.yml") -> list:
    with pytest.raises(AccessListError) as raised:
        parse_access_list(text, source)
    return raised.value.problems


def test_valid_list_loads_with_dates_roles_and_admins():
    access = parse_access_list(VALID, "trust_a.yml")
    assert access.trust == "trust-a"
    assert access.admins == {"svc_xnat", "alice"}
    assert access.dormant_after_days == 90
    project = access.projects["CARDIO01"]
    assert project.approval == "IRAS 123456"
    assert project.end_date == date(2027, 3, 31)
    assert project.grant_for("bob").role == "owner"
    assert project.grant_for("carol").expires == date(2026, 12, 31)
    assert project.grant_for("nobody") is None
    assert access.approved_users() == {"svc_xnat", "alice", "bob", "carol"}


def test_unknown_key_is_reported_on_its_own_line():
    text = VALID + "    colour: red\n"
    [problem] = problems_of(text)
    assert (problem.source, problem.line) == ("trust_a.yml", 12)
    assert "unknown key 'colour'" in problem.message
    assert problem.path == "projects.CARDIO01"
    assert str(problem).startswith("trust_a.yml:12:5: projects.CARDIO01: unknown key 'colour'")


def test_missing_expiry_points_at_the_grant():
    text = VALID.replace("members: [{user: carol, expires: 2026-12-31}]", "members:\n      - user: carol")
    [problem] = problems_of(text)
    assert problem.line == 11
    assert problem.path == "projects.CARDIO01.members[0]"
    assert "'expires' is a required property" in problem.message


def test_badly_written_and_impossible_dates_are_reported_with_lines():
    bad_form = VALID.replace("end_date: 2027-03-31", "end_date: 31/03/2027")
    [problem] = problems_of(bad_form)
    assert (problem.line, problem.path) == (8, "projects.CARDIO01.end_date")
    assert "not a date in YYYY-MM-DD form" in problem.message
    impossible = VALID.replace("expires: 2026-12-31", "expires: 2026-02-30")
    [problem] = problems_of(impossible)
    assert (problem.line, problem.path) == (10, "projects.CARDIO01.members[0].expires")
    assert "not a real calendar date" in problem.message


def test_several_problems_are_all_reported_in_line_order():
    text = VALID.replace("dormant_after_days: 90", "dormant_after_days: soon").replace(
        "approval: IRAS 123456", "approval: ''"
    )
    problems = problems_of(text)
    assert [problem.line for problem in problems] == [4, 7]
    assert "is not of type 'integer'" in problems[0].message


def test_missing_top_level_key_and_wrong_type():
    problems = problems_of("---\ntrust: trust-a\nadmins: alice\ndormant_after_days: 90\n")
    messages = " | ".join(problem.message for problem in problems)
    assert "'projects' is a required property" in messages
    assert "'alice' is not of type 'array'" in messages
    assert {problem.line for problem in problems} == {2, 3}  # the document starts after ---


def test_user_listed_under_two_roles_is_rejected():
    text = VALID.replace("collaborators: []", "collaborators: [{user: bob, expires: 2027-01-01}]")
    [problem] = problems_of(text)
    assert problem.line == 11
    assert "already listed under owners" in problem.message


def test_duplicate_keys_are_rejected_with_both_lines():
    text = VALID + "  CARDIO01:\n    approval: again\n"
    problems = problems_of(text)
    assert problems[0].line == 12
    assert "duplicate key 'CARDIO01' (first defined on line 6)" in problems[0].message


def test_yaml_syntax_error_gives_line_and_column():
    [problem] = problems_of("---\ntrust: [unclosed\nadmins: []\n")
    assert problem.line >= 2
    assert problem.message.startswith("YAML syntax error")


def test_empty_and_unreadable_files(tmp_path: Path):
    empty = tmp_path / "empty.yml"
    empty.write_text("---\n")
    with pytest.raises(AccessListError, match=r"empty\.yml:1:1: the access list is empty"):
        load_access_list(empty)
    with pytest.raises(AccessListError, match="cannot read the access list"):
        load_access_list(tmp_path / "absent.yml")


def test_inventory_access_lists_are_valid():
    inventories = Path(__file__).resolve().parents[3] / "inventories"
    files = sorted(inventories.glob("*/access/*.yml"))
    assert files, "the trusts inventory ships access lists"
    for path in files:
        access = load_access_list(path)
        assert access.projects, path


def test_complex_key_is_rejected_with_its_line():
    [problem] = problems_of(VALID + "  ? [a, b]\n  : {approval: x}\n")
    assert problem.line == 12
    assert "a key must be plain text" in problem.message
