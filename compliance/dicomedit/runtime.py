"""What the interpreter and the DicomEdit functions share: values, the run a function sees, dataset helpers.

The interpreter dispatches calls to :data:`compliance.dicomedit.functions.FUNCTIONS`, and the functions
work on a :class:`Run`; both import this module and only the interpreter imports ``functions``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from compliance.dicomedit import ast
from compliance.dicomedit.errors import DicomEditRuntimeError
from compliance.dicomedit.paths import Location

RuntimeValue = str | int | float | bool | ast.ListValue | None


class Run(Protocol):
    """The state of applying a script to one dataset, as a DicomEdit function uses it."""

    source: str
    dataset: Dataset
    variables: dict[str, Any]
    uid_map: dict[str, str]  # old -> new UID, shared by every dataset the Interpreter handles

    def text(self, node: ast.Value) -> str | None: ...

    def tag_paths(self, arguments: Iterable[ast.Value], function: str) -> list[ast.TagPath]: ...

    def assign(self, target: ast.TagPath, value_node: ast.Value, *, only_if_present: bool) -> None: ...

    def call(self, call: ast.FunctionCall) -> RuntimeValue: ...

    def error(self, node: ast.Node, message: str) -> DicomEditRuntimeError: ...


def remove_private_tags(dataset: Dataset, keep: set[tuple[int, int]]) -> None:
    """Delete every private element (incl. creators) at any depth except those whose
    ``(id(container), tag)`` is in ``keep``."""
    for tag in tags_of(dataset):
        kept = (id(dataset), int(tag)) in keep
        if tag.is_private and not kept:
            del dataset[tag]
            continue
        if kept:
            continue  # a retained private sequence keeps its whole content
        element = dataset[tag]
        if element.VR == "SQ" and element.value:
            for item in element.value:
                remove_private_tags(item, keep)


def remove(location: Location) -> None:
    """Delete what a location names. A sequence item is emptied and kept, as dicom-edit6 does (DE-91):
    ``-(0008,1115)[0]`` leaves the sequence with an empty first item and its other items untouched."""
    if location.item is not None:
        location.item_dataset.clear()
    elif location.tag in location.container:
        del location.container[location.tag]


def tags_of(dataset: Dataset) -> list[BaseTag]:
    """A snapshot of the dataset's tags (iterating a Dataset yields elements, not tags)."""
    return list(dataset.keys())


def to_text(value: RuntimeValue) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, ast.ListValue):
        return None
    return str(value)


def truthy(value: RuntimeValue) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"
