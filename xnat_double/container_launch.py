"""The event service firing ScanEvent CREATED on archive, and the container service launching the subscribed
command for real on the local Docker engine.

Switched on by the double option ``containers`` (seed ``double: {containers: docker}``); ``off`` by default,
so that no test touches Docker unless it asks to. Off, events are still matched and their deliveries recorded
(``Launcher.deliveries``), but nothing is launched.

Sources (NX = NrgXnat/xnat monorepo at 93d33cb, ``…`` = web/src/main/java/org/nrg/xnat/eventservice;
CS = NrgXnat/container-service at 3.7.3, ``CS…`` = src/main/java/org/nrg/containers):
- NX …/aspects/EventServiceItemSaveAspect.java: saving a NEW session fires ScanEvent CREATED for every scan
  (after SessionEvent CREATED); re-saving an existing session fires it for the scans that are new. Files
  added to an existing scan fire nothing. (``ScanArchived``, the old container-service automation event,
  maps to ScanEvent CREATED: CS…/services/impl/CommandEventMappingServiceImpl.) The double calls
  ``scans_created`` where archive_ingest files into the archive.
- NX …/services/impl/EventServiceImpl.java triggerEvent/processEvent: nothing when the event service is
  disabled; a subscription's action runs as its owner unless ``act-as-event-user``; the payload filter is
  evaluated as ``$[?(filter)]`` against the serialised model object (…/model/xnat/Scan.java: id, label,
  xsiType, uri, integer-id, scan-type, project-id, session-id, resources, directory, frames, modality,
  quality, series-description, uid — NON_NULL); no match → delivery OBJECT_FILTER_MISMATCH_HALT; an invalid
  subscription → FAILED. …/services/impl/EventSubscriptionEntityServiceImpl.java (predicate selector): the
  event type must equal, a non-blank status must equal, non-empty project-ids must contain the event's
  project (``events.matching_subscriptions``).
- CS…/services/CommandActionProvider.java processEvent: the wrapper id is the action key's suffix; the
  wrapper's external input gets the object's archive URI; subscription ``attributes`` are input values; the
  project is the filter's single project id.
- CS…/services/impl/CommandResolutionServiceImpl.java: a command input takes its ``default-value``, then the
  runtime value; a boolean becomes ``true-value``/``false-value``; values containing ``;``, ``&&``, ``||``,
  backtick or ``(`` are refused (CS…/services/CommandResolutionService.ILLEGAL_INPUT_STRINGS); a blank value
  puts "" on the command line, else ``command-line-flag`` + (``command-line-separator`` or " ") + value
  replaces the ``replacement-key``. A mount fed by a wrapper input (``provides-files-for-command-mount``) is
  that object's directory; a mount fed by none is an output mount, a fresh build directory
  ``{buildPath}/{uuid}``. Derived Resource inputs pick the parent's resource matching the ``matcher``.
  Resolution failure → workflow "Failed (Command resolution)", no container.
- CS…/api/DockerControlApi.java createContainer: binds ``host:container[:ro]``; with ``override-entrypoint``
  the command is ``/bin/sh -c <command-line>`` and the entrypoint "", else the command line is shell-split;
  ``container-user`` of the server is the user. The double adds ``--network none`` (the local daemon runs
  without a bridge, and dcm2niix needs no network) and, when it does not run as root, ``--user`` of its own
  uid so that it can remove the outputs — deliberate differences.
- CS…/model/container/entity/ContainerEntity.java mapStatus: docker ``start`` → "Running".
  CS…/services/impl/ContainerServiceImpl.java finalize: a non-blank non-zero exit code is a failure.
  CS…/services/impl/ContainerFinalizeServiceImpl.java: success → outputs uploaded, status "Complete" (a
  failed upload "Failed (Upload)"); failure → "Failed", nothing uploaded; the exit code is on the history
  item (``exitCode``; Container.exitCode() is @JsonIgnore). uploadOutputs: a Resource handler's files are the
  top-level entries of the output mount (``matchGlob`` ignores the glob), inserted with directories
  preserved into the resource ``label`` of the handler's ``as-a-child-of`` input, created when missing
  (NX web/…/services/archive/impl/legacy/DefaultCatalogService.createAndInsertResourceCatalog) — an empty
  output still creates the (empty) resource, as upstream does.
- CS…/rest/ContainerRestApi.java: GET /xapi/containers, /xapi/projects/{P}/containers, /xapi/containers/{id}
  are Authenticated and list the caller's own containers (all of them for an admin)
  (``containers.py`` routes call ``visible_containers``).

Not modelled: setup/wrapup containers, Swarm services and Kubernetes jobs (only the Docker backend runs
here), the event service's delivery REST API, workflows, ``provides-value-for-command-input``, JsonPath
filters beyond the subset ``payload_matches`` evaluates (one it cannot evaluate halts the delivery with an
OBJECT_FILTERING_FAULT naming the construct).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .archive_model import Experiment, Scan, add_resource, write_file
from .state import DoubleState

logger = logging.getLogger("xnat_double.container_launch")

CONTAINER_MODES = ("off", "docker")
EVENT_PACKAGE = "org.nrg.xnat.eventservice.events."
ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
ILLEGAL_INPUT_STRINGS = (";", "&&", "||", "`", "(")
DEFAULT_TIMEOUT = 600.0  # seconds a container may run before the double kills it
SETTLE_SECONDS = 2.0  # a launch waits until its input files stopped changing this long (see _settle)
SETTLE_LIMIT = 120.0
DOUBLE_LABEL = "org.xnat-enclave.double=1"  # on every container the double creates


# --- events --------------------------------------------------------------------------------------------
def scans_created(current: DoubleState, experiment: Experiment, scan_ids: list[str], user: str) -> None:
    """ScanEvent CREATED for these scans of an archived session (call with ``current.lock`` held)."""
    if not scan_ids or not current.event_prefs.get("enabled"):
        return
    launcher = launcher_for(current)
    for scan_id in scan_ids:
        scan = experiment.scans.get(scan_id)
        if scan is None:
            continue
        payload = scan_model(experiment, scan)
        for subscription in matching_subscriptions(current, "ScanEvent", "CREATED", experiment.project):
            launcher.deliver(
                current,
                subscription=subscription,
                experiment=experiment,
                scan=scan,
                payload=payload,
                user=user,
            )


def matching_subscriptions(
    current: DoubleState, event_type: str, status: str, project_id: str
) -> list[dict[str, Any]]:
    """The active subscriptions an event reaches (EventSubscriptionEntityServiceImpl's predicate selector):
    same event type, same status unless the filter's is blank, the project among non-empty project-ids."""
    found = []
    for subscription in current.subscriptions.values():
        event_filter = subscription.get("event-filter") or {}
        projects = event_filter.get("project-ids") or []
        if (
            subscription.get("active") is not False
            and event_filter.get("event-type") == EVENT_PACKAGE + event_type
            and (not event_filter.get("status") or event_filter.get("status") == status)
            and (not projects or project_id in projects)
        ):
            found.append(subscription)
    return found


def action_available(current: DoubleState, wrapper_id: int, projects: list[str]) -> bool:
    """validateSubscription for CommandActionProvider: the wrapper enabled on the site, and for every project
    of the filter (events._action_unavailable, without a request context)."""
    if not current.wrapper_site_enabled.get(wrapper_id, False):
        return False
    return all(current.wrapper_project_enabled.get((wrapper_id, project), False) for project in projects)


def scan_uri(experiment: Experiment, scan: Scan) -> str:
    return f"/archive/experiments/{experiment.id}/scans/{scan.id}"


def scan_model(experiment: Experiment, scan: Scan) -> dict[str, Any]:
    """The Scan model object as the event service and the container service serialise it (NON_NULL)."""
    uri = scan_uri(experiment, scan)
    resources = [
        {
            "id": str(resource.id),
            "label": resource.label,
            "xsiType": "xnat:resourceCatalog",
            "uri": f"{uri}/resources/{resource.id}",
            "integer-id": resource.id,
            "directory": str(resource.directory),
            "format": resource.format or None,
            "content": resource.content or None,
        }
        for resource in scan.resources.values()
    ]
    model = {
        "id": scan.id,
        "label": scan.id,
        "xsiType": scan.xsi_type,
        "uri": uri,
        "integer-id": scan.xnat_id,
        "scan-type": scan.type or None,
        "project-id": experiment.project,
        "session-id": experiment.id,
        "resources": [{k: v for k, v in item.items() if v is not None} for item in resources],
        "directory": str(scan.directory),
        "frames": scan.frames,
        "note": scan.note or None,
        "modality": scan.modality or None,
        "quality": scan.quality or None,
        "series-description": scan.series_description or None,
        "uid": scan.uid or None,
    }
    return {key: value for key, value in model.items() if value is not None}


# --- a JsonPath predicate subset -------------------------------------------------------------------------
class FilterError(ValueError):
    """A payload filter or matcher the double cannot evaluate."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<path>@(?:\.[A-Za-z_][\w-]*(?:\(\))?|\[\*\]|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\])*)"
    r"|(?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\)|\bnin\b|\bin\b|\bcontains\b|\bempty\b|\bsize\b)"
    r"|(?P<word>true|false|null))",
    re.IGNORECASE,
)
_MISSING = object()


def payload_matches(predicate: str, document: dict[str, Any]) -> bool:
    """Whether ``$[?(predicate)]`` selects ``document`` (Jayway, on the subset: ``@`` paths with ``.name``,
    ``[*]``, ``[n]``, ``['name']`` and ``.length()``; literals; ``== != < <= > >=`` and ``in nin contains
    empty size``; ``&& || !`` and parentheses; a lone path means it exists). Else FilterError."""
    tokens = _tokenise(predicate)
    parser = _Predicate(tokens, document)
    result = parser.disjunction()
    if parser.position != len(tokens):
        raise FilterError(f"cannot evaluate {predicate!r} near {tokens[parser.position][1]!r}")
    return bool(result)


def _tokenise(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"cannot evaluate {text!r} at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Predicate:
    def __init__(self, tokens: list[tuple[str, str]], document: Any) -> None:
        self.tokens, self.position, self.document = tokens, 0, document

    def _peek(self) -> str:
        return self.tokens[self.position][1].lower() if self.position < len(self.tokens) else ""

    def _take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise FilterError("unexpected end of filter")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self._peek() == "||":
            self._take()
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.unary()
        while self._peek() == "&&":
            self._take()
            value = self.unary() and value
        return value

    def unary(self) -> bool:
        if self._peek() == "!":
            self._take()
            return not self.unary()
        if self._peek() == "(":
            self._take()
            value = self.disjunction()
            if self._take()[1] != ")":
                raise FilterError("missing )")
            return value
        return self.comparison()

    def comparison(self) -> bool:
        left_kind, left = self.operand()
        operator = self._peek()
        if operator not in ("==", "!=", "<", "<=", ">", ">=", "in", "nin", "contains", "empty", "size"):
            if left_kind != "path":
                raise FilterError(f"a literal alone is not a predicate: {left!r}")
            return left is not _MISSING
        self._take()
        _, right = self.operand()
        return _compare(operator, left, right)

    def operand(self) -> tuple[str, Any]:
        kind, text = self._take()
        if kind == "str":
            return kind, re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "num":
            return kind, float(text)
        if kind == "word":
            return kind, {"true": True, "false": False, "null": None}[text.lower()]
        if kind == "path":
            return kind, _read_path(self.document, text)
        raise FilterError(f"unexpected {text!r}")


def _read_path(document: Any, path: str) -> Any:
    """An ``@`` path: a value, a list for an indefinite path ([*]), or _MISSING."""
    values, indefinite = [document], False
    for step in re.findall(r"\.[A-Za-z_][\w-]*(?:\(\))?|\[\*\]|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\]", path[1:]):
        following: list[Any] = []
        for value in values:
            if step == ".length()":
                if isinstance(value, list | str | dict):
                    following.append(len(value))
            elif step == "[*]":
                indefinite = True
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value.values())
            elif step.startswith("[") and step[1:-1].isdigit():
                index = int(step[1:-1])
                if isinstance(value, list) and index < len(value):
                    following.append(value[index])
            else:
                name = step[1:] if step.startswith(".") else step[2:-2]
                if isinstance(value, dict) and name in value:
                    following.append(value[name])
                elif isinstance(value, list) and indefinite:
                    following.extend(item[name] for item in value if isinstance(item, dict) and name in item)
        values = following
    if indefinite:
        return values
    return values[0] if values else _MISSING


def _compare(operator: str, left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return operator in ("!=", "nin")
    if operator in ("<", "<=", ">", ">="):
        try:
            a, b = float(left), float(right)
        except (TypeError, ValueError):
            return False
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]
    tests = {
        "==": lambda: _same(left, right),
        "!=": lambda: not _same(left, right),
        "in": lambda: isinstance(right, list) and any(_same(left, item) for item in right),
        "nin": lambda: not (isinstance(right, list) and any(_same(left, item) for item in right)),
        "contains": lambda: (
            any(_same(item, right) for item in left)
            if isinstance(left, list)
            else isinstance(left, str) and isinstance(right, str) and right in left
        ),
        "empty": lambda: bool(right) == (isinstance(left, list | str) and len(left) == 0),
        "size": lambda: isinstance(left, list | str) and _same(len(left), right),
    }
    if operator not in tests:
        raise FilterError(f"operator {operator}")
    return bool(tests[operator]())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool | None):
        return float(a) == float(b)
    return a == b


# --- resolution ----------------------------------------------------------------------------------------
class ResolutionError(Exception):
    """CommandResolutionException: the launch fails before any container exists."""


@dataclass
class Output:
    """A Resource output handler, resolved: files of ``source`` go to resource ``label`` of the scan."""

    name: str
    handler: str
    label: str
    source: Path
    required: bool
    format: str = ""
    content: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass
class LaunchPlan:
    record: dict[str, Any]
    image: str
    command: list[str]
    entrypoint_override: bool
    binds: list[tuple[Path, str, bool]]  # host path, container path, writable
    outputs: list[Output]
    project: str
    experiment_id: str
    scan_id: str
    watched: list[Path]  # input directories whose files must stop changing before the launch
    build: Path  # the build directory: output mounts and LOGS


def _wrapper(current: DoubleState, wrapper_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for command in current.commands.values():
        for wrapper in command.get("xnat") or []:
            if wrapper.get("id") == wrapper_id:
                return command, wrapper
    return None


def resolve(
    current: DoubleState,
    *,
    command: dict[str, Any],
    wrapper: dict[str, Any],
    experiment: Experiment,
    scan: Scan,
    values: dict[str, str],
    user: str,
    build_root: Path,
) -> LaunchPlan:
    """CommandResolutionServiceImpl for a wrapper whose external input is a Scan."""
    externals = wrapper.get("external-inputs") or []
    if len(externals) != 1 or str(externals[0].get("type")) != "Scan":
        raise ResolutionError("the double launches wrappers with exactly one external input of type Scan")
    external = externals[0]
    model = scan_model(experiment, scan)
    if external.get("matcher") and not payload_matches(str(external["matcher"]), model):
        raise ResolutionError(f'Input "{external["name"]}" does not match: {external["matcher"]}')
    resolved: dict[str, tuple[str, Any]] = {external["name"]: ("Scan", scan)}  # input name → (type, object)
    mount_sources: dict[str, Path] = {}
    for derived in wrapper.get("derived-inputs") or []:
        parent = resolved.get(str(derived.get("derived-from-wrapper-input")))
        if derived.get("type") != "Resource" or parent is None or parent[0] != "Scan":
            message = "the double resolves Resources of a Scan"
            raise ResolutionError(f'derived input "{derived.get("name")}": {message}')
        matcher = str(derived.get("matcher") or "")
        found = next(
            (
                res
                for res, res_model in zip(scan.resources.values(), model.get("resources", []), strict=True)
                if not matcher or payload_matches(matcher, res_model)
            ),
            None,
        )
        if found is None:
            if derived.get("required", True) is not False:
                name = derived.get("name")
                raise ResolutionError(f'No value could be resolved for required input "{name}".')
            continue
        resolved[derived["name"]] = ("Resource", found)
        if derived.get("provides-files-for-command-mount"):
            mount_sources[str(derived["provides-files-for-command-mount"])] = found.directory
    if external.get("provides-files-for-command-mount"):
        mount_sources[str(external["provides-files-for-command-mount"])] = scan.directory

    command_line = str(command.get("command-line") or "")
    inputs_record = []
    for command_input in command.get("inputs") or []:
        name = str(command_input.get("name"))
        value = command_input.get("default-value")
        if values.get(name) is not None:
            value = values[name]
        value = None if value is None else str(value)
        if command_input.get("type") == "boolean":
            truthy = str(value).lower() == "true"
            flag_value = command_input.get("true-value") if truthy else command_input.get("false-value")
            value = value if flag_value is None else str(flag_value)
        if value is not None:
            illegal = next((bad for bad in ILLEGAL_INPUT_STRINGS if bad in value), None)
            if illegal:
                raise ResolutionError(f'Input "{name}" has a value containing illegal string "{illegal}".')
        if command_input.get("required") and not value:
            raise ResolutionError(f'No value could be resolved for required input "{name}".')
        if not value:
            on_line = ""
        elif command_input.get("command-line-flag"):
            separator = command_input.get("command-line-separator")
            on_line = f"{command_input['command-line-flag']}{' ' if separator is None else separator}{value}"
        else:
            on_line = value
        if command_input.get("replacement-key"):
            command_line = command_line.replace(str(command_input["replacement-key"]), on_line)
        inputs_record.append({"type": "raw", "name": name, "value": value})

    build = build_root / str(uuid.uuid4())
    mounts, binds, by_mount = [], [], {}
    for mount in command.get("mounts") or []:
        name = str(mount.get("name"))
        writable = str(mount.get("writable")).lower() == "true"
        host = mount_sources.get(name)
        if host is None:  # no input provides files: an output mount, a fresh build directory
            host = build / name
            host.mkdir(parents=True)
        by_mount[name] = host
        binds.append((host, str(mount.get("path")), writable))
        mounts.append(
            {
                "id": 0,
                "name": name,
                "writable": writable,
                "xnat-host-path": str(host),
                "container-host-path": str(host),
                "container-path": str(mount.get("path")),
                "input-files": [],
            }
        )

    command_outputs = {str(o.get("name")): o for o in command.get("outputs") or []}
    outputs, outputs_record = [], []
    for handler in wrapper.get("output-handlers") or []:
        source = command_outputs.get(str(handler.get("accepts-command-output")))
        if source is None or str(source.get("mount")) not in by_mount:
            raise ResolutionError(f'output handler "{handler.get("name")}": no command output with a mount')
        if str(handler.get("as-a-child-of")) not in resolved or handler.get("type", "Resource") != "Resource":
            message = "the double uploads Resources to wrapper inputs"
            raise ResolutionError(f'output handler "{handler.get("name")}": {message}')
        path = by_mount[str(source["mount"])] / str(source.get("path") or "")
        tags = handler.get("tags") or []
        outputs.append(
            Output(
                name=str(source["name"]),
                handler=str(handler["name"]),
                label=str(handler.get("label") or source["name"]),
                source=path,
                required=source.get("required", False) is True,
                format=str(handler.get("format") or ""),
                content=str(handler.get("content") or ""),
                description=str(handler.get("description") or ""),
                tags=[str(tag) for tag in tags],
            )
        )
        outputs_record.append(
            {
                "id": 0,
                "name": f"{source['name']}:{handler['name']}",
                "from-command-output": source["name"],
                "from-output-handler": handler["name"],
                "type": "Resource",
                "required": source.get("required", False) is True,
                "mount": source["mount"],
                "label": handler.get("label"),
                "tags": tags,
                "handled-by": handler["as-a-child-of"],
            }
        )

    override = command.get("override-entrypoint", True) is not False
    argv = ["/bin/sh", "-c", command_line] if override else shlex.split(command_line)
    record = {
        "command-id": command.get("id"),
        "status": "Created",
        "wrapper-id": wrapper.get("id"),
        "user-id": user,
        "project": experiment.project,
        "backend": "docker",
        "docker-image": command.get("image"),
        "command-line": command_line,
        "override-entrypoint": override,
        "subtype": "docker",
        "env": dict(command.get("environment-variables") or {}),
        "ports": dict(command.get("ports") or {}),
        "mounts": mounts,
        "inputs": inputs_record,
        "outputs": outputs_record,
        "history": [],
        "log-paths": [],
        "swarm": False,
    }
    return LaunchPlan(
        record=record,
        image=str(command.get("image")),
        command=argv,
        entrypoint_override=override,
        binds=binds,
        outputs=outputs,
        project=experiment.project,
        experiment_id=experiment.id,
        scan_id=scan.id,
        watched=[host for host, _, writable in binds if not writable],
        build=build,
    )


# --- the launcher --------------------------------------------------------------------------------------
def _now() -> int:
    return int(time.time() * 1000)


def _passes_filter(delivery: dict[str, Any], subscription: dict[str, Any], payload: dict[str, Any]) -> bool:
    """EventServiceImpl.processEvent's payload filter step (quotes ' become ", as performJsonFilter does)."""
    predicate = str(subscription["event-filter"].get("payload-filter") or "")
    if not predicate:
        return True
    try:
        matched = payload_matches(predicate.replace("'", '"'), payload)
    except FilterError as error:
        delivery["steps"].append(f"OBJECT_FILTERING_FAULT: {error}")
        return False
    delivery["steps"].append("OBJECT_FILTERED" if matched else "OBJECT_FILTER_MISMATCH_HALT")
    return matched


class Launcher:
    """One double's container service: deliveries, container records and the threads running them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.containers: dict[int, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.timeout = DEFAULT_TIMEOUT
        self.settle = SETTLE_SECONDS
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    # called with the state lock held
    def deliver(
        self,
        current: DoubleState,
        *,
        subscription: dict[str, Any],
        experiment: Experiment,
        scan: Scan,
        payload: dict[str, Any],
        user: str,
    ) -> None:
        delivery = {
            "subscription-id": subscription.get("id"),
            "subscription-name": subscription.get("name"),
            "event-type": "ScanEvent",
            "status": "CREATED",
            "project": experiment.project,
            "object": scan_uri(experiment, scan),
            "steps": ["SUBSCRIPTION_TRIGGERED"],
        }
        with self.lock:
            self.deliveries.append(delivery)
        if not _passes_filter(delivery, subscription, payload):
            return
        provider, _, action_id = str(subscription.get("action-key") or "").partition(":")
        projects = list(subscription["event-filter"].get("project-ids") or [])
        if provider == ACTION_PROVIDER and not (
            action_id.isdigit() and action_available(current, int(action_id), projects)
        ):
            delivery["steps"].append(
                "FAILED: Invalid subscription."
            )  # validateSubscription before the action
            return
        if provider != ACTION_PROVIDER:
            delivery["steps"].append("ACTION_COMPLETE")  # the logging action
            return
        found = _wrapper(current, int(action_id)) if action_id.isdigit() else None
        if found is None:
            delivery["steps"].append(f"ACTION_FAILED: Wrapper not found with id: {action_id}")
            return
        command, wrapper = found
        owner = user if subscription.get("act-as-event-user") else str(subscription.get("subscription-owner"))
        values = {str(k): str(v) for k, v in (subscription.get("attributes") or {}).items()}
        if current.options.containers != "docker":
            delivery["steps"].append("ACTION_STEP: not launched (double option containers is off)")
            return
        try:
            plan = resolve(
                current,
                command=command,
                wrapper=wrapper,
                experiment=experiment,
                scan=scan,
                values=values,
                user=owner,
                build_root=current.archive.root / "build",
            )
        except (ResolutionError, FilterError) as error:
            delivery["steps"].append(f"ACTION_FAILED: Failed (Command resolution): {error}")
            return
        with self.lock:
            database_id = next(self._ids)
            plan.record.update({"id": database_id, "status-time": _now()})
            plan.record["container-name"] = f"xnat-double-{os.getpid()}-{id(self):x}-{database_id}"
            plan.record["history"].append(_history("Created", "system"))
            self.containers[database_id] = plan.record
        delivery["steps"].append("ACTION_STEP: Container queued.")
        delivery["container"] = database_id
        thread = threading.Thread(
            target=self._run, args=(current, plan), name=f"container-{database_id}", daemon=True
        )
        with self.lock:
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float) -> bool:
        """Wait until every launched container is finalised; False when some still run after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                threads = [t for t in self._threads if t.is_alive()]
                self._threads = threads
            if not threads:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            threads[0].join(min(remaining, 1.0))

    # --- one container, in its own thread ------------------------------------------------------------
    def _set(self, plan: LaunchPlan, new_status: str, /, **history: Any) -> None:
        with self.lock:
            plan.record["status"] = new_status
            plan.record["status-time"] = _now()
            if history:
                plan.record["history"].append(_history(**history))

    def _run(self, current: DoubleState, plan: LaunchPlan) -> None:
        try:
            _settle(plan.watched, self.settle)
            exit_code, message = self._docker(plan)
        except Exception as error:  # any failure is the container's, reported on it
            logger.exception("container %s", plan.record.get("id"))
            exit_code, message = None, f"{type(error).__name__}: {error}"
        if exit_code == 0:
            try:
                missing = self._upload(current, plan)
            except Exception as error:
                missing = [f"{type(error).__name__}: {error}"]
            if missing:
                details = "Failed to upload required outputs.\n" + "\n".join(missing)
                self._set(plan, "Failed (Upload)", status="Failed (Upload)", entity="system", message=details)
            else:
                self._set(plan, "Complete", status="Complete", entity="system")
        else:
            code = "" if exit_code is None else str(exit_code)
            details = message or "Non-zero exit code and/or failure status from container"
            self._set(plan, "Failed", status="Failed", entity="system", message=details, exit_code=code)

    def _docker(self, plan: LaunchPlan) -> tuple[int | None, str]:
        docker = shutil.which("docker")
        if docker is None:
            return None, "Failed (Container launch): no docker command on this machine"
        name = str(plan.record["container-name"])
        create = [docker, "create", "--name", name, "--network", "none", "--label", DOUBLE_LABEL]
        if os.getuid() != 0:
            create += ["--user", f"{os.getuid()}:{os.getgid()}"]
        for host, path, writable in plan.binds:
            create += ["--volume", f"{host}:{path}" + ("" if writable else ":ro")]
        if plan.entrypoint_override:
            create += ["--entrypoint", ""]
        create += [plan.image, *plan.command]
        made = subprocess.run(create, capture_output=True, text=True, timeout=120, check=False)
        if made.returncode != 0:
            return None, f"Failed (Container launch): {made.stderr.strip()}"
        with self.lock:
            plan.record["container-id"] = made.stdout.strip()
        try:
            started = subprocess.run(
                [docker, "start", name], capture_output=True, text=True, timeout=120, check=False
            )
            if started.returncode != 0:
                return None, f"Failed (Container launch): {started.stderr.strip()}"
            self._set(plan, "Running", status="start", entity="event")
            try:
                waited = subprocess.run(
                    [docker, "wait", name], capture_output=True, text=True, timeout=self.timeout, check=False
                )
                exit_code: int | None = int(waited.stdout.strip() or "-1")
                message = ""
            except subprocess.TimeoutExpired:
                subprocess.run([docker, "kill", name], capture_output=True, timeout=60, check=False)
                exit_code, message = 137, f"Killed by the double after {self.timeout:g} s"
            self._keep_logs(docker, name, plan)
            with self.lock:
                plan.record["history"].append(_history("die", "event", exit_code=str(exit_code)))
            return exit_code, message
        finally:
            subprocess.run([docker, "rm", "--force", name], capture_output=True, timeout=120, check=False)

    def _keep_logs(self, docker: str, name: str, plan: LaunchPlan) -> None:
        """The container's stdout and stderr, kept in the build directory (``log-paths``)."""
        logs = subprocess.run([docker, "logs", name], capture_output=True, timeout=60, check=False)
        folder = plan.build / "LOGS"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for stream, data in (("stdout", logs.stdout), ("stderr", logs.stderr)):
            target = folder / f"{stream}.log"
            target.write_bytes(data)
            paths.append(str(target))
        with self.lock:
            plan.record["log-paths"] = paths

    def _upload(self, current: DoubleState, plan: LaunchPlan) -> list[str]:
        """uploadOutputs: each Resource output into its label on the scan; the problems of required ones."""
        problems = []
        with current.lock:
            experiment = current.archive.find_experiment(plan.project, plan.experiment_id)
            scan = experiment.scans.get(plan.scan_id) if experiment is not None else None
            for output in plan.outputs:
                if scan is None:
                    if output.required:
                        problems.append(f"scan {plan.scan_id} of {plan.experiment_id} no longer exists")
                    continue
                resource = scan.resource(output.label) or add_resource(
                    current.archive,
                    scan,
                    output.label,
                    format=output.format,
                    content=output.content,
                    description=output.description,
                    tags=",".join(output.tags),
                )
                for path in _output_files(output.source):
                    relative = path.relative_to(output.source).as_posix()
                    with path.open("rb") as data:
                        write_file(current, resource, relative, data, overwrite=True, format=_format(path))
                with self.lock:
                    for item in plan.record["outputs"]:
                        if item["from-output-handler"] == output.handler:
                            item["created"] = f"{scan_uri(experiment, scan)}/resources/{resource.id}"
        return problems


def _output_files(root: Path) -> list[Path]:
    """The files under the output mount, at their paths below it (matchGlob's top-level entries with
    their directories preserved)."""
    if not root.is_dir():
        return [root] if root.is_file() else []
    return sorted(path for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "NIFTI"
    return "JSON" if name.endswith(".json") else ""


def _settle(directories: list[Path], quiet: float) -> None:
    """Wait until the files of the input directories stop changing for ``quiet`` seconds (at most
    SETTLE_LIMIT): the double files C-STORE instances one by one into an archived scan, where XNAT would
    archive the session once the study had arrived."""
    if quiet <= 0 or not directories:
        return

    def signature() -> list[tuple[str, int, int]]:
        found = []
        for directory in directories:
            for path in directory.rglob("*") if directory.is_dir() else []:
                if path.is_file():
                    stat = path.stat()
                    found.append((str(path), stat.st_size, stat.st_mtime_ns))
        return sorted(found)

    deadline = time.monotonic() + SETTLE_LIMIT
    last, since = signature(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(min(0.2, quiet))
        now = signature()
        if now != last:
            last, since = now, time.monotonic()


def _history(status: str, entity: str, *, message: str | None = None, exit_code: str | None = None) -> dict:
    item: dict[str, Any] = {
        "status": status,
        "entity-type": entity,
        "time-recorded": _now(),
        "external-timestamp": None,
        "message": message,
        "exitCode": exit_code,
    }
    return {key: value for key, value in item.items() if value is not None}


_launchers: weakref.WeakKeyDictionary[DoubleState, Launcher] = weakref.WeakKeyDictionary()
_launchers_lock = threading.Lock()


def launcher_for(current: DoubleState) -> Launcher:
    with _launchers_lock:
        found = _launchers.get(current)
        if found is None:
            found = _launchers[current] = Launcher()
        return found


def visible_containers(
    current: DoubleState, username: str, *, is_admin: bool, project: str | None = None
) -> list[dict[str, Any]]:
    """ContainerRestApi getAll: the caller's own containers, every one for an admin (copies)."""
    launcher = launcher_for(current)
    with launcher.lock:
        records = [json.loads(json.dumps(record)) for record in launcher.containers.values()]
    return [
        record
        for record in records
        if (is_admin or record.get("user-id") == username)
        and (project is None or record.get("project") == project)
    ]
