"""Container service and event service: 201 bodies, wrapper enablement by name, subscription validity."""

from __future__ import annotations

import json

import pytest

COMMAND = {
    "name": "dcm2niix",
    "version": "1.0",
    "image": "xnat/dcm2niix:1.0.20240202",
    "type": "docker",
    "command-line": "dcm2niix #OPTIONS# /input",
    "xnat": [{"name": "dcm2niix-scan", "contexts": ["xnat:imageScanData"]}],
}
SCAN_CREATED = {
    "event-type": "org.nrg.xnat.eventservice.events.ScanEvent",
    "status": "CREATED",
    "payload-filter": '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)',
}


@pytest.fixture(autouse=True)
def event_service_on(site):
    """A fresh XNAT has the event service switched off; these tests start with it on."""
    site.seed({"event_prefs": {"enabled": True}})


def register_command(admin) -> tuple[int, int]:
    created = admin("POST", "/xapi/commands", json=COMMAND)
    assert created.status_code == 201
    command_id = int(created.text)
    wrapper_id = admin("GET", f"/xapi/commands/{command_id}").json()["xnat"][0]["id"]
    return command_id, wrapper_id


def test_docker_server_default_update_and_ping(site, admin):
    assert admin("GET", "/xapi/docker/server").json()["host"] == "unix:///var/run/docker.sock"
    posted = admin(
        "POST",
        "/xapi/docker/server",
        json={"name": "Local", "host": "unix:///run/docker.sock", "auto-cleanup": True},
    )
    assert posted.status_code == 201
    assert admin("GET", "/xapi/docker/server").json()["host"] == "unix:///run/docker.sock"
    assert admin("GET", "/xapi/docker/server/ping").json() == "OK"
    site.seed({"double": {"docker_server": None}})
    assert admin("GET", "/xapi/docker/server").status_code == 404
    assert admin("GET", "/xapi/docker/server/ping").status_code == 424


def test_command_create_duplicate_malformed_update_delete(admin):
    command_id, wrapper_id = register_command(admin)
    assert admin("POST", "/xapi/commands", json=COMMAND).status_code == 400
    malformed = admin(
        "POST", "/xapi/commands", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert admin("POST", "/xapi/commands", json={"name": "x"}).status_code == 400
    changed = {**COMMAND, "command-line": "dcm2niix -z y /input"}
    assert admin("POST", f"/xapi/commands/{command_id}", json=changed).status_code == 200
    stored = admin("GET", f"/xapi/commands/{command_id}").json()
    assert stored["command-line"] == "dcm2niix -z y /input"
    assert stored["xnat"][0]["id"] == wrapper_id  # wrappers keep their id across updates
    assert admin("GET", "/xapi/commands", params={"name": "dcm2niix"}).json()[0]["id"] == command_id
    assert admin("DELETE", f"/xapi/commands/{command_id}").status_code == 204
    assert admin("GET", f"/xapi/commands/{command_id}").status_code == 404


def test_non_admin_command_writes_get_401_but_server_writes_403(as_user):
    response = as_user("carol")("POST", "/xapi/commands", data=json.dumps(COMMAND))
    assert response.status_code == 401
    server = as_user("carol")("POST", "/xapi/docker/server", json={"host": "unix:///x.sock"})
    assert server.status_code == 403


def test_wrapper_enablement_by_name_site_and_project(admin, as_user):
    command_id, wrapper_id = register_command(admin)
    base = f"/xapi/commands/{command_id}/wrappers/dcm2niix-scan"
    project = f"/xapi/projects/CARDIO01/commands/{command_id}/wrappers/dcm2niix-scan"
    assert admin("GET", f"{base}/enabled").json() is False  # disabled on the site until enabled
    assert admin("PUT", f"{project}/enabled").status_code == 200
    report = admin("GET", f"{project}/enabled").json()
    assert report == {"enabled-for-site": False, "enabled-for-project": False, "project": "CARDIO01"}
    assert admin("PUT", f"{base}/enabled").status_code == 200
    assert admin("GET", f"/xapi/wrappers/{wrapper_id}/enabled").json() is True
    assert admin("GET", f"{project}/enabled").json()["enabled-for-project"] is True
    assert as_user("bob")("PUT", f"{project}/disabled").status_code == 403  # member, not owner
    assert as_user("bob")("GET", f"{base}/enabled").status_code == 403
    assert as_user("alice")("PUT", f"{project}/disabled").status_code == 200
    assert admin("GET", f"{project}/enabled").json()["enabled-for-project"] is False
    assert admin("GET", f"{base}/disabled").status_code == 404
    assert admin("GET", f"/xapi/commands/{command_id}/wrappers/nope/enabled").status_code == 404


def subscription(wrapper_id, name="CARDIO01 dcm2niix", **extra):
    return {
        "name": name,
        "active": True,
        "action-key": f"org.nrg.containers.services.CommandActionProvider:{wrapper_id}",
        "event-filter": SCAN_CREATED,
        **extra,
    }


def test_project_subscription_needs_the_wrapper_enabled_for_the_project_first(admin):
    command_id, wrapper_id = register_command(admin)
    assert admin("PUT", "/xapi/events/prefs", json={"enabled": True}).ok
    refused = admin("POST", "/xapi/projects/CARDIO01/events/subscription", json=subscription(wrapper_id))
    assert refused.status_code == 424
    assert refused.text.startswith("Subscription format failed to validate.\nCould not validate Action")
    admin("PUT", f"/xapi/commands/{command_id}/wrappers/dcm2niix-scan/enabled")
    admin("PUT", f"/xapi/projects/CARDIO01/commands/{command_id}/wrappers/dcm2niix-scan/enabled")
    created = admin("POST", "/xapi/projects/CARDIO01/events/subscription", json=subscription(wrapper_id))
    assert created.status_code == 201
    name, _, subscription_id = created.text.rpartition(":")
    assert name == "CARDIO01 dcm2niix"
    stored = admin("GET", f"/xapi/events/subscription/{subscription_id}").json()
    assert (stored["valid"], stored["active"]) == (True, True)
    assert stored["event-filter"]["project-ids"] == ["CARDIO01"]
    assert stored["subscription-owner"] == "admin"


def test_validity_is_worked_out_on_read(admin):
    command_id, wrapper_id = register_command(admin)
    admin("PUT", f"/xapi/commands/{command_id}/wrappers/dcm2niix-scan/enabled")
    admin("PUT", f"/xapi/projects/CARDIO01/commands/{command_id}/wrappers/dcm2niix-scan/enabled")
    created = admin("POST", "/xapi/projects/CARDIO01/events/subscription", json=subscription(wrapper_id))
    subscription_id = created.text.rpartition(":")[2]
    admin("PUT", f"/xapi/projects/CARDIO01/commands/{command_id}/wrappers/dcm2niix-scan/disabled")
    listed = admin("GET", "/xapi/projects/CARDIO01/events/subscriptions").json()
    assert (listed[0]["valid"], listed[0]["editable"]) == (False, True)
    assert "CARDIO01" in listed[0]["validation-message"]
    update = admin("PUT", f"/xapi/events/subscription/{subscription_id}", json={"active": False})
    assert update.status_code == 424  # updates are validated too


def test_activate_deactivate_delete(admin):
    command_id, wrapper_id = register_command(admin)
    admin("PUT", f"/xapi/commands/{command_id}/wrappers/dcm2niix-scan/enabled")
    created = admin("POST", "/xapi/events/subscription", json=subscription(wrapper_id, name="site-wide"))
    subscription_id = created.text.rpartition(":")[2]
    assert admin("POST", f"/xapi/events/subscription/{subscription_id}/deactivate").status_code == 200
    assert admin("GET", f"/xapi/events/subscription/{subscription_id}").json()["active"] is False
    assert admin("POST", f"/xapi/events/subscription/{subscription_id}/activate").status_code == 200
    assert admin("DELETE", f"/xapi/events/subscription/{subscription_id}").status_code == 204
    assert admin("GET", "/xapi/events/subscriptions").json() == []


def test_blank_names_are_generated_and_names_need_not_be_unique(admin):
    log_key = "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction:x"
    body = {"action-key": log_key, "event-filter": SCAN_CREATED}
    assert admin("POST", "/xapi/events/subscription", json=body).text.startswith(
        "Action on Scan Event CREATED for Site:"
    )
    second = admin("POST", "/xapi/events/subscription", json=body).text
    assert second.startswith("Action on Scan Event CREATED for Site v2:")
    for _ in range(2):
        assert admin("POST", "/xapi/events/subscription", json={**body, "name": "same"}).status_code == 201


def test_subscription_validation_failures_are_424(admin):
    log_key = "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction:x"
    good = {"name": "s", "action-key": log_key, "event-filter": SCAN_CREATED}
    assert admin("POST", "/xapi/events/subscription", json=good).status_code == 201
    for bad in (
        {**good, "action-key": "nocolon"},
        {**good, "action-key": "org.example.Unknown:1"},
        {**good, "action-key": "org.nrg.containers.services.CommandActionProvider:999"},
        {**good, "event-filter": {**SCAN_CREATED, "event-type": "x.Nope"}},
        {**good, "event-filter": {**SCAN_CREATED, "status": "DELETED"}},
        {**good, "event-filter": {**SCAN_CREATED, "payload-filter": "$[?(@.x)]"}},
        {**good, "event-filter": None},
    ):
        response = admin("POST", "/xapi/events/subscription", json=bad)
        assert response.status_code == 424, bad
        assert response.text.startswith("Subscription format failed to validate.")


def test_project_subscriptions_need_owner(as_user):
    log_key = "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction:x"
    body = {"name": "x", "action-key": log_key, "event-filter": SCAN_CREATED}
    assert as_user("bob")("POST", "/xapi/projects/CARDIO01/events/subscription", json=body).status_code == 403
    assert (
        as_user("alice")("POST", "/xapi/projects/CARDIO01/events/subscription", json=body).status_code == 201
    )
    assert as_user("alice")("GET", "/xapi/events/subscriptions").status_code == 403


def test_event_service_starts_disabled_and_then_refuses_subscriptions(xnat_double, admin):
    xnat_double.reset()
    xnat_double.seed({"site_config": {"initialized": True}})
    assert admin("GET", "/xapi/events/prefs").json() == {"enabled": False}
    assert admin("GET", "/xapi/events/subscriptions").text == ""
    body = {
        "name": "x",
        "action-key": "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction:x",
        "event-filter": SCAN_CREATED,
    }
    assert admin("POST", "/xapi/events/subscription", json=body).status_code == 500


def test_plugins_keyed_by_id(admin):
    plugins = admin("GET", "/xapi/plugins").json()
    assert {"containers", "dicom-query-retrieve"} <= set(plugins)
    assert plugins["containers"]["id"] == "containers"
    assert admin("GET", "/xapi/plugins/nope").status_code == 404
