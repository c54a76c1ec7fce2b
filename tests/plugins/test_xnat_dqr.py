"""xnat_dqr against the XNAT double, with a real C-ECHO SCP on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest
import requests
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

WINDOW = {
    "dayOfWeek": "SATURDAY",
    "availabilityStart": "00:00",
    "availabilityEnd": "12:00",
    "threads": 2,
    "utilizationPercent": 100,
    "enabled": True,
}


@pytest.fixture
def echo_scp():
    ae = AE(ae_title="PACS_TEST")
    ae.add_supported_context(Verification)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000)]
    )
    yield server.server_address[1]
    server.shutdown()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dqr_task(**args):
    return {"name": "dqr", "xnat_enclave.xnat.xnat_dqr": args}


def pacs(port, **overrides):
    item = {
        "label": "Trust A PACS",
        "ae_title": "PACS_TEST",
        "host": "127.0.0.1",
        "port": port,
        "queryable": True,
        "storable": True,
        "default_query_retrieve": True,
        "availability": [WINDOW],
    }
    item.update(overrides)
    return item


def test_settings_and_pacs_create_no_op_update_delete(initialised, run_tasks, echo_scp):
    settings = {
        "dqrCallingAe": "XNAT_TRUST_A",
        "allowAllUsersToUseDqr": False,
        "dqrMaxPacsRequestAttempts": 3,
    }
    first = run_tasks([dqr_task(settings=settings, pacs=[pacs(echo_scp, echo=True)])]).result()
    assert first["changed"] is True, first
    state = initialised.state
    assert state.dqr_settings["dqrCallingAe"] == "XNAT_TRUST_A"
    assert state.dqr_settings["dqrMaxPacsRequestAttempts"] == "3"
    [entry] = state.pacs.values()
    assert entry["aeTitle"] == "PACS_TEST" and entry["queryRetrievePort"] == echo_scp
    assert first["pacs"][0]["echo"]["successful"] is True
    assert len(state.pacs_availability[entry["id"]]) == 1

    initialised.clear_requests()
    again = run_tasks([dqr_task(settings=settings, pacs=[pacs(echo_scp)])]).result()
    assert again["changed"] is False, again
    assert initialised.writes() == []

    update = run_tasks(
        [dqr_task(pacs=[pacs(echo_scp, storable=False, default_storage=False)])], diff=True
    ).result()
    assert update["changed"] is True
    assert update["diff"]["after"]["Trust A PACS"]["storable"] is False
    [updated] = state.pacs.values()
    assert updated["id"] == entry["id"] and updated["storable"] is False

    gone = run_tasks([dqr_task(pacs=[{"label": "Trust A PACS", "state": "absent"}])]).result()
    assert gone["pacs"][0]["action"] == "deleted"
    assert state.pacs == {}


def test_check_mode_sends_no_write(initialised, run_tasks):
    result = run_tasks(
        [dqr_task(settings={"dqrCallingAe": "XNAT_TRUST_A"}, pacs=[pacs(11112)])], check=True, diff=True
    ).result()
    assert result["changed"] is True
    assert result["diff"]["after"]["settings"] == {"dqrCallingAe": "XNAT_TRUST_A"}
    assert initialised.writes() == []


def test_legacy_settings_route_is_used_when_settings_route_is_missing(initialised, run_tasks):
    initialised.seed({"double": {"dqr_api": "legacy"}})
    result = run_tasks([dqr_task(settings={"dqrCallingAe": "XNAT_OLD"})]).result()
    assert result["settings_path"] == "/xapi/dqr"
    assert initialised.state.dqr_settings["dqrCallingAe"] == "XNAT_OLD"


def test_echo_failure_names_the_pacs(initialised, run_tasks):
    result = run_tasks([dqr_task(pacs=[pacs(free_port(), availability=[], echo=True)])]).result()
    assert result["failed"] is True
    assert "C-ECHO" in result["msg"] and "Trust A PACS" in result["msg"]


def test_bad_input_fails_before_any_request(initialised, run_tasks):
    run = run_tasks(
        [
            dict(dqr_task(pacs=[pacs(104, ae_title="A\\B")]), ignore_errors=True),
            dict(dqr_task(pacs=[pacs(99999)]), ignore_errors=True),
            dqr_task(settings={"dqrAeTitle": "X"}),
        ]
    )
    assert "backslash" in run.result(0)["msg"]
    assert "1-65535" in run.result(1)["msg"]
    assert "dqrAeTitle" in run.result(2)["msg"]
    assert initialised.writes() == []


def test_anonymization_false_fails_before_any_request_and_true_is_not_sent(initialised, run_tasks):
    """XNAT's DQR API cannot set anonymizationEnabled (fidelity row 5): false would never converge."""
    refused = run_tasks([dqr_task(pacs=[pacs(11112, availability=[], anonymization=False)])]).result()
    assert refused["failed"] is True
    assert "anonymization: false cannot be applied" in refused["msg"]
    assert initialised.requests() == []
    accepted = [dqr_task(pacs=[pacs(11112, availability=[], anonymization=True)])]
    assert run_tasks(accepted).result()["changed"] is True
    initialised.clear_requests()
    assert run_tasks(accepted).result()["changed"] is False
    assert initialised.writes() == []


def test_a_pacs_without_a_label_is_found_by_host_port_and_ae_title(initialised, run_tasks):
    """An entry made in XNAT's UI may have no label (fidelity row 13); it is labelled, not duplicated."""
    made_in_ui = {"aeTitle": "PACS_TEST", "host": "127.0.0.1", "queryRetrievePort": 11112, "queryable": True}
    answer = requests.post(
        f"{initialised.url}/xapi/pacs", json=made_in_ui, auth=("admin", "admin"), timeout=5
    )
    assert answer.status_code == 200 and "label" not in answer.json()
    item = pacs(11112, availability=[])
    result = run_tasks([dqr_task(pacs=[item])], diff=True).result()
    assert result["pacs"][0]["action"] == "updated", result
    assert result["diff"]["after"]["Trust A PACS"]["label"] == "Trust A PACS"
    [entry] = initialised.state.pacs.values()
    assert entry["id"] == answer.json()["id"] and entry["label"] == "Trust A PACS"
    initialised.clear_requests()
    assert run_tasks([dqr_task(pacs=[item])]).result()["changed"] is False
    assert initialised.writes() == []


def test_older_dqr_release_echoes_and_refuses_availability_before_any_write(initialised, run_tasks, echo_scp):
    """The older DicomQueryRetrieveApi pings under /xapi/dqr and numbers its days (fidelity row 11)."""
    initialised.seed({"double": {"dqr_api": "legacy"}})
    echoed = run_tasks([dqr_task(pacs=[pacs(echo_scp, availability=[], echo=True)])]).result()
    assert echoed["pacs"][0]["echo"]["successful"] is True, echoed
    initialised.clear_requests()
    windows = run_tasks([dqr_task(pacs=[pacs(echo_scp, label="Second", ae_title="OTHER")])]).result()
    assert windows["failed"] is True
    assert "/xapi/dqr/pacsAvailability" in windows["msg"] and "Nothing was changed" in windows["msg"]
    existing = run_tasks([dqr_task(pacs=[pacs(echo_scp)])]).result()
    assert existing["failed"] is True and "leave 'availability' out" in existing["msg"]
    assert initialised.writes() == []
