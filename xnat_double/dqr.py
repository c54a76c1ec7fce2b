"""DICOM query-retrieve plugin: settings, PACS entries, availability windows and a real C-ECHO.

Sources (DQR = NrgXnat/dicom-query-retrieve, `…` = src/main/java/org/nrg/xnatx/dqr):
- DQR …/rest/DicomQueryRetrieveApi.java: GET/POST /xapi/dqr/settings (current) or /xapi/dqr (older
  revision), Admin. Which revision the double serves is the option ``dqr_api`` (seed key
  double.dqr_api): "settings" (current), "legacy" (the older revision) or "both" (default: the current
  routes plus the older settings route).
- The older revision (DQR …/rest/DicomQueryRetrieveApi.java @ 03e377aa) keeps pings and availability in
  that controller: GET /xapi/dqr/pacsStatus/ping/{id} (DQR users; the PacsPing), lastPing/{id} and
  allPings/{id} (Admin); POST /xapi/dqr/pacsAvailability/window (the body names ``pacsId``; an
  INTEGER ``dayOfWeek``, 0 = missing → 400), GET/PUT/DELETE …/window/{id} (PUT → 304 when nothing
  changes), GET …/windows/{pacsId} (a flat list), POST …/conflictsExisting. /xapi/pacs/{id}/status and
  /xapi/pacs/{id}/availability do not exist there (404), and GET /xapi/pacs requires the ``storable``
  and ``queryable`` parameters (its DqrPacsApi declared them required → 400). The integer days are
  1 = MONDAY … 7 = SUNDAY (java.time.DayOfWeek.getValue(), which the later entity's enum keeps;
  unverified for that revision).
- DQR …/rest/DqrPacsApi.java: POST /xapi/pacs → 200 with the Pacs; PUT copies non-null fields and
  returns the updated Pacs (400 when a body id differs from the path); GET /{id}/status does the C-ECHO
  (calling AE = dqrCallingAe) and answers 200 with a PacsPing whose ``successful`` says if it worked;
  availability: POST → 200 interval, 400 (DataFormatException) on overlap or missing day/start/end;
  PUT → 304 when unchanged; DELETE → true; GET → intervals grouped by day of week.
- DQR …/dto/PacsSettings.java (both stored revisions, 6d5ddbe7 and d588746c) is the POST/PUT body and
  has NO ``anonymizationEnabled``: Pacs.copySettings copies PacsSettings properties only, so the flag
  in a body is ignored and every PACS keeps …/domain/entities/Pacs.java's default, true.
- DQR …/domain/entities/Pacs.java: ``label`` is nullable; label unique, (host, queryRetrievePort,
  aeTitle) unique — enforced by database constraints, which XNAT reports as an unhandled error (500);
  aeTitle, host and ormStrategySpringBeanId must not be blank. A PACS without a label is written
  without the key (NON_NULL).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from .common import (
    empty,
    json_response,
    parse_bool,
    query_bool,
    request_json,
    request_map,
    require_admin,
    require_authenticated,
    state,
    stop,
)
from .state import now_ms

blueprint = Blueprint("dqr", __name__)

PACS_DEFAULTS: dict[str, Any] = {
    "aeTitle": None,
    "host": None,
    "label": None,
    "queryRetrievePort": 104,
    "queryable": True,
    "storable": False,
    "defaultStoragePacs": False,
    "defaultQueryRetrievePacs": False,
    "ormStrategySpringBeanId": "dicomOrmStrategy",
    "supportsExtendedNegotiations": False,
    "dicomWebEnabled": False,
    "dicomWebRootUrl": None,
    "dicomObjectIdentifier": None,
    "retrieveLevel": None,
    "anonymizationEnabled": True,
}
# The PacsSettings body: every Pacs field above except anonymizationEnabled.
PACS_SETTINGS = tuple(name for name in PACS_DEFAULTS if name != "anonymizationEnabled")
BOOLEAN_FIELDS = (
    "queryable",
    "storable",
    "defaultStoragePacs",
    "defaultQueryRetrievePacs",
    "supportsExtendedNegotiations",
    "dicomWebEnabled",
    "anonymizationEnabled",
)
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


# --- settings ----------------------------------------------------------------------------------------
def _settings_route_exists(legacy: bool) -> None:
    mode = state().options.dqr_api
    if mode != "both" and (mode == "legacy") != legacy:
        stop(404)


def _get_settings(legacy: bool) -> Response:
    _settings_route_exists(legacy)
    require_admin()
    with state().lock:
        return json_response(dict(state().dqr_settings))


def _post_settings(legacy: bool) -> Response:
    _settings_route_exists(legacy)
    require_admin()
    values = request_map()
    with state().lock:
        state().dqr_settings.update({key: _as_text(value) for key, value in values.items()})
    return empty()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


blueprint.add_url_rule("/xapi/dqr/settings", "get_settings", lambda: _get_settings(False), methods=["GET"])
blueprint.add_url_rule("/xapi/dqr/settings", "post_settings", lambda: _post_settings(False), methods=["POST"])
blueprint.add_url_rule("/xapi/dqr", "get_legacy_settings", lambda: _get_settings(True), methods=["GET"])
blueprint.add_url_rule("/xapi/dqr", "post_legacy_settings", lambda: _post_settings(True), methods=["POST"])


# --- PACS --------------------------------------------------------------------------------------------
def find_pacs(pacs_id: int) -> dict[str, Any]:
    pacs = state().pacs.get(pacs_id)
    if pacs is None:
        stop(404, f"No PACS with ID {pacs_id}")
    return pacs


def _apply_settings(pacs: dict[str, Any], settings: dict[str, Any]) -> None:
    for name in PACS_SETTINGS:
        if settings.get(name) is not None:
            pacs[name] = settings[name]
    for name in BOOLEAN_FIELDS:
        parsed = parse_bool(pacs[name])
        if parsed is None:
            stop(400, f"Bad request: invalid boolean value for {name}: {pacs[name]!r}")
        pacs[name] = parsed
    try:
        pacs["queryRetrievePort"] = int(pacs["queryRetrievePort"])
    except (TypeError, ValueError):
        stop(400, f"Bad request: invalid queryRetrievePort {pacs['queryRetrievePort']!r}")
    if pacs["defaultStoragePacs"]:
        pacs["storable"] = True
    if pacs["defaultQueryRetrievePacs"]:
        pacs["queryable"] = True


def _validate_pacs(pacs: dict[str, Any]) -> None:
    blank = [
        name
        for name in ("aeTitle", "host", "ormStrategySpringBeanId")
        if not str(pacs.get(name) or "").strip()
    ]
    if blank:
        stop(400, "Validation failed: " + ", ".join(f"{name} may not be blank" for name in blank))
    triple = (pacs["host"], pacs["queryRetrievePort"], pacs["aeTitle"])
    for other in state().pacs.values():
        if other["id"] == pacs["id"]:
            continue
        if pacs.get("label") and other.get("label") == pacs["label"]:
            stop(
                500,
                f"could not execute statement; constraint [uk_pacs_label]; duplicate label {pacs['label']}",
            )
        if (other["host"], other["queryRetrievePort"], other["aeTitle"]) == triple:
            stop(
                500,
                "could not execute statement; constraint [uk_pacs_host_port_ae]; duplicate "
                f"host/port/AE {triple[0]}:{triple[1]}/{triple[2]}",
            )


def _clear_other_defaults(pacs: dict[str, Any]) -> None:
    """Only one PACS can be the default storage or default query/retrieve PACS."""
    for other in state().pacs.values():
        if other["id"] == pacs["id"]:
            continue
        for flag in ("defaultStoragePacs", "defaultQueryRetrievePacs"):
            if pacs[flag]:
                other[flag] = False


@blueprint.route("/xapi/pacs", methods=["GET"])
def list_pacs() -> Response:
    require_authenticated()
    legacy = state().options.dqr_api == "legacy"
    if legacy:
        missing = [name for name in ("storable", "queryable") if name not in request.args]
        if missing:
            stop(400, f"Required boolean parameter '{missing[0]}' is not present")
    storable = query_bool("storable", False)
    queryable = query_bool("queryable", False)
    with state().lock:
        entries = [
            dict(p)
            for p in state().pacs.values()
            if (not storable or p["storable"]) and (not queryable or p["queryable"])
        ]
    return json_response(entries)


@blueprint.route("/xapi/pacs", methods=["POST"])
def create_pacs() -> Response:
    require_admin()
    settings = request_map()
    current = state()
    with current.lock:
        created = now_ms()
        pacs = {
            "id": current.next_id(),
            **PACS_DEFAULTS,
            "enabled": True,
            "created": created,
            "timestamp": created,
            "disabled": 0,
        }
        _apply_settings(pacs, settings)
        _validate_pacs(pacs)
        _clear_other_defaults(pacs)
        current.pacs[pacs["id"]] = pacs
        current.pacs_availability[pacs["id"]] = {}
        return json_response(dict(pacs))


@blueprint.route("/xapi/pacs/<int:pacs_id>", methods=["GET"])
def get_pacs(pacs_id: int) -> Response:
    require_authenticated()
    with state().lock:
        return json_response(dict(find_pacs(pacs_id)))


@blueprint.route("/xapi/pacs/<int:pacs_id>", methods=["PUT"])
def update_pacs(pacs_id: int) -> Response:
    require_admin()
    settings = request_map()
    with state().lock:
        existing = find_pacs(pacs_id)
        body_id = settings.get("id")
        if body_id not in (None, 0, "0") and str(body_id) != str(pacs_id):
            stop(400, f'The ID for the update call "{pacs_id}" does not match the PACS entity ID "{body_id}"')
        updated = dict(existing)
        _apply_settings(updated, settings)
        _validate_pacs(updated)
        if updated != existing:
            updated["timestamp"] = now_ms()
            _clear_other_defaults(updated)
            state().pacs[pacs_id] = updated
        return json_response(dict(updated))


@blueprint.route("/xapi/pacs/<int:pacs_id>", methods=["DELETE"])
def delete_pacs(pacs_id: int) -> Response:
    require_admin()
    current = state()
    with current.lock:
        find_pacs(pacs_id)
        del current.pacs[pacs_id]
        current.pacs_availability.pop(pacs_id, None)
    return empty()


# --- C-ECHO ------------------------------------------------------------------------------------------
def _current_revision_only() -> None:
    """/xapi/pacs/{id}/status and …/availability are the current revision's (DqrPacsApi)."""
    if state().options.dqr_api == "legacy":
        stop(404)


def _older_revision_only() -> None:
    """/xapi/dqr/pacsStatus and /xapi/dqr/pacsAvailability are the older revision's."""
    if state().options.dqr_api != "legacy":
        stop(404)


# --- C-ECHO ------------------------------------------------------------------------------------------
def c_echo(calling_ae: str, called_ae: str, host: str, port: int, timeout: float) -> bool:
    """A real DICOM verification (C-ECHO) with pynetdicom; True when the peer answers with Success."""
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(Verification)
    try:
        association = ae.associate(host, port, ae_title=called_ae)
    except (OSError, ValueError):
        return False
    if not association.is_established:
        return False
    try:
        status = association.send_c_echo()
        return bool(status) and status.Status == 0x0000
    finally:
        with contextlib.suppress(Exception):
            association.release()


def _ping(pacs_id: int) -> Response:
    user = require_authenticated()
    current = state()
    with current.lock:
        pacs = dict(find_pacs(pacs_id))
        if not (
            user.is_admin
            or "Dqr" in user.roles
            or parse_bool(current.dqr_settings.get("allowAllUsersToUseDqr", "false"))
        ):
            stop(403)
        calling_ae = current.dqr_settings.get("dqrCallingAe", "XNAT")
        timeout = current.options.echo_timeout
    # The C-ECHO runs outside the lock so a slow PACS does not stall other requests.
    successful = c_echo(calling_ae, pacs["aeTitle"], pacs["host"], pacs["queryRetrievePort"], timeout)
    ping_time = now_ms()
    with current.lock:
        ping = {
            "id": current.next_id(),
            "pacsId": pacs_id,
            "successful": successful,
            "pingTime": ping_time,
            "enabled": True,
            "created": ping_time,
            "timestamp": ping_time,
            "disabled": 0,
        }
        current.pacs_pings.setdefault(pacs_id, []).append(ping)
    return json_response(ping)


def _last_ping(pacs_id: int) -> Response:
    require_admin()
    with state().lock:
        pings = state().pacs_pings.get(pacs_id) or []
        return json_response(pings[-1] if pings else None)


def _all_pings(pacs_id: int) -> Response:
    require_admin()
    with state().lock:
        return json_response(list(state().pacs_pings.get(pacs_id) or []))


def _for_revision(view: Callable[[int], Response], older: bool) -> Callable[[int], Response]:
    """The view as a route of the current (DqrPacsApi) or the older (DicomQueryRetrieveApi) revision."""

    def route(pacs_id: int) -> Response:
        (_older_revision_only if older else _current_revision_only)()
        return view(pacs_id)

    return route


# (current revision's rule, older revision's rule, view)
PING_ROUTES = (
    ("/xapi/pacs/<int:pacs_id>/status", "/xapi/dqr/pacsStatus/ping/<int:pacs_id>", _ping),
    ("/xapi/pacs/<int:pacs_id>/status/last", "/xapi/dqr/pacsStatus/lastPing/<int:pacs_id>", _last_ping),
    ("/xapi/pacs/<int:pacs_id>/status/all", "/xapi/dqr/pacsStatus/allPings/<int:pacs_id>", _all_pings),
)
for current_rule, older_rule, ping_view in PING_ROUTES:
    for rule, older in ((current_rule, False), (older_rule, True)):
        endpoint = ("legacy" if older else "current") + ping_view.__name__
        blueprint.add_url_rule(rule, endpoint, _for_revision(ping_view, older), methods=["GET"])


# --- availability ------------------------------------------------------------------------------------
INCOMPLETE_INTERVAL = (
    "Tried to check overlap for a PACS availability interval but did not supply the day of week, "
    "start time, and end time."
)
INTERVAL_FIELDS = ("dayOfWeek", "availabilityStart", "availabilityEnd", "threads", "utilizationPercent")


def _minutes(value: str) -> int:
    hours, _, minutes = value.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def _interval(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a PacsAvailability object")
    day = str(body.get("dayOfWeek") or "").upper()
    start, end = str(body.get("availabilityStart") or ""), str(body.get("availabilityEnd") or "")
    if day not in DAYS or not start or not end:
        stop(400, INCOMPLETE_INTERVAL)
    try:
        if _minutes(start) >= _minutes(end) and end != "00:00":
            stop(400, f"Availability start {start} is not before its end {end}")
    except ValueError:
        stop(400, f"Bad availability times {start!r}-{end!r}; use HH:mm")
    threads = int(body.get("threads") or 0)
    utilization = int(body.get("utilizationPercent") or 0)
    if threads == 0 or utilization == 0:
        threads = utilization = 0
    return {
        "dayOfWeek": day,
        "availabilityStart": start,
        "availabilityEnd": end,
        "threads": threads,
        "utilizationPercent": utilization,
        "enabled": parse_bool(body.get("enabled", True)) is not False,
    }


def _overlaps(pacs_id: int, candidate: dict[str, Any], ignore_id: int | None = None) -> bool:
    start, end = _minutes(candidate["availabilityStart"]), _minutes(candidate["availabilityEnd"]) or 24 * 60
    for existing in state().pacs_availability.get(pacs_id, {}).values():
        if existing["id"] == ignore_id or existing["dayOfWeek"] != candidate["dayOfWeek"]:
            continue
        other_start = _minutes(existing["availabilityStart"])
        other_end = _minutes(existing["availabilityEnd"]) or 24 * 60
        if start < other_end and other_start < end:
            return True
    return False


def _add_interval(pacs_id: int, candidate: dict[str, Any], username: str) -> dict[str, Any]:
    current = state()
    find_pacs(pacs_id)
    if _overlaps(pacs_id, candidate):
        stop(
            400,
            f"User {username} tried to create an availability interval for PACS {pacs_id} but the "
            "interval was invalid (probable overlap with existing interval).",
        )
    created = now_ms()
    interval = {
        "id": current.next_id(),
        "pacsId": pacs_id,
        **candidate,
        "created": created,
        "timestamp": created,
        "disabled": 0,
    }
    current.pacs_availability[pacs_id][interval["id"]] = interval
    return interval


@blueprint.route("/xapi/pacs/<int:pacs_id>/availability", methods=["GET"])
def list_availability(pacs_id: int) -> Response:
    _current_revision_only()
    require_admin()
    with state().lock:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for interval in state().pacs_availability.get(pacs_id, {}).values():
            grouped.setdefault(interval["dayOfWeek"], []).append(dict(interval))
        return json_response(grouped)


@blueprint.route("/xapi/pacs/<int:pacs_id>/availability", methods=["POST"])
def create_availability(pacs_id: int) -> Response:
    _current_revision_only()
    user = require_admin()
    candidate = _interval(request_json())
    with state().lock:
        return json_response(dict(_add_interval(pacs_id, candidate, user.username)))


@blueprint.route("/xapi/pacs/<int:pacs_id>/availability/validate", methods=["POST"])
def validate_availability(pacs_id: int) -> Response:
    _current_revision_only()
    require_admin()
    candidate = _interval(request_json())
    with state().lock:
        return json_response(not _overlaps(pacs_id, candidate))


def _find_interval(pacs_id: int, interval_id: int) -> dict[str, Any]:
    interval = state().pacs_availability.get(pacs_id, {}).get(interval_id)
    if interval is None:
        stop(404, f"No PACS availability entry with ID {interval_id} exists for PACS {pacs_id}")
    return interval


@blueprint.route("/xapi/pacs/<int:pacs_id>/availability/<int:interval_id>", methods=["GET"])
def get_availability(pacs_id: int, interval_id: int) -> Response:
    _current_revision_only()
    require_admin()
    with state().lock:
        return json_response(dict(_find_interval(pacs_id, interval_id)))


@blueprint.route("/xapi/pacs/<int:pacs_id>/availability/<int:interval_id>", methods=["PUT"])
def update_availability(pacs_id: int, interval_id: int) -> Response:
    _current_revision_only()
    require_admin()
    candidate = _interval(request_json())
    with state().lock:
        existing = _find_interval(pacs_id, interval_id)
        if all(existing[name] == candidate[name] for name in (*INTERVAL_FIELDS, "enabled")):
            return empty(304)
        if _overlaps(pacs_id, candidate, ignore_id=interval_id):
            stop(400, "The interval overlaps an existing interval.")
        existing.update(candidate)
        existing["timestamp"] = now_ms()
        return json_response(dict(existing))


@blueprint.route("/xapi/pacs/<int:pacs_id>/availability/<int:interval_id>", methods=["DELETE"])
def delete_availability(pacs_id: int, interval_id: int) -> Response:
    _current_revision_only()
    require_admin()
    with state().lock:
        _find_interval(pacs_id, interval_id)
        del state().pacs_availability[pacs_id][interval_id]
    return json_response(True)


# --- availability, older revision (integer days, pacsId in the body) ----------------------------------
def _legacy_day(value: Any) -> str | None:
    """PacsAvailability.dayOfWeek as an int: 1 = MONDAY … 7 = SUNDAY; 0 or absent = not given."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    number = int(value)
    return DAYS[number - 1] if 1 <= number <= len(DAYS) else None


def _legacy_interval(body: Any, username: str) -> tuple[int, dict[str, Any]]:
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a PacsAvailability object")
    day = _legacy_day(body.get("dayOfWeek"))
    if day is None or not body.get("availabilityStart") or not body.get("availabilityEnd"):
        stop(
            400,
            f"User {username} tried to create a PACS availability interval but did not supply the day of "
            "week, start time, and end time.",
        )
    pacs_id = body.get("pacsId")
    if isinstance(pacs_id, bool) or not str(pacs_id).isdigit():
        stop(400, f"Bad request: pacsId {pacs_id!r} is not a PACS id")
    return int(pacs_id), _interval({**body, "dayOfWeek": day})


def _legacy_view(interval: dict[str, Any]) -> dict[str, Any]:
    return {**interval, "dayOfWeek": DAYS.index(interval["dayOfWeek"]) + 1}


def _legacy_find(interval_id: int) -> dict[str, Any]:
    found = next(
        (
            intervals[interval_id]
            for intervals in state().pacs_availability.values()
            if interval_id in intervals
        ),
        None,
    )
    if found is None:
        stop(404, f"No PACS availability entry exists for ID {interval_id}")
    return found


@blueprint.route("/xapi/dqr/pacsAvailability/window", methods=["POST"])
def legacy_create_availability() -> Response:
    _older_revision_only()
    user = require_admin()
    pacs_id, candidate = _legacy_interval(request_json(), user.username)
    with state().lock:
        return json_response(_legacy_view(_add_interval(pacs_id, candidate, user.username)))


@blueprint.route("/xapi/dqr/pacsAvailability/conflictsExisting", methods=["POST"])
def legacy_conflicts() -> Response:
    _older_revision_only()
    user = require_admin()
    pacs_id, candidate = _legacy_interval(request_json(), user.username)
    with state().lock:
        return json_response(_overlaps(pacs_id, candidate))


@blueprint.route("/xapi/dqr/pacsAvailability/windows/<int:pacs_id>", methods=["GET"])
def legacy_list_availability(pacs_id: int) -> Response:
    _older_revision_only()
    require_admin()
    with state().lock:
        intervals = state().pacs_availability.get(pacs_id, {}).values()
        return json_response([_legacy_view(interval) for interval in intervals])


@blueprint.route("/xapi/dqr/pacsAvailability/window/<int:interval_id>", methods=["GET"])
def legacy_get_availability(interval_id: int) -> Response:
    _older_revision_only()
    require_admin()
    with state().lock:
        return json_response(_legacy_view(_legacy_find(interval_id)))


@blueprint.route("/xapi/dqr/pacsAvailability/window/<int:interval_id>", methods=["PUT"])
def legacy_update_availability(interval_id: int) -> Response:
    """Only the fields given and different are applied; nothing different → 304 (NotModifiedException)."""
    _older_revision_only()
    user = require_admin()
    with state().lock:
        existing = _legacy_find(interval_id)
        body = request_json()
        given = {key: value for key, value in body.items() if value not in (None, "", 0)}
        merged = {**_legacy_view(existing), **given, "pacsId": existing["pacsId"]}  # no moves modelled
        pacs_id, candidate = _legacy_interval(merged, user.username)
        if all(existing[name] == candidate[name] for name in INTERVAL_FIELDS):
            return empty(304)
        if _overlaps(pacs_id, candidate, ignore_id=interval_id):
            stop(400, "The interval overlaps an existing interval.")
        existing.update(candidate)
        existing["timestamp"] = now_ms()
        return json_response(_legacy_view(existing))


@blueprint.route("/xapi/dqr/pacsAvailability/window/<int:interval_id>", methods=["DELETE"])
def legacy_delete_availability(interval_id: int) -> Response:
    _older_revision_only()
    require_admin()
    with state().lock:
        interval = _legacy_find(interval_id)
        del state().pacs_availability[interval["pacsId"]][interval_id]
    return json_response(True)
