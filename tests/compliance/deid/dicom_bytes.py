"""Hand-built DICOM files (bytes), for the shapes pydicom will not write: hostile and malformed ones."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

ITEM, ITEM_END, SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
UNDEFINED = 0xFFFFFFFF
LONG_VRS = {"OB", "OW", "SQ", "UN", "UT", "UC", "UR"}


def file_meta(transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7433.9.1"
    meta.TransferSyntaxUID = transfer_syntax
    buffer = BytesIO()
    buffer.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()


def element(group: int, number: int, vr: str, value: bytes, length: int | None = None) -> bytes:
    """One explicit-VR little-endian element; ``length`` overrides the declared length."""
    declared = len(value) if length is None else length
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", group, number, vr.encode(), 0, declared) + value
    return struct.pack("<HH2sH", group, number, vr.encode(), declared) + value


def delimiter(tag: tuple[int, int], length: int = 0) -> bytes:
    return struct.pack("<HHI", *tag, length)


def nested_sequences(depth: int, innermost: bytes) -> bytes:
    """Content Sequence (0040,A730) inside itself ``depth`` times, every length undefined."""
    inner = innermost
    for _ in range(depth):
        item = delimiter(ITEM, UNDEFINED) + inner + delimiter(ITEM_END)
        inner = element(0x0040, 0xA730, "SQ", b"", UNDEFINED) + item + delimiter(SEQUENCE_END)
    return inner


def identifying_dataset() -> bytes:
    """Modality, a series, a real-looking name and a study date: enough to give findings."""
    return (
        element(0x0008, 0x0020, "DA", b"20240315")
        + element(0x0008, 0x0060, "CS", b"CT")
        + element(0x0010, 0x0010, "PN", b"SMITH^JANE")
        + element(0x0020, 0x000E, "UI", b"1.2.826.0.1.3680043.9.7433.9.2\x00")
    )


def deeply_nested_file(depth: int = 1500) -> bytes:
    return (
        file_meta() + identifying_dataset() + nested_sequences(depth, element(0x0010, 0x0010, "PN", b"X^Y "))
    )


def huge_element_file(declared: int = 0xFFFFFFF0) -> bytes:
    """A few hundred bytes declaring a Patient Comments (0010,4000) value of ``declared`` bytes."""
    return (
        file_meta() + element(0x0008, 0x0060, "CS", b"CT") + element(0x0010, 0x4000, "UT", b"tiny", declared)
    )


def deflated_file(dataset: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return file_meta(DeflatedExplicitVRLittleEndian) + deflater.compress(dataset) + deflater.flush()
