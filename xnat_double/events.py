"""Event service: preferences and subscriptions, site-wide and per project.

Sources (W18 = oncai/xnat 1.8.10.1, `…` = src/main/java/org/nrg/xnat/eventservice; the same code is in
the 1.10 development tree of NrgXnat/xnat):
- W18 …/rest/EventServiceRestApi.java: POST …/subscription → 201 text "<name>:<id>"; a subscription that
  fails validation → 424 "Subscription format failed to validate.\n<reason>"; DELETE → 204;
  activate/deactivate → 200. Site routes are Admin; project routes are Delete (owner) level, so a
  non-owner gets 403 from the XAPI aspect; the project route forces project-ids to [project].
- W18 …/services/impl/EventSubscriptionEntityServiceImpl.java validate(): the event type must be a
  known event class; the event filter must exist; a payload-filter must be a bare JsonPath predicate
  (no "$" prefix); the action key's provider must exist AND the action must be available — for
  CommandActionProvider:<wrapperId> that is "enabled on the site" for a site-wide subscription and
  "enabled for the project" (site AND project flags, CS …/services/impl/ContainerConfigServiceImpl.java)
  for every project of the filter. Create and update are refused with 424 otherwise, which is why the
  project enable must come first.
- getSubscription() re-validates on every read and reports ``valid`` / ``validation-message``: a
  subscription whose wrapper was disabled after it was created reads back ``valid: false``.
- createSubscription(): a blank name becomes "<action> on <event> <status> for <project|Site>" (then
  " v2", " v3", … until unused); given names are NOT checked for uniqueness.
- The event service starts DISABLED (W18 …/services/EventServicePrefsBean.java, enabled default false):
  PUT /xapi/events/prefs {"enabled": true} first. While disabled, create/get/update/delete fail with
  SubscriptionAccessException "Event Service disabled." (no handler → 500) and the lists answer 200
  with an empty body (getSubscriptions returns null).
- W18 …/model/Subscription.java: ``created`` is "yyyy-MM-dd HH:mm:ss z" in UTC.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flask import Blueprint, Response, request

from .common import (
    current_user,
    empty,
    json_response,
    require_admin,
    require_authenticated,
    state,
    stop,
    text,
    xapi_project,
)
from .containers import ACTION_PROVIDER, wrapper_enabled_for
from .state import Project

blueprint = Blueprint("events", __name__)

EVENT_PACKAGE = "org.nrg.xnat.eventservice.events."
EVENT_STATUSES: dict[str, tuple[str, ...]] = {
    "ScanEvent": ("CREATED",),
    "SessionEvent": ("CREATED", "MERGED", "DELETED"),
    "SubjectEvent": ("CREATED", "DELETED"),
    "ProjectEvent": ("CREATED", "DELETED"),
    "SubjectAssessorEvent": ("CREATED", "DELETED"),
    "ImageAssessorEvent": ("CREATED", "UPDATED"),
    "ResourceEvent": ("CREATED", "UPDATED"),
    "ProjectAssetEvent": ("CREATED",),
    "WorkflowStatusChangeEvent": ("CHANGED",),
    "ScheduledEvent": ("CRON",),
}
LOGGING_PROVIDER = "org.nrg.xnat.eventservice.actions.EventServiceLoggingAction"
KNOWN_PROVIDERS = (ACTION_PROVIDER, LOGGING_PROVIDER)
UPDATABLE = ("name", "active", "action-key", "attributes", "act-as-event-user", "event-filter")


def _failed(reason: str) -> None:
    stop(424, f"Subscription format failed to validate.\n{reason}")


def _body() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True))
    except ValueError as error:
        stop(400, f"Bad request: JSON parse error: {error}")
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a JSON object")
    return body


def _validate(subscription: dict[str, Any]) -> None:
    """EventSubscriptionEntityServiceImpl.validate(): end with the 424 XNAT would send."""
    event_filter = subscription["event-filter"]
    if not event_filter.get("event-type"):
        _failed("Missing Event Filter")
    event_type = str(event_filter["event-type"])
    short = event_type.removeprefix(EVENT_PACKAGE)
    if not event_type.startswith(EVENT_PACKAGE) or short not in EVENT_STATUSES:
        _failed(f"Could not load Event class: {event_type}")
    status = event_filter.get("status")
    if status is not None and status not in EVENT_STATUSES[short]:
        _failed(f"Event {short} has no status {status}; it has {list(EVENT_STATUSES[short])}.")
    payload_filter = str(event_filter.get("payload-filter") or "")
    if payload_filter.startswith("$") or "$[?" in payload_filter:
        _failed(
            "Payload JsonPath filter contains $ or $[?. Filter string should include only predicate path."
        )
    if not isinstance(event_filter.get("project-ids"), list):
        _failed("event-filter.project-ids must be a list.")
    reason = _action_unavailable(str(subscription.get("action-key") or ""), event_filter["project-ids"])
    if reason:
        _failed(reason)


def _action_unavailable(action_key: str, project_ids: list[str]) -> str | None:
    """Why ActionManager.validateAction fails for this key and these projects, or None."""
    provider, _, action_id = action_key.partition(":")
    if provider not in KNOWN_PROVIDERS or not action_id:
        return f"Could not validate Action: {action_key}\nCould not load Action Provider for key:{action_key}"
    if provider != ACTION_PROVIDER:
        return None
    wrapper_id = int(action_id) if action_id.isdigit() else -1
    for project_id in project_ids or [None]:
        if not wrapper_enabled_for(wrapper_id, project_id):
            scope = f"project {project_id}" if project_id else "the site"
            return f"Could not validate Action: {action_key}\nAction not available for {scope}."
    return None


def _with_validity(subscription: dict[str, Any]) -> dict[str, Any]:
    """getSubscription(): validity is worked out again on every read."""
    reason = _action_unavailable(subscription["action-key"], subscription["event-filter"]["project-ids"])
    return {**subscription, "valid": reason is None, "validation-message": reason}


def _generated_name(subscription: dict[str, Any]) -> str:
    provider, _, action_id = subscription["action-key"].partition(":")
    action = "Action"
    if provider == ACTION_PROVIDER and action_id.isdigit():
        wrappers = (w for c in state().commands.values() for w in c.get("xnat") or [])
        action = next((w["name"] for w in wrappers if w["id"] == int(action_id)), "Action")
    event_filter = subscription["event-filter"]
    event = re.sub(r"(?<!^)(?=[A-Z])", " ", event_filter["event-type"].removeprefix(EVENT_PACKAGE))
    status = f" {event_filter['status']}" if event_filter.get("status") else ""
    projects = event_filter["project-ids"]
    scope = "Site" if not projects else projects[0] if len(projects) == 1 else "Multiple Projects"
    base = f"{action} on {event}{status} for {scope}"
    taken = {s["name"] for s in state().subscriptions.values()}
    name, index = base, 2
    while name in taken:
        name, index = f"{base} v{index}", index + 1
    return name


def _normalise(body: dict[str, Any], project: Project | None) -> dict[str, Any]:
    event_filter = dict(body.get("event-filter") or {})
    if project is not None:
        event_filter["project-ids"] = [project.id]
    defaults = {
        "name": None,
        "project-ids": [],
        "status": None,
        "payload-filter": None,
        "filter-nodes": {},
        "schedule": None,
        "schedule-description": None,
    }
    for key, value in defaults.items():
        event_filter.setdefault(key, value)
    return {
        "name": body.get("name"),
        "active": body.get("active", True) is not False,
        "action-key": body.get("action-key"),
        "attributes": body.get("attributes") or {},
        "act-as-event-user": bool(body.get("act-as-event-user", False)),
        "event-filter": event_filter,
        "custom-listener-id": body.get("custom-listener-id"),
    }


def _project_for(project_id: str | None) -> Project | None:
    """Site routes: Admin. Project routes: owner level — 404 unknown, 401 anonymous, 403 others."""
    if project_id is None:
        require_admin()
        return None
    return xapi_project(project_id, "delete")


def _require_enabled() -> None:
    if not state().event_prefs.get("enabled"):
        stop(500, "Event Service disabled.")


def _find(subscription_id: int, project: Project | None) -> dict[str, Any]:
    _require_enabled()
    subscription = state().subscriptions.get(subscription_id)
    if subscription is None or (project and project.id not in subscription["event-filter"]["project-ids"]):
        stop(404, f"No subscription with ID {subscription_id}")
    return subscription


# --- preferences -------------------------------------------------------------------------------------
@blueprint.route("/xapi/events/prefs", methods=["GET"])
def get_prefs() -> Response:
    require_authenticated()
    with state().lock:
        return json_response(dict(state().event_prefs))


@blueprint.route("/xapi/events/prefs", methods=["PUT"])
def put_prefs() -> Response:
    require_admin()
    body = _body()
    with state().lock:
        state().event_prefs.update(body)
    return empty()


# --- subscriptions -----------------------------------------------------------------------------------
def _create(project_id: str | None) -> Response:
    current = state()
    with current.lock:
        project = _project_for(project_id)
        _require_enabled()
        subscription = _normalise(_body(), project)
        _validate(subscription)
        if not str(subscription["name"] or "").strip():
            subscription["name"] = _generated_name(subscription)
        subscription["id"] = current.next_id()
        subscription["subscription-owner"] = current_user().username
        subscription["created"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        current.subscriptions[subscription["id"]] = subscription
        return text(f"{subscription['name']}:{subscription['id']}", status=201)


def _list(project_id: str | None) -> Response:
    with state().lock:
        project = _project_for(project_id)
        if not state().event_prefs.get("enabled"):
            return empty()
        found = [
            _with_validity(s)
            for s in state().subscriptions.values()
            if project is None or project.id in s["event-filter"]["project-ids"]
        ]
        if project is not None:  # SubscriptionDisplay: may this project edit it?
            found = [{**s, "editable": s["event-filter"]["project-ids"] == [project.id]} for s in found]
        return json_response(found)


def _get(subscription_id: int, project_id: str | None) -> Response:
    with state().lock:
        return json_response(_with_validity(_find(subscription_id, _project_for(project_id))))


def _update(subscription_id: int, project_id: str | None) -> Response:
    with state().lock:
        project = _project_for(project_id)
        subscription = _find(subscription_id, project)
        body = _body()
        updated = dict(subscription)
        for key in UPDATABLE:
            if body.get(key) is not None:
                updated[key] = body[key]
        updated.update(_normalise(updated, project))
        _validate(updated)
        state().subscriptions[subscription_id] = updated
    return empty()


def _set_active(subscription_id: int, project_id: str | None, active: bool) -> Response:
    with state().lock:
        _find(subscription_id, _project_for(project_id))["active"] = active
    return empty()


def _delete(subscription_id: int, project_id: str | None) -> Response:
    with state().lock:
        _find(subscription_id, _project_for(project_id))
        del state().subscriptions[subscription_id]
    return empty(204)


ROUTES = (
    ("/subscription", "create", ["POST"], lambda project_id=None: _create(project_id)),
    ("/subscriptions", "list", ["GET"], lambda project_id=None: _list(project_id)),
    (
        "/subscription/<int:subscription_id>",
        "get",
        ["GET"],
        lambda subscription_id, project_id=None: _get(subscription_id, project_id),
    ),
    (
        "/subscription/<int:subscription_id>",
        "update",
        ["PUT"],
        lambda subscription_id, project_id=None: _update(subscription_id, project_id),
    ),
    (
        "/subscription/<int:subscription_id>",
        "delete",
        ["DELETE"],
        lambda subscription_id, project_id=None: _delete(subscription_id, project_id),
    ),
    (
        "/subscription/<int:subscription_id>/activate",
        "activate",
        ["POST"],
        lambda subscription_id, project_id=None: _set_active(subscription_id, project_id, True),
    ),
    (
        "/subscription/<int:subscription_id>/deactivate",
        "deactivate",
        ["POST"],
        lambda subscription_id, project_id=None: _set_active(subscription_id, project_id, False),
    ),
)
for scope, prefix in (("site", "/xapi/events"), ("project", "/xapi/projects/<project_id>/events")):
    for suffix, name, methods, view in ROUTES:
        blueprint.add_url_rule(prefix + suffix, f"{name}_{scope}", view, methods=methods)


# --- catalogue ---------------------------------------------------------------------------------------
def _actions(project_id: str | None) -> list[dict[str, Any]]:
    actions = [
        {
            "id": LOGGING_PROVIDER,
            "action-key": f"{LOGGING_PROVIDER}:{LOGGING_PROVIDER}",
            "display-name": "Logging Action",
            "description": "Logs the event.",
            "provider": LOGGING_PROVIDER,
            "attributes": {},
        }
    ]
    for command in state().commands.values():
        for wrapper in command.get("xnat") or []:
            if wrapper_enabled_for(wrapper["id"], project_id):
                actions.append(
                    {
                        "id": str(wrapper["id"]),
                        "action-key": f"{ACTION_PROVIDER}:{wrapper['id']}",
                        "display-name": wrapper.get("label") or wrapper["name"],
                        "description": wrapper.get("description") or "",
                        "provider": ACTION_PROVIDER,
                        "attributes": {},
                    }
                )
    return actions


@blueprint.route("/xapi/events/actions", methods=["GET"])
def list_actions() -> Response:
    require_admin()
    with state().lock:
        return json_response(_actions(request.args.get("project")))


@blueprint.route("/xapi/events/allactions", methods=["GET"])
def list_all_actions() -> Response:
    require_authenticated()
    with state().lock:
        return json_response(_actions(None))


@blueprint.route("/xapi/projects/<project_id>/events/actions", methods=["GET"])
def list_project_actions(project_id: str) -> Response:
    with state().lock:
        _project_for(project_id)
        return json_response(_actions(project_id))


@blueprint.route("/xapi/events/events", methods=["GET"])
def list_events() -> Response:
    require_authenticated()
    return json_response(
        [
            {
                "type": EVENT_PACKAGE + name,
                "statuses": list(statuses),
                "listener": None,
                "display-name": name,
                "description": "",
                "payload": None,
                "is-xsi-type": False,
                "event-scope": "PROJECT",
            }
            for name, statuses in EVENT_STATUSES.items()
        ]
    )
