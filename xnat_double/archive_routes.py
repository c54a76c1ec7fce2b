"""The archive's Restlet routes: subjects, experiments (image sessions), scans, resources and files under
/data/projects/{P}/…, /data/experiments/…, /data/subjects/… (each also under /data/archive/…).

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg/xnat/restlet):
- ``XNATApplication.java``: the routes.
- ``resources/ProjectSubjectList.java``, ``resources/SubjectResource.java``: list (403 "Unable to read
  subjects for Project" without read access); PUT creates (label defaults to the path id; 201 with the new
  ID as the body; 200 with the ID when it existed), fields from the query (``xnat:subjectData/label=…`` or
  shortcut keys); ``?label=`` on an existing subject renames it (409 if taken); DELETE (``removeFiles``).
- ``resources/ProjSubExptList.java``, ``resources/ExperimentListResource.java``,
  ``resources/ExperimentResource.java``, ``resources/SubjAssessmentResource.java``: listings; PUT with
  ``xsiType`` creates a session (no xsiType and no existing session → 417 "Need PUT Contents"; 201 + ID; 200 +
  ID on update); the project route needs the subject as ``subject_ID`` (label or ID, auto-created like
  ProjSubExptList) else 422; DELETE.
- ``resources/ScanList.java``, ``resources/ScanResource.java``: PUT needs a modality xsiType (bare
  xnat:imageScanData → 400), a query ``…/ID`` wins over the path id, 200 with an empty body; DELETE.
- ``resources/files/CatalogResourceList.java``, ``files/CatalogResource.java``: resources listing; GET one →
  its catalog XML (xnatpy reads the listing instead); PUT creates (409 if the label exists, empty 200); a file
  path after the resource id is a 400; DELETE removes the files.
- ``resources/files/FileList.java``: see archive_files.py.
Access: read = project data read (``common.can_read_project``); writes = project edit (owners, members);
deletes = project owner level (``can_delete_project``). The double does not model sharing into other projects.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, request

from . import archive_files as files
from .archive_address import (
    Address,
    archive_of,
    parse,
    select_resources,
    single_owner,
)
from .archive_model import (
    EXPERIMENT_ATTRIBUTES,
    SCAN_ATTRIBUTES,
    SUBJECT_ATTRIBUTES,
    ArchiveError,
    Experiment,
    Resource,
    Scan,
    Subject,
    add_resource,
    apply_fields,
    create_scan,
    create_subject,
    delete_experiment,
    delete_file,
    delete_resource,
    delete_scan,
    delete_subject,
    move_experiment_directory,
    new_experiment,
    register_experiment,
)
from .archive_rows import (
    EXPERIMENT_SHORTCUTS,
    PROJECT_EXPERIMENT_DEFAULTS,
    SCAN_DEFAULTS,
    SCAN_SHORTCUTS,
    SUBJECT_ASSESSOR_EXTRA_DEFAULTS,
    SUBJECT_DEFAULTS,
    SUBJECT_SHORTCUTS,
    experiment_item,
    experiment_values,
    matches,
    requested_columns,
    resource_row,
    root_element,
    row_filters,
    scan_item,
    scan_values,
    select,
    subject_item,
    subject_values,
)
from .archive_types import (
    EXPERIMENT,
    IMAGE_SCAN,
    IMAGE_SESSION,
    SUBJECT_ASSESSOR,
    document_elements,
    is_instance_of,
    is_known_type,
)
from .common import (
    can_delete_project,
    can_edit_project,
    can_read_project,
    current_user,
    json_response,
    result_set,
    state,
    stop_tomcat,
    text,
)
from .state import DoubleState

blueprint = Blueprint("archive", __name__)

PREFIXES = ("/data", "/data/archive")
METHODS = ["GET", "PUT", "POST", "DELETE"]
# Query keys that steer a request rather than set a field.
CONTROL_KEYS = frozenset(
    {
        "xsiType",
        "req_format",
        "format",
        "event_reason",
        "event_type",
        "event_action",
        "event_id",
        "removeFiles",
        "allowDataDeletion",
        "inbody",
        "overwrite",
        "columns",
        "triggerPipelines",
        "loadExisting",
        "primary",
    }
)


def _register(suffix: str, endpoint: str) -> None:
    for prefix in PREFIXES:
        for rule in (suffix, suffix + "/<path:rest>"):
            blueprint.add_url_rule(prefix + rule, f"{endpoint}{prefix}{rule}", _dispatch, methods=METHODS)


def _dispatch(collection: str, project_id: str | None = None, rest: str = "") -> Response:
    tokens = [collection, *(part for part in rest.split("/") if part)]
    current = state()
    try:
        with current.lock:
            address = parse(current, project_id, tokens)
            return HANDLERS[address.level](current, address)
    except ArchiveError as error:
        stop_tomcat(error.status, error.message)


# One rule (and its /rest form) per prefix keeps the URL map small: the double's other routes stay fast.
_register("/projects/<project_id>/<any(subjects, experiments, resources, files):collection>", "project")
_register("/<any(experiments, subjects):collection>", "site")


# --- access -----------------------------------------------------------------------------------------
def _require(address: Address, level: str) -> None:
    project = address.project
    if project is None:
        return
    user = current_user()
    checks = {"read": can_read_project, "edit": can_edit_project, "delete": can_delete_project}
    if not checks[level](user, project):
        who = user.username if user else "guest"
        raise ArchiveError(403, f"User {who} has insufficient {level} privileges for project {project.id}")


def _reading() -> bool:
    return request.method in ("GET", "HEAD")


def _method_level() -> str:
    return {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(request.method, "edit")


def _remove_files() -> bool:
    return (request.args.get("removeFiles") or "").lower() == "true"


def _user_name() -> str:
    user = current_user()
    return user.username if user else "guest"


def _site_id(current: DoubleState) -> str:
    return str(current.site_config.get("siteId") or "XNAT")


def _not_allowed() -> Response:
    raise ArchiveError(405, f"{request.method} is not supported here")


# --- query fields -----------------------------------------------------------------------------------
def query_fields() -> dict[str, str]:
    """Fields set by the query string: ``{xsiType}/{path}=value`` and shortcut keys (XMLPathShortcuts)."""
    fields = {}
    for key, value in request.args.items():
        if key in CONTROL_KEYS:
            continue
        if "/" in key:
            prefix, _, path = key.partition("/")
            if ":" in prefix and path:
                fields[path] = value
        else:
            fields[key] = value
    return fields


def _wants_xml() -> bool:
    return (request.args.get("format") or "").lower() == "xml"


def item_response(document: dict[str, Any]) -> Response:
    if not _wants_xml():
        return json_response(document)
    item = document["items"][0]
    xsi_type, fields = item["meta"]["xsi:type"], item["data_fields"]
    name = "xnat:" + (document_elements().get(xsi_type) or xsi_type.partition(":")[2])
    attributes = "".join(
        f" {key}={quoteattr(str(fields[key]))}" for key in ("ID", "project", "label") if key in fields
    )
    body = "".join(
        f"<xnat:{key}>{escape(str(value))}</xnat:{key}>"
        for key, value in fields.items()
        if key not in ("ID", "project", "label") and "/" not in key
    )
    return text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}{attributes} xmlns:xnat="http://nrg.wustl.edu/xnat">'
        f"{body}</{name}>",
        mimetype="text/xml",
    )


# --- subjects ---------------------------------------------------------------------------------------
def handle_subjects(current: DoubleState, address: Address) -> Response:
    if not _reading():
        return _not_allowed()
    _require(address, "read")
    if address.project is not None:
        subjects = list(archive_of(current.archive, address).subjects.values())
    else:
        readable = {p.id for p in current.projects.values() if can_read_project(current_user(), p)}
        subjects = [s for s in current.archive.subjects.values() if s.project in readable]
    columns = requested_columns(request.args, SUBJECT_DEFAULTS)
    filters = row_filters(request.args, SUBJECT_SHORTCUTS)
    rows = []
    for subject in subjects:
        values = subject_values(subject)
        if matches(values, filters):
            rows.append(select(values, columns, SUBJECT_SHORTCUTS, f"/data/subjects/{subject.id}"))
    return result_set(rows, title="Project Subjects")


def _read_or_delete(
    address: Address,
    found: Any,
    kind: str,
    item: Callable[[Any], dict[str, Any]],
    delete: Callable[[Any], None],
) -> Response | None:
    """GET → the item document (404 when missing); DELETE → ``delete`` (404 when missing); else None."""
    if _reading():
        _require(address, "read")
        if found is None:
            raise ArchiveError(404, f"Unable to find {kind} {address.target}")
        return item_response(item(found))
    _require(address, _method_level())
    if request.method != "DELETE":
        return None
    if found is None:
        raise ArchiveError(404, f"Unable to find the specified {kind}.")
    delete(found)
    return text("")


def handle_subject(current: DoubleState, address: Address) -> Response:
    subject = address.subject
    remove = partial(delete_subject, current.archive, current, remove_files=_remove_files())
    answered = _read_or_delete(address, subject, "subject", subject_item, remove)
    if answered is not None:
        return answered
    if address.project is None:
        raise ArchiveError(422, "Submitted subject record must include the project attribute.")
    fields = query_fields()
    if subject is None:
        label = fields.get("label") or str(address.target)
        subject = create_subject(current.archive, _site_id(current), address.project.id, label, _user_name())
        apply_fields(subject, fields, SUBJECT_ATTRIBUTES, {"label", "ID", "project"})
        return text(subject.id, status=201)
    new_label = request.args.get("label")
    if new_label and new_label != subject.label:
        _rename_subject(current, subject, new_label)
    apply_fields(subject, fields, SUBJECT_ATTRIBUTES, {"label", "ID", "project"})
    return text(subject.id)


def _rename_subject(current: DoubleState, subject: Subject, label: str) -> None:
    archive = current.archive.project(subject.project)
    if label in archive.subject_ids_by_label:
        raise ArchiveError(409, "Specified label is already in use.")
    archive.subject_ids_by_label.pop(subject.label, None)
    archive.subject_ids_by_label[label] = subject.id
    subject.label = label


# --- experiments ------------------------------------------------------------------------------------
def handle_experiments(current: DoubleState, address: Address) -> Response:
    if not _reading():
        return _not_allowed()
    _require(address, "read")
    store = current.archive
    if address.subject is not None:
        experiments = [store.experiments[e] for e in address.subject.experiment_ids if e in store.experiments]
        default_root = SUBJECT_ASSESSOR
    elif address.project is not None:
        experiments = list(archive_of(store, address).experiments.values())
        default_root = SUBJECT_ASSESSOR
    else:
        readable = {p.id for p in current.projects.values() if can_read_project(current_user(), p)}
        experiments = [e for e in store.experiments.values() if e.project in readable]
        default_root = EXPERIMENT
    root = root_element(request.args, default_root, EXPERIMENT_SHORTCUTS)
    defaults = PROJECT_EXPERIMENT_DEFAULTS
    if address.project is None and address.subject is None and is_instance_of(root, SUBJECT_ASSESSOR):
        defaults += SUBJECT_ASSESSOR_EXTRA_DEFAULTS
    columns = requested_columns(request.args, defaults)
    filters = row_filters(request.args, EXPERIMENT_SHORTCUTS)
    rows = []
    for experiment in experiments:
        if not is_instance_of(experiment.xsi_type, root):
            continue
        values = experiment_values(experiment, store.subjects.get(experiment.subject_id))
        if matches(values, filters):
            rows.append(select(values, columns, EXPERIMENT_SHORTCUTS, f"/data/experiments/{experiment.id}"))
    title = "Matching experiments" if address.project is None else ""
    return result_set(rows, title=title)


def handle_experiment(current: DoubleState, address: Address) -> Response:
    experiment = address.experiment
    remove = partial(delete_experiment, current.archive, current, remove_files=_remove_files())
    answered = _read_or_delete(address, experiment, "experiment", experiment_item, remove)
    if answered is not None:
        return answered
    fields = query_fields()
    if experiment is None:
        experiment = _create_experiment(current, address, fields)
        return text(experiment.id, status=201)
    new_label = request.args.get("label")
    if new_label and new_label != experiment.label:
        _rename_experiment(current, experiment, new_label)
    apply_fields(experiment, fields, EXPERIMENT_ATTRIBUTES, {"label", "ID", "project", "subject_ID"})
    return text(experiment.id)


def _create_experiment(current: DoubleState, address: Address, fields: dict[str, str]) -> Experiment:
    xsi_type = request.args.get("xsiType")
    if not xsi_type:
        raise ArchiveError(417, "Need PUT Contents")
    if (
        not is_known_type(xsi_type)
        or not is_instance_of(xsi_type, IMAGE_SESSION)
        or xsi_type == IMAGE_SESSION
    ):
        raise ArchiveError(400, f"xsiType {xsi_type!r} is not an image session type this XNAT knows")
    if address.project is None:
        raise ArchiveError(422, "Submitted experiment record must include the project attribute.")
    subject = address.subject or _subject_for_new_experiment(current, address.project.id, fields)
    experiment = new_experiment(
        current.archive, subject, fields.get("label") or str(address.target), xsi_type, _user_name()
    )
    apply_fields(experiment, fields, EXPERIMENT_ATTRIBUTES, {"label", "ID", "project", "subject_ID"})
    return register_experiment(current.archive, _site_id(current), experiment)


def _subject_for_new_experiment(current: DoubleState, project_id: str, fields: dict[str, str]) -> Subject:
    """ProjSubExptList: the ``subject_ID`` field names the subject by ID or label; a new label is created."""
    reference = fields.get("subject_ID")
    if not reference:
        raise ArchiveError(422, "Submitted experiment record must include the subject.")
    subject = current.archive.find_subject(project_id, reference)
    return subject or create_subject(current.archive, _site_id(current), project_id, reference, _user_name())


def _rename_experiment(current: DoubleState, experiment: Experiment, label: str) -> None:
    archive = current.archive.project(experiment.project)
    if label in archive.experiment_ids_by_label:
        raise ArchiveError(409, "Specified label is already in use.")
    move_experiment_directory(experiment, experiment.directory.parent / label)
    archive.experiment_ids_by_label.pop(experiment.label, None)
    archive.experiment_ids_by_label[label] = experiment.id
    experiment.label = label


def handle_status(current: DoubleState, address: Address) -> Response:
    """GET …/experiments/{E}/status: the item's status (the double has no quarantine: always active)."""
    _require(address, "read")
    if address.experiment is None:
        raise ArchiveError(404, "Unable to find the specified experiment.")
    return text("active")


# --- scans --------------------------------------------------------------------------------------------
def handle_scans(current: DoubleState, address: Address) -> Response:
    if not _reading():
        return _not_allowed()
    _require(address, "read")
    experiment = address.experiment
    assert experiment is not None  # parse() needs one for scans
    columns = requested_columns(request.args, SCAN_DEFAULTS)
    filters = row_filters(request.args, SCAN_SHORTCUTS)
    root = root_element(request.args, IMAGE_SCAN, SCAN_SHORTCUTS)
    rows = []
    for scan in experiment.scans.values():
        values = scan_values(scan)
        if is_instance_of(scan.xsi_type, root) and matches(values, filters):
            uri = f"/data/experiments/{experiment.id}/scans/{scan.id}"
            rows.append(select(values, columns, SCAN_SHORTCUTS, uri))
    return result_set(rows)


def handle_scan(current: DoubleState, address: Address) -> Response:
    experiment = address.experiment
    assert experiment is not None
    scan = experiment.scans.get(str(address.target))
    remove = partial(delete_scan, current.archive, current, experiment, remove_files=_remove_files())
    answered = _read_or_delete(address, scan, "scan", partial(scan_item, experiment=experiment), remove)
    if answered is not None:
        return answered
    fields = query_fields()
    xsi_type = request.args.get("xsiType")
    if scan is None:
        scan = _create_scan(current, experiment, fields.get("ID") or str(address.target), xsi_type)
    elif xsi_type and xsi_type != scan.xsi_type:
        raise ArchiveError(409, "Specified xsiType differs from existing xsiType")
    apply_fields(scan, fields, SCAN_ATTRIBUTES, {"ID", "image_session_ID", "project"})
    return text("")


def _create_scan(current: DoubleState, experiment: Experiment, scan_id: str, xsi_type: str | None) -> Scan:
    if not xsi_type:
        raise ArchiveError(417, "Need PUT Contents")
    if xsi_type == IMAGE_SCAN:
        raise ArchiveError(
            400,
            "Multiple scan modalities can be associated here.  Please retry with the specification of a "
            "particular modality (i.e. ?xsiType=xnat:mrScanData).",
        )
    if not is_known_type(xsi_type) or not is_instance_of(xsi_type, IMAGE_SCAN):
        raise ArchiveError(
            400,
            "Only Scan documents can be PUT to this address. Expected: xnat:imageScanData "
            f"Received: {xsi_type}",
        )
    return create_scan(current.archive, experiment, scan_id, xsi_type)


# --- resources and files -----------------------------------------------------------------------------
def handle_resources(current: DoubleState, address: Address) -> Response:
    if not _reading():
        return _not_allowed()
    _require(address, "read")
    rows = [resource_row(resource, owner) for owner, resource in select_resources(address.owners, None)]
    return result_set(rows, title="Resources")


def handle_resource(current: DoubleState, address: Address) -> Response:
    pairs = select_resources(address.owners, address.resource_selector)
    if _reading():
        _require(address, "read")
        if len(pairs) != 1:
            raise ArchiveError(404, "Unable to find the specified catalog.")
        return text(_catalog_xml(pairs[0][1]), mimetype="text/xml")
    _require(address, _method_level())
    if request.method == "DELETE":
        if not pairs:
            raise ArchiveError(404, "Unable to find the specified catalog.")
        for owner, resource in pairs:
            delete_resource(current.archive, current, owner, resource)
        return text("")
    owner = single_owner(address)
    if pairs:
        raise ArchiveError(409, "Specified resource already exists.")
    metadata = {key: request.args[key] for key in ("content", "description", "tags") if key in request.args}
    add_resource(
        current.archive, owner, str(address.resource_selector), format=_resource_format(), **metadata
    )
    return text("")


def _resource_format() -> str:
    value = request.args.get("format", "")
    return "" if value.lower() in ("json", "xml", "html") else value


def _catalog_xml(resource: Resource) -> str:
    """The catalog document CatalogResource returns (xnatpy recognises its first line)."""
    entries = "".join(
        f"<cat:entry URI={quoteattr(stored.path)} ID={quoteattr(stored.path)} name={quoteattr(stored.name)}"
        f" digest={quoteattr(stored.digest)} format={quoteattr(stored.format)}/>"
        for stored in resource.files.values()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<cat:Catalog xmlns:cat="http://nrg.wustl.edu/catalog" '
        f"ID={quoteattr(str(resource.id))} description={quoteattr(resource.description)}>"
        f"<cat:entries>{entries}</cat:entries></cat:Catalog>"
    )


def _download_folder(address: Address) -> str:
    if address.experiment is not None:
        return address.experiment.label
    if address.subject is not None:
        return address.subject.label
    return address.project_id or "files"


def handle_files(current: DoubleState, address: Address) -> Response:
    pairs = select_resources(address.owners, address.resource_selector)
    if _reading():
        _require(address, "read")
        entries = files.file_entries(pairs)
        if (request.args.get("format") or "").lower() not in ("zip", "tar.gz", "tar"):
            return result_set(files.listing_rows(entries), title="Files")
        return _zip_entries(current, address, entries)
    return _upload(current, address, pairs, "")


def _zip_entries(current: DoubleState, address: Address, entries: list[files.FileEntry]) -> Response:
    if (request.args.get("format") or "").lower() != "zip":
        raise ArchiveError(415, "The double produces zip archives only; ask for ?format=zip")
    experiments = [address.experiment] if address.experiment is not None else []
    naming = files.zip_naming(experiments, address.subject, address.project_id or "")
    structure = (request.args.get("structure") or "default").lower()
    members = []
    for entry in entries:
        disk_path = entry.resource.disk_path(entry.stored)
        if disk_path.is_file():
            members.append((files.zip_entry_name(entry, structure, naming, str(disk_path)), str(disk_path)))
    if not members:
        return files.not_found_response()
    return files.zip_response(members, _download_folder(address))


def handle_file(current: DoubleState, address: Address) -> Response:
    pairs = select_resources(address.owners, address.resource_selector)
    if _reading():
        _require(address, "read")
        for _owner, resource in pairs:
            stored = _find_file(resource, address.file_path)
            if stored is not None:
                return files.single_file_response(resource, stored, _download_folder(address))
        return files.not_found_response()
    if request.method == "DELETE":
        _require(address, "delete")
        for _owner, resource in pairs:
            stored = _find_file(resource, address.file_path)
            if stored is not None:
                delete_file(current.archive, current, resource, stored.path)
                return text("")
        raise ArchiveError(404, "Unable to find file.")
    return _upload(current, address, pairs, address.file_path)


def _find_file(resource: Resource, path: str) -> Any:
    stored = resource.files.get(path.strip("/"))
    if stored is None:
        named = [candidate for candidate in resource.files.values() if candidate.name == path]
        stored = named[0] if len(named) == 1 else None
    return stored


def _upload(current: DoubleState, address: Address, pairs: list[Any], file_path: str) -> Response:
    _require(address, "edit")
    if address.resource_selector is None:
        raise ArchiveError(400, "Upload files into a resource: …/resources/{label}/files/{path}")
    if len(pairs) > 1:
        raise ArchiveError(400, "The path names several resources; upload into exactly one.")
    if pairs:
        resource = pairs[0][1]
    else:  # FileList creates the catalog on first upload
        resource = add_resource(
            current.archive, single_owner(address), address.resource_selector, format=_resource_format()
        )
    duplicates = files.store_uploads(current, resource, files.request_uploads(file_path))
    return files.duplicates_response(duplicates)


HANDLERS = {
    "subjects": handle_subjects,
    "subject": handle_subject,
    "experiments": handle_experiments,
    "experiment": handle_experiment,
    "status": handle_status,
    "scans": handle_scans,
    "scan": handle_scan,
    "resources": handle_resources,
    "resource": handle_resource,
    "files": handle_files,
    "file": handle_file,
}
