"""Users: /xapi/users/* and the restlet list /data/users.

Source: W18 src/main/java/org/nrg/xapi/rest/users/UsersApi.java, …/xapi/model/users/User.java
(`…` = src/main/java/org/nrg). Dates (lastModified, lastSuccessfulLogin) are epoch milliseconds.
- GET /xapi/users, /profiles, /profile/{u}: W18 …/xapi/authorization/UserResourceXapiAuthorization.java —
  any authenticated user when restrictUserListAccessToAdmins is false (the default), else admins and
  the user named in the path; guests never (401).
- GET /data/users (W18 …/xnat/restlet/resources/UserListResource.java): ENABLED users only, columns
  xdat_user_id, login, firstname, lastname, email, ordered by lastname; 403 for guests and, when
  restricted, non-admins. Use /xapi/users/profiles to see disabled accounts.
- POST /xapi/users → 201 User; 409 when the user exists; 400 naming missing fields.
- PUT /xapi/users/{u} → 200 User, or 304 when nothing changed. A non-blank password always counts as a
  change (XNAT compares it with the stored hash, which a clear-text password never equals).
- PUT/DELETE roles and groups with a JSON array → 200 [] or 202 with the entries that failed.
- GET /xapi/users/rolemap, /roles, /roles/{role}, /active (Admin); /current (like /profiles).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request

from .common import (
    current_user,
    empty,
    json_response,
    parse_bool,
    request_json,
    require_admin,
    require_authenticated,
    require_self_or_admin,
    result_set,
    state,
    stop,
    text,
)
from .state import PROJECT_ROLES, User, now_ms

blueprint = Blueprint("users", __name__)

KNOWN_ROLES = frozenset(
    {"Administrator", "Dqr", "ContainerManager", "DataManager", "non_expiring", "ContainerUser"}
)
SITE_GROUPS = frozenset({"ALL_DATA_ADMIN", "ALL_DATA_ACCESS"})
UPDATABLE = {"firstName": "first_name", "lastName": "last_name", "email": "email"}


# FW libs/framework/.../utilities/Patterns.java (EXPR_USERNAME, LIMIT_XSS_CHARS) and
# libs/xdat/.../security/helpers/Users.java (EXPRESSION_EMAIL), checked by UsersApi.validateUser.
FIELD_PATTERNS = {
    "username": re.compile(r"[a-zA-Z][A-Za-z0-9\-_'.]{0,63}"),
    "email": re.compile(
        r"[A-Za-z0-9_!#$%&'*+/=?`{|}~^-]+(?:\.[A-Za-z0-9_!#$%&'*+/=?`{|}~^-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    ),
    "firstName": re.compile(r"[^&<>\"/]+"),
    "lastName": re.compile(r"[^&<>\"/]+"),
}


def check_password_complexity(password: Any) -> None:
    """passwordComplexity (a regex, default ^.*$) applies when a password is set: 400 with the message."""
    if not password:
        return
    config = state().site_config
    if not re.fullmatch(str(config.get("passwordComplexity") or ".*"), str(password)):
        stop(400, str(config.get("passwordComplexityMessage") or "Password is not sufficiently complex."))


def user_json(user: User, with_last_login: bool = True) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
        "password": None,
        "salt": None,
        "secured": True,
        "lastModified": user.last_modified,
        "authorization": None,
        "enabled": user.enabled,
        "verified": user.verified,
        "lastSuccessfulLogin": user.last_successful_login if with_last_login else None,
        "pendingEmail": None,
        "currentPassword": None,
    }


def require_user_list_access(named: str | None = None) -> User:
    user = require_authenticated()
    restricted = state().site_config.get("restrictUserListAccessToAdmins", False)
    if restricted and not user.is_admin and user.username != named:
        stop(403)
    return user


def find_user(username: str) -> User:
    user = state().users.get(username)
    if user is None:
        stop(404, f"User {username} not found")
    return user


@blueprint.route("/xapi/users", methods=["GET"])
def list_usernames() -> Response:
    require_user_list_access()
    with state().lock:
        return json_response(sorted(state().users))


@blueprint.route("/xapi/users/profiles", methods=["GET"])
def list_profiles() -> Response:
    require_user_list_access()
    with state().lock:
        return json_response([user_json(user) for user in state().users.values()])


@blueprint.route("/xapi/users/profile/<username>", methods=["GET"])
def get_profile(username: str) -> Response:
    require_user_list_access(username)
    with state().lock:
        return json_response(user_json(find_user(username)))


@blueprint.route("/xapi/users/username", methods=["GET"])
def whoami() -> Response:
    return text(require_authenticated().username)


@blueprint.route("/xapi/users/profile", methods=["GET"])
def my_profile() -> Response:
    user = require_authenticated()
    with state().lock:
        return json_response(user_json(user))


@blueprint.route("/xapi/users/current", methods=["GET"])
def current_profiles() -> Response:
    """Users who are enabled or interacted recently (UsersApi.currentUsersProfilesGet): enabled ones here."""
    require_user_list_access()
    with state().lock:
        return json_response([user_json(user) for user in state().users.values() if user.enabled])


@blueprint.route("/xapi/users/active", methods=["GET"])
def active_sessions() -> Response:
    require_admin()
    with state().lock:
        by_user: dict[str, list[str]] = {}
        for token, username in state().sessions.items():
            if username:
                by_user.setdefault(username, []).append(token)
        return json_response(
            {user: {"sessions": tokens, "count": len(tokens)} for user, tokens in by_user.items()}
        )


@blueprint.route("/xapi/users/rolemap", methods=["GET"])
def role_map() -> Response:
    require_admin()
    with state().lock:
        roles: dict[str, list[str]] = {}
        for user in state().users.values():
            for role in user.roles:
                roles.setdefault(role, []).append(user.username)
        return json_response({role: sorted(names) for role, names in sorted(roles.items())})


@blueprint.route("/xapi/users/roles", methods=["GET"])
def all_roles() -> Response:
    require_admin()
    with state().lock:
        return json_response(sorted(KNOWN_ROLES | {r for u in state().users.values() for r in u.roles}))


@blueprint.route("/xapi/users/roles/<role>", methods=["GET"])
def users_with_role(role: str) -> Response:
    require_admin()
    with state().lock:
        return json_response(sorted(u.username for u in state().users.values() if role in u.roles))


@blueprint.route("/xapi/users", methods=["POST"])
def create_user() -> Response:
    require_admin()
    body = request_json()
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a User object")
    invalid = [
        key for key, pattern in FIELD_PATTERNS.items() if not pattern.fullmatch(str(body.get(key) or ""))
    ]
    if invalid:
        stop(400, "The following fields are missing or invalid: " + ", ".join(invalid))
    current = state()
    with current.lock:
        check_password_complexity(body.get("password"))
        if body["username"] in current.users:
            stop(409, f"The user {body['username']} already exists.")
        user = current.add_user(
            str(body["username"]),
            str(body.get("password") or ""),
            first_name=body["firstName"],
            last_name=body["lastName"],
            email=body["email"],
            enabled=parse_bool(body.get("enabled", True)) is not False,
            verified=parse_bool(body.get("verified", True)) is not False,
        )
        return json_response(user_json(user), status=201)


@blueprint.route("/xapi/users/<username>", methods=["GET"])
def get_user(username: str) -> Response:
    require_self_or_admin(username)
    with state().lock:
        return json_response(user_json(find_user(username), with_last_login=False))


@blueprint.route("/xapi/users/<username>", methods=["PUT"])
def update_user(username: str) -> Response:
    require_admin()
    body = request_json()
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a User object")
    with state().lock:
        user = find_user(username)
        changed = False
        for key, attribute in UPDATABLE.items():
            if body.get(key) is not None and getattr(user, attribute) != body[key]:
                setattr(user, attribute, body[key])
                changed = True
        for key in ("enabled", "verified"):
            flag = parse_bool(body[key]) if body.get(key) is not None else None
            if flag is not None and getattr(user, key) != flag:
                setattr(user, key, flag)
                changed = True
        if body.get("username") and body["username"] != username:
            stop(400, "The username for the submitted user object must match the username for the API call")
        if body.get("email") and not FIELD_PATTERNS["email"].fullmatch(str(body["email"])):
            stop(400, "Invalid email format")
        if body.get("password"):
            check_password_complexity(body["password"])
            user.password = str(body["password"])
            changed = True
        if not changed:
            return empty(304)
        user.last_modified = now_ms()
        return json_response(user_json(user))


def _flag_routes(flag: str) -> None:
    def read(username: str) -> Response:
        require_self_or_admin(username)
        with state().lock:
            return json_response(getattr(find_user(username), flag))

    def write(username: str, value: str) -> Response:
        require_admin()
        parsed = parse_bool(value)
        if parsed is None:
            stop(400, f"Bad request: invalid boolean value [{value}]")
        with state().lock:
            user = find_user(username)
            if getattr(user, flag) != parsed:
                setattr(user, flag, parsed)
                user.last_modified = now_ms()
        return empty()

    blueprint.add_url_rule(f"/xapi/users/<username>/{flag}", f"get_{flag}", read, methods=["GET"])
    blueprint.add_url_rule(f"/xapi/users/<username>/{flag}/<value>", f"set_{flag}", write, methods=["PUT"])


_flag_routes("enabled")
_flag_routes("verified")


# --- roles ------------------------------------------------------------------------------------------
@blueprint.route("/xapi/users/<username>/roles", methods=["GET"])
def get_roles(username: str) -> Response:
    require_self_or_admin(username)
    with state().lock:
        return json_response(sorted(find_user(username).roles))


def _array_body() -> list[str]:
    body = request_json()
    if not isinstance(body, list) or not all(isinstance(item, str) for item in body):
        stop(400, "Bad request: expected a JSON array of strings")
    return body


@blueprint.route("/xapi/users/<username>/roles", methods=["PUT", "DELETE"])
def change_roles(username: str) -> Response:
    require_admin()
    roles = _array_body()
    with state().lock:
        user = find_user(username)
        if request.method == "PUT":
            user.roles |= set(roles)
        else:
            user.roles -= set(roles)
        return json_response([])


@blueprint.route("/xapi/users/<username>/roles/<role>", methods=["PUT", "DELETE"])
def change_role(username: str, role: str) -> Response:
    require_admin()
    with state().lock:
        user = find_user(username)
        if request.method == "PUT":
            user.roles.add(role)
        else:
            user.roles.discard(role)
    return empty()


# --- groups -----------------------------------------------------------------------------------------
def add_group(user: User, group: str) -> bool:
    """Project groups (``P_owner``) are project memberships; returns False for an unknown group."""
    current = state()
    if group in SITE_GROUPS:
        user.groups.add(group)
        return True
    project_id, _, role = group.rpartition("_")
    project = current.projects.get(project_id)
    if project is None or role not in PROJECT_ROLES:
        return False
    current.set_member(project, role, user.username)
    return True


def remove_group(user: User, group: str) -> bool:
    current = state()
    if group in user.groups:
        user.groups.discard(group)
        return True
    project_id, _, role = group.rpartition("_")
    project = current.projects.get(project_id)
    if project is None or role not in PROJECT_ROLES:
        return False
    return current.remove_member(project, user.username, role)


@blueprint.route("/xapi/users/<username>/groups", methods=["GET"])
def get_groups(username: str) -> Response:
    require_self_or_admin(username)
    with state().lock:
        return json_response(find_user(username).all_groups())


@blueprint.route("/xapi/users/<username>/groups", methods=["PUT", "DELETE"])
def change_groups(username: str) -> Response:
    require_admin()
    groups = _array_body()
    with state().lock:
        user = find_user(username)
        change = add_group if request.method == "PUT" else remove_group
        failed = [group for group in groups if not change(user, group)]
    return json_response(failed, status=202 if failed else 200)


@blueprint.route("/xapi/users/<username>/groups/<group>", methods=["PUT", "DELETE"])
def change_group(username: str, group: str) -> Response:
    require_admin()
    with state().lock:
        user = find_user(username)
        change = add_group if request.method == "PUT" else remove_group
        if not change(user, group) and request.method == "PUT":
            stop(404, f"No group {group}")
    return empty()


# --- restlet user list -----------------------------------------------------------------------------------
@blueprint.route("/data/users", methods=["GET"])
def restlet_users() -> Response:
    user = current_user()
    restricted = state().site_config.get("restrictUserListAccessToAdmins", False)
    if user is None or user.username == "guest" or (restricted and not user.is_admin):
        stop(403, "Access Denied: Only site managers can access site-level user resources.")
    with state().lock:
        enabled = sorted((u for u in state().users.values() if u.enabled), key=lambda u: u.last_name)
        rows = [
            {
                "xdat_user_id": u.id,
                "login": u.username,
                "firstname": u.first_name,
                "lastname": u.last_name,
                "email": u.email,
            }
            for u in enabled
        ]
    return result_set(rows, title="Projects")
