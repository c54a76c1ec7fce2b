"""Resolving DicomEdit tag paths against pydicom datasets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag, Tag

from compliance.dicomedit import ast

FILE_META_GROUP = 0x0002


@dataclass(frozen=True)
class Location:
    """One attribute a tag path resolved to: the dataset (or sequence item) holding it, and its tag."""

    container: Dataset
    tag: BaseTag
    depth: int  # 0 = top level, 1 = inside one sequence, ...


def resolve(dataset: Dataset, path: ast.TagPath) -> list[Location]:
    """Every existing attribute the path denotes, in dataset order."""
    return list(_match(_roots(dataset, path), path.segments, depth=0))


def containers_for(dataset: Dataset, path: ast.TagPath) -> list[tuple[Dataset, int]]:
    """The datasets in which a missing target of ``path`` would be created (with their depth).

    Only concrete prefixes create: a path with sequence wildcards or ``%`` creates nothing new.
    """
    if len(path.segments) == 1:
        return [(container, 0) for container in _roots(dataset, path)]
    prefix = path.segments[:-1]
    if any(isinstance(segment, ast.SequenceWildcard) for segment in prefix):
        return []
    items: list[tuple[Dataset, int]] = [(dataset, 0)]
    for segment in prefix:
        assert isinstance(segment, ast.TagElement)
        next_items: list[tuple[Dataset, int]] = []
        for container, depth in items:
            for tag in matching_tags(container, segment):
                next_items.extend((item, depth + 1) for item in _items(container, tag, segment.item))
        items = next_items
    return items


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
    if len(path.segments) == 1 and isinstance(first, ast.TagElement) and _group_of(first) == FILE_META_GROUP:
        if "file_meta" not in dataset.__dict__ or dataset.file_meta is None:
            dataset.file_meta = FileMetaDataset()
        return [dataset.file_meta]
    return [dataset]


def _group_of(element: ast.TagElement) -> int | None:
    try:
        return int(element.group, 16)
    except ValueError:
        return None


def _match(
    containers: list[Dataset], segments: tuple[ast.PathSegment, ...], depth: int
) -> Iterator[Location]:
    segment, rest = segments[0], segments[1:]
    if isinstance(segment, ast.SequenceWildcard):
        minimum, maximum = {"+": (1, None), "*": (0, None), ".": (1, 1)}[segment.kind]
        for container in containers:
            for item, level in walk_datasets(container):
                if level >= minimum and (maximum is None or level <= maximum):
                    yield from _match([item], rest, depth + level) if rest else ()
        return
    for container in containers:
        for tag in matching_tags(container, segment):
            if not rest:
                yield Location(container, tag, depth)
            else:
                yield from _match(list(_items(container, tag, segment.item)), rest, depth + 1)


def _items(container: Dataset, tag: BaseTag, index: int | str | None) -> list[Dataset]:
    element = container[tag]
    if element.VR != "SQ" or not element.value:
        return []
    items = list(element.value)
    if index is None or index == ast.ANY_ITEM:
        return items
    assert isinstance(index, int)
    return [items[index]] if index < len(items) else []


def _private_matches(container: Dataset, element: ast.TagElement) -> list[BaseTag]:
    group_pattern = ast.TagElement(0, 0, element.group, "XXXX").pattern()
    low_pattern = ast.TagElement(0, 0, "0000", "00" + element.element).pattern()
    found: list[BaseTag] = []
    for tag in _tags(container):
        if not (tag.is_private and 0x10 <= tag.element <= 0xFF):
            continue
        if not group_pattern.fullmatch(f"{tag:08X}"):
            continue
        if _text(container[tag].value) != (element.creator or "").strip():
            continue
        block = tag.element << 8
        found.extend(
            candidate
            for candidate in _tags(container)
            if candidate.group == tag.group
            and candidate.element & 0xFF00 == block
            and low_pattern.fullmatch(f"0000{candidate.element & 0xFF:04X}")
        )
    return sorted(found)


def _tags(dataset: Dataset) -> list[BaseTag]:
    # Iterating a Dataset yields elements; its keys are the tags.
    return list(dataset.keys())


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    return str(value).strip() if value is not None else ""
