"""DICOM SCP receivers: /xapi/dicomscp.

Sources (W18 = oncai/xnat 1.8.10.1, `…` = src/main/java/org/nrg):
- W18 …/xapi/rest/dicom/DicomSCPApi.java: POST → 200 with the saved receiver (not 201); PUT /{id} uses the
  id of the path; DELETE → 200; GET /{id}/enabled boolean; PUT /{id}/enabled/{flag} → the receiver.
- W18 …/dcm/scp/DicomSCPInstance.java: fields and defaults (an AbstractHibernateEntity: id, created,
  timestamp, disabled; ``label`` = "AE:port" is serialised from its getter). The body is deserialised
  into a whole instance, so fields missing from a PUT body take their defaults (send the full receiver).
- W18 …/dcm/scp/DicomSCPManager.java saveDicomSCPInstance: 400 for an unknown identifier bean —
  including a MISSING identifier (the bean map has no null key) — an AE title not matching
  AE_TITLE_PATTERN (1-16 printable ASCII, no backslash, no leading/trailing space), a duplicate AE
  title + port on another id, a whitelist item that is not AE, IP/CIDR or AE@IP/CIDR. Blank whitelist
  items are dropped and duplicates merged (XNAT keeps a Set: order is not preserved; the double sorts).
  An unchanged PUT echoes the submitted receiver.
- W18 …/xnat/initialization/tasks/MigrateDicomSCPInstanceConfiguration.java: a fresh XNAT creates the
  default receiver XNAT:8104 (dicomObjectIdentifier). Seed ``receivers: []`` to start without it.
With the double option ``dicom_listen`` the enabled receivers really listen on 127.0.0.1
(xnat_double/dicom_receivers.py); every write request re-syncs the listeners (app.py), so a create,
update, enable/disable or delete here starts, cycles or stops the receiver's port before the answer.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from flask import Blueprint, Response

from .common import (
    empty,
    json_response,
    parse_bool,
    request_map,
    require_admin,
    state,
    stop,
)
from .state import RECEIVER_DEFAULTS, now_ms

blueprint = Blueprint("dicomscp", __name__)

IDENTIFIERS = {
    "dicomObjectIdentifier": "org.nrg.xnat.services.cache.DefaultDicomObjectIdentifier",
    "dqrObjectIdentifier": "org.nrg.xnatx.dqr.dicom.DqrDicomObjectIdentifier",
}
BOOLEAN_FIELDS = (
    "enabled",
    "customProcessing",
    "directArchive",
    "anonymizationEnabled",
    "whitelistEnabled",
    "routingExpressionsEnabled",
)
# W18 …/dcm/scp/DicomSCPManager.java AE_TITLE_PATTERN, with Java's whole-string matches().
AE_TITLE_PATTERN = re.compile(r"(?=[^\\]*[^\s\\]+$)(?=^[^\s\\]+[^\\]*)[ -~]{1,16}")


def valid_ae_title(title: Any) -> bool:
    return isinstance(title, str) and AE_TITLE_PATTERN.fullmatch(title) is not None


def valid_ip_matcher(text: str) -> bool:
    """Spring's IpAddressMatcher: an IPv4/IPv6 address or CIDR network."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def whitelist_error(item: Any) -> str | None:
    if not isinstance(item, str):
        return f"Invalid item in whitelist: {item!r}"
    parts = item.split("@")
    if len(parts) == 2:
        if not valid_ip_matcher(parts[1]):
            return f"Invalid Ip Address in whitelist: {parts[1]}"
        if not valid_ae_title(parts[0]):
            return f"Invalid AE-title in whitelist: {parts[0]}"
        return None
    if len(parts) == 1 and (valid_ip_matcher(item) or valid_ae_title(item)):
        return None
    return f"Invalid item in whitelist: {item}"


def build_receiver(body: dict[str, Any], receiver_id: int, created: int) -> dict[str, Any]:
    receiver: dict[str, Any] = {"id": receiver_id, "aeTitle": body.get("aeTitle"), "port": body.get("port")}
    for name, default in RECEIVER_DEFAULTS.items():
        receiver[name] = body.get(name, default)
    for name in BOOLEAN_FIELDS:
        parsed = parse_bool(receiver[name])
        if parsed is None:
            stop(400, f"Bad request: invalid boolean value for {name}: {receiver[name]!r}")
        receiver[name] = parsed
    whitelist = receiver["whitelist"]
    if isinstance(whitelist, str):
        whitelist = whitelist.split(",")
    receiver["whitelist"] = list(whitelist or [])
    receiver["created"] = created
    receiver["timestamp"] = now_ms()
    receiver["disabled"] = 0
    return receiver


def validate(receiver: dict[str, Any]) -> None:
    if receiver["identifier"] not in IDENTIFIERS:
        stop(400, f"Unknown DICOM object identifier: {receiver['identifier']}")
    title = receiver["aeTitle"]
    if not valid_ae_title(title):
        stop(400, f"Invalid AE title: '{title}'")
    try:
        port = int(receiver["port"])
    except (TypeError, ValueError):
        stop(400, f"Invalid port: '{receiver['port']}'")
    if not 1 <= port <= 65535:
        stop(400, f"Invalid port: {port}")
    receiver["port"] = port
    for other in state().receivers.values():
        if other["id"] != receiver["id"] and other["aeTitle"] == title and other["port"] == port:
            stop(400, f"There is already a DICOM SCP receiver with the AE title and port {title}:{port}")
    items = sorted(
        {item for item in receiver["whitelist"] if not isinstance(item, str) or item.strip()}, key=str
    )
    for item in items:
        error = whitelist_error(item)
        if error:
            stop(400, error)
    receiver["whitelist"] = items
    receiver["label"] = f"{title}:{port}"


def find_receiver(receiver_id: int) -> dict[str, Any]:
    receiver = state().receivers.get(receiver_id)
    if receiver is None:
        stop(404, f"No DICOM SCP receiver with ID {receiver_id}")
    return receiver


@blueprint.route("/xapi/dicomscp", methods=["GET"])
def list_receivers() -> Response:
    with state().lock:
        return json_response([dict(r) for r in state().receivers.values()])


@blueprint.route("/xapi/dicomscp", methods=["POST"])
def create_receiver() -> Response:
    require_admin()
    body = request_map()
    current = state()
    with current.lock:
        receiver = build_receiver(body, current.next_id(), now_ms())
        validate(receiver)
        current.receivers[receiver["id"]] = receiver
        return json_response(dict(receiver))


@blueprint.route("/xapi/dicomscp/identifiers", methods=["GET"])
def identifiers() -> Response:
    require_admin()
    return json_response(IDENTIFIERS)


@blueprint.route("/xapi/dicomscp/<int:receiver_id>", methods=["GET"])
def get_receiver(receiver_id: int) -> Response:
    require_admin()
    with state().lock:
        return json_response(dict(find_receiver(receiver_id)))


@blueprint.route("/xapi/dicomscp/title/<title>/<int:port>", methods=["GET"])
def get_receiver_by_title(title: str, port: int) -> Response:
    require_admin()
    with state().lock:
        receivers = state().receivers.values()
        found = next((r for r in receivers if r["aeTitle"] == title and r["port"] == port), None)
        if found is None:
            stop(404, f"No DICOM SCP receiver {title}:{port}")
        return json_response(dict(found))


@blueprint.route("/xapi/dicomscp/<int:receiver_id>", methods=["PUT"])
def update_receiver(receiver_id: int) -> Response:
    require_admin()
    body = request_map()
    current = state()
    with current.lock:
        existing = find_receiver(receiver_id)
        receiver = build_receiver(body, receiver_id, existing["created"])
        validate(receiver)
        unchanged = all(receiver[k] == existing[k] for k in receiver if k not in ("timestamp", "created"))
        if unchanged:
            return json_response(dict(existing))
        current.receivers[receiver_id] = receiver
        return json_response(dict(receiver))


@blueprint.route("/xapi/dicomscp/<int:receiver_id>", methods=["DELETE"])
def delete_receiver(receiver_id: int) -> Response:
    require_admin()
    with state().lock:
        find_receiver(receiver_id)
        del state().receivers[receiver_id]
    return empty()


@blueprint.route("/xapi/dicomscp/<int:receiver_id>/enabled", methods=["GET"])
def get_enabled(receiver_id: int) -> Response:
    require_admin()
    with state().lock:
        return json_response(find_receiver(receiver_id)["enabled"])


@blueprint.route("/xapi/dicomscp/<int:receiver_id>/enabled/<flag>", methods=["PUT"])
def set_enabled(receiver_id: int, flag: str) -> Response:
    require_admin()
    parsed = parse_bool(flag)
    if parsed is None:
        stop(400, f"Bad request: invalid boolean value [{flag}]")
    with state().lock:
        receiver = find_receiver(receiver_id)
        if receiver["enabled"] != parsed:
            receiver["enabled"] = parsed
            receiver["timestamp"] = now_ms()
        return json_response(dict(receiver))


@blueprint.route("/xapi/dicomscp/start", methods=["PUT"])
@blueprint.route("/xapi/dicomscp/stop", methods=["PUT"])
def start_stop() -> Response:
    require_admin()
    return empty()
