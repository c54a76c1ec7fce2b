"""Container service plugin: Docker server, commands, wrappers and their site/project enablement.

Sources (CS = NrgXnat/container-service at tag 3.6.3, `…` = src/main/java/org/nrg/containers):
- CS …/rest/DockerRestApi.java: GET /xapi/docker/server (no access level; 404 "No container server
  defined." when there is none), POST (Admin → 403 for others) → 201 with the server, GET …/ping → "OK".
  CS …/initialization/tasks/CheckDockerServerIsDefined.java: a fresh install defines the default
  "Local socket" server (unix:///var/run/docker.sock); seed ``double: {docker_server: null}`` for a site
  without one. The double never talks to Docker: the ping answers "OK" unless the seed sets
  ``double: {docker_ping: false}`` (then 424, as NoDockerServerException/DockerServerException do).
  Unknown JSON fields are ignored (Spring's Jackson default).
- CS …/rest/CommandRestApi.java: POST /xapi/commands → 201 with the bare new id; a command with the same
  name, image and version → 400 "This command duplicates a command already in the database."
  (…/services/impl/HibernateCommandEntityService.java); an invalid command → 400; POST /{id} updates (200),
  DELETE → 204; POST /{id}/wrappers → 201 wrapper id; DELETE /xapi/wrappers/{id} → 204. These call
  checkAdminOrThrow: a non-admin gets 401, not 403 (…/exceptions/UnauthorizedException.java is
  @ResponseStatus(UNAUTHORIZED)).
- CS …/rest/CommandConfigurationRestApi.java: site GET/PUT …/enabled and PUT …/disabled are Admin (403);
  project GET …/enabled is Edit and returns ProjectEnabledReport (…/model/configuration/
  ProjectEnabledReport.java); project PUT …/enabled|disabled is Delete (owner; 403 for others).
  There is no GET …/disabled.
- CS …/services/impl/ContainerConfigServiceImpl.java: a wrapper is disabled on the site until enabled;
  "enabled for a project" means enabled on the site AND explicitly enabled for the project.
- CS …/model/command/auto/Command.java, output handlers: the creation body (CommandCreation →
  CommandWrapperOutputCreation) still reads the old key ``as-a-child-of-wrapper-input`` when
  ``as-a-child-of`` is absent and stores it as ``as-a-child-of``; ``type`` defaults to "Resource" and
  ``tags`` to []. The update body (Command → CommandWrapperOutput) has no old key: Jackson drops it, the
  handler's ``as-a-child-of`` is blank and validation answers 400 "Invalid command:\n\t…property
  \"as-a-child-of\" cannot be blank." (also for a blank name or ``accepts-command-output``, an unknown
  type, or a Resource handler without a label). Same in 3.4.3, 3.6.3 and 3.7.3.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from .common import (
    empty,
    json_response,
    require_admin,
    require_authenticated,
    state,
    stop,
    text,
    xapi_project,
)
from .container_launch import visible_containers
from .state import DEFAULT_DOCKER_SERVER, User

blueprint = Blueprint("containers", __name__)

SERVER_KEYS = frozenset(DEFAULT_DOCKER_SERVER) - {"id"}
ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"


def require_container_admin() -> User:
    """checkAdminOrThrow: anonymous/guest → 401 challenge, non-admin → 401 (UnauthorizedException)."""
    user = require_authenticated()
    if not user.is_admin:
        stop(401, f"User {user.username} is not authorized to manage the container service")
    return user


# --- Docker server -----------------------------------------------------------------------------------
@blueprint.route("/xapi/docker/server", methods=["GET"])
def get_server() -> Response:
    with state().lock:
        server = state().docker_server
        if server is None:
            stop(404, "No container server defined")
        return json_response({**server, "ping": state().options.docker_ping})


BACKENDS = ("docker", "swarm", "kubernetes")  # CS …/model/server/docker/Backend.java (@JsonValue lowercase)


def _server_errors(server: dict[str, Any]) -> list[str]:
    """CS …/model/server/docker/DockerServerBase.java DockerServer.validate()."""
    errors = []

    def filled(key: str) -> bool:
        return bool(str(server.get(key) or "").strip())

    if server["backend"] == "kubernetes":
        user = str(server.get("container-user") or "").strip()
        if user and not user.lstrip("-").isdigit():
            errors.append(
                "If set, container user must be a string with integer value with kubernetes backend"
            )
        if filled("gpu-vendor") and str(server["gpu-vendor"]).lower() not in ("nvidia", "amd"):
            errors.append("The value of the GPU Vendor can only be nvidia or amd")
        if filled("combined-pvc-name") and (filled("archive-pvc-name") or filled("build-pvc-name")):
            errors.append(
                "You cannot have a Kubernetes server setup which uses mounts from a PVC with separate and "
                "combined locations for build and archive. Please choose one or the other."
            )
        if filled("combined-path-translation") and (
            filled("archive-path-translation") or filled("build-path-translation")
        ):
            errors.append(
                "You cannot have a Kubernetes server setup which has path translations for both separate and "
                "combined locations for build and archive directories. Please choose one or the other."
            )
    elif not filled("host"):
        errors.append(f"Host cannot be empty for {server['backend']} server setting")
    constraints = server.get("swarm-constraints") or []
    if any(not str(c.get("attribute") or "").strip() for c in constraints if isinstance(c, dict)):
        errors.append("Constraint node attribute cannot be blank")
    if any(
        not c.get("values") or any(not str(v or "").strip() for v in c["values"])
        for c in constraints
        if isinstance(c, dict)
    ):
        errors.append("Constraint values cannot be blank")
    return errors


@blueprint.route("/xapi/docker/server", methods=["POST"])
def set_server() -> Response:
    """DockerRestApi.setServer. ``backend`` must be a lowercase Backend value (Jackson refuses others: 400,
    message approximated); absent, ``swarm-mode`` true means swarm, else docker (DockerServer.create);
    ``swarm-mode`` is then derived from it. Invalid settings → 400 with validate()'s lines. The double merges
    the body into the current server (upstream replaces it: absent keys take their defaults)."""
    require_admin()
    body = _json_object()
    backend = body.get("backend")
    if backend is not None and backend not in BACKENDS:
        enum = "org.nrg.containers.model.server.docker.Backend"
        accepted = ", ".join(BACKENDS)
        stop(
            400,
            f'JSON parse error: Cannot deserialize value of type `{enum}` from String "{backend}": '
            f"not one of the values accepted for Enum class: [{accepted}]",
        )
    with state().lock:
        server = dict(state().docker_server or DEFAULT_DOCKER_SERVER)
        server.update({key: value for key, value in body.items() if key in SERVER_KEYS})
        if backend is None:
            server["backend"] = "swarm" if body.get("swarm-mode") in (True, "true") else "docker"
        server["swarm-mode"] = server["backend"] == "swarm"
        errors = _server_errors(server)
        if errors:
            stop(400, "\n".join(errors))
        state().docker_server = server
        return json_response({**server, "ping": state().options.docker_ping}, status=201)


@blueprint.route("/xapi/docker/server/ping", methods=["GET"])
def ping_server() -> Response:
    with state().lock:
        if state().docker_server is None or not state().options.docker_ping:
            stop(424, "Cannot ping docker server: no server, or the server did not answer")
    return text('"OK"', mimetype="application/json")


@blueprint.route("/xapi/docker/images", methods=["GET"])
def list_images() -> Response:
    require_authenticated()
    with state().lock:
        if state().docker_server is None:
            stop(424, "No container server defined")
        images = {cmd["image"] for cmd in state().commands.values() if cmd.get("image")}
    return json_response(
        [{"image-id": f"sha256:{abs(hash(i)):064x}"[:71], "tags": [i], "labels": {}} for i in sorted(images)]
    )


# --- commands ----------------------------------------------------------------------------------------
def _json_object() -> dict[str, Any]:
    raw = request.get_data(as_text=True)
    try:
        body = json.loads(raw)
    except ValueError as error:
        stop(400, f"Bad request: JSON parse error: {error}")
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a JSON object")
    return body


OUTPUT_TYPES = ("Resource", "Assessor", "Scan")  # CS …/model/command/entity/CommandWrapperOutputEntity.Type
OLD_TARGET_KEY = "as-a-child-of-wrapper-input"


def _read_output_handlers(command: dict[str, Any], creating: bool) -> None:
    """Deserialise each wrapper's output handlers as CommandWrapperOutput(Creation).create does."""
    for wrapper in command.get("xnat") or []:
        if not isinstance(wrapper, dict) or not isinstance(wrapper.get("output-handlers"), list):
            continue
        handlers = []
        for sent in wrapper["output-handlers"]:
            handler = dict(sent) if isinstance(sent, dict) else {}
            old_target = handler.pop(OLD_TARGET_KEY, None)  # unknown to the update body: dropped
            if creating and handler.get("as-a-child-of") is None:
                handler["as-a-child-of"] = old_target
            handler["type"] = handler.get("type") or "Resource"
            handler["tags"] = handler.get("tags") or []
            handlers.append(handler)
        wrapper["output-handlers"] = handlers


def _output_handler_errors(wrapper: dict[str, Any]) -> list[str]:
    """CommandWrapperOutput.validate(), prefixed with the wrapper as Command.validate does."""
    errors = []
    for handler in wrapper.get("output-handlers") or []:
        prefix = f'Command wrapper "{wrapper.get("name")}" output handler "{handler.get("name")}" - '
        if not str(handler.get("name") or "").strip():
            errors.append("Command wrapper output - name cannot be blank.")
        for key in ("accepts-command-output", "as-a-child-of"):
            if not str(handler.get(key) or "").strip():
                errors.append(f'{prefix}property "{key}" cannot be blank.')
        if handler["type"] not in OUTPUT_TYPES:
            known = ", ".join(OUTPUT_TYPES)
            errors.append(f'{prefix}Unknown type "{handler["type"]}". Known types: {known}')
        elif handler["type"] == "Resource" and not str(handler.get("label") or "").strip():
            errors.append(f"{prefix}when type = Resource, label cannot be blank.")
    return errors


def _validate_command(command: dict[str, Any]) -> None:
    errors = []
    if not command.get("name"):
        errors.append('Command "name" cannot be blank.')
    if not command.get("image"):
        errors.append('Command "image" cannot be blank.')
    if command.get("type", "docker") not in ("docker", "docker-setup", "docker-wrapup"):
        errors.append(f"Cannot instantiate command of type {command.get('type')}")
    wrappers = command.get("xnat") or []
    if not isinstance(wrappers, list):
        errors.append('Command "xnat" must be a list of wrappers.')
        wrappers = []
    names = [w.get("name") for w in wrappers if isinstance(w, dict)]
    if len(names) != len(wrappers) or not all(names):
        errors.append('Command wrapper "name" cannot be blank.')
    if len(set(names)) != len(names):
        errors.append("Command wrapper names must be unique.")
    for wrapper in wrappers:
        if isinstance(wrapper, dict):
            errors.extend(_output_handler_errors(wrapper))
    if errors:
        stop(400, "Invalid command:\n\t" + "\n\t".join(errors))


def _assign_wrapper_ids(command: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    """Wrappers are matched by NAME on update (CS …/model/command/entity/CommandEntity.java update):
    a kept name keeps its id and settings, a new name gets a new id, a missing name is deleted."""
    current = state()
    old = {w["name"]: w["id"] for w in (previous or {}).get("xnat") or []}
    for wrapper in command.get("xnat") or []:
        wrapper["id"] = old.get(wrapper["name"]) or current.next_id()
    for removed in set(old.values()) - {w["id"] for w in command.get("xnat") or []}:
        current.wrapper_site_enabled.pop(removed, None)
        for key in [k for k in current.wrapper_project_enabled if k[0] == removed]:
            del current.wrapper_project_enabled[key]


def find_command(command_id: int) -> dict[str, Any]:
    command = state().commands.get(command_id)
    if command is None:
        stop(404, f"No command with id {command_id}")
    return command


def find_wrapper(wrapper_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    found = next(
        (
            (command, wrapper)
            for command in state().commands.values()
            for wrapper in command.get("xnat") or []
            if wrapper["id"] == wrapper_id
        ),
        None,
    )
    if found is None:
        stop(404, f"No command wrapper with id {wrapper_id}")
    return found


def find_wrapper_by_name(command_id: int, name: str) -> dict[str, Any]:
    wrappers = find_command(command_id).get("xnat") or []
    found = next((wrapper for wrapper in wrappers if wrapper["name"] == name), None)
    if found is None:
        stop(404, f"No command wrapper {name} for command {command_id}")
    return found


def wrapper_enabled_for(wrapper_id: int, project_id: str | None) -> bool:
    current = state()
    site = current.wrapper_site_enabled.get(wrapper_id, False)
    if project_id is None:
        return site
    return site and current.wrapper_project_enabled.get((wrapper_id, project_id), False)


@blueprint.route("/xapi/commands", methods=["GET"])
def list_commands() -> Response:
    require_authenticated()
    filters = {key: request.args[key] for key in ("name", "version", "image") if key in request.args}
    with state().lock:
        found = [c for c in state().commands.values() if all(c.get(k) == v for k, v in filters.items())]
        return json_response(found)


@blueprint.route("/xapi/commands/<int:command_id>", methods=["GET"])
def get_command(command_id: int) -> Response:
    require_authenticated()
    with state().lock:
        return json_response(find_command(command_id))


@blueprint.route("/xapi/commands", methods=["POST"])
def create_command() -> Response:
    require_container_admin()
    command = _json_object()
    if request.args.get("image"):
        command["image"] = request.args["image"]
    command.setdefault("type", "docker")
    _read_output_handlers(command, creating=True)
    _validate_command(command)
    current = state()
    with current.lock:
        for other in current.commands.values():
            same = ("name", "version", "image")
            if all(other.get(key) == command.get(key) for key in same):
                stop(400, "This command duplicates a command already in the database.")
        command["id"] = current.next_id()
        _assign_wrapper_ids(command)
        current.commands[command["id"]] = command
    return text(str(command["id"]), status=201, mimetype="application/json")


@blueprint.route("/xapi/commands/<int:command_id>", methods=["POST"])
def update_command(command_id: int) -> Response:
    require_container_admin()
    command = _json_object()
    command.setdefault("type", "docker")
    _read_output_handlers(command, creating=False)
    _validate_command(command)
    with state().lock:
        previous = find_command(command_id)
        command["id"] = command_id
        _assign_wrapper_ids(command, previous)
        state().commands[command_id] = command
    return empty()


@blueprint.route("/xapi/commands/<int:command_id>", methods=["DELETE"])
def delete_command(command_id: int) -> Response:
    require_container_admin()
    current = state()
    with current.lock:
        command = find_command(command_id)
        for wrapper in command.get("xnat") or []:
            current.wrapper_site_enabled.pop(wrapper["id"], None)
        del current.commands[command_id]
    return empty(204)


@blueprint.route("/xapi/commands/<int:command_id>/wrappers", methods=["POST"])
def add_wrapper(command_id: int) -> Response:
    require_container_admin()
    wrapper = _json_object()
    with state().lock:
        command = find_command(command_id)
        if not wrapper.get("name"):
            stop(400, 'Command wrapper "name" cannot be blank.')
        _read_output_handlers({"xnat": [wrapper]}, creating=True)
        errors = _output_handler_errors(wrapper)
        if errors:
            stop(400, "Invalid command:\n\t" + "\n\t".join(errors))
        if any(w["name"] == wrapper["name"] for w in command.get("xnat") or []):
            stop(400, f"Command {command_id} already has a wrapper named {wrapper['name']}")
        wrapper["id"] = state().next_id()
        command.setdefault("xnat", []).append(wrapper)
    return text(str(wrapper["id"]), status=201, mimetype="application/json")


@blueprint.route("/xapi/wrappers/<int:wrapper_id>", methods=["DELETE"])
def delete_wrapper(wrapper_id: int) -> Response:
    require_container_admin()
    with state().lock:
        command, _ = find_wrapper(wrapper_id)
        command["xnat"] = [w for w in command["xnat"] if w["id"] != wrapper_id]
        state().wrapper_site_enabled.pop(wrapper_id, None)
    return empty(204)


# --- enablement --------------------------------------------------------------------------------------
def _site_flag(wrapper_id: int, verb: str) -> Response:
    require_admin()
    if request.method == "GET":
        return json_response(wrapper_enabled_for(wrapper_id, None))
    state().wrapper_site_enabled[wrapper_id] = verb == "enabled"
    return empty()


def _project_flag(wrapper_id: int, project_id: str, verb: str) -> Response:
    current = state()
    if request.method == "GET":
        xapi_project(project_id, "edit")
        report = {
            "enabled-for-site": wrapper_enabled_for(wrapper_id, None),
            "enabled-for-project": wrapper_enabled_for(wrapper_id, project_id),
            "project": project_id,
        }
        return json_response(report)
    xapi_project(project_id, "delete")
    current.wrapper_project_enabled[(wrapper_id, project_id)] = verb == "enabled"
    return empty()


def _check_verb(verb: str) -> None:
    """…/enabled takes GET and PUT; …/disabled only PUT."""
    if verb not in ("enabled", "disabled") or (verb == "disabled" and request.method == "GET"):
        stop(404)


@blueprint.route("/xapi/commands/<int:command_id>/wrappers/<wrapper_name>/<verb>", methods=["GET", "PUT"])
def site_by_name(command_id: int, wrapper_name: str, verb: str) -> Response:
    _check_verb(verb)
    with state().lock:
        wrapper = find_wrapper_by_name(command_id, wrapper_name)
        return _site_flag(wrapper["id"], verb)


@blueprint.route("/xapi/wrappers/<int:wrapper_id>/<verb>", methods=["GET", "PUT"])
def site_by_id(wrapper_id: int, verb: str) -> Response:
    _check_verb(verb)
    with state().lock:
        find_wrapper(wrapper_id)
        return _site_flag(wrapper_id, verb)


@blueprint.route(
    "/xapi/projects/<project_id>/commands/<int:command_id>/wrappers/<wrapper_name>/<verb>",
    methods=["GET", "PUT"],
)
def project_by_name(project_id: str, command_id: int, wrapper_name: str, verb: str) -> Response:
    _check_verb(verb)
    with state().lock:
        wrapper = find_wrapper_by_name(command_id, wrapper_name)
        return _project_flag(wrapper["id"], project_id, verb)


@blueprint.route("/xapi/projects/<project_id>/wrappers/<int:wrapper_id>/<verb>", methods=["GET", "PUT"])
def project_by_id(project_id: str, wrapper_id: int, verb: str) -> Response:
    _check_verb(verb)
    with state().lock:
        find_wrapper(wrapper_id)
        return _project_flag(wrapper_id, project_id, verb)


@blueprint.route("/xapi/wrappers/<int:wrapper_id>/projects", methods=["GET"])
def wrapper_projects(wrapper_id: int) -> Response:
    require_authenticated()
    with state().lock:
        find_wrapper(wrapper_id)
        projects = sorted(
            p for (w, p), on in state().wrapper_project_enabled.items() if w == wrapper_id and on
        )
    return json_response(projects)


# --- containers (launched by event subscriptions: xnat_double/container_launch.py) --------------------
# CS …/rest/ContainerRestApi.java: all Authenticated; the lists hold the caller's own containers (all of
# them for an admin); GET one shows another user's container scrubbed (scrubProtectedData: no mounts,
# inputs, outputs or logs, command line "[REDACTED]").
SCRUBBED_KEEPS = (
    "id",
    "command-id",
    "status",
    "status-time",
    "wrapper-id",
    "user-id",
    "project",
    "docker-image",
)


@blueprint.route("/xapi/containers", methods=["GET"])
def list_containers() -> Response:
    user = require_authenticated()
    return json_response(visible_containers(state(), user.username, is_admin=user.is_admin))


@blueprint.route("/xapi/projects/<project_id>/containers", methods=["GET"])
def list_project_containers(project_id: str) -> Response:
    user = require_authenticated()
    return json_response(
        visible_containers(state(), user.username, is_admin=user.is_admin, project=project_id)
    )


@blueprint.route("/xapi/containers/<int:container_id>", methods=["GET"])
def get_container(container_id: int) -> Response:
    user = require_authenticated()
    found = next((c for c in visible_containers(state(), "", is_admin=True) if c["id"] == container_id), None)
    if found is None:
        stop(404, f"Could not find container {container_id}")
    if not (user.is_admin or found.get("user-id") == user.username):
        found = {key: found.get(key) for key in SCRUBBED_KEEPS} | {"command-line": "[REDACTED]"}
    return json_response(found)
