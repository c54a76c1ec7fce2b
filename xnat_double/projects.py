"""Projects and their access through XNAT's restlet routes under /data/projects (and /data/archive/projects).

Sources (W18 = oncai/xnat 1.8.10.1, `…` = src/main/java/org/nrg):
- …/xnat/restlet/resources/ProjectListResource.java: GET list (projects the caller can see: public and
  protected ones, their own, all for admins — BaseXnatProjectdata.getPublicAccessibility; default columns
  ID, secondary_ID, name, description, pi_firstname, pi_lastname, URI; totalRecords is a string).
- …/xnat/restlet/resources/ProjectResource.java: PUT creates (query fields) or updates; guest 403;
  non-admin creation 403 when uiAllowNonAdminProjectCreation is false; invalid id 417; the id of a
  deleted project 403 (xnat_projectdata_history); name/secondary id used by another project 409; 200
  with an empty body. Also prearchive_code/{0|4|5}.
- org.nrg.xnat.om.base.BaseXnatProjectdata (XNAT core): createProject → accessibility defaults to
  "protected" when not given (stays private when securityAllowNonPrivateProjects is false); save() of a
  new project creates its Owners group with the creating user in it (so an admin who creates a project
  is listed as its owner); initNewProject → secondary_ID and name default to the ID.
- …/xnat/restlet/resources/ProjectUserListResource.java: GET /users → columns GROUP_ID, displayname,
  login, firstname, lastname, email of ENABLED members only; GET /users/true (route attribute
  DISPLAY_HIDDEN_USERS, …/restlet/XNATApplication.java) includes disabled accounts;
  ?includeAllDataAccess=true adds the ALL_DATA_ADMIN group.
- NX web/.../restlet/resources/ProjectMemberResource.java: PUT/DELETE /users/{group}/{user[ , user]};
  group as P_owner, owner or Owners; caller needs delete (owner) access, else 403; unknown group 404;
  guest 412. Ids are split on "\\s+,\\s+"; each is tried as xdat_user_id (numeric), login, then e-mail.
  The answer is the member table as JSON whatever the Accept header (the resource's first variant,
  SecureResource.returnDefaultRepresentation); ``?format=`` picks another. XNAT keeps a user in one
  group of a project: adding moves them.
- …/xnat/restlet/resources/ProjectAccessibilityResource.java: GET text, PUT /accessibility/{level}.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request

from .common import (
    can_delete_project,
    can_edit_project,
    can_see_project,
    current_user,
    empty,
    json_response,
    result_set,
    state,
    stop_tomcat,
    text,
)
from .state import PROJECT_ROLES, ROLE_DISPLAY_NAMES, Project, User

blueprint = Blueprint("projects", __name__)

PROJECT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACCESSIBILITY_LEVELS = ("public", "protected", "private")
PREARCHIVE_CODES = (0, 4, 5)
EDITABLE_FIELDS = ("name", "description", "keywords", "pi_firstname", "pi_lastname")
PREFIXES = ("/data/projects", "/data/archive/projects")


def route(suffix: str, methods: list[str]):
    def register(view):
        for prefix in PREFIXES:
            blueprint.add_url_rule(prefix + suffix, f"{view.__name__}{prefix}", view, methods=methods)
        return view

    return register


def is_guest(user: User | None) -> bool:
    return user is None or user.username == "guest"


def find_project(project_id: str, for_read: bool = True) -> Project:
    """404 for unknown projects and for projects the caller may not even see (as XNAT does)."""
    project = state().projects.get(project_id)
    if project is None or (for_read and not can_see_project(current_user(), project)):
        stop_tomcat(404, f"Unable to identify project {project_id}")
    return project


def project_row(project: Project) -> dict[str, Any]:
    return {
        "ID": project.id,
        "secondary_ID": project.secondary_id or project.id,
        "name": project.name,
        "description": project.description,
        "pi_firstname": project.pi_firstname,
        "pi_lastname": project.pi_lastname,
        "URI": f"/data/projects/{project.id}",
    }


@route("", ["GET"])
def list_projects() -> Response:
    user = current_user()
    roles_wanted = [role for role in PROJECT_ROLES if (request.args.get(role) or "").lower() == "true"]
    restrict = (request.args.get("restrict") or "").lower()
    extra = [c for c in (request.args.get("columns") or "").split(",") if c]
    with state().lock:
        rows = []
        for project in state().projects.values():
            if not can_see_project(user, project):
                continue
            if roles_wanted and (user is None or project.role_of(user.username) not in roles_wanted):
                continue
            if restrict == "edit" and not can_edit_project(user, project):
                continue
            if restrict == "delete" and not can_delete_project(user, project):
                continue
            row = project_row(project)
            for column in extra:
                if column in ("accessibility", "project_access"):
                    row[column] = project.accessibility
                elif column == "prearchive_code":
                    row[column] = str(project.prearchive_code)
            rows.append(row)
    return result_set(rows, title="Projects")


@route("/<project_id>", ["GET"])
def get_project(project_id: str) -> Response:
    with state().lock:
        project = find_project(project_id)
        fields = {
            "ID": project.id,
            "secondary_ID": project.secondary_id or project.id,
            "name": project.name,
            "description": project.description,
            "keywords": project.keywords,
        }
        if project.pi_firstname or project.pi_lastname:
            fields["PI/firstname"] = project.pi_firstname
            fields["PI/lastname"] = project.pi_lastname
        item = {
            "children": [],
            "meta": {"create_event_id": 1, "xsi:type": "xnat:projectData", "isHistory": False},
            "data_fields": fields,
        }
    fmt = (request.args.get("format") or "json").lower()
    if fmt == "json":
        return json_response({"items": [item]})
    attributes = f'ID="{project.id}" secondary_ID="{fields["secondary_ID"]}"'
    return text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<xnat:Project {attributes} '
        f'xmlns:xnat="http://nrg.wustl.edu/xnat"><xnat:name>{project.name}</xnat:name>'
        f"<xnat:description>{project.description}</xnat:description></xnat:Project>",
        mimetype="text/xml",
    )


@route("/<project_id>", ["PUT", "POST"])
def put_project(project_id: str) -> Response:
    user = current_user()
    current = state()
    with current.lock:
        project = current.projects.get(project_id)
        if project is None:
            return _create_project(project_id, user)
        if not can_delete_project(user, project):
            stop_tomcat(403, f"User {user.username if user else 'guest'} cannot edit project {project_id}")
        _check_name_conflicts(project_id)
        for name in EDITABLE_FIELDS:
            if name in request.args:
                setattr(project, name, request.args[name])
        if "secondary_ID" in request.args:
            project.secondary_id = request.args["secondary_ID"]
        if "accessibility" in request.args:
            _set_accessibility(project, request.args["accessibility"])
    return empty()


def _create_project(project_id: str, user: User | None) -> Response:
    current = state()
    if is_guest(user):
        stop_tomcat(403, "Guest users cannot create projects")
    if not user.is_admin and not current.site_config.get("uiAllowNonAdminProjectCreation", True):
        stop_tomcat(403, "Only administrators can create projects")
    if not PROJECT_ID_PATTERN.match(project_id):
        stop_tomcat(417, "Invalid character in project ID.")
    if project_id in current.deleted_project_ids:
        stop_tomcat(
            403, f"Project '{project_id}' was used in a previously deleted project and cannot be reused."
        )
    _check_name_conflicts(project_id)
    project = Project(id=project_id, name=request.args.get("name") or project_id, insert_user=user.username)
    for name in EDITABLE_FIELDS:
        if name in request.args and name != "name":
            setattr(project, name, request.args[name])
    project.secondary_id = request.args.get("secondary_ID") or ""
    current.projects[project_id] = project
    current.set_member(project, "owner", user.username)
    accessibility = request.args.get("accessibility") or "protected"
    _set_accessibility(project, accessibility if accessibility in ACCESSIBILITY_LEVELS else "protected")
    return empty()


def _check_name_conflicts(project_id: str) -> None:
    """XNAT rejects a title or running title used by another project (case-insensitive): 409."""
    wanted = {key: request.args[key].lower() for key in ("name", "secondary_ID") if request.args.get(key)}
    if not wanted:
        return
    for other in state().projects.values():
        if other.id == project_id:
            continue
        taken = {other.id.lower(), other.name.lower(), (other.secondary_id or "").lower()}
        for key, value in wanted.items():
            if value in taken:
                stop_tomcat(409, f"Invalid {key}: '{value}' is already being used.")


def _set_accessibility(project: Project, level: str) -> None:
    if level != "private" and not state().site_config.get("securityAllowNonPrivateProjects", True):
        stop_tomcat(403, "Non-private projects are not allowed on this site")
    project.accessibility = level


@route("/<project_id>", ["DELETE"])
def delete_project(project_id: str) -> Response:
    current = state()
    with current.lock:
        project = find_project(project_id)
        if not can_delete_project(current_user(), project):
            stop_tomcat(403, f"Cannot delete project {project_id}")
        current.archive.delete_project(current, project_id, request.args.get("removeFiles"))
        current.delete_project(project_id)
    return empty()


@route("/<project_id>/accessibility", ["GET"])
def get_accessibility(project_id: str) -> Response:
    with state().lock:
        return text(find_project(project_id).accessibility)


@route("/<project_id>/accessibility/<level>", ["PUT"])
def put_accessibility(project_id: str, level: str) -> Response:
    with state().lock:
        project = find_project(project_id)
        if not can_delete_project(current_user(), project):
            stop_tomcat(403, f"Cannot change the accessibility of project {project_id}")
        if level not in ACCESSIBILITY_LEVELS:
            stop_tomcat(400, f"Invalid accessibility {level}")
        _set_accessibility(project, level)
    return empty()


@route("/<project_id>/prearchive_code", ["GET"])
def get_prearchive_code(project_id: str) -> Response:
    with state().lock:
        return text(str(find_project(project_id).prearchive_code))


@route("/<project_id>/prearchive_code/<code>", ["PUT"])
def put_prearchive_code(project_id: str, code: str) -> Response:
    with state().lock:
        project = find_project(project_id)
        if not can_delete_project(current_user(), project):
            stop_tomcat(403, f"Cannot change the prearchive code of project {project_id}")
        if not code.isdigit() or int(code) not in PREARCHIVE_CODES:
            stop_tomcat(400, f"Invalid prearchive code {code}; use 0, 4 or 5")
        project.prearchive_code = int(code)
    return empty()


def member_rows(
    project: Project, hidden_users: bool = False, all_data_admins: bool = False
) -> list[dict[str, Any]]:
    """ProjectUserListResource's query: enabled users only unless hidden users are asked for, ordered by
    group id descending (owner, member, collaborator); optionally the ALL_DATA_ADMIN group too."""
    users = state().users
    groups = [
        (project.group_id(role), ROLE_DISPLAY_NAMES[role], sorted(project.members[role]))
        for role in PROJECT_ROLES
    ]
    if all_data_admins:
        admins = sorted(u.username for u in users.values() if "ALL_DATA_ADMIN" in u.groups)
        groups.insert(0, ("ALL_DATA_ADMIN", "ALL_DATA_ADMIN", admins))
    rows = []
    for group_id, display_name, usernames in groups:
        for username in usernames:
            user = users.get(username)
            if user is None or not (user.enabled or hidden_users):
                continue
            rows.append(
                {
                    "GROUP_ID": group_id,
                    "displayname": display_name,
                    "login": user.username,
                    "firstname": user.first_name,
                    "lastname": user.last_name,
                    "email": user.email,
                }
            )
    return rows


@route("/<project_id>/users", ["GET"])
@route("/<project_id>/users/<display_hidden_users>", ["GET"])
def list_members(project_id: str, display_hidden_users: str = "false") -> Response:
    user = current_user()
    with state().lock:
        project = find_project(project_id)
        restricted = state().site_config.get("restrictUserListAccessToAdmins", False)
        if restricted and not can_edit_project(user, project):
            stop_tomcat(
                403, "Access Denied: Only project owners and site managers can access user resources."
            )
        rows = member_rows(
            project,
            hidden_users=display_hidden_users.lower() == "true",
            all_data_admins=(request.args.get("includeAllDataAccess") or "").lower() == "true",
        )
    return result_set(rows, title="Projects")


def resolve_role(project: Project, group: str) -> str | None:
    for role in PROJECT_ROLES:
        if group in (role, project.group_id(role), ROLE_DISPLAY_NAMES[role]):
            return role
    return None


@route("/<project_id>/users/<group>/<users>", ["PUT", "DELETE"])
def change_members(project_id: str, group: str, users: str) -> Response:
    caller = current_user()
    current = state()
    with current.lock:
        project = find_project(project_id)
        if caller is not None and caller.username == "guest":
            stop_tomcat(412, "Guest users cannot manage project members")
        if not can_delete_project(caller, project):
            stop_tomcat(403, f"Cannot manage the members of project {project_id}")
        role = resolve_role(project, group)
        if role is None:
            stop_tomcat(404, f"Unknown group {group} for project {project_id}")
        for ident in member_ids(users):
            # Unknown ids get an e-mailed invitation (PAR) in XNAT; the double records nothing.
            for user in find_members(ident):
                if request.method == "PUT":
                    current.set_member(project, role, user.username)
                else:
                    current.remove_member(project, user.username, role)
        rows = member_rows(project)
    # returnDefaultRepresentation(): the first variant (JSON) unless ?format= asks for another.
    return result_set(rows, title="Projects", default_format="json")


def member_ids(parameter: str) -> list[str]:
    """ProjectMemberResource: USER_ID is split on "\\s+,\\s+" (spaces around the comma) when it has a
    comma; "alice,bob" is one (unknown) id."""
    return re.split(r"\s+,\s+", parameter) if "," in parameter else [parameter]


def find_members(ident: str) -> list[User]:
    """findGroupMember: a numeric id as xdat_user_id first, then the login, then every user whose
    e-mail it is."""
    users = state().users.values()
    if ident.isdigit():
        by_id = next((u for u in users if u.id == int(ident)), None)
        if by_id is not None:
            return [by_id]
    by_login = state().users.get(ident)
    if by_login is not None:
        return [by_login]
    return [u for u in users if u.email and u.email == ident]
