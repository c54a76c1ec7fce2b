"""Resolving DicomEdit tag paths against pydicom datasets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag, Tag

from compliance.dicomedit import ast

FILE_META_GROUP = "0002"


@dataclass(frozen=True)
class Location:
    """One attribute a tag path resolved to: the dataset (or sequence item) holding it, and its tag.

    ``item`` is set when the path ends in a sequence item, e.g. ``(0008,1115)[0]``: the location is that
    item of the sequence, not the sequence attribute.
    """

    container: Dataset
    tag: BaseTag
    item: int | None = None

    @property
    def item_dataset(self) -> Dataset:
        assert self.item is not None
        return self.container[self.tag].value[self.item]


class PathError(ValueError):
    """A tag path that cannot be written to as asked (plural path, a non-sequence used as one)."""


def resolve(dataset: Dataset, path: ast.TagPath) -> list[Location]:
    """Every existing attribute (or sequence item) the path denotes, in dataset order."""
    return list(_match(_roots(dataset, path), path.segments))


def why_plural(path: ast.TagPath) -> str | None:
    """Why ``path`` may name more than one attribute (None when it names exactly one).

    DicomEdit assigns only through a singular path: no sequence wildcard, no wildcard digit and an item
    index on every sequence (a sequence without one means every item, as ``[%]`` does).
    """
    last = len(path.segments) - 1
    for position, segment in enumerate(path.segments):
        if isinstance(segment, ast.SequenceWildcard):
            return f"the sequence wildcard '{segment.kind}/' stands for any number of sequences"
        if segment.has_wildcard:
            return f"{segment.text} has wildcard digits"
        if segment.item == ast.ANY_ITEM or (position < last and segment.item is None):
            return f"{segment.text} names every item of the sequence (write an index such as [0])"
    return None


def create_location(dataset: Dataset, path: ast.TagPath) -> Location:
    """The location of ``path``, creating missing sequences, items and private creators.

    As dicom-edit6 does on assignment: a missing sequence is created, a short one is extended with empty
    items up to the index, and a private element goes into its creator's block (a new block is reserved
    in the first free slot when the creator has none yet). The caller checks that the path is singular
    (why_plural is None); PathError for an attribute on the way that is not a sequence.
    """
    (container,) = _roots(dataset, path)
    for segment in path.segments[:-1]:
        assert isinstance(segment, ast.TagElement) and isinstance(segment.item, int)
        items = _sequence_items(container, _concrete_tag(container, segment), segment)
        while len(items) <= segment.item:
            items.append(Dataset())
        container = items[segment.item]
    last = path.segments[-1]
    assert isinstance(last, ast.TagElement)
    return Location(container, _concrete_tag(container, last), cast("int | None", last.item))


def _concrete_tag(container: Dataset, element: ast.TagElement) -> BaseTag:
    if element.creator is None:
        return Tag(int(element.group + element.element, 16))
    group = int(element.group, 16)
    start = private_block_start(container, group, element.creator)
    if start is None:
        start = container.private_block(group, element.creator.strip(), create=True).block_start
    return Tag((group << 16) | start | int(element.element, 16))


def _sequence_items(container: Dataset, tag: BaseTag, segment: ast.TagElement) -> list[Dataset]:
    if tag not in container:
        container.add_new(tag, "SQ", [])
    element = container[tag]
    if element.VR != "SQ":
        raise PathError(f"{segment.text} is not a sequence (VR {element.VR}), so it has no items")
    return element.value


def matching_tags(container: Dataset, element: ast.TagElement) -> list[BaseTag]:
    """Tags present in ``container`` (not recursing) that the tag element matches."""
    if element.creator is not None:
        return _private_matches(container, element)
    exact = element.tag
    if exact is not None:
        return [Tag(exact)] if exact in container else []
    pattern = element.pattern()
    return [tag for tag in _tags(container) if pattern.fullmatch(f"{tag:08X}")]


def private_block_start(container: Dataset, group: int, creator: str) -> int | None:
    """The element offset (e.g. 0x1000) of the block ``creator`` reserved in ``group``, if any."""
    for block in range(0x10, 0x100):
        element = container.get(Tag(group, block))
        if element is not None and _text(element.value) == creator.strip():
            return block << 8
    return None


def walk_datasets(dataset: Dataset, depth: int = 0) -> Iterator[tuple[Dataset, int]]:
    """The dataset and every sequence item below it, with their depth."""
    yield dataset, depth
    for tag in list(_tags(dataset)):
        element = dataset[tag]
        if element.VR == "SQ" and element.value:
            for item in element.value:
                yield from walk_datasets(item, depth + 1)


def _roots(dataset: Dataset, path: ast.TagPath) -> list[Dataset]:
    first = path.segments[0]
    if len(path.segments) == 1 and isinstance(first, ast.TagElement) and first.group == FILE_META_GROUP:
        if "file_meta" not in dataset.__dict__ or dataset.file_meta is None:
            dataset.file_meta = FileMetaDataset()
        return [dataset.file_meta]
    return [dataset]


def _match(containers: list[Dataset], segments: tuple[ast.PathSegment, ...]) -> Iterator[Location]:
    segment, rest = segments[0], segments[1:]
    if isinstance(segment, ast.SequenceWildcard):
        minimum, maximum = {"+": (1, None), "*": (0, None), ".": (1, 1)}[segment.kind]
        for container in containers:
            for item, level in walk_datasets(container):
                if level >= minimum and (maximum is None or level <= maximum):
                    yield from _match([item], rest) if rest else ()
        return
    for container in containers:
        for tag in matching_tags(container, segment):
            if rest:
                yield from _match(_items(container, tag, segment.item), rest)
            elif segment.item is None:
                yield Location(container, tag)
            else:
                indexes = _indexes(container, tag, segment)
                yield from (Location(container, tag, index) for index in indexes)


def _items(container: Dataset, tag: BaseTag, index: int | str | None) -> list[Dataset]:
    element = container[tag]
    if element.VR != "SQ" or not element.value:
        return []
    items = list(element.value)
    if index is None or index == ast.ANY_ITEM:
        return items
    assert isinstance(index, int)
    return [items[index]] if index < len(items) else []


def _indexes(container: Dataset, tag: BaseTag, segment: ast.TagElement) -> list[int]:
    """The item indexes a final ``seq[n]`` or ``seq[%]`` segment names that exist."""
    element = container[tag]
    count = len(element.value or ()) if element.VR == "SQ" else 0
    if segment.item == ast.ANY_ITEM:
        return list(range(count))
    assert isinstance(segment.item, int)
    return [segment.item] if segment.item < count else []


def _private_matches(container: Dataset, element: ast.TagElement) -> list[BaseTag]:
    assert element.creator is not None
    group_pattern = re.compile(ast.hex_pattern(element.group))
    low_pattern = re.compile(ast.hex_pattern(element.element))
    found: list[BaseTag] = []
    for tag in _tags(container):
        if not (tag.is_private_creator and group_pattern.fullmatch(f"{tag.group:04X}")):
            continue
        if _text(container[tag].value) != element.creator.strip():
            continue
        block = tag.element << 8
        found.extend(
            candidate
            for candidate in _tags(container)
            if candidate.group == tag.group
            and candidate.element & 0xFF00 == block
            and low_pattern.fullmatch(f"{candidate.element & 0xFF:02X}")
        )
    return sorted(found)


def _tags(dataset: Dataset) -> list[BaseTag]:
    # Iterating a Dataset yields elements; its keys are the tags.
    return list(dataset.keys())


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    return str(value).strip() if value is not None else ""
