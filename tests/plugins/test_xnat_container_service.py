"""xnat_container_service against the XNAT double."""

from __future__ import annotations

import json
from pathlib import Path

COMMAND_FILE = (
    Path(__file__).resolve().parents[2] / "roles" / "xnat_config" / "files" / "dcm2niix-command.json"
)
SERVER = {
    "name": "Local socket",
    "host": "unix:///var/run/docker.sock",
    "backend": "DOCKER",
    "auto-cleanup": True,
}


def command_json(**overrides):
    document = json.loads(COMMAND_FILE.read_text())
    document.update(overrides)
    return json.dumps(document)


def container_task(**args):
    return {"name": "containers", "xnat_enclave.xnat.xnat_container_service": args}


def wrapper(projects=None, enabled=True):
    return {"command": "dcm2niix", "wrapper": "dcm2niix-scan", "enabled": enabled, "projects": projects or {}}


def test_server_command_wrappers_create_no_op_update(initialised, run_tasks):
    initialised.seed({"projects": [{"id": "CARDIO01", "name": "Cardio"}, {"id": "NEURO02", "name": "Neuro"}]})
    args = {
        "docker_server": SERVER,
        "commands": [{"json": command_json()}],
        "wrappers": [wrapper({"CARDIO01": True, "NEURO02": False})],
    }
    first = run_tasks([container_task(**args)]).result()
    assert first["changed"] is True, first
    state = initialised.state
    assert state.docker_server["host"] == SERVER["host"]
    [command] = state.commands.values()
    wrapper_id = command["xnat"][0]["id"]
    assert state.wrapper_site_enabled[wrapper_id] is True
    assert state.wrapper_project_enabled[(wrapper_id, "CARDIO01")] is True
    assert first["commands"][0]["action"] == "created"

    initialised.clear_requests()
    again = run_tasks([container_task(**args)]).result()
    assert again["changed"] is False, again["actions"]
    assert initialised.writes() == []

    changed = dict(
        args,
        commands=[{"json": command_json(description="new text")}],
        wrappers=[wrapper({"CARDIO01": False})],
    )
    update = run_tasks([container_task(**changed)], diff=True).result()
    assert update["commands"][0]["action"] == "updated"
    [command] = state.commands.values()
    assert command["description"] == "new text"
    assert command["xnat"][0]["id"] == wrapper_id, "an updated command keeps its wrapper ids"
    assert state.wrapper_project_enabled[(wrapper_id, "CARDIO01")] is False
    assert update["diff"]["after"]["project_wrappers"] == {"dcm2niix/dcm2niix-scan@CARDIO01": False}


def test_check_mode_sends_no_write(initialised, run_tasks):
    initialised.seed({"projects": [{"id": "CARDIO01", "name": "Cardio"}]})
    result = run_tasks(
        [
            container_task(
                docker_server=SERVER,
                commands=[{"json": command_json()}],
                wrappers=[wrapper({"CARDIO01": True})],
            )
        ],
        check=True,
    ).result()
    assert result["changed"] is True, result
    # XNAT already has the "Local socket" Docker server, so only the command and its wrapper are previewed.
    assert result["actions"] == [
        "POST /xapi/commands",
        "PUT /xapi/commands/(new)/wrappers/dcm2niix-scan/enabled",
        "PUT /xapi/projects/CARDIO01/commands/(new)/wrappers/dcm2niix-scan/enabled",
    ]
    assert initialised.writes() == []


def test_malformed_command_json_fails_before_any_request(initialised, run_tasks):
    result = run_tasks([container_task(commands=[{"json": '{"name": "dcm2niix", "image": "x",'}])]).result()
    assert result["failed"] is True
    assert "commands[0]: command JSON is not valid JSON" in result["msg"]
    assert initialised.requests() == []


def test_unknown_project_for_wrapper_fails_clearly(initialised, run_tasks):
    result = run_tasks(
        [container_task(commands=[{"json": command_json()}], wrappers=[wrapper({"NOPE99": True})])]
    ).result()
    assert result["failed"] is True
    assert "NOPE99" in result["msg"] and "unknown project" in result["msg"]
    assert initialised.writes() == []


def command_with_the_old_output_key():
    """Shaped like NRG's published dcm2niix command.json (docker-images 81e5803): the old output-handler
    key as-a-child-of-wrapper-input, and booleans written as strings."""
    document = json.loads(COMMAND_FILE.read_text())
    for mount in document["mounts"]:
        mount["writable"] = str(mount["writable"]).lower()
    [handler] = document["xnat"][0]["output-handlers"]
    handler["as-a-child-of-wrapper-input"] = handler.pop("as-a-child-of")
    handler.pop("tags")
    return document


def test_command_with_the_old_output_handler_key_converges_in_one_run(initialised, run_tasks):
    """The container service reads the old key at creation only (fidelity row 6): the module renames it."""
    task = container_task(commands=[{"json": json.dumps(command_with_the_old_output_key())}])
    assert run_tasks([task]).result()["commands"][0]["action"] == "created"
    [command] = initialised.state.commands.values()
    [handler] = command["xnat"][0]["output-handlers"]
    assert handler["as-a-child-of"] == "scan" and "as-a-child-of-wrapper-input" not in handler
    initialised.clear_requests()
    again = run_tasks([task]).result()
    assert again["changed"] is False, again
    assert initialised.writes() == []
    changed = command_with_the_old_output_key()
    changed["description"] = "changed"
    update = run_tasks([container_task(commands=[{"json": json.dumps(changed)}])]).result()
    assert update["commands"][0]["action"] == "updated", update
    assert next(iter(initialised.state.commands.values()))["description"] == "changed"
