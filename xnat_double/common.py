"""Helpers shared by the double's blueprints: state access, XNAT-shaped errors and bodies, access checks."""

from __future__ import annotations

import html
import json
from typing import Any, NoReturn

from flask import Response, abort, current_app, g, request

from .state import DoubleState, Project, User

STATE_KEY = "XNAT_DOUBLE_STATE"
REALM_HEADER = {"WWW-Authenticate": 'Basic realm="XNAT"'}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def state() -> DoubleState:
    return current_app.config[STATE_KEY]


def current_user() -> User | None:
    """The authenticated user, the guest user for anonymous requests on an open site, or None."""
    return g.get("user")


def text(body: str, status: int = 200, mimetype: str = "text/plain") -> Response:
    return Response(body, status=status, mimetype=mimetype)


def json_response(value: Any, status: int = 200, *, keep_nulls: bool = False) -> Response:
    """A JSON body. XAPI answers are written by XNAT's ObjectMapper, built with
    ``serializationInclusion(NON_NULL)`` (NX libs/framework/.../configuration/SerializerConfig.java, the
    mapper of web/.../configuration/WebConfig.java): a property whose value is null is left out, and a
    null return value is an empty body. ``keep_nulls`` is for the classes annotated
    ``@JsonInclude(ALWAYS)`` (for example the event service's SubscriptionDisplay); Restlet bodies
    (/data) keep their nulls."""
    if is_xapi() and not keep_nulls:
        if value is None:
            return Response(b"", status=status, mimetype="application/json")
        value = omit_nulls(value)
    return Response(json.dumps(value), status=status, mimetype="application/json")


def omit_nulls(value: Any) -> Any:
    """NON_NULL for the double's bean-like dicts, at every depth (list items are kept, as Jackson does)."""
    if isinstance(value, dict):
        return {key: omit_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [omit_nulls(item) for item in value]
    return value


def empty(status: int = 200) -> Response:
    return Response(b"", status=status)


def tomcat_error_page(status: int, message: str) -> str:
    """Body of Tomcat's ``sendError`` page (what XNAT's servlet filters answer with)."""
    reasons = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        412: "Precondition Failed",
        417: "Expectation Failed",
        500: "Internal Server Error",
    }
    title = f"HTTP Status {status} \u2013 {reasons.get(status, 'Error')}"
    escaped = html.escape(message)
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head><body><h1>{title}</h1>'
        f'<hr class="line" /><p><b>Type</b> Status Report</p><p><b>Message</b> {escaped}</p>'
        '<hr class="line" /><h3>Apache Tomcat/9.0.111</h3></body></html>'
    )


def stop(
    status: int, body: str = "", headers: dict[str, str] | None = None, mimetype: str = "text/plain"
) -> NoReturn:
    """End the request with this status and body (XAPI errors are text/plain, possibly empty)."""
    abort(Response(body, status=status, headers=headers or {}, mimetype=mimetype))


def stop_tomcat(status: int, message: str, headers: dict[str, str] | None = None) -> NoReturn:
    stop(status, tomcat_error_page(status, message), headers, mimetype="text/html")


def challenge(xapi: bool) -> NoReturn:
    """401 with the Basic challenge: empty body from /xapi, Tomcat page from /data."""
    if xapi:
        stop(401, "", REALM_HEADER)
    stop_tomcat(401, "Full authentication is required to access this resource", REALM_HEADER)


def is_xapi() -> bool:
    return request.path.startswith("/xapi/")


# --- XAPI access levels (FW src/main/java/org/nrg/xapi/rest/aspects/XapiRequestMappingAspect.java) ---
def require_authenticated() -> User:
    user = current_user()
    if user is None or user.username == "guest":
        challenge(xapi=is_xapi())
    return user


def require_admin() -> User:
    user = require_authenticated()
    if not user.is_admin:
        stop(403)
    return user


def require_self_or_admin(username: str) -> User:
    """AccessLevel.User: the user named in the path, or a site admin."""
    user = require_authenticated()
    if not user.is_admin and user.username != username:
        stop(403)
    return user


def can_see_project(user: User | None, project: Project) -> bool:
    """Project-level read (xnat:projectData/ID): protected projects are listed to everyone logged in."""
    return project.accessibility in ("public", "protected") or can_read_project(user, project)


def can_read_project(user: User | None, project: Project) -> bool:
    """Data-level read (XAPI AccessLevel.Read): public projects, members, site-wide data access."""
    if user is not None and (
        user.is_admin or "ALL_DATA_ACCESS" in user.groups or "ALL_DATA_ADMIN" in user.groups
    ):
        return True
    if project.accessibility == "public":
        return True
    return user is not None and project.role_of(user.username) is not None


def can_edit_project(user: User | None, project: Project) -> bool:
    if user is None or user.username == "guest":
        return False
    if user.is_admin or "ALL_DATA_ADMIN" in user.groups:
        return True
    return project.role_of(user.username) in ("owner", "member")


def can_delete_project(user: User | None, project: Project) -> bool:
    """Owner level (AccessLevel.Delete)."""
    if user is None or user.username == "guest":
        return False
    return user.is_admin or "ALL_DATA_ADMIN" in user.groups or project.role_of(user.username) == "owner"


def xapi_project(project_id: str, level: str) -> Project:
    """Resolve the @Project path variable of an XAPI call: 404 unknown, 401 anonymous, 403 no access."""
    project = state().projects.get(project_id)
    if project is None:
        stop(404, f"No project with ID {project_id}")
    user = current_user()
    checks = {"read": can_read_project, "edit": can_edit_project, "delete": can_delete_project}
    if not checks[level](user, project):
        if user is None or user.username == "guest":
            challenge(xapi=True)
        stop(403)
    return project


# --- bodies ---------------------------------------------------------------------------------------
def table_cell(value: Any) -> str:
    """XFTTable.toJSON writes every cell as a string, null as "" (FW …/xft/XFTTable.java ValueParser)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def result_set(
    rows: list[dict[str, Any]],
    columns: list[str] | None = None,
    title: str = "",
    default_format: str | None = None,
) -> Response:
    """Restlet table in the format asked for by ``?format=`` (json, csv or html).

    Without ``?format=`` a GET is negotiated (JSON for ``Accept: application/json``, else HTML); a
    resource answering a write with ``returnDefaultRepresentation()`` renders its first variant
    whatever the Accept header says (NX web/.../restlet/resources/SecureResource.java): pass it as
    ``default_format``."""
    rows = [{key: table_cell(value) for key, value in row.items()} for row in rows]
    fmt = (request.args.get("format") or default_format or "").lower()
    if not fmt and "application/json" in request.headers.get("Accept", ""):
        fmt = "json"
    if fmt == "json":
        body: dict[str, Any] = {"ResultSet": {"Result": rows, "totalRecords": str(len(rows))}}
        if title:
            body["ResultSet"]["title"] = title
        return json_response(body)
    names = columns or (list(rows[0]) if rows else [])
    if fmt == "csv":
        lines = [",".join(names)] + [",".join(_csv_cell(row.get(name)) for name in names) for row in rows]
        return text("\n".join(lines) + "\n", mimetype="text/csv")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    body_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(name, '')))}</td>" for name in names) + "</tr>"
        for row in rows
    )
    return text(
        f"<html><body><table><tr>{header}</tr>{body_rows}</table></body></html>", mimetype="text/html"
    )


def _csv_cell(value: Any) -> str:
    cell = "" if value is None else str(value)
    if any(ch in cell for ch in ',"\n'):
        cell = '"' + cell.replace('"', '""') + '"'
    return cell


def request_json(default: Any = None) -> Any:
    """The JSON body, or a 400 like Spring's HttpMessageNotReadableException mapping."""
    raw = request.get_data(as_text=True)
    if not raw.strip():
        if default is not None:
            return default
        stop(400, "Bad request: Required request body is missing")
    try:
        return json.loads(raw)
    except ValueError as error:
        stop(400, f"Bad request: JSON parse error: {error}")


def request_map() -> dict[str, Any]:
    """A map body sent as JSON or as form data (XAPI endpoints that consume both)."""
    if request.form:
        return {key: request.form.get(key) for key in request.form}
    body = request_json()
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a JSON object")
    return body


def require_content_type(*accepted: str) -> None:
    """Spring's ``consumes``: a request whose Content-Type is none of these gets 415.

    A request without any Content-Type is let through: whether a bodiless request passes ``consumes``
    depends on the Spring version, so the double only rejects an explicit mismatch (for example the
    application/x-www-form-urlencoded that urllib adds to any request with data).
    """
    if request.mimetype and request.mimetype not in accepted:
        stop(415, f"Content type '{request.mimetype}' not supported; use {' or '.join(accepted)}")


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    return None


def query_bool(name: str, default: bool) -> bool:
    """Spring's ``@RequestParam boolean``: absent → default, unparsable → 400."""
    raw = request.args.get(name)
    if raw is None:
        return default
    parsed = parse_bool(raw)
    if parsed is None:
        stop(
            400,
            f"Bad request: Failed to convert value of type 'java.lang.String' to required type "
            f"'boolean'; Invalid boolean value [{raw}]",
        )
    return parsed
