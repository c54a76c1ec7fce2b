"""pydicom's reader for what :mod:`compliance.deid.fastread` leaves to it, with the same bounds.

Used for files without a ``DICM`` prefix or with an odd VR (pydicom copes with more quirks) and to
decode pixel data for ``--pixels``. Reads go through :class:`BoundedFile`, so an element declaring
more bytes than the file holds is an :class:`~compliance.deid.fastread.UnreadableFile` instead of a
multi-gigabyte allocation. Datasets are turned into the same ``{tag: (VR, raw bytes)}`` header the
fast reader returns, sequences walked without recursion and no deeper than ``MAX_NESTING``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pydicom import dcmread
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from compliance.deid.fastread import (
    FIRST_PIXEL_TAG,
    MAX_NESTING,
    Header,
    NotDicom,
    UnreadableFile,
    open_regular_file,
)


class BoundedFile:
    """A read-only file whose reads may not ask for more bytes than remain."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb")
        self._size = os.fstat(fd).st_size
        self.name = getattr(self._file, "name", "")

    def read(self, size: int = -1) -> bytes:
        remaining = self._size - self._file.tell()
        if size is not None and size > max(remaining, 0) + 1024:
            raise UnreadableFile(
                f"an element declares {size} bytes at byte {self._file.tell()} but the file has "
                f"{max(remaining, 0)} left"
            )
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> BoundedFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_dataset(path: str, pixels: bool = False) -> Dataset:
    """The dataset, up to Pixel Data unless ``pixels``; NotDicom when pydicom says it is not DICOM."""
    with BoundedFile(open_regular_file(path)) as fp:
        try:
            return dcmread(fp, stop_before_pixels=not pixels)
        except InvalidDicomError as error:
            raise NotDicom(str(error)) from error
        except RecursionError as error:
            raise UnreadableFile("sequences nested too deeply for pydicom to read") from error


def header_from_dataset(ds: Dataset) -> Header:
    """``{tag: (VR, raw bytes)}`` for the top-level elements before Pixel Data, as the fast reader gives."""
    elements = getattr(ds, "_dict", None)
    if not isinstance(elements, dict):  # pydicom's internal map went away: the public API, slower
        elements = {tag: ds.get_item(tag) for tag in ds.keys()}  # noqa: SIM118 - iterating would convert
    header: Header = {}
    for tag, element in elements.items():
        if int(tag) >= FIRST_PIXEL_TAG:
            continue
        header[int(tag)] = (element.VR or "UN", _raw_value(element))
    return header


def _raw_value(element: RawDataElement | DataElement) -> bytes:
    value = element.value
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if element.VR == "SQ":
        return b"\x00".join(_sequence_texts(value))
    return _as_bytes(value)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, list | tuple):
        return b"\\".join(_as_bytes(item) for item in value)
    return str(value).encode("latin-1", "replace")


def _sequence_texts(items: Any) -> Iterator[bytes]:
    """The values inside a sequence, depth first, walked with a stack (no recursion)."""
    stack: list[tuple[Iterator[Dataset], int]] = [(iter(items), 1)]
    while stack:
        iterator, depth = stack[-1]
        item = next(iterator, None)
        if item is None:
            stack.pop()
            continue
        for element in item:
            if element.VR == "SQ":
                if depth >= MAX_NESTING:
                    raise UnreadableFile(f"sequences nested more than {MAX_NESTING} levels deep")
                stack.append((iter(element.value or ()), depth + 1))
            elif element.value is not None:
                yield _as_bytes(element.value)
