"""What xnatpy's default ``xnat.connect()`` reads to build its object model and session: the data-type
schemas, the search elements and the caller's project roles.

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg):
- ``…/xapi/rest/schemas/SchemaApi.java``: GET /xapi/schemas lists the schema names
  (``schemas/{folder}/{name}.xsd`` on the classpath, a folder equal to the name collapsed: ``xnat``); GET
  /xapi/schemas/{schema} and /xapi/schemas/{namespace}/{schema} return the XSD as application/xml, an unknown
  one → 404 ``classpath:schemas/…``. The double serves only its own minimal xnat.xsd (xnat_double/xsd/), not
  NRG's schemas: xnatpy builds its classes from whatever the server lists.
- ``…/xnat/restlet/resources/search/SearchElementListResource.java`` (ELEMENT_NAME, SINGULAR, PLURAL, SECURED,
  COUNT) and ``SearchFieldListResource.java`` (FIELD_ID, HEADER, SUMMARY, TYPE, REQUIRES_VALUE, DESC,
  ELEMENT_NAME, SRC; unknown element → 404): xnatpy's ``inject_search_fields`` reads them after building
  the model. The double lists a few display fields per type (XNAT lists every display field).
- ``…/xapi/rest/users/DataAccessApi.java`` GET /xapi/access/projects → ``RoleHolder.getUserProjectRoles``
  (libs/xdat): one entry per project group of the caller: secondary_ID, ID, role (the group's display
  name), name, URI (/data/projects/{ID}), group_id, description; ordered by secondary_ID. Site-wide groups
  (ALL_DATA_ADMIN, …) join no project and are left out here (unverified how XNAT renders them).
"""

from __future__ import annotations

from flask import Blueprint, Response

from .archive_types import (
    IMAGE_SESSION,
    PROJECT,
    SUBJECT,
    concrete_subtypes,
    document_elements,
    is_known_type,
    schema_names,
    schema_text,
)
from .common import challenge, current_user, json_response, result_set, state, stop, text
from .state import ROLE_DISPLAY_NAMES

blueprint = Blueprint("schemas", __name__)

DISPLAY_FIELDS = {
    PROJECT: ("ID", "NAME", "DESCRIPTION", "PI"),
    SUBJECT: ("SUBJECT_LABEL", "SUBJECT_ID", "PROJECT", "INSERT_DATE"),
}
SESSION_DISPLAY_FIELDS = ("SESSION_ID", "LABEL", "DATE", "SUBJECT_LABEL", "PROJECT", "UID", "INSERT_DATE")


@blueprint.route("/xapi/schemas", methods=["GET"])
def list_schemas() -> Response:
    return json_response(schema_names())


@blueprint.route("/xapi/schemas/<schema>", methods=["GET"])
@blueprint.route("/xapi/schemas/<namespace>/<schema>", methods=["GET"])
def get_schema(schema: str, namespace: str | None = None) -> Response:
    folder = namespace or schema
    document = schema_text(schema) if folder == schema else None
    if document is None:
        stop(404, f"classpath:schemas/{folder}/{schema}.xsd")
    return text(document, mimetype="application/xml")


def searchable_types() -> list[str]:
    return [PROJECT, SUBJECT, *concrete_subtypes(IMAGE_SESSION)]


def _display_names(xsi_type: str) -> tuple[str, str]:
    name = document_elements().get(xsi_type, xsi_type.partition(":")[2])
    singular = name.replace("Session", " Session") if name.endswith("Session") else name
    return singular, f"{singular}s"


@blueprint.route("/data/search/elements", methods=["GET"])
def search_elements() -> Response:
    current = state()
    with current.lock:
        archive = current.archive
        counts = {PROJECT: len(current.projects), SUBJECT: len(archive.subjects)}
        for experiment in archive.experiments.values():
            counts[experiment.xsi_type] = counts.get(experiment.xsi_type, 0) + 1
    rows = []
    for xsi_type in searchable_types():
        singular, plural = _display_names(xsi_type)
        rows.append(
            {
                "ELEMENT_NAME": xsi_type,
                "SINGULAR": singular,
                "PLURAL": plural,
                "SECURED": "true",
                "COUNT": str(counts.get(xsi_type, 0)),
            }
        )
    return result_set(rows)


@blueprint.route("/data/search/elements/<element_name>", methods=["GET"])
def search_fields(element_name: str) -> Response:
    if not is_known_type(element_name) or element_name not in searchable_types():
        stop(404, f"Unknown element {element_name}")
    fields = DISPLAY_FIELDS.get(element_name, SESSION_DISPLAY_FIELDS)
    rows = [
        {
            "FIELD_ID": field_id,
            "HEADER": field_id.replace("_", " ").title(),
            "SUMMARY": "",
            "TYPE": "string",
            "REQUIRES_VALUE": "false",
            "DESC": "",
            "ELEMENT_NAME": element_name,
            "SRC": "0",
        }
        for field_id in fields
    ]
    return result_set(rows)


@blueprint.route("/xapi/access/projects", methods=["GET"])
def project_roles() -> Response:
    user = current_user()
    if user is None:
        challenge(xapi=True)
    current = state()
    with current.lock:
        roles = []
        for group_id in sorted(user.project_groups):
            project_id, _, role = group_id.rpartition("_")
            project = current.projects.get(project_id)
            if project is None or role not in ROLE_DISPLAY_NAMES:
                continue
            roles.append(
                {
                    "secondary_ID": project.secondary_id or project.id,
                    "ID": project.id,
                    "role": ROLE_DISPLAY_NAMES[role],
                    "name": project.name,
                    "URI": f"/data/projects/{project.id}",
                    "group_id": group_id,
                    "description": project.description,
                }
            )
    roles.sort(key=lambda row: row["secondary_ID"])
    return json_response(roles)
