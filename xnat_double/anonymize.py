"""Anonymisation scripts: /xapi/anonymize/* and the legacy /data/config/edit/.../image/dicom/* routes.

Sources (W18 = oncai/xnat 1.8.10.1, `…` = src/main/java/org/nrg):
- W18 …/xapi/rest/dicom/AnonymizeApi.java: PUT …/enabled reads ONLY the query parameter ``enable``
  (default true); the body is ignored, so a body of ``false`` without the query still enables.
  PUT of a script consumes text/plain and PUT …/enabled consumes application/json: another explicit
  Content-Type gets 415.
  GET /projects/{p} answers 204 when the project has no script, 404 for an unknown project.
- W18 …/xnat/helpers/editscript/DicomEdit.java: legacy routes; ``status?activate=true|false`` (missing or
  bad → 400); project scope needs edit access (403), unknown project 400.
The site script and flag are the siteConfig keys sitewideAnonymizationScript and
enableSitewideAnonymizationScript, so both APIs see the same values.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from .common import (
    can_edit_project,
    current_user,
    empty,
    json_response,
    query_bool,
    require_admin,
    require_authenticated,
    require_content_type,
    result_set,
    state,
    stop,
    text,
    xapi_project,
)
from .state import DEFAULT_ANON_SCRIPT, Project

blueprint = Blueprint("anonymize", __name__)
SCRIPT_KEY = "sitewideAnonymizationScript"
ENABLED_KEY = "enableSitewideAnonymizationScript"


def _body_text() -> str:
    return request.get_data(as_text=True)


@blueprint.route("/xapi/anonymize/default", methods=["GET"])
def default_script() -> Response:
    require_authenticated()
    return text(DEFAULT_ANON_SCRIPT)


@blueprint.route("/xapi/anonymize/site", methods=["GET"])
def get_site_script() -> Response:
    require_authenticated()
    with state().lock:
        return text(str(state().site_config.get(SCRIPT_KEY) or ""))


@blueprint.route("/xapi/anonymize/site", methods=["PUT"])
def put_site_script() -> Response:
    require_admin()
    require_content_type("text/plain")
    with state().lock:
        state().site_config[SCRIPT_KEY] = _body_text()
    return empty()


@blueprint.route("/xapi/anonymize/site/enabled", methods=["GET"])
def get_site_enabled() -> Response:
    require_authenticated()
    with state().lock:
        return json_response(bool(state().site_config.get(ENABLED_KEY)))


@blueprint.route("/xapi/anonymize/site/enabled", methods=["PUT"])
def put_site_enabled() -> Response:
    require_admin()
    require_content_type("application/json")
    enable = query_bool("enable", True)  # the body is deliberately ignored, as in XNAT
    with state().lock:
        state().site_config[ENABLED_KEY] = enable
    return empty()


@blueprint.route("/xapi/anonymize/projects/<project_id>", methods=["GET"])
def get_project_script(project_id: str) -> Response:
    with state().lock:
        project = xapi_project(project_id, "read")
        if project.anon_script is None:
            return empty(204)
        return text(project.anon_script)


@blueprint.route("/xapi/anonymize/projects/<project_id>", methods=["PUT"])
def put_project_script(project_id: str) -> Response:
    require_content_type("text/plain")
    with state().lock:
        project = xapi_project(project_id, "delete")
        project.anon_script = _body_text()
    return empty()


@blueprint.route("/xapi/anonymize/projects/<project_id>/enabled", methods=["GET"])
def get_project_enabled(project_id: str) -> Response:
    with state().lock:
        return json_response(xapi_project(project_id, "read").anon_enabled)


@blueprint.route("/xapi/anonymize/projects/<project_id>/enabled", methods=["PUT"])
def put_project_enabled(project_id: str) -> Response:
    require_content_type("application/json")
    enable = query_bool("enable", True)
    with state().lock:
        xapi_project(project_id, "delete").anon_enabled = enable
    return empty()


# --- legacy config routes -------------------------------------------------------------------------------
def _legacy_project(project_id: str | None, write: bool) -> Project | None:
    if project_id is None:
        if write:
            require_admin()
        return None
    project = state().projects.get(project_id)
    if project is None:
        stop(400, f"Unknown project {project_id}")
    if not can_edit_project(current_user(), project):
        stop(403)
    return project


def _legacy_rows(project: Project | None, kind: str) -> list[dict[str, str]]:
    config = state().site_config
    script = project.anon_script if project else config.get(SCRIPT_KEY)
    enabled = project.anon_enabled if project else bool(config.get(ENABLED_KEY))
    if kind == "script":
        if script is None:
            return []
        return [
            {
                "project": project.id if project else "",
                "user": "admin",
                "create_date": "",
                "script": script,
                "id": "1",
            }
        ]
    return [
        {
            "project": project.id if project else "",
            "edit": "true" if enabled else "false",
            "create_date": "",
            "user": "admin",
            "id": "1",
        }
    ]


@blueprint.route("/data/config/edit/image/dicom/<kind>", methods=["GET", "PUT"])
@blueprint.route("/data/config/edit/projects/<project_id>/image/dicom/<kind>", methods=["GET", "PUT"])
def legacy_config(kind: str, project_id: str | None = None) -> Response:
    if kind not in ("script", "status"):
        stop(404)
    with state().lock:
        project = _legacy_project(project_id, write=request.method == "PUT")
        if request.method == "GET":
            return result_set(_legacy_rows(project, kind))
        if kind == "script":
            if project is None:
                state().site_config[SCRIPT_KEY] = _body_text()
            else:
                project.anon_script = _body_text()
            return empty()
        activate = request.args.get("activate")
        if activate not in ("true", "false"):
            stop(400, "Status must be set with activate=true or activate=false")
        if project is None:
            state().site_config[ENABLED_KEY] = activate == "true"
        else:
            project.anon_enabled = activate == "true"
    return empty()
