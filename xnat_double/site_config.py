"""/xapi/siteConfig and /xapi/notifications.

Source: W18 src/main/java/org/nrg/xapi/rest/settings/SiteConfigApi.java (oncai/xnat 1.8.10.1).
- GET: every preference the caller may read (W18 …/resources/META-INF/xnat/security/site-config-access.yaml
  via SiteConfigAccess; admins read all), null values as "". Before initialisation a non-admin gets {}
  and an admin's GET fills a blank siteUrl from the request's server root.
- POST (Admin; JSON or form, other Content-Types 415) with a map: every key is set through the
  preference bean, which is NOT strict, so an unknown key is accepted (200) and stored as a new
  preference (the InvalidPreferenceName catch logs "which is weird because the site configuration is
  not strict"); it then appears in the admin GET. Clients that want to reject typos must compare with
  GET /xapi/siteConfig first. With "initialized": true on an uninitialised site every other key is set
  first and initialized last; before initialisation "adminEmail" is also written to the admin and
  guest accounts (EMAIL_UPDATE). A JSON null depends on the release (seed double.xnat_version):
  1.8 and 1.9 (NX web/src/main/java/org/nrg/xapi/rest/settings/SiteConfigApi.java
  setSiteConfigProperties) call ``value.getClass()`` on it: NullPointerException → 500, after the keys
  before it in the body were already set; 1.10 leaves the key unchanged (WM, as the REST contract
  describes).
- GET /{property}: the bare JSON value, or 404 "No site configuration property named X"; keys the
  caller may not read → 403 (SiteConfigPreferenceXapiAuthorization).
- POST /{property} (Admin; text/plain or JSON): the body is read as a raw String — a JSON string body
  keeps its quotes — then set like a form value.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, request

from .common import (
    current_user,
    empty,
    json_response,
    parse_bool,
    request_map,
    require_admin,
    require_content_type,
    state,
    stop,
)
from .site_config_defaults import AUTHENTICATED_KEYS, PUBLIC_KEYS
from .state import User

blueprint = Blueprint("site_config", __name__)
STARTED = time.time()


def visible_keys(user: User | None) -> set[str] | None:
    """None means every key (site admin)."""
    if user is not None and user.is_admin:
        return None
    keys = set(PUBLIC_KEYS)
    if user is not None and user.username != "guest":
        keys |= AUTHENTICATED_KEYS
    return keys


def coerce(name: str, value: Any, config: dict[str, Any]) -> Any:
    """Preferences keep their declared type: a form string "true" for a boolean key reads back as true."""
    current = config.get(name)
    if isinstance(value, str):
        if isinstance(current, bool):
            parsed = parse_bool(value)
            return value if parsed is None else parsed
        if isinstance(current, int):
            try:
                return int(value)
            except ValueError:
                return value
        if isinstance(current, list):
            try:
                decoded = json.loads(value)
            except ValueError:
                return [item.strip() for item in value.split(",") if item.strip()]
            return decoded if isinstance(decoded, list) else value
    return value


def store(values: dict[str, Any]) -> None:
    current = state()
    config = current.site_config
    if not current.initialized and values.get("adminEmail"):
        for username in ("admin", "guest"):
            if username in current.users:
                current.users[username].email = str(values["adminEmail"])
    initializing = not current.initialized and parse_bool(values.get("initialized", False)) is True
    for name, value in values.items():
        if initializing and name == "initialized":
            continue
        if value is None:
            if current.options.xnat_version != "1.10":
                stop(500, "Internal server error: java.lang.NullPointerException")
            continue  # 1.10: JSON null means "leave unchanged"
        config[name] = coerce(name, value, config)
    if initializing:
        config["initialized"] = True


@blueprint.route("/xapi/siteConfig", methods=["GET"])
def get_site_config() -> Response:
    current = state()
    user = current_user()
    with current.lock:
        keys = visible_keys(user)
        if keys is not None and not current.initialized:
            return json_response({})
        if keys is None and not current.initialized and not current.site_config.get("siteUrl"):
            current.site_config["siteUrl"] = request.host_url.rstrip("/")
        return json_response(
            {k: "" if v is None else v for k, v in current.site_config.items() if keys is None or k in keys}
        )


@blueprint.route("/xapi/siteConfig", methods=["POST"])
def post_site_config() -> Response:
    require_admin()
    require_content_type("application/json", "application/x-www-form-urlencoded")
    values = request_map()
    with state().lock:
        store(values)
    return empty()


@blueprint.route("/xapi/siteConfig/buildInfo", methods=["GET"])
def build_info() -> Response:
    return json_response(dict(state().options.build_info))


@blueprint.route("/xapi/siteConfig/buildInfo/<prop>", methods=["GET"])
def build_info_property(prop: str) -> Response:
    info = state().options.build_info
    if prop not in info:
        stop(404)
    return json_response(info[prop])


@blueprint.route("/xapi/siteConfig/uptime", methods=["GET"])
def uptime() -> Response:
    seconds = int(time.time() - STARTED)
    return json_response(
        {
            "days": seconds // 86400,
            "hours": seconds // 3600 % 24,
            "minutes": seconds // 60 % 60,
            "seconds": seconds % 60,
        }
    )


@blueprint.route("/xapi/siteConfig/values/<names>", methods=["GET"])
def get_values(names: str) -> Response:
    current = state()
    keys = visible_keys(current_user())
    with current.lock:
        wanted = [name for name in names.split(",") if name]
        return json_response(
            {
                name: current.site_config[name]
                for name in wanted
                if name in current.site_config and (keys is None or name in keys)
            }
        )


@blueprint.route("/xapi/siteConfig/<prop>", methods=["GET"])
def get_property(prop: str) -> Response:
    current = state()
    with current.lock:
        if prop not in current.site_config:
            stop(404, f"No site configuration property named {prop}")
        keys = visible_keys(current_user())
        if keys is not None and prop not in keys:
            stop(403)
        return json_response(current.site_config[prop])


@blueprint.route("/xapi/siteConfig/<prop>", methods=["POST"])
def post_property(prop: str) -> Response:
    require_admin()
    require_content_type("text/plain", "application/json")
    with state().lock:
        store({prop: request.get_data(as_text=True)})
    return empty()


# --- notifications (W18 …/xapi/rest/notifications/NotificationsApi.java) ----------------------------
@blueprint.route("/xapi/notifications", methods=["GET"])
def get_notifications() -> Response:
    require_admin()
    with state().lock:
        return json_response(dict(state().notifications))


@blueprint.route("/xapi/notifications", methods=["POST"])
def post_notifications() -> Response:
    require_admin()
    values = request_map()
    with state().lock:
        state().notifications.update(values)
    return empty()
