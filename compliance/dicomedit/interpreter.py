"""Applying a parsed DicomEdit 6 script to a pydicom Dataset."""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydicom.config import disable_value_validation
from pydicom.dataset import Dataset

from compliance.dicomedit import ast
from compliance.dicomedit.elements import (
    ValueConversionError,
    element_text,
    new_element_vr,
    set_value,
    value_warnings,
)
from compliance.dicomedit.errors import DicomEditRuntimeError, DicomEditSyntaxError
from compliance.dicomedit.functions import FUNCTIONS, UNSUPPORTED
from compliance.dicomedit.parser import parse_tag_path
from compliance.dicomedit.paths import Location, PathError, create_location, resolve, why_plural
from compliance.dicomedit.runtime import Run, RuntimeValue, remove, remove_private_tags, to_text, truthy

logger = logging.getLogger("compliance.dicomedit")


class _MessageList(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def collected_messages(level: int = logging.WARNING) -> Iterator[list[str]]:
    """The interpreter's messages (echo, skipped assignments) gathered in a list instead of printed.

    For callers that run one script over many datasets and report each message once.
    """
    handler = _MessageList(level)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


# Variables XNAT defines for every script (values come from apply_script's ``variables``).
XNAT_VARIABLES = ("project", "subject", "session", "modalityLabel")


def apply_script(script: ast.Script, ds: Dataset, variables: Mapping[str, str] | None = None) -> Dataset:
    """Apply ``script`` to ``ds`` in place and return it.

    ``variables`` supplies XNAT's ``project``, ``subject``, ``session`` and ``modalityLabel`` (and any
    other variable the script reads before assigning it). Raises DicomEditRuntimeError naming the
    script line and column when a statement cannot be applied.
    """
    return Interpreter(script, variables, uid_map=_shared_uid_map(script)).apply(ds)


# mapReferencedUIDs keeps its old -> new UID map for as long as XNAT keeps the script loaded, so every
# file anonymised with one script gets consistent UIDs. apply_script mirrors that: one map per Script
# object, dropped when the Script is garbage-collected.
_UID_MAPS: dict[int, dict[str, str]] = {}


def _shared_uid_map(script: ast.Script) -> dict[str, str]:
    key = id(script)
    if key not in _UID_MAPS:
        _UID_MAPS[key] = {}
        weakref.finalize(script, _UID_MAPS.pop, key, None)
    return _UID_MAPS[key]


class Interpreter:
    """Applies one script to many datasets; UIDs mapped by mapReferencedUIDs stay consistent across them."""

    def __init__(
        self,
        script: ast.Script,
        variables: Mapping[str, str] | None = None,
        uid_map: dict[str, str] | None = None,
    ) -> None:
        self.script = script
        self.variables = dict(variables or {})
        self.uid_map: dict[str, str] = {} if uid_map is None else uid_map

    def apply(self, ds: Dataset) -> Dataset:
        with disable_value_validation():
            DatasetRun(self, ds).statements(self.script.statements)
        return ds


class DatasetRun(Run):
    """The state of applying the script to one dataset."""

    def __init__(self, interpreter: Interpreter, dataset: Dataset) -> None:
        self.source = interpreter.script.source
        self.dataset = dataset
        self.variables: dict[str, Any] = dict(interpreter.variables)
        self.uid_map = interpreter.uid_map

    # --- statements
    def statements(self, statements: Iterable[ast.Statement]) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, statement: ast.Statement) -> None:  # noqa: PLR0912 - one branch per statement kind
        match statement:
            case ast.Assign(target=target, value=value):
                self.assign(target, value, only_if_present=False)
            case ast.AssignIfExists(target=target, value=value):
                self.assign(target, value, only_if_present=True)
            case ast.Delete(target=target):
                self.delete(target)
            case ast.Initialize(name=name, value=value):
                self.variables[name] = value if isinstance(value, ast.ListValue) else self.value(value)
            case ast.FunctionStatement(call=call):
                self.call(call)
            case ast.Echo(value=value):
                text = "" if value is None else self.text(value)
                logger.info("%s:%d: echo %s", self.source, statement.line, text)
            case ast.RemoveAllPrivateTags():
                remove_private_tags(self.dataset, keep=set())
            case ast.Conditional(condition=condition, action=action, otherwise=otherwise):
                if self.condition(condition):
                    self.statement(action)
                elif otherwise is not None:
                    self.statement(otherwise)
            case ast.IfBlock(branches=branches, otherwise=otherwise):
                self.if_block(branches, otherwise)
            case ast.Version() | ast.Describe() | ast.Export():
                return
            case _:  # pragma: no cover - the parser produces no other statements
                raise self.error(statement, f"unsupported statement {type(statement).__name__}")

    def if_block(self, branches: tuple[ast.Branch, ...], otherwise: tuple[ast.Statement, ...] | None) -> None:
        for branch in branches:
            if self.condition(branch.condition):
                self.statements(branch.body)
                return
        if otherwise is not None:
            self.statements(otherwise)

    def assign(self, target: ast.TagPath, value_node: ast.Value, *, only_if_present: bool) -> None:
        value = self.value(value_node)
        if isinstance(value, ast.ListValue):
            raise self.error(value_node, f"a list cannot be assigned to {target.text}")
        # As dicom-edit6's assign: the path must be singular even when there is nothing to store.
        plural = None if only_if_present else why_plural(target)
        if plural is not None:
            raise self.error(target, f"cannot assign to {target.text}: {plural}; assign through one path")
        if value is None:
            logger.warning(
                "%s:%d:%d: %s has no value here; %s left unchanged",
                self.source,
                value_node.line,
                value_node.column,
                _describe(value_node),
                target.text,
            )
            return
        if only_if_present:
            locations = [location for location in resolve(self.dataset, target) if location.item is None]
        else:
            locations = [self.created(target)]
        for location in locations:
            self.store(location, value, value_node)

    def created(self, target: ast.TagPath) -> Location:
        try:
            location = create_location(self.dataset, target)
        except PathError as error:
            raise self.error(
                target, f"cannot assign to {target.text}: {error}; assign through one path"
            ) from None
        if location.item is not None:
            raise self.error(target, f"{target.text} is a sequence item, which holds attributes, not a value")
        return location

    def store(self, location: Location, value: RuntimeValue, node: ast.Node) -> None:
        creator = None
        if location.tag.is_private and location.tag not in location.container:
            block = location.container.get((location.tag.group, location.tag.element >> 8))
            creator = str(block.value) if block is not None else None
        try:
            set_value(location.container, location.tag, value, new_element_vr(location.tag, creator))
        except ValueConversionError as error:
            raise self.error(node, f"cannot store the value in {_tag_text(location)}: {error}") from None
        for warning in value_warnings(location.container[location.tag], value):
            where = f"{self.source}:{node.line}:{node.column}"
            logger.warning("%s: %s: %s", where, _tag_text(location), warning)

    def delete(self, target: ast.TagPath) -> None:
        for location in resolve(self.dataset, target):
            remove(location)

    # --- values
    def value(self, node: ast.Value) -> RuntimeValue:
        match node:
            case ast.StringLiteral(value=value):
                return value
            case ast.IntegerLiteral(value=value) | ast.FloatLiteral(value=value):
                return value
            case ast.TagPath():
                return self.tag_value(node)
            case ast.Variable(name=name):
                return self.variable(node, name)
            case ast.FunctionCall():
                return self.call(node)
            case ast.ListValue():
                return node
        raise self.error(node, f"unsupported value {type(node).__name__}")  # pragma: no cover

    def text(self, node: ast.Value) -> str | None:
        """A value as a string (None when it has no value, e.g. a missing attribute)."""
        return to_text(self.value(node))

    def tag_value(self, path: ast.TagPath) -> str | None:
        plural = why_plural(path)
        if plural is not None:
            raise self.error(path, f"{path.text} cannot be read as one value: {plural}")
        for location in resolve(self.dataset, path):
            if location.item is None:
                return element_text(location.container[location.tag])
        return None

    def variable(self, node: ast.Variable, name: str) -> RuntimeValue:
        if name in self.variables:
            return self.variables[name]
        if name not in XNAT_VARIABLES:
            raise self.error(
                node, f"unknown variable '{name}': it is used before any statement gives it a value"
            )
        logger.warning(
            "%s:%d:%d: variable %r has no value (XNAT sets it; pass it in variables=)",
            self.source,
            node.line,
            node.column,
            name,
        )
        return None

    def call(self, call: ast.FunctionCall) -> RuntimeValue:
        function = FUNCTIONS.get(call.name)
        if function is None:
            if call.name in UNSUPPORTED:
                message = f"function '{call.name}' is DicomEdit 6 but not supported by this engine"
                raise self.error(call, message)
            raise self.error(call, f"unknown function '{call.name}'")
        return function(self, call)

    # --- conditions
    def condition(self, condition: ast.Condition) -> bool:
        if isinstance(condition, ast.FunctionCall):
            return truthy(self.call(condition))
        left, right = self.text(condition.left), self.text(condition.right)
        negated = condition.operator.startswith("!")
        if left is None or right is None:
            return negated
        if condition.operator in ("=", "!="):
            return (left == right) != negated
        try:
            return (re.fullmatch(right, left) is not None) != negated
        except re.error as error:
            raise self.error(condition.right, f"invalid regular expression {right!r}: {error}") from None

    # --- helpers for functions
    def tag_paths(self, arguments: Iterable[ast.Value], function: str) -> list[ast.TagPath]:
        """Tag-path arguments: tag paths, strings holding a tag path, lists and list variables of them."""
        paths: list[ast.TagPath] = []
        for argument in arguments:
            if isinstance(argument, ast.TagPath):
                paths.append(argument)
            elif isinstance(argument, ast.ListValue):
                paths.extend(self.tag_paths(argument.items, function))
            elif isinstance(bound := self._bound_list(argument), ast.ListValue):
                paths.extend(self.tag_paths(bound.items, function))
            else:
                paths.append(self.tag_path_from_text(argument, function))
        return paths

    def _bound_list(self, argument: ast.Value) -> ast.ListValue | None:
        bound = self.variables.get(argument.name) if isinstance(argument, ast.Variable) else None
        return bound if isinstance(bound, ast.ListValue) else None

    def tag_path_from_text(self, argument: ast.Value, function: str) -> ast.TagPath:
        text = self.text(argument)
        if text is None:
            raise self.error(argument, f"{function}: argument {_describe(argument)} has no value")
        try:
            return parse_tag_path(text)
        except DicomEditSyntaxError:
            raise self.error(
                argument, f"{function}: {text!r} is not a tag path such as (0010,0010)"
            ) from None

    def error(self, node: ast.Node, message: str) -> DicomEditRuntimeError:
        return DicomEditRuntimeError(message, source=self.source, line=node.line, column=node.column)


def _describe(node: ast.Node) -> str:
    match node:
        case ast.TagPath(text=text):
            return text
        case ast.Variable(name=name):
            return f"variable {name!r}"
        case ast.FunctionCall(name=name):
            return f"{name}[...]"
    return type(node).__name__


def _tag_text(location: Location) -> str:
    return f"({location.tag.group:04X},{location.tag.element:04X})"
