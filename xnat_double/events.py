"""Event service: preferences and subscriptions, site-wide and per project.

Sources (NX = NrgXnat/xnat monorepo at 93d33cb, the 1.9 line;
`…` = web/src/main/java/org/nrg/xnat/eventservice):
- NX …/rest/EventServiceRestApi.java: POST …/subscription → 201 text "<name>:<id>"; a subscription that
  fails validation → 424 "Subscription format failed to validate.\\n<reason>"; DELETE → 204;
  activate/deactivate → 200. Site routes are Admin; project routes are Delete (owner) level (the XAPI
  aspect answers 403 for others, 404 for an unknown project), and then:
  - checkProjectSubscriptionAccess (create, update, activate, deactivate, delete on a project route):
    the subscription's project-ids must contain the path project and the caller must be an admin or own
    every listed project, else UnauthorizedException → 401 "Unauthorized.\\n<login> not authorized to
    modify subscriptions for project(s): <ids|Site>". The create route does NOT rewrite project-ids;
    the update route checks the subscription as it was before the update.
  - checkReadProjectSubscriptionAccess (GET one on a project route): a site-wide subscription (no
    project-ids) is readable from any project route; one for other projects → 401.
  - project routes answer SubscriptionDisplay (…/model/SubscriptionDisplay.java, @JsonInclude(ALWAYS):
    its nulls are written) with ``editable``; the project list holds the project's AND the site-wide
    subscriptions (…/services/impl/EventSubscriptionEntityServiceImpl.java getSubscriptions(project)).
  - POST /xapi/events/subscription/filter/validate (Authenticated) compiles a predicate: 200, or 424
    "JsonPath format failed to validate.\\n<reason>" (handleFailedJsonPathValidation).
- NX …/model/{SubscriptionCreator,ProjectSubscriptionCreator,Subscription}.java: a site create keeps
  ``act-as-event-user`` (absent → false); ``Subscription.createOnProject`` always stores false (the
  project creator has no such field, nor schedule). Absent ``attributes`` become {}.
- NX …/model/{SubscriptionUpdate,Subscription,EventFilter}.java, updates: absent ``attributes`` → {} and
  absent ``act-as-event-user`` → false are applied; ``name``, ``active``, ``action-key`` are kept when
  absent; an absent ``event-filter`` keeps the old one; otherwise EventFilter.update keeps
  ``name``, ``event-type``, ``status``, ``payload-filter``, ``filter-nodes`` when absent (so null does NOT
  clear a payload filter; "" does) and REPLACES ``project-ids``, ``schedule``, ``schedule-description``
  with what was sent (absent → null: a project subscription becomes site-wide).
- NX …/services/impl/EventSubscriptionEntityServiceImpl.java validate(): the event type must be a known
  event class; the event filter must exist; a non-empty payload-filter is compiled as
  ``"$[?(" + filter + ")]"`` with Jayway JsonPath 2.8.0 (xnat_double/jsonpath.py) and must not start
  with "$" or contain "$[?" — failures read "Could not compile jsonPath filter. <reason>"; the action
  key's provider must exist AND the action must be available — for CommandActionProvider:<wrapperId>
  that is "enabled on the site" for a site-wide subscription and "enabled for the project" (site AND
  project flags, CS …/services/impl/ContainerConfigServiceImpl.java) for every project of the filter.
  Two of its messages concatenate ``"text " + value != null ? value : "unknown"``, which Java parses as
  ``("text " + value) != null ? …``: the message is the bare value (event type, action key), and so it
  is here. The status is not checked against the event's statuses.
- getSubscription() re-validates on every read: ``valid`` true with no ``validation-message`` (null, so
  NON_NULL leaves it out), or ``valid`` false with the reason.
- createSubscription(): a blank name becomes "<action> on <event> <status> for <project|Site>" (then
  " v2", " v3", … until unused); given names are NOT checked for uniqueness.
- The event service starts DISABLED (…/services/EventServicePrefsBean.java, enabled default false):
  PUT /xapi/events/prefs {"enabled": true} first. While disabled, create/get/update/delete fail with
  SubscriptionAccessException "Event Service disabled." (no handler → 500) and the lists answer 200
  with an empty body (getSubscriptions returns null). The SITE activate/deactivate routes do not check
  (…/services/impl/EventServiceImpl.java activateSubscription/deactivateSubscription go straight to the
  entity service): they work while it is off; the project ones read the subscription through
  EventServiceImpl.getSubscription for checkProjectSubscriptionAccess first, so they answer 500.
- An unknown id: AbstractHibernateEntityService.get (NX libs/framework/…/orm/hibernate/) throws
  NotFoundException "Could not find entity with ID <id>", which web/…/xapi/rest/XapiRestControllerAdvice
  .java answers 404 text/plain "Unable to find requested file or resource: " + that message.
- Deactivation keeps the subscription (…/services/impl/EventSubscriptionEntityServiceImpl.java
  deactivate: active false, the row and its delivery history stay); DELETE deactivates, then removes it.
  Neither looks at whether the subscription was active; deactivate catches every Throwable, so it answers
  200 even when it failed inside. Nothing in the event service removes a deleted project's
  subscriptions.
- …/model/Subscription.java: ``created`` is "yyyy-MM-dd HH:mm:ss z" in UTC; ``custom-listener-id`` is
  @JsonIgnore (never written).
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
    omit_nulls,
    require_admin,
    require_authenticated,
    state,
    stop,
    text,
    xapi_project,
)
from .containers import ACTION_PROVIDER, wrapper_enabled_for
from .jsonpath import InvalidPathError, compile_payload_filter
from .state import Project, User

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
# EventFilter.update: kept when the update leaves them out, or replaced by what was sent.
FILTER_KEPT_WHEN_ABSENT = ("name", "event-type", "status", "payload-filter", "filter-nodes")
FILTER_REPLACED = ("project-ids", "schedule", "schedule-description")
DOLLAR_MESSAGE = (
    '"Payload JsonPath filter contains $ or $[?. Filter string should include only predicate path."'
)


class SubscriptionValidationError(Exception):
    """SubscriptionValidationException: its message is what getSubscription reports as invalid."""


def _failed(reason: str) -> None:
    raise SubscriptionValidationError(reason)


def _body() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True))
    except ValueError as error:
        stop(400, f"Bad request: JSON parse error: {error}")
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a JSON object")
    return body


def project_ids(subscription: dict[str, Any]) -> list[str]:
    return list(subscription["event-filter"].get("project-ids") or [])


def validation_error(subscription: dict[str, Any]) -> str | None:
    """EventSubscriptionEntityServiceImpl.validate(): the reason it would refuse, or None."""
    try:
        _validate(subscription)
    except SubscriptionValidationError as failure:
        return str(failure)
    return None


def _validate(subscription: dict[str, Any]) -> None:
    event_filter = subscription.get("event-filter")
    event_type = str((event_filter or {}).get("event-type") or "")
    short = event_type.removeprefix(EVENT_PACKAGE)
    if not event_type.startswith(EVENT_PACKAGE) or short not in EVENT_STATUSES:
        _failed(event_type)  # "Could not load Event class: " + eventType != null ? … : the bare type
    if event_filter is None:
        _failed("Missing Event Filter")
    payload_filter = event_filter.get("payload-filter")
    if payload_filter:
        try:
            compile_payload_filter(str(payload_filter))
        except InvalidPathError as error:
            _failed(f"Could not compile jsonPath filter. {error}")
        if str(payload_filter).startswith("$") or "$[?" in str(payload_filter):
            _failed(f"Could not compile jsonPath filter. {DOLLAR_MESSAGE}")
    reason = _action_unavailable(str(subscription.get("action-key") or ""), project_ids(subscription))
    if reason:
        _failed(reason)


def _action_unavailable(action_key: str, projects: list[str]) -> str | None:
    """Why ActionManager.validateAction fails for this key and these projects, or None."""
    provider, _, action_id = action_key.partition(":")
    if provider not in KNOWN_PROVIDERS or not action_id:
        return f"Could not validate Action: {action_key}\nCould not load Action Provider for key:{action_key}"
    if provider != ACTION_PROVIDER:
        return None
    wrapper_id = int(action_id) if action_id.isdigit() else -1
    for project_id in projects or [None]:
        if not wrapper_enabled_for(wrapper_id, project_id):
            # "Could not validate Action Provider Class " + key != null ? key : … is the bare key.
            return f"Could not validate Action: {action_key}\n{action_key}"
    return None


def _with_validity(subscription: dict[str, Any]) -> dict[str, Any]:
    """getSubscription(): validity is worked out again on every read."""
    reason = validation_error(subscription)
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
    projects = project_ids(subscription)
    scope = "Site" if not projects else projects[0] if len(projects) == 1 else "Multiple Projects"
    base = f"{action} on {event}{status} for {scope}"
    taken = {s["name"] for s in state().subscriptions.values()}
    name, index = base, 2
    while name in taken:
        name, index = f"{base} v{index}", index + 1
    return name


def _created(body: dict[str, Any], on_project: bool) -> dict[str, Any]:
    """Subscription.create (site) or Subscription.createOnProject (project) from the creator body."""
    creator_filter = body.get("event-filter")
    if not isinstance(creator_filter, dict):  # EventFilter.create(null) dereferences it
        stop(500, "java.lang.NullPointerException")
    event_filter = {
        "name": creator_filter.get("name"),
        "event-type": creator_filter.get("event-type"),
        "project-ids": creator_filter.get("project-ids"),
        "status": creator_filter.get("status"),
        "schedule": None if on_project else creator_filter.get("schedule"),
        "schedule-description": None if on_project else creator_filter.get("schedule-description"),
        "payload-filter": creator_filter.get("payload-filter"),
        "filter-nodes": creator_filter.get("filter-nodes"),
    }
    return {
        "name": body.get("name"),
        "active": body.get("active", True) is not False,
        "action-key": body.get("action-key"),
        "attributes": body.get("attributes") or {},
        "act-as-event-user": False if on_project else bool(body.get("act-as-event-user") or False),
        "event-filter": event_filter,
    }


def _updated(subscription: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Subscription.update(SubscriptionUpdate.create(...)), with EventFilter.update for the filter."""
    updated = dict(subscription)
    for key in ("name", "active", "action-key"):
        if update.get(key) is not None:
            updated[key] = update[key]
    updated["active"] = updated["active"] is not False
    updated["attributes"] = update.get("attributes") or {}  # absent → {} (SubscriptionUpdate.create)
    updated["act-as-event-user"] = bool(update.get("act-as-event-user") or False)  # absent → false
    new_filter = update.get("event-filter")
    if isinstance(new_filter, dict):
        event_filter = dict(subscription["event-filter"])
        for key in FILTER_KEPT_WHEN_ABSENT:
            if new_filter.get(key) is not None:
                event_filter[key] = new_filter[key]
        for key in FILTER_REPLACED:
            event_filter[key] = new_filter.get(key)
        updated["event-filter"] = event_filter
    return updated


def _project_for(project_id: str | None) -> Project | None:
    """Site routes: Admin. Project routes: owner level — 404 unknown, 401 anonymous, 403 others."""
    if project_id is None:
        require_admin()
        return None
    return xapi_project(project_id, "delete")


def _require_enabled() -> None:
    if not state().event_prefs.get("enabled"):
        stop(500, "Event Service disabled.")


def _find(subscription_id: int, *, when_disabled: bool = False) -> dict[str, Any]:
    """EventServiceImpl.getSubscription (500 while the service is off), or with ``when_disabled`` the
    entity service's own (what the site activate/deactivate routes call)."""
    if not when_disabled:
        _require_enabled()
    subscription = state().subscriptions.get(subscription_id)
    if subscription is None:
        message = f"Could not find entity with ID {subscription_id}"
        stop(404, f"Unable to find requested file or resource: {message}")
    return subscription


def _owns_all(user: User, projects: list[str]) -> bool:
    current = state()
    return all(
        project in current.projects and current.projects[project].role_of(user.username) == "owner"
        for project in projects
    )


def _check_modify_access(subscription: dict[str, Any], project: Project | None) -> None:
    """checkProjectSubscriptionAccess, on project routes only (site routes are Admin already)."""
    if project is None:
        return
    user = current_user()
    projects = project_ids(subscription)
    if not projects or project.id not in projects or not (user.is_admin or _owns_all(user, projects)):
        scope = ",".join(projects) if projects else "Site"
        message = f"{user.username} not authorized to modify subscriptions for project(s): {scope}"
        stop(401, f"Unauthorized.\n{message}")


def _check_read_access(subscription: dict[str, Any], project: Project | None) -> None:
    """checkReadProjectSubscriptionAccess: site-wide ones and the project's own are readable."""
    projects = project_ids(subscription)
    if project is None or not projects or project.id in projects:
        return
    login = current_user().username
    stop(401, f"Unauthorized.\n{login} not authorized to read subscriptions for other projects")


def _render(subscription: dict[str, Any], project: Project | None) -> Response:
    """Subscription (NON_NULL) on site routes; SubscriptionDisplay (@JsonInclude ALWAYS, ``editable``)
    on project routes, whose nested EventFilter still leaves its nulls out."""
    if project is None:
        return json_response(subscription)
    return json_response(_display(subscription, project), keep_nulls=True)


def _display(subscription: dict[str, Any], project: Project) -> dict[str, Any]:
    display = {**subscription, "event-filter": omit_nulls(subscription["event-filter"])}
    display["editable"] = project_ids(subscription) == [project.id]
    return display


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


@blueprint.route("/xapi/events/subscription/filter/validate", methods=["POST"])
def validate_filter() -> Response:
    """validateFilterJsonPathPredicate: the raw body is the predicate (@RequestBody String)."""
    require_authenticated()
    try:
        compile_payload_filter(request.get_data(as_text=True))
    except InvalidPathError as error:
        stop(424, f"JsonPath format failed to validate.\n{error}")
    return empty()


# --- subscriptions -----------------------------------------------------------------------------------
def _create(project_id: str | None) -> Response:
    current = state()
    with current.lock:
        project = _project_for(project_id)
        subscription = _created(_body(), on_project=project is not None)
        _check_modify_access(subscription, project)
        _require_enabled()
        reason = validation_error(subscription)
        if reason:
            stop(424, f"Subscription format failed to validate.\n{reason}")
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
        found = [_with_validity(s) for s in state().subscriptions.values()]
        if project is None:
            return json_response(found)
        mine = [s for s in found if not project_ids(s) or project.id in project_ids(s)]
        return json_response([_display(s, project) for s in mine], keep_nulls=True)


def _get(subscription_id: int, project_id: str | None) -> Response:
    with state().lock:
        project = _project_for(project_id)
        subscription = _find(subscription_id)
        _check_read_access(subscription, project)
        return _render(_with_validity(subscription), project)


def _update(subscription_id: int, project_id: str | None) -> Response:
    with state().lock:
        project = _project_for(project_id)
        subscription = _find(subscription_id)
        updated = _updated(subscription, _body())
        _check_modify_access(subscription, project)  # the subscription as it was
        reason = validation_error(updated)
        if reason:
            stop(424, f"Subscription format failed to validate.\n{reason}")
        state().subscriptions[subscription_id] = updated
    return empty()


def _set_active(subscription_id: int, project_id: str | None, active: bool) -> Response:
    """activateSubscription/deactivateSubscription: 200, also for one already in that state."""
    with state().lock:
        project = _project_for(project_id)
        subscription = _find(subscription_id, when_disabled=project is None)
        _check_modify_access(subscription, project)
        subscription["active"] = active
    return empty()


def _delete(subscription_id: int, project_id: str | None) -> Response:
    with state().lock:
        project = _project_for(project_id)
        _check_modify_access(_find(subscription_id), project)
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
