"""DQR: settings route revisions, PACS uniqueness, availability overlap, and a real C-ECHO."""

from __future__ import annotations

import socket

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

PACS = {
    "aeTitle": "PACS1",
    "host": "127.0.0.1",
    "queryRetrievePort": 11112,
    "label": "Main PACS",
    "queryable": True,
    "storable": True,
}
WINDOW = {
    "dayOfWeek": "MONDAY",
    "availabilityStart": "19:00",
    "availabilityEnd": "23:00",
    "threads": 2,
    "utilizationPercent": 50,
    "enabled": True,
}


@pytest.fixture
def echo_scp():
    """A pynetdicom Verification SCP on 127.0.0.1 (free port) that records the calling AE titles."""
    calls: list[str] = []

    def on_echo(event):
        calls.append(event.assoc.requestor.ae_title)
        return 0x0000

    ae = AE(ae_title="PACS1")
    ae.require_called_aet = True  # a real PACS rejects associations addressed to another AE title
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, on_echo)])
    yield server.server_address[1], calls
    server.shutdown()


def test_settings_routes_follow_the_dqr_api_option(site, admin):
    assert admin("GET", "/xapi/dqr/settings").json()["dqrCallingAe"] == "XNAT"
    assert admin("GET", "/xapi/dqr").status_code == 200
    site.seed({"double": {"dqr_api": "legacy"}})
    assert admin("GET", "/xapi/dqr/settings").status_code == 404
    assert admin("POST", "/xapi/dqr", json={"dqrCallingAe": "XNAT_A", "allowAllUsersToUseDqr": False}).ok
    assert admin("GET", "/xapi/dqr").json()["allowAllUsersToUseDqr"] == "false"
    assert admin("GET", "/xapi/pacs").status_code == 400  # older API: storable/queryable required
    site.seed({"double": {"dqr_api": "settings"}})
    assert admin("GET", "/xapi/dqr").status_code == 404
    assert admin("GET", "/xapi/dqr/settings").json()["dqrCallingAe"] == "XNAT_A"


def test_pacs_crud_and_uniqueness(admin):
    created = admin("POST", "/xapi/pacs", json=PACS)
    assert created.status_code == 200
    pacs = created.json()
    assert pacs["ormStrategySpringBeanId"] == "dicomOrmStrategy"
    assert admin("POST", "/xapi/pacs", json={**PACS, "aeTitle": "OTHER"}).status_code == 500  # same label
    assert (
        admin("POST", "/xapi/pacs", json={**PACS, "label": "Other"}).status_code == 500
    )  # same host/port/AE
    assert admin("POST", "/xapi/pacs", json={**PACS, "label": "X", "host": ""}).status_code == 400
    updated = admin(
        "PUT", f"/xapi/pacs/{pacs['id']}", json={"defaultQueryRetrievePacs": True, "queryable": False}
    )
    assert updated.json()["queryable"] is True  # forced by defaultQueryRetrievePacs
    assert updated.json()["label"] == "Main PACS"  # only non-null fields are copied
    assert admin("GET", "/xapi/pacs?storable=true").json()[0]["id"] == pacs["id"]
    assert admin("DELETE", f"/xapi/pacs/{pacs['id']}").status_code == 200
    assert admin("GET", f"/xapi/pacs/{pacs['id']}").status_code == 404


def test_availability_overlap_is_400(admin):
    pacs = admin("POST", "/xapi/pacs", json=PACS).json()
    first = admin("POST", f"/xapi/pacs/{pacs['id']}/availability", json=WINDOW)
    assert first.status_code == 200
    overlap = admin(
        "POST",
        f"/xapi/pacs/{pacs['id']}/availability",
        json={**WINDOW, "availabilityStart": "22:00", "availabilityEnd": "23:30"},
    )
    assert overlap.status_code == 400
    assert "overlap" in overlap.text
    assert admin("POST", f"/xapi/pacs/{pacs['id']}/availability", json={**WINDOW, "dayOfWeek": "TUESDAY"}).ok
    grouped = admin("GET", f"/xapi/pacs/{pacs['id']}/availability").json()
    assert sorted(grouped) == ["MONDAY", "TUESDAY"]
    interval_id = first.json()["id"]
    assert admin("PUT", f"/xapi/pacs/{pacs['id']}/availability/{interval_id}", json=WINDOW).status_code == 304
    assert admin("DELETE", f"/xapi/pacs/{pacs['id']}/availability/{interval_id}").json() is True


def test_status_performs_a_real_c_echo(admin, echo_scp):
    port, calls = echo_scp
    admin("POST", "/xapi/dqr/settings", json={"dqrCallingAe": "XNAT_TEST"})
    pacs = admin("POST", "/xapi/pacs", json={**PACS, "queryRetrievePort": port}).json()
    ping = admin("GET", f"/xapi/pacs/{pacs['id']}/status")
    assert ping.status_code == 200
    assert ping.json()["successful"] is True
    assert ping.json()["pacsId"] == pacs["id"]
    assert calls == ["XNAT_TEST"]
    assert admin("GET", f"/xapi/pacs/{pacs['id']}/status/last").json()["id"] == ping.json()["id"]


def test_status_reports_an_unreachable_pacs(site, admin, echo_scp):
    port, _ = echo_scp
    site.seed({"double": {"echo_timeout": 2}})
    pacs = admin("POST", "/xapi/pacs", json={**PACS, "aeTitle": "WRONG_AE", "queryRetrievePort": port}).json()
    assert admin("GET", f"/xapi/pacs/{pacs['id']}/status").json()["successful"] is False
    with_socket_closed = _free_port()
    gone = admin(
        "POST", "/xapi/pacs", json={**PACS, "label": "Gone", "queryRetrievePort": with_socket_closed}
    )
    assert admin("GET", f"/xapi/pacs/{gone.json()['id']}/status").json()["successful"] is False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ping_needs_dqr_rights(as_user, admin):
    pacs = admin("POST", "/xapi/pacs", json=PACS).json()
    assert as_user("carol")("GET", f"/xapi/pacs/{pacs['id']}/status").status_code == 403


def test_anonymization_enabled_cannot_be_set_over_rest(admin):
    """Fidelity row 5: PacsSettings has no anonymizationEnabled; the entity keeps its default, true."""
    created = admin("POST", "/xapi/pacs", json={**PACS, "anonymizationEnabled": False}).json()
    assert created["anonymizationEnabled"] is True
    updated = admin("PUT", f"/xapi/pacs/{created['id']}", json={"anonymizationEnabled": False}).json()
    assert updated["anonymizationEnabled"] is True
    assert admin("GET", f"/xapi/pacs/{created['id']}").json()["anonymizationEnabled"] is True


def test_pacs_label_is_optional_and_then_left_out(admin):
    """Fidelity row 13: Pacs.label is nullable (NON_NULL leaves it out); host+port+AE stays unique."""
    unlabelled = {key: value for key, value in PACS.items() if key != "label"}
    first = admin("POST", "/xapi/pacs", json=unlabelled)
    assert first.status_code == 200 and "label" not in first.json()
    second = admin("POST", "/xapi/pacs", json={**unlabelled, "aeTitle": "PACS2"})
    assert second.status_code == 200, "two entries without a label do not collide"
    assert admin("POST", "/xapi/pacs", json={**unlabelled, "label": "Named"}).status_code == 500
    assert admin("GET", f"/xapi/pacs/{first.json()['id']}/status/last").content == b"", "null → empty body"


def test_older_dqr_revision_pings_and_keeps_availability_under_xapi_dqr(site, admin, echo_scp):
    """Fidelity row 11: DicomQueryRetrieveApi @ 03e377aa: pacsStatus/ping, pacsAvailability with int days."""
    port, calls = echo_scp
    pacs = admin("POST", "/xapi/pacs", json={**PACS, "queryRetrievePort": port}).json()
    assert admin("GET", f"/xapi/dqr/pacsStatus/ping/{pacs['id']}").status_code == 404, "current revision"
    site.seed({"double": {"dqr_api": "legacy"}})
    assert admin("GET", f"/xapi/pacs/{pacs['id']}/status").status_code == 404
    assert admin("GET", f"/xapi/pacs/{pacs['id']}/availability").status_code == 404
    ping = admin("GET", f"/xapi/dqr/pacsStatus/ping/{pacs['id']}").json()
    assert ping["successful"] is True and calls == ["XNAT"]
    window = {**WINDOW, "dayOfWeek": 1, "pacsId": pacs["id"]}
    created = admin("POST", "/xapi/dqr/pacsAvailability/window", json=window)
    assert created.status_code == 200 and created.json()["dayOfWeek"] == 1
    assert (
        admin("POST", "/xapi/dqr/pacsAvailability/window", json={**window, "dayOfWeek": 0}).status_code == 400
    )
    assert admin("POST", "/xapi/dqr/pacsAvailability/window", json=window).status_code == 400, "overlap"
    listed = admin("GET", f"/xapi/dqr/pacsAvailability/windows/{pacs['id']}").json()
    assert [(w["dayOfWeek"], w["availabilityStart"]) for w in listed] == [(1, "19:00")]
    interval = f"/xapi/dqr/pacsAvailability/window/{created.json()['id']}"
    assert admin("PUT", interval, json={"availabilityStart": "19:00"}).status_code == 304
    assert admin("PUT", interval, json={"availabilityStart": "18:00"}).json()["availabilityStart"] == "18:00"
    assert admin("DELETE", interval).json() is True
