"""DICOM receivers: 200 on create, duplicate AE+port 400, invalid AE 400, full-object PUT."""

from __future__ import annotations

import pytest

RECEIVER = {
    "aeTitle": "XNAT_TRUST_A",
    "port": 8104,
    "identifier": "dqrObjectIdentifier",
    "whitelistEnabled": True,
    "whitelist": ["PACS1@10.0.0.5", "MODALITY2"],
}


def test_create_returns_200_with_id_and_defaults(admin):
    created = admin("POST", "/xapi/dicomscp", json=RECEIVER)
    assert created.status_code == 200
    body = created.json()
    assert isinstance(body["id"], int)
    assert body["anonymizationEnabled"] is True
    assert body["directArchive"] is False
    assert body["enabled"] is True
    assert body["label"] == "XNAT_TRUST_A:8104"
    assert body["whitelist"] == ["MODALITY2", "PACS1@10.0.0.5"]  # a set in XNAT: order not kept
    assert admin("GET", f"/xapi/dicomscp/{body['id']}").json() == body


def test_fresh_xnat_has_the_default_receiver(admin):
    receivers = admin("GET", "/xapi/dicomscp").json()
    assert [(r["aeTitle"], r["port"], r["identifier"]) for r in receivers] == [
        ("XNAT", 8104, "dicomObjectIdentifier")
    ]


def test_duplicate_ae_and_port_is_400(admin):
    assert admin("POST", "/xapi/dicomscp", json=RECEIVER).status_code == 200
    duplicate = admin("POST", "/xapi/dicomscp", json=RECEIVER)
    assert duplicate.status_code == 400
    assert "XNAT_TRUST_A:8104" in duplicate.text
    assert admin("POST", "/xapi/dicomscp", json={**RECEIVER, "port": 8105}).status_code == 200


@pytest.mark.parametrize(
    "title",
    [
        "",
        "    ",
        " LEADING",
        "TRAILING ",
        "THIS_TITLE_IS_TOO_LONG",
        "BACK\\SLASH",
        "TAB\tX",
        "NON_ASCII_\u00e9",
    ],
)
def test_invalid_ae_title_is_400(admin, title):
    assert admin("POST", "/xapi/dicomscp", json={**RECEIVER, "aeTitle": title}).status_code == 400


def test_invalid_port_identifier_or_whitelist_is_400(admin):
    assert admin("POST", "/xapi/dicomscp", json={**RECEIVER, "port": 70000}).status_code == 400
    assert admin("POST", "/xapi/dicomscp", json={**RECEIVER, "identifier": "nope"}).status_code == 400
    assert (
        admin("POST", "/xapi/dicomscp", json={**RECEIVER, "whitelist": ["PACS@not-an-ip"]}).status_code == 400
    )
    assert admin("POST", "/xapi/dicomscp", json={**RECEIVER, "whitelist": ["A@B@C"]}).status_code == 400
    without_identifier = {k: v for k, v in RECEIVER.items() if k != "identifier"}
    assert admin("POST", "/xapi/dicomscp", json=without_identifier).status_code == 400
    assert len(admin("GET", "/xapi/dicomscp").json()) == 1  # only XNAT's default receiver


def test_put_replaces_the_whole_receiver_and_echoes_unchanged(admin):
    receiver = admin("POST", "/xapi/dicomscp", json=RECEIVER).json()
    same = admin("PUT", f"/xapi/dicomscp/{receiver['id']}", json=receiver)
    assert same.json() == receiver
    partial = admin(
        "PUT",
        f"/xapi/dicomscp/{receiver['id']}",
        json={
            "aeTitle": "XNAT_TRUST_A",
            "port": 8104,
            "identifier": "dqrObjectIdentifier",
            "directArchive": True,
        },
    )
    assert partial.json()["directArchive"] is True
    assert partial.json()["whitelist"] == []  # missing fields take their defaults
    other = admin("POST", "/xapi/dicomscp", json={**RECEIVER, "port": 9000}).json()
    clash = admin("PUT", f"/xapi/dicomscp/{other['id']}", json={**RECEIVER})
    assert clash.status_code == 400


def test_enable_flag_delete_and_access(admin, as_user):
    receiver = admin("POST", "/xapi/dicomscp", json=RECEIVER).json()
    assert admin("PUT", f"/xapi/dicomscp/{receiver['id']}/enabled/false").json()["enabled"] is False
    assert admin("GET", f"/xapi/dicomscp/{receiver['id']}/enabled").json() is False
    assert as_user("carol")("POST", "/xapi/dicomscp", json={**RECEIVER, "port": 1}).status_code == 403
    assert admin("DELETE", f"/xapi/dicomscp/{receiver['id']}").status_code == 200
    assert admin("GET", f"/xapi/dicomscp/{receiver['id']}").status_code == 404
