"""Header-only reading of a DICOM file as raw elements, without building pydicom Datasets.

The residual-PHI scan never needs converted values: it inspects tags, lengths and raw bytes. Reading
the File Meta group and then the dataset up to Pixel Data with pydicom's own element generator skips
the Dataset construction ``dcmread`` does for every element, which is most of a header read's cost.
Anything unusual (no DICM prefix, deflated or unknown transfer syntax) returns None and the caller
falls back to ``dcmread``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom.filereader import data_element_generator
from pydicom.uid import UID

PREAMBLE_LENGTH = 128
PREFIX = b"DICM"
TRANSFER_SYNTAX_UID = 0x00020010
FIRST_PIXEL_TAG = 0x7FE00008  # Float Pixel Data; (7FE0,0009) and (7FE0,0010) follow


def _after_file_meta(tag: int, _vr: str | None, _length: int) -> bool:
    return tag >> 16 != 0x0002


def _at_pixel_data(tag: int, _vr: str | None, _length: int) -> bool:
    return tag >= FIRST_PIXEL_TAG


def read_header_elements(path: Path | str) -> dict[int, Any] | None:
    """Top-level elements before Pixel Data keyed by tag (File Meta excluded), or None to fall back."""
    with Path(path).open("rb") as fp:
        if len(fp.read(PREAMBLE_LENGTH)) != PREAMBLE_LENGTH or fp.read(4) != PREFIX:
            return None
        meta = {raw.tag: raw for raw in data_element_generator(fp, False, True, stop_when=_after_file_meta)}
        syntax = meta.get(TRANSFER_SYNTAX_UID)
        if syntax is None or not isinstance(syntax.value, bytes):
            return None
        try:
            uid = UID(syntax.value.rstrip(b"\x00 ").decode("ascii"))
            if uid.is_deflated:
                return None
            implicit, little = uid.is_implicit_VR, uid.is_little_endian
        except (ValueError, UnicodeDecodeError):
            return None
        return {
            raw.tag: raw for raw in data_element_generator(fp, implicit, little, stop_when=_at_pixel_data)
        }
