"""xnat_event_subscription against the XNAT double (with a registered dcm2niix command)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
