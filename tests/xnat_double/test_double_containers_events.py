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


def subscription(wrapper_id, name="CARDIO01 dcm2niix", projects=("CARDIO01",), **extra):
    return {
        "name": name,
        "active": True,
        "action-key": f"org.nrg.containers.services.CommandActionProvider:{wrapper_id}",
        "event-filter": {**SCAN_CREATED, "project-ids": list(projects)},
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
    action_key = f"org.nrg.containers.services.CommandActionProvider:{wrapper_id}"
    assert listed[0]["validation-message"] == f"Could not validate Action: {action_key}\n{action_key}"
    update = admin("PUT", f"/xapi/events/subscription/{subscription_id}", json={"active": False})
    assert update.status_code == 424  # updates are validated too


def test_activate_deactivate_delete(admin):
    command_id, wrapper_id = register_command(admin)
    admin("PUT", f"/xapi/commands/{command_id}/wrappers/dcm2niix-scan/enabled")
    site_wide = subscription(wrapper_id, name="site-wide", projects=())
    created = admin("POST", "/xapi/events/subscription", json=site_wide)
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
        {**good, "event-filter": {**SCAN_CREATED, "payload-filter": "$[?(@.x)]"}},
    ):
        response = admin("POST", "/xapi/events/subscription", json=bad)
        assert response.status_code == 424, bad
        assert response.text.startswith("Subscription format failed to validate.")
    # EventFilter.create(null) dereferences the missing filter; validate() does not check the status.
    assert admin("POST", "/xapi/events/subscription", json={**good, "event-filter": None}).status_code == 500
    odd_status = {**good, "event-filter": {**SCAN_CREATED, "status": "DELETED"}}
    assert admin("POST", "/xapi/events/subscription", json=odd_status).status_code == 201


def test_project_subscriptions_need_owner(as_user):
    log_key = "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction:x"
    body = {"name": "x", "action-key": log_key, "event-filter": {**SCAN_CREATED, "project-ids": ["CARDIO01"]}}
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


# --- fidelity rows of the event service and the container service ------------------------------------
LOG_KEY = "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction:x"
DICOM_FILTER = SCAN_CREATED["payload-filter"]


def create_logged(admin, route="/xapi/events/subscription", **fields):
    body = {
        "name": "logged",
        "active": True,
        "action-key": LOG_KEY,
        "event-filter": {**SCAN_CREATED, "project-ids": ["CARDIO01"]},
        **fields,
    }
    created = admin("POST", route, json=body)
    assert created.status_code == 201, created.text
    return int(created.text.rpartition(":")[2])


def test_update_keeps_an_absent_payload_filter_resets_attributes_and_replaces_project_ids(admin):
    """Fidelity row 1: SubscriptionUpdate/Subscription.update/EventFilter.update semantics."""
    subscription_id = create_logged(admin, attributes={"k": "v"}, **{"act-as-event-user": True})
    path = f"/xapi/events/subscription/{subscription_id}"
    no_filter_key = {"event-type": SCAN_CREATED["event-type"], "project-ids": ["CARDIO01"]}
    assert admin("PUT", path, json={"event-filter": {**no_filter_key, "payload-filter": None}}).ok
    stored = admin("GET", path).json()
    assert stored["event-filter"]["payload-filter"] == DICOM_FILTER, "null keeps the old filter"
    assert stored["attributes"] == {} and stored["act-as-event-user"] is False, "absent → {} and false"
    assert stored["event-filter"]["status"] == "CREATED" and stored["name"] == "logged"
    assert admin("PUT", path, json={"event-filter": {**no_filter_key, "payload-filter": ""}}).ok
    assert admin("GET", path).json()["event-filter"]["payload-filter"] == "", '"" clears it'
    assert admin("PUT", path, json={"event-filter": {"event-type": SCAN_CREATED["event-type"]}}).ok
    assert "project-ids" not in admin("GET", path).json()["event-filter"], "replaced: now site-wide"
    assert admin("PUT", path, json={"active": False}).ok
    kept = admin("GET", path).json()
    assert kept["active"] is False and "project-ids" not in kept["event-filter"], "no filter: kept"


def test_project_route_create_stores_act_as_event_user_false_and_checks_project_ids(admin, as_user):
    """Fidelity row 2: createOnProject drops act-as-event-user; project-ids are checked, not rewritten."""
    route = "/xapi/projects/CARDIO01/events/subscription"
    on_project = create_logged(admin, route, **{"act-as-event-user": True})
    assert admin("GET", f"/xapi/events/subscription/{on_project}").json()["act-as-event-user"] is False
    on_site = create_logged(admin, **{"act-as-event-user": True})
    assert admin("GET", f"/xapi/events/subscription/{on_site}").json()["act-as-event-user"] is True
    for projects in ([], ["NEURO02"], None):
        body = {"action-key": LOG_KEY, "event-filter": {**SCAN_CREATED, "project-ids": projects}}
        refused = admin("POST", route, json=body)
        assert refused.status_code == 401, projects
        assert refused.text.startswith("Unauthorized.\nadmin not authorized to modify subscriptions")


def test_project_routes_read_site_wide_subscriptions_but_cannot_change_them(admin):
    """Fidelity row 3: checkReadProjectSubscriptionAccess lets site-wide subscriptions be read."""
    site_wide = create_logged(admin, **{"event-filter": SCAN_CREATED})
    other = create_logged(admin, **{"event-filter": {**SCAN_CREATED, "project-ids": ["NEURO02"]}})
    base = "/xapi/projects/CARDIO01/events"
    assert admin("GET", f"{base}/subscription/{site_wide}").json()["editable"] is False
    assert admin("GET", f"{base}/subscription/{other}").status_code == 401
    listed = admin("GET", f"{base}/subscriptions").json()
    assert [(s["id"], s["editable"]) for s in listed] == [(site_wide, False)]
    assert admin("POST", f"{base}/subscription/{site_wide}/deactivate").status_code == 401
    assert admin("DELETE", f"{base}/subscription/{site_wide}").status_code == 401


def test_payload_filters_are_compiled_as_jayway_json_path(admin):
    """Fidelity row 4: "$[?(" + filter + ")]" must compile (Jayway 2.8.0), on create, update and read."""
    for broken in ("@.label = 'DICOM'", "(@.resources.length() > 0", "@.label == 'DICOM", "'DICOM'"):
        body = {"action-key": LOG_KEY, "event-filter": {**SCAN_CREATED, "payload-filter": broken}}
        refused = admin("POST", "/xapi/events/subscription", json=body)
        assert refused.status_code == 424, broken
        assert refused.text.startswith("Subscription format failed to validate.\nCould not compile jsonPath")
        validated = admin("POST", "/xapi/events/subscription/filter/validate", data=broken)
        assert validated.status_code == 424, broken
        assert validated.text.startswith("JsonPath format failed to validate.\n")
    assert admin("POST", "/xapi/events/subscription/filter/validate", data=DICOM_FILTER).status_code == 200
    subscription_id = create_logged(admin)
    bad_update = {"event-filter": {**SCAN_CREATED, "payload-filter": "@.x =~ /a(/", "project-ids": []}}
    assert admin("PUT", f"/xapi/events/subscription/{subscription_id}", json=bad_update).status_code == 424


def test_valid_subscriptions_have_no_validation_message_except_on_project_routes(admin):
    """Fidelity row 7: NON_NULL on Subscription; SubscriptionDisplay is @JsonInclude(ALWAYS)."""
    subscription_id = create_logged(admin)
    site = admin("GET", f"/xapi/events/subscription/{subscription_id}").json()
    assert site["valid"] is True
    assert "validation-message" not in site and "custom-listener-id" not in site
    assert "schedule" not in site["event-filter"]
    project = admin("GET", f"/xapi/projects/CARDIO01/events/subscription/{subscription_id}").json()
    assert "validation-message" in project and project["validation-message"] is None
    assert "schedule" not in project["event-filter"], "the nested EventFilter is still NON_NULL"


NRG_OUTPUT_HANDLER = {
    "name": "nifti-resource",
    "accepts-command-output": "nifti",
    "as-a-child-of-wrapper-input": "scan",
    "type": "Resource",
    "label": "NIFTI",
}


def test_old_output_handler_key_is_read_at_creation_only(admin):
    """Fidelity row 6: CommandWrapperOutputCreation reads as-a-child-of-wrapper-input; an update does not."""
    wrapper = {**COMMAND["xnat"][0], "output-handlers": [NRG_OUTPUT_HANDLER]}
    command = {**COMMAND, "outputs": [{"name": "nifti"}], "xnat": [wrapper]}
    created = admin("POST", "/xapi/commands", json=command)
    assert created.status_code == 201, created.text
    stored = admin("GET", f"/xapi/commands/{created.text}").json()
    [handler] = stored["xnat"][0]["output-handlers"]
    assert handler["as-a-child-of"] == "scan" and "as-a-child-of-wrapper-input" not in handler
    assert handler["tags"] == []
    refused = admin("POST", f"/xapi/commands/{created.text}", json=command)
    assert refused.status_code == 400
    assert 'property "as-a-child-of" cannot be blank.' in refused.text
    assert admin("POST", f"/xapi/commands/{created.text}", json=stored).status_code == 200


# --- what `enclave project close` switches off: project-route list and deactivate, wrapper disable by id ---
NOT_FOUND = "Unable to find requested file or resource: Could not find entity with ID 999"


def test_unknown_subscription_ids_are_404_on_site_and_project_routes(admin):
    """AbstractHibernateEntityService.get → NotFoundException → XapiRestControllerAdvice 404 text/plain."""
    for base in ("/xapi/events", "/xapi/projects/CARDIO01/events"):
        for method, suffix in (("POST", "/deactivate"), ("POST", "/activate"), ("DELETE", ""), ("GET", "")):
            answer = admin(method, f"{base}/subscription/999{suffix}")
            assert (answer.status_code, answer.text) == (404, NOT_FOUND), (base, method, suffix)
    assert admin("POST", "/xapi/projects/NOPE/events/subscription/999/deactivate").status_code == 404


def test_site_deactivate_works_while_the_event_service_is_off_but_project_routes_answer_500(site, admin):
    """EventServiceImpl.deactivateSubscription does not throwIfDisabled; the project route reads the
    subscription through getSubscription (checkProjectSubscriptionAccess), which does."""
    subscription_id = create_logged(admin)
    site.seed({"event_prefs": {"enabled": False}})
    assert admin("GET", "/xapi/projects/CARDIO01/events/subscriptions").text == ""  # the list: no body
    project_route = f"/xapi/projects/CARDIO01/events/subscription/{subscription_id}/deactivate"
    assert admin("POST", project_route).status_code == 500
    assert admin("POST", f"/xapi/events/subscription/{subscription_id}/deactivate").status_code == 200
    assert admin("POST", "/xapi/events/subscription/999/deactivate").status_code == 404
    site.seed({"event_prefs": {"enabled": True}})
    assert admin("GET", f"/xapi/events/subscription/{subscription_id}").json()["active"] is False


def test_project_route_deactivate_is_owner_level_and_needs_every_listed_project_owned(admin, as_user):
    own = create_logged(admin)
    shared = create_logged(
        admin, **{"event-filter": {**SCAN_CREATED, "project-ids": ["CARDIO01", "NEURO02"]}}
    )
    base = "/xapi/projects/CARDIO01/events"
    for username in ("bob", "carol"):  # member; no access at all
        assert as_user(username)("POST", f"{base}/subscription/{own}/deactivate").status_code == 403
        assert as_user(username)("GET", f"{base}/subscriptions").status_code == 403
    refused = as_user("alice")("POST", f"{base}/subscription/{shared}/deactivate")
    assert refused.status_code == 401
    assert refused.text == (
        "Unauthorized.\nalice not authorized to modify subscriptions for project(s): CARDIO01,NEURO02"
    )
    assert admin("POST", f"{base}/subscription/{shared}/deactivate").status_code == 200  # an admin may
    listed = {s["id"]: s for s in as_user("alice")("GET", f"{base}/subscriptions").json()}
    assert listed[own]["active"] is True and listed[shared]["active"] is False
    assert as_user("alice")("POST", f"{base}/subscription/{own}/deactivate").status_code == 200
    assert as_user("alice")("POST", f"{base}/subscription/{own}/deactivate").status_code == 200, "again: 200"
    stored = admin("GET", f"/xapi/events/subscription/{own}").json()
    assert stored["active"] is False and stored["name"] == "logged", "deactivated, not deleted"
    assert as_user("alice")("POST", f"/xapi/events/subscription/{own}/deactivate").status_code == 403


def test_project_wrapper_enablement_by_id(admin, as_user):
    """CS 3.6.3 CommandConfigurationRestApi: GET …/enabled is Edit, PUT …/disabled Delete (?reason=)."""
    _, wrapper_id = register_command(admin)
    admin("PUT", f"/xapi/wrappers/{wrapper_id}/enabled")
    route = f"/xapi/projects/CARDIO01/wrappers/{wrapper_id}"
    assert admin("PUT", f"{route}/enabled").status_code == 200
    report = as_user("bob")("GET", f"{route}/enabled").json()  # a member may read
    assert report == {"enabled-for-site": True, "enabled-for-project": True, "project": "CARDIO01"}
    assert as_user("carol")("GET", f"{route}/enabled").status_code == 403
    assert as_user("bob")("PUT", f"{route}/disabled", params={"reason": "closed"}).status_code == 403
    assert as_user("alice")("PUT", f"{route}/disabled", params={"reason": "closed"}).status_code == 200
    assert admin("GET", f"{route}/enabled").json()["enabled-for-project"] is False
    assert admin("GET", f"/xapi/wrappers/{wrapper_id}/enabled").json() is True, "the site flag stays"
    assert admin("GET", "/xapi/projects/CARDIO01/wrappers/999/enabled").status_code == 404
    assert admin("PUT", f"/xapi/projects/NOPE/wrappers/{wrapper_id}/disabled").status_code == 404
