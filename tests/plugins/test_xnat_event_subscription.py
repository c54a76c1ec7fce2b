"""xnat_event_subscription against the XNAT double (with a registered dcm2niix command)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

COMMAND_FILE = (
    Path(__file__).resolve().parents[2] / "roles" / "xnat_config" / "files" / "dcm2niix-command.json"
)
SCAN_EVENT = "org.nrg.xnat.eventservice.events.ScanEvent"
DICOM_FILTER = '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)'


def setup_tasks(project_flags):
    return [
        {
            "name": "command",
            "xnat_enclave.xnat.xnat_container_service": {
                "commands": [{"json": COMMAND_FILE.read_text()}],
                "wrappers": [
                    {
                        "command": "dcm2niix",
                        "wrapper": "dcm2niix-scan",
                        "enabled": True,
                        "projects": project_flags,
                    }
                ],
            },
        }
    ]


def subscription(project, **overrides):
    item = {
        "name": f"{project} dcm2niix",
        "project": project,
        "event_type": SCAN_EVENT,
        "status": "CREATED",
        "payload_filter": DICOM_FILTER,
        "command": "dcm2niix",
        "wrapper": "dcm2niix-scan",
        "active": True,
    }
    item.update(overrides)
    return item


def subscription_task(items, **args):
    """A fresh XNAT's event service may be off; every task here makes sure it is on."""
    return {
        "name": "subscriptions",
        "xnat_enclave.xnat.xnat_event_subscription": {
            "subscriptions": items,
            "prefs": {"enabled": True},
            **args,
        },
    }


@pytest.fixture
def with_projects(initialised):
    initialised.seed({"projects": [{"id": "CARDIO01", "name": "Cardio"}, {"id": "NEURO02", "name": "Neuro"}]})
    return initialised


def by_name(state):
    return {s["name"]: s for s in state.subscriptions.values()}


def test_create_no_op_update_delete(with_projects, run_tasks):
    items = [subscription("CARDIO01"), subscription("NEURO02", active=False)]
    run = run_tasks(
        [*setup_tasks({"CARDIO01": True, "NEURO02": True}), subscription_task(items, prefs={"enabled": True})]
    )
    result = run.result(1)
    assert result["changed"] is True, result
    subs = by_name(with_projects.state)
    assert subs["CARDIO01 dcm2niix"]["active"] is True
    assert subs["NEURO02 dcm2niix"]["active"] is False
    assert subs["CARDIO01 dcm2niix"]["event-filter"]["project-ids"] == ["CARDIO01"]
    cardio_id = subs["CARDIO01 dcm2niix"]["id"]

    with_projects.clear_requests()
    again = run_tasks([subscription_task(items)]).result()
    assert again["changed"] is False, again
    assert with_projects.writes() == []

    switched = [subscription("CARDIO01", active=False), subscription("NEURO02", active=True)]
    update = run_tasks([subscription_task(switched)], diff=True).result()
    assert update["changed"] is True
    assert update["diff"]["after"]["NEURO02 dcm2niix"] == {"active": True}
    subs = by_name(with_projects.state)
    assert subs["CARDIO01 dcm2niix"]["active"] is False
    assert subs["CARDIO01 dcm2niix"]["id"] == cardio_id, "an updated subscription keeps its id"

    gone = run_tasks([subscription_task([subscription("NEURO02", state="absent")])]).result()
    assert gone["subscriptions"][0]["action"] == "deleted"
    assert "NEURO02 dcm2niix" not in by_name(with_projects.state)


def test_check_mode_sends_no_write(with_projects, run_tasks):
    run_tasks(setup_tasks({"CARDIO01": True}))
    with_projects.clear_requests()
    result = run_tasks([subscription_task([subscription("CARDIO01")])], check=True, diff=True).result()
    assert result["changed"] is True
    assert result["diff"]["after"]["CARDIO01 dcm2niix"]["event-filter"]["project-ids"] == ["CARDIO01"]
    assert with_projects.writes() == []


def test_subscription_xnat_cannot_resolve_fails_clearly(with_projects, run_tasks):
    """The wrapper is enabled for CARDIO01 only: XNAT refuses (or stores invalid) the NEURO02 one."""
    run_tasks(setup_tasks({"CARDIO01": True}))
    result = run_tasks([subscription_task([subscription("NEURO02")])]).result()
    assert result["failed"] is True
    assert "NEURO02" in result["msg"]
    assert "HTTP 424" in result["msg"] and "failed to validate" in result["msg"], result["msg"]


def test_unknown_project_and_unknown_wrapper_fail_before_any_write(with_projects, run_tasks):
    run_tasks(setup_tasks({"CARDIO01": True}))
    with_projects.clear_requests()
    unknown_project = dict(subscription_task([subscription("NOPE99")]), ignore_errors=True)
    unknown_wrapper = subscription_task([subscription("CARDIO01", wrapper="no-such-wrapper")])
    run = run_tasks([unknown_project, unknown_wrapper])
    assert run.result(0)["failed"] is True
    assert "NOPE99" in run.result(0)["msg"]
    assert run.result(1)["failed"] is True
    assert "no-such-wrapper" in run.result(1)["msg"]
    assert with_projects.writes() == []


# --- converging on XNAT's own semantics (fidelity rows 1, 2, 4 and 14) --------------------------------
VALIDATE_PATH = "/xapi/events/subscription/filter/validate"


def subscription_writes(double):
    """The writes that change XNAT (the payload filter check is a POST that does not)."""
    return [w for w in double.writes() if w["path"] != VALIDATE_PATH]


@pytest.fixture
def with_command(with_projects, run_tasks):
    with_projects.seed({"event_prefs": {"enabled": True}})
    assert run_tasks(setup_tasks({"CARDIO01": True, "NEURO02": True})).rc == 0
    with_projects.clear_requests()
    return with_projects


def test_dropping_the_payload_filter_clears_it_in_one_run(with_command, run_tasks):
    """XNAT keeps a payload filter an update leaves null; the module sends "" (row 1)."""
    assert run_tasks([subscription_task([subscription("CARDIO01")])]).result()["changed"] is True
    without_filter = subscription("CARDIO01", payload_filter=None)
    dropped = run_tasks([subscription_task([without_filter])]).result()
    assert dropped["subscriptions"][0]["action"] == "updated", dropped
    [stored] = with_command.state.subscriptions.values()
    assert not stored["event-filter"]["payload-filter"], "the old filter is gone"
    with_command.clear_requests()
    assert run_tasks([subscription_task([without_filter])]).result()["changed"] is False
    assert with_command.writes() == []


def test_project_subscription_acting_as_the_event_user_converges_in_one_run(with_command, run_tasks):
    """Created on the site route with project-ids [project], as NRG's client does (row 2)."""
    item = subscription("CARDIO01", act_as_event_user=True)
    created = run_tasks([subscription_task([item])]).result()
    assert created["actions"] == ["POST /xapi/events/subscription"], created["actions"]
    [stored] = with_command.state.subscriptions.values()
    assert stored["act-as-event-user"] is True
    assert stored["event-filter"]["project-ids"] == ["CARDIO01"]
    with_command.clear_requests()
    assert run_tasks([subscription_task([item])]).result()["changed"] is False
    assert with_command.writes() == []


def test_a_payload_filter_xnat_cannot_compile_fails_before_any_write(with_command, run_tasks):
    """XNAT compiles the filter first (row 4); nothing is created, not even the good subscription."""
    items = [subscription("CARDIO01"), subscription("NEURO02", payload_filter="@.label = 'DICOM'")]
    result = run_tasks([subscription_task(items)]).result()
    assert result["failed"] is True
    assert "NEURO02 dcm2niix" in result["msg"] and "cannot compile its payload_filter" in result["msg"]
    assert "Nothing was changed" in result["msg"]
    assert subscription_writes(with_command) == []
    assert with_command.state.subscriptions == {}


def test_check_mode_does_not_post_the_payload_filter_check(with_command, run_tasks):
    broken = subscription("CARDIO01", payload_filter="@.label = 'DICOM'")
    assert run_tasks([subscription_task([broken])], check=True).result()["changed"] is True
    assert with_command.writes() == []


def create_directly(double, name, project):
    """A subscription made outside the module (the UI, or a script), through XNAT's REST API."""
    wrapper_id = next(w["id"] for c in double.state.commands.values() for w in c["xnat"])
    body = {
        "name": name,
        "action-key": f"org.nrg.containers.services.CommandActionProvider:{wrapper_id}",
        "event-filter": {"event-type": SCAN_EVENT, "status": "CREATED", "project-ids": [project]},
    }
    answer = requests.post(
        f"{double.url}/xapi/events/subscription", json=body, auth=("admin", "admin"), timeout=5
    )
    assert answer.status_code == 201, answer.text
    return int(answer.text.rpartition(":")[2])


def test_duplicate_names_in_xnat_fail_before_any_write(with_command, run_tasks):
    """XNAT does not keep names unique (row 14): the task cannot tell which one it manages."""
    first = create_directly(with_command, "CARDIO01 dcm2niix", "CARDIO01")
    second = create_directly(with_command, "CARDIO01 dcm2niix", "CARDIO01")
    with_command.clear_requests()
    result = run_tasks([subscription_task([subscription("CARDIO01", active=False)])]).result()
    assert result["failed"] is True
    assert f"ids {first}, {second}" in result["msg"] and "not unique" in result["msg"], result["msg"]
    assert with_command.writes() == []
    assert all(s["active"] for s in with_command.state.subscriptions.values())


def test_removing_the_status_of_an_existing_subscription_fails_clearly(with_command, run_tasks):
    assert run_tasks([subscription_task([subscription("CARDIO01")])]).result()["changed"] is True
    with_command.clear_requests()
    result = run_tasks([subscription_task([subscription("CARDIO01", status=None)])]).result()
    assert result["failed"] is True
    assert "keeps the status CREATED" in result["msg"] and "state: absent" in result["msg"]
    assert with_command.writes() == []
