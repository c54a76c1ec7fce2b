"""xnat_project against the XNAT double: many projects in one task, membership, exclusive."""

from __future__ import annotations

USERS = [
    {"username": name, "password": "pw", "email": f"{name}@x.nhs.uk", "firstName": name, "lastName": "T"}
    for name in ("alice", "bob", "carol", "dave")
]


def project_task(projects, **args):
    return {"name": "projects", "xnat_enclave.xnat.xnat_project": {"projects": projects, **args}}


def cardio(**overrides):
    project = {
        "id": "CARDIO01",
        "name": "Cardiac MR",
        "description": "Cardiac study",
        "accessibility": "private",
        "prearchive_code": 4,
        "owners": ["alice"],
        "members": ["bob", "carol"],
        "collaborators": [],
    }
    project.update(overrides)
    # A key set to None is left out: that is how an item says "not managed" (Ansible refuses a null
    # value for an option with choices).
    return {key: value for key, value in project.items() if value is not None}


def members_of(state, project_id):
    project = state.projects[project_id]
    return {role: set(names) for role, names in project.members.items()}


def test_create_no_op_update_delete(initialised, run_tasks):
    initialised.seed({"users": USERS})
    neuro = {"id": "NEURO02", "name": "Neuro", "owners": ["dave"], "accessibility": "protected"}
    first = run_tasks([project_task([cardio(), neuro], exclusive=True)], diff=True).result()
    assert first["changed"] is True, first
    state = initialised.state
    assert members_of(state, "CARDIO01") == {
        "owner": {"alice"},
        "member": {"bob", "carol"},
        "collaborator": set(),
    }
    assert members_of(state, "NEURO02")["owner"] == {"dave"}
    assert state.projects["CARDIO01"].prearchive_code == 4
    assert state.projects["NEURO02"].accessibility == "protected"
    assert first["diff"]["before"]["CARDIO01"] == {}
    assert first["diff"]["after"]["CARDIO01"]["members"] == ["bob", "carol"]

    initialised.clear_requests()
    again = run_tasks([project_task([cardio(), neuro], exclusive=True)]).result()
    assert again["changed"] is False, [(p["updated"], p["removed"]) for p in again["projects"]]
    assert initialised.writes() == []

    moved = cardio(owners=["alice", "bob"], members=["carol"], description="New description")
    update = run_tasks([project_task([moved], exclusive=True)], diff=True).result()
    report = update["projects"][0]
    assert report["added"] == {"owners": ["bob"]}
    assert report["removed"] == {"members": ["bob"]}
    assert report["updated"] == ["description"]
    assert update["diff"]["before"]["CARDIO01"]["description"] == "Cardiac study"
    assert members_of(state, "CARDIO01")["owner"] == {"alice", "bob"}
    assert state.projects["CARDIO01"].description == "New description"

    gone = run_tasks([project_task([{"id": "NEURO02", "state": "absent"}])]).result()
    assert gone["projects"][0]["deleted"] is True
    assert "NEURO02" not in initialised.state.projects


def test_exclusive_false_keeps_unlisted_members(initialised, run_tasks):
    initialised.seed(
        {
            "users": USERS,
            "projects": [{"id": "CARDIO01", "name": "Cardiac MR", "owners": ["alice"], "members": ["dave"]}],
        }
    )
    run_tasks([project_task([cardio(prearchive_code=None)])])
    assert "dave" in initialised.state.projects["CARDIO01"].members["member"]
    run_tasks([project_task([cardio(prearchive_code=None)], exclusive=True)])
    assert "dave" not in initialised.state.projects["CARDIO01"].members["member"]


def test_check_mode_and_diff_send_no_write(initialised, run_tasks):
    initialised.seed({"users": USERS})
    result = run_tasks([project_task([cardio()], exclusive=True)], check=True, diff=True).result()
    assert result["changed"] is True
    assert result["diff"]["after"]["CARDIO01"]["owners"] == ["alice"]
    assert initialised.writes() == []
    assert "CARDIO01" not in initialised.state.projects


def test_unknown_user_and_bad_accessibility_fail_before_any_write(initialised, run_tasks):
    initialised.seed({"users": USERS})
    run = run_tasks(
        [
            dict(project_task([cardio(members=["bob", "mallory"])]), ignore_errors=True),
            project_task([cardio(accessibility="open")]),
        ]
    )
    unknown_user, bad_accessibility = run.results
    assert unknown_user["failed"] is True
    assert "mallory" in unknown_user["msg"] and "CARDIO01" in unknown_user["msg"]
    assert bad_accessibility["failed"] is True
    assert "accessibility" in bad_accessibility["msg"] and "open" in bad_accessibility["msg"]
    assert initialised.writes() == []


def test_many_projects_read_with_few_requests(initialised, run_tasks):
    initialised.seed({"users": USERS})
    projects = [
        {"id": f"P{index:03d}", "name": f"Project {index}", "owners": ["alice"], "members": ["bob", "carol"]}
        for index in range(30)
    ]
    run_tasks([project_task(projects, exclusive=True)])
    initialised.clear_requests()
    result = run_tasks([project_task(projects, exclusive=True)]).result()
    assert result["changed"] is False
    requests = initialised.requests()
    assert initialised.writes() == []
    # one user list, one project list, one member table per project
    assert len(requests) == 2 + len(projects)


def test_keywords_set_as_a_set_and_read_by_the_release_gate(initialised, run_tasks):
    initialised.seed({"users": USERS})
    marked = cardio(keywords=["cardiac", "enclave-requires-pixel-cleaning"])
    created = run_tasks([project_task([marked])], diff=True).result()
    assert created["changed"] is True
    assert initialised.state.projects["CARDIO01"].keywords == "cardiac enclave-requires-pixel-cleaning"
    assert created["diff"]["after"]["CARDIO01"]["keywords"] == ["cardiac", "enclave-requires-pixel-cleaning"]

    initialised.clear_requests()
    reordered = cardio(keywords=["enclave-requires-pixel-cleaning", "cardiac", "cardiac"])
    again = run_tasks([project_task([reordered])]).result()
    assert again["changed"] is False, again["projects"]
    assert initialised.writes() == []

    cleared = run_tasks([project_task([cardio(keywords=[])])], diff=True).result()
    assert cleared["projects"][0]["updated"] == ["keywords"]
    assert cleared["diff"]["before"]["CARDIO01"]["keywords"] == ["cardiac", "enclave-requires-pixel-cleaning"]
    assert initialised.state.projects["CARDIO01"].keywords == ""

    initialised.state.projects["CARDIO01"].keywords = "set-in-the-ui"
    unmanaged = run_tasks([project_task([cardio()])]).result()
    assert unmanaged["changed"] is False  # left out: not managed
    assert initialised.state.projects["CARDIO01"].keywords == "set-in-the-ui"


def test_keywords_in_check_mode_write_nothing(initialised, run_tasks):
    initialised.seed({"users": USERS, "projects": [{"id": "CARDIO01", "name": "Cardiac MR"}]})
    result = run_tasks(
        [project_task([{"id": "CARDIO01", "keywords": ["enclave-requires-defacing"]}])], check=True, diff=True
    ).result()
    assert result["changed"] is True
    assert result["actions"] == [
        "PUT /data/projects/CARDIO01?keywords=enclave-requires-defacing&xsiType=xnat%3AprojectData"
    ]
    assert initialised.state.projects["CARDIO01"].keywords == ""
