"""xnat_dicom_receiver against the XNAT double."""

from __future__ import annotations


def receiver_task(*receivers, **args):
    return {
        "name": "receiver",
        "xnat_enclave.xnat.xnat_dicom_receiver": {"receivers": list(receivers), **args},
    }


def receivers_of(state, ae_title):
    return [r for r in state.receivers.values() if r["aeTitle"] == ae_title]


def test_create_no_op_update_delete(initialised, run_tasks):
    wanted = {
        "ae_title": "XNAT_TRUST_A",
        "port": 8104,
        "identifier": "dqrObjectIdentifier",
        "whitelist": ["PACS_B", "PACS_A"],
        "direct_archive": False,
    }
    created = run_tasks([receiver_task(wanted)], diff=True).result()
    assert created["changed"] is True, created
    [receiver] = receivers_of(initialised.state, "XNAT_TRUST_A")
    assert receiver["whitelistEnabled"] is True
    assert sorted(receiver["whitelist"]) == ["PACS_A", "PACS_B"]
    assert receiver["identifier"] == "dqrObjectIdentifier"
    receiver_id = receiver["id"]

    initialised.clear_requests()
    again = run_tasks([receiver_task(wanted)]).result()
    assert again["changed"] is False, again
    assert initialised.writes() == []

    updated = run_tasks(
        [receiver_task(dict(wanted, direct_archive=True, whitelist=["PACS_A"]))], diff=True
    ).result()
    assert updated["changed"] is True
    assert updated["diff"]["before"]["XNAT_TRUST_A:8104"]["directArchive"] is False
    assert updated["diff"]["after"]["XNAT_TRUST_A:8104"]["directArchive"] is True
    assert updated["actions"] == [f"PUT /xapi/dicomscp/{receiver_id}"]
    [receiver] = receivers_of(initialised.state, "XNAT_TRUST_A")
    assert receiver["id"] == receiver_id, "a changed receiver keeps its id"
    assert receiver["directArchive"] is True and receiver["whitelist"] == ["PACS_A"]

    removed = run_tasks(
        [receiver_task({"ae_title": "XNAT_TRUST_A", "port": 8104, "state": "absent"})]
    ).result()
    assert removed["changed"] is True
    assert receivers_of(initialised.state, "XNAT_TRUST_A") == []


def test_check_mode_sends_no_write(initialised, run_tasks):
    result = run_tasks(
        [receiver_task({"ae_title": "XNAT_CHECK", "port": 8105})], check=True, diff=True
    ).result()
    assert result["changed"] is True
    assert result["diff"]["after"]["XNAT_CHECK:8105"]["aeTitle"] == "XNAT_CHECK"
    assert result["actions"] == ["POST /xapi/dicomscp"]
    assert initialised.writes() == []


def test_several_receivers_in_one_task(initialised, run_tasks):
    receivers = [{"ae_title": "XNAT_A", "port": 8104}, {"ae_title": "XNAT_B", "port": 8105, "enabled": False}]
    run_tasks([receiver_task(*receivers)])
    assert receivers_of(initialised.state, "XNAT_B")[0]["enabled"] is False
    initialised.clear_requests()
    assert run_tasks([receiver_task(*receivers)]).result()["changed"] is False
    assert [r["method"] for r in initialised.requests()] == ["GET"]


BAD_RECEIVERS = [
    ("THIS_AE_TITLE_IS_TOO_LONG", 8104, "at most 16"),
    ("BAD\\AE", 8104, "backslash"),
    ("    ", 8104, "all spaces"),
    ("TAB\tAE", 8104, "printable"),
    ("XNAT", 70000, "1-65535"),
    ("XNAT", 0, "1-65535"),
]


def test_invalid_ae_title_or_port_fails_before_any_request(initialised, run_tasks):
    tasks = [
        dict(receiver_task({"ae_title": ae_title, "port": port}), ignore_errors=True)
        for ae_title, port, _message in BAD_RECEIVERS
    ]
    run = run_tasks(tasks)
    assert len(run.results) == len(BAD_RECEIVERS)
    for result, (ae_title, port, message) in zip(run.results, BAD_RECEIVERS, strict=True):
        assert result["failed"] is True, (ae_title, port)
        assert message in result["msg"], (ae_title, port, result["msg"])
    assert initialised.requests() == []
