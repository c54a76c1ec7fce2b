"""Load and validate a trust's access list (YAML), keeping line numbers for error messages.

The access list is the single declaration of who may see which project: the configure
playbook applies it to XNAT and the access review audits XNAT against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROLES: tuple[str, ...] = ("owners", "members", "collaborators")
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an access list, located in its file."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class AccessListError(Exception):
    """The access list cannot be used; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True)
class Grant:
    user: str
    role: str  # owner, member or collaborator
    expires: date

    def expired_on(self, day: date) -> bool:
        """The approval covers its expiry date itself and ends the day after."""
        return day > self.expires


@dataclass(frozen=True)
class ApprovedProject:
    id: str
    approval: str
    end_date: date
    grants: tuple[Grant, ...]
    name: str = ""
    description: str = ""
    accessibility: str = "private"
    closed: bool = False  # marked `closed: true` in the access list

    def grant_for(self, user: str) -> Grant | None:
        return next((grant for grant in self.grants if grant.user == user), None)

    def has_ended(self, day: date) -> bool:
        """The project runs up to and including its end date."""
        return day > self.end_date

    def is_closed(self, day: date) -> bool:
        """Marked closed in the access list, or past its end date: its data may be deleted."""
        return self.closed or self.has_ended(day)

    def approved_on(self, day: date) -> dict[str, list[str]]:
        """Who is approved on ``day``, by role list (``owners``, ``members``, ``collaborators``): the
        grants that have not expired, and nobody once the project has ended. Configure applies exactly
        this to XNAT; the review judges XNAT against the same rules."""
        approved: dict[str, list[str]] = {role: [] for role in ROLES}
        if self.is_closed(day):
            return approved
        for grant in self.grants:
            if not grant.expired_on(day):
                approved[f"{grant.role}s"].append(grant.user)
        return approved


@dataclass(frozen=True)
class AccessList:
    source: str
    trust: str
    admins: frozenset[str]
    dormant_after_days: int
    projects: dict[str, ApprovedProject] = field(default_factory=dict)

    def approved_users(self) -> set[str]:
        users = set(self.admins)
        for project in self.projects.values():
            users.update(grant.user for grant in project.grants)
        return users


class _DateAsTextLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text so the schema sees what the author wrote."""


_DateAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class _Located:
    """Parsed YAML plus the (line, column) of every value and mapping key, by JSON path."""

    data: Any
    value_marks: dict[JsonPath, tuple[int, int]]
    key_marks: dict[JsonPath, tuple[int, int]]

    def mark_for(self, path: JsonPath) -> tuple[int, int]:
        for length in range(len(path), -1, -1):
            mark = self.value_marks.get(path[:length])
            if mark:
                return mark
        return (1, 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(
    loader: _DateAsTextLoader, node: yaml.Node, path: JsonPath, located: _Located, problems: list[Problem]
) -> Any:
    """Build the Python value of ``node`` while recording where every value and key was written."""
    located.value_marks[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    Problem(loader.name, *_mark(key_node), _dotted(path), "a key must be plain text")
                )
                continue
            key = loader.construct_object(key_node)
            if key in result:
                first_line = located.key_marks[(*path, key)][0]
                message = f"duplicate key {key!r} (first defined on line {first_line}); remove one of them"
                problems.append(Problem(loader.name, *_mark(key_node), _dotted((*path, key)), message))
                continue
            located.key_marks[(*path, key)] = _mark(key_node)
            result[key] = _walk(loader, value_node, (*path, key), located, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _walk(loader, item, (*path, index), located, problems) for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node)


def _dotted(path: JsonPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _compose(text: str, source: str) -> tuple[_Located, list[Problem]]:
    loader = _DateAsTextLoader(text)
    loader.name = source
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        located = _Located(None, {}, {})
        if node is not None:
            located.data = _walk(loader, node, (), located, problems)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = error.problem or error.context or "malformed YAML"
        raise AccessListError([Problem(source, line, column, "", f"YAML syntax error: {reason}")]) from error
    finally:
        loader.dispose()
    return located, problems


@cache
def schema() -> dict[str, Any]:
    text = resources.files("compliance").joinpath("schemas/access-list.schema.json").read_text("utf-8")
    return json.loads(text)


def _schema_problem(error: jsonschema.ValidationError, located: _Located, source: str) -> Problem:
    path: JsonPath = tuple(error.absolute_path)
    line, column = located.mark_for(path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(key for key in error.instance if key not in allowed)
        if extra:
            line, column = located.key_marks.get((*path, extra[0]), (line, column))
            message = f"unknown key {extra[0]!r}; allowed keys: {', '.join(sorted(allowed))}"
    elif error.validator == "pattern" and path and path[-1] in ("expires", "end_date"):
        message = f"{error.instance!r} is not a date in YYYY-MM-DD form"
    elif error.validator == "required":
        message = f"{message} (add it to this mapping)"
    return Problem(source, line, column, _dotted(path), message)


def _date_problems(data: dict[str, Any], located: _Located, source: str) -> list[Problem]:
    problems = []
    for project_id, project in data.get("projects", {}).items():
        candidates: list[JsonPath] = [("projects", project_id, "end_date")]
        for role in ROLES:
            for index, _grant in enumerate(project.get(role) or []):
                candidates.append(("projects", project_id, role, index, "expires"))
        for path in candidates:
            value = _lookup(data, path)
            try:
                date.fromisoformat(value)
            except (TypeError, ValueError):
                line, column = located.mark_for(path)
                message = f"{value!r} is not a real calendar date"
                problems.append(Problem(source, line, column, _dotted(path), message))
    return problems


def _duplicate_user_problems(data: dict[str, Any], located: _Located, source: str) -> list[Problem]:
    problems = []
    for project_id, project in data.get("projects", {}).items():
        first_seen: dict[str, str] = {}
        for role in ROLES:
            for index, grant in enumerate(project.get(role) or []):
                user = grant["user"]
                path: JsonPath = ("projects", project_id, role, index, "user")
                if user in first_seen:
                    line, column = located.mark_for(path)
                    message = (
                        f"user {user!r} is already listed under {first_seen[user]}; "
                        "XNAT gives a user one role per project, keep one entry"
                    )
                    problems.append(Problem(source, line, column, _dotted(path), message))
                else:
                    first_seen[user] = role
    return problems


def _lookup(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _build(data: dict[str, Any], source: str) -> AccessList:
    projects = {}
    for project_id, entry in data["projects"].items():
        grants = tuple(
            Grant(user=grant["user"], role=role.rstrip("s"), expires=date.fromisoformat(grant["expires"]))
            for role in ROLES
            for grant in entry.get(role) or []
        )
        projects[project_id] = ApprovedProject(
            id=project_id,
            approval=entry["approval"],
            end_date=date.fromisoformat(entry["end_date"]),
            grants=grants,
            name=entry.get("name", project_id),
            description=entry.get("description", ""),
            accessibility=entry.get("accessibility", "private"),
            closed=bool(entry.get("closed", False)),
        )
    return AccessList(
        source=source,
        trust=data["trust"],
        admins=frozenset(data["admins"]),
        dormant_after_days=data["dormant_after_days"],
        projects=projects,
    )


def parse_access_list(text: str, source: str = "<access list>") -> AccessList:
    """Parse and validate access-list YAML; raise AccessListError listing every problem found."""
    located, problems = _compose(text, source)
    if located.data is None:
        raise AccessListError([Problem(source, 1, 1, "", "the access list is empty")])
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(
        validator.iter_errors(located.data), key=lambda error: located.mark_for(tuple(error.absolute_path))
    )
    problems.extend(_schema_problem(error, located, source) for error in errors)
    if not problems:
        problems.extend(_date_problems(located.data, located, source))
        problems.extend(_duplicate_user_problems(located.data, located, source))
    if problems:
        raise AccessListError(sorted(problems, key=lambda problem: (problem.line, problem.column)))
    return _build(located.data, source)


def load_access_list(path: Path) -> AccessList:
    """Read and validate an access-list file; unreadable files raise AccessListError too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AccessListError(
            [Problem(str(path), 1, 1, "", f"cannot read the access list: {error}")]
        ) from error
    return parse_access_list(text, source=str(path))
