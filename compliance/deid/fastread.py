"""Header-only reading of a DICOM file as raw elements, bounded against hostile input.

The residual-PHI scan never needs converted values: it inspects tags, lengths and raw bytes. This
reader parses the File Meta group and then the dataset up to Pixel Data straight from the file's
bytes (explicit and implicit VR little endian, explicit VR big endian, deflated), without building
pydicom Datasets, which is most of a header read's cost with ``dcmread``.

It is also where hostile files are stopped, each with a per-file error (:class:`UnreadableFile`) so
that the rest of a scan survives: only regular files are opened (a FIFO would block forever), no
element may declare more bytes than the file has left (a small file declaring 4 GiB), sequences may
not nest deeper than :data:`MAX_NESTING` (walked without recursion), a deflated dataset may not
inflate beyond :data:`MAX_INFLATED_BYTES`. Files it does not understand (no ``DICM`` prefix, a VR
that is not one) raise :class:`NeedsPydicom` and the caller falls back to pydicom's lenient reader.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Callable
from functools import cache

from pydicom.datadict import dictionary_VR
from pydicom.uid import UID

PREAMBLE_LENGTH = 128
PREFIX = b"DICM"
TRANSFER_SYNTAX_UID = 0x00020010
FIRST_PIXEL_TAG = 0x7FE00008  # Float Pixel Data; (7FE0,0009) and (7FE0,0010) follow
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF

MAX_NESTING = 64  # real SR content trees nest about ten deep; pydicom itself copes with a few hundred
MAX_INFLATED_BYTES = 256 * 1024 * 1024
LARGE_BINARY = 1024 * 1024  # binary values above this are not read: presence is all the scan needs
FIRST_READ = 64 * 1024
NOT_READ = b"\x00(large binary value, not read)\x00"

VALID_VRS = frozenset(
    [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FL",
        "FD",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    ]
)
LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_VR_CODES = {vr.encode(): vr for vr in VALID_VRS}

Element = tuple[str, bytes]  # (VR, raw value bytes)
Header = dict[int, Element]


class UnreadableFile(Exception):  # noqa: N818 - reads as the outcome it reports
    """The file cannot be scanned; the message says why and where, without any value from it."""


class NotRegularFile(UnreadableFile):
    """A FIFO, device, socket or directory where a file was expected: never opened for reading."""


class NotDicom(Exception):  # noqa: N818
    """The file is not DICOM (pydicom does not recognise it either)."""


class NeedsPydicom(Exception):  # noqa: N818
    """The file is outside what this reader handles; pydicom's more lenient reader should try it."""


def open_regular_file(path: str) -> int:
    """A descriptor on ``path`` if it is a regular file; FIFOs, devices and sockets are refused.

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; fstat on the
    opened descriptor then decides, so a file swapped for a FIFO after listing is refused as well.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegularFile(f"not a regular file ({file_kind(mode)}); only regular files are scanned")
    return fd


def file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


@cache
def implicit_vr(tag: int) -> str:
    """The VR an implicit-VR file leaves out: the dictionary's (first) VR, LO for private creators."""
    if tag >> 16 & 1:
        return "LO" if 0x10 <= tag & 0xFFFF <= 0xFF else "UN"
    if tag & 0xFFFF == 0:
        return "UL"  # group length
    try:
        return dictionary_VR(tag).split(" or ", maxsplit=1)[0]
    except KeyError:
        return "UN"


class _Source:
    """The file's bytes from ``offset`` on, read on demand; ``data[0]`` is at file offset ``base``."""

    __slots__ = ("base", "data", "fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size
        self.base = 0
        self.data = os.pread(fd, min(size, FIRST_READ), 0)

    @classmethod
    def from_bytes(cls, data: bytes) -> _Source:
        source = cls.__new__(cls)
        source.fd, source.size, source.base, source.data = -1, len(data), 0, data
        return source

    def cover(self, start: int, end: int) -> int:
        """Make ``data`` hold file bytes [start, end); return where ``start`` is in ``data``."""
        if start >= self.base and end <= self.base + len(self.data):
            return start - self.base
        if end > self.size:
            raise EOFError
        if self.fd < 0:
            raise EOFError
        if start < self.base or start > self.base + len(self.data):
            self.base, self.data = start, os.pread(self.fd, max(end - start, FIRST_READ), start)
        else:
            missing = end - (self.base + len(self.data))
            self.data += os.pread(self.fd, max(missing, FIRST_READ), self.base + len(self.data))
        if end > self.base + len(self.data):
            raise EOFError
        return start - self.base


class _Syntax:
    """How one transfer syntax encodes element headers."""

    __slots__ = ("explicit", "little", "short_header", "tag_length", "u16", "u32")

    def __init__(self, explicit: bool, little: bool) -> None:
        order = "<" if little else ">"
        self.explicit, self.little = explicit, little
        self.short_header = struct.Struct(f"{order}HH2sH")  # group, element, VR, 16-bit length
        self.tag_length = struct.Struct(f"{order}HHI")  # group, element, 32-bit length (implicit, items)
        self.u32 = struct.Struct(f"{order}I")
        self.u16 = struct.Struct(f"{order}H")


EXPLICIT_LITTLE = _Syntax(explicit=True, little=True)
IMPLICIT_LITTLE = _Syntax(explicit=False, little=True)
EXPLICIT_BIG = _Syntax(explicit=True, little=False)


def read_header_elements(path: str) -> Header:
    """Top-level elements before Pixel Data keyed by tag (File Meta excluded).

    Raises UnreadableFile for a file that must be reported unreadable and NeedsPydicom for one this
    reader does not understand.
    """
    fd = open_regular_file(path)
    try:
        size = os.fstat(fd).st_size
        source = _Source(fd, size)
        if size < PREAMBLE_LENGTH + 4 or source.data[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] != PREFIX:
            raise NeedsPydicom("no DICM prefix")
        meta, position = _read_elements(source, PREAMBLE_LENGTH + 4, EXPLICIT_LITTLE, _leaves_file_meta)
        syntax, deflated = _dataset_syntax(meta)
        if deflated:
            source = _Source.from_bytes(_inflate(fd, position, size))
            position = 0
        elements, _ = _read_elements(source, position, syntax, _at_pixel_data)
        return elements
    except EOFError as error:
        raise UnreadableFile("the file ends inside an element header") from error
    finally:
        os.close(fd)


def _leaves_file_meta(tag: int) -> bool:
    return tag >> 16 != 0x0002


def _at_pixel_data(tag: int) -> bool:
    return tag >= FIRST_PIXEL_TAG


def _dataset_syntax(meta: Header) -> tuple[_Syntax, bool]:
    element = meta.get(TRANSFER_SYNTAX_UID)
    if element is None:
        raise NeedsPydicom("no Transfer Syntax UID in the File Meta")
    try:
        uid = UID(element[1].rstrip(b"\x00 ").decode("ascii"))
        implicit, little, deflated = uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated
    except (ValueError, UnicodeDecodeError) as error:
        raise NeedsPydicom("unknown transfer syntax") from error
    if implicit:
        return IMPLICIT_LITTLE, deflated
    return (EXPLICIT_LITTLE if little else EXPLICIT_BIG), deflated


def _inflate(fd: int, offset: int, size: int) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = inflater.decompress(os.pread(fd, size - offset, offset), MAX_INFLATED_BYTES)
    except zlib.error as error:
        raise UnreadableFile(f"the deflated dataset does not inflate: {error}") from error
    if inflater.unconsumed_tail:
        raise UnreadableFile(
            f"the deflated dataset inflates to more than {MAX_INFLATED_BYTES // (1024 * 1024)} MiB"
        )
    return data


def _read_elements(
    source: _Source, position: int, syntax: _Syntax, stop: Callable[[int], bool]
) -> tuple[Header, int]:
    """Top-level elements from ``position`` until ``stop(tag)`` or the end of the file."""
    elements: Header = {}
    size = source.size
    short_header = syntax.short_header
    while position + 8 <= size:
        at = source.cover(position, position + 8)
        group, element, vr_code, short_length = short_header.unpack_from(source.data, at)
        tag = group << 16 | element
        if stop(tag):
            break
        vr, length, start = _element_header(source, position, syntax, tag, (vr_code, short_length))
        if length == UNDEFINED_LENGTH:
            if vr not in {"SQ", "UN"} and syntax.explicit:
                raise UnreadableFile(f"element {_tag_text(tag)} ({vr}) has an undefined length")
            # An undefined-length UN is a sequence encoded as implicit VR little endian (PS3.5 6.2.2).
            end, position = _sequence_end(source, start, IMPLICIT_LITTLE if vr == "UN" else syntax)
            elements[tag] = ("SQ", _value(source, start, end))
            continue
        end = _skip(start, length, size, tag)
        large = vr in BINARY_VRS and length > LARGE_BINARY
        elements[tag] = (vr, NOT_READ if large else _value(source, start, end))
        position = end
    else:
        _check_tail(source, position)
    return elements, position


def _element_header(
    source: _Source, position: int, syntax: _Syntax, tag: int, explicit_header: tuple[bytes, int]
) -> tuple[str, int, int]:
    """(VR, length, where the value starts) of the top-level element at ``position``.

    ``explicit_header`` is the VR code and 16-bit length as an explicit-VR header would hold them.
    """
    vr_code, short_length = explicit_header
    if not syntax.explicit:
        at = source.cover(position, position + 8)
        return implicit_vr(tag), syntax.u32.unpack_from(source.data, at + 4)[0], position + 8
    vr = _VR_CODES.get(vr_code)
    if vr is None:
        raise NeedsPydicom(f"element {_tag_text(tag)} has no valid VR")
    if vr in LONG_LENGTH_VRS:
        at = source.cover(position, position + 12)
        return vr, syntax.u32.unpack_from(source.data, at + 8)[0], position + 12
    return vr, short_length, position + 8


def _check_tail(source: _Source, position: int) -> None:
    """Fewer bytes than an element header at the end: zero padding is tolerated, anything else is cut off."""
    if position < source.size and _value(source, position, source.size).strip(b"\x00"):
        raise UnreadableFile(f"the file ends inside an element header at byte {position} (truncated?)")


def _value(source: _Source, start: int, end: int) -> bytes:
    at = source.cover(start, end)
    return source.data[at : at + end - start]


def _sequence_end(source: _Source, position: int, syntax: _Syntax) -> tuple[int, int]:
    """Walk an undefined-length sequence without recursion: (where its value ends, after its delimiter).

    ``inside_item`` holds, per open sequence level, whether the walk is inside one of its items.
    """
    tag_length = syntax.tag_length
    size = source.size
    inside_item = [False]
    while inside_item:
        if position + 8 > size:
            raise UnreadableFile("an undefined-length sequence runs past the end of the file")
        at = source.cover(position, position + 8)
        group, element, length = tag_length.unpack_from(source.data, at)
        tag = group << 16 | element
        if not inside_item[-1]:
            if tag == SEQUENCE_END:
                inside_item.pop()
                if not inside_item:
                    return position, position + 8
                inside_item[-1] = True  # back inside the enclosing sequence's item
                position += 8
            elif tag == ITEM and length == UNDEFINED_LENGTH:
                inside_item[-1] = True
                position += 8
            elif tag == ITEM:
                position = _skip(position + 8, length, size, tag, " inside a sequence")
            else:
                raise NeedsPydicom(f"element {_tag_text(tag)} where a sequence item was expected")
            continue
        if tag == ITEM_END:
            inside_item[-1] = False
            position += 8
            continue
        start, length = _nested_header(source, position, syntax, tag, length)
        if length == UNDEFINED_LENGTH:
            if len(inside_item) >= MAX_NESTING:
                raise UnreadableFile(
                    f"sequences nested more than {MAX_NESTING} levels deep (at byte {position}); "
                    "no real DICOM object needs that many"
                )
            inside_item.append(False)
            position = start
        else:
            position = _skip(start, length, size, tag, " inside a sequence")
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns when the stack empties


def _nested_header(source: _Source, position: int, syntax: _Syntax, tag: int, length: int) -> tuple[int, int]:
    """(value start, length) of an element inside an item; ``length`` is the implicit-VR reading."""
    if not syntax.explicit:
        return position + 8, length
    at = source.cover(position, position + 8)
    vr = _VR_CODES.get(source.data[at + 4 : at + 6])
    if vr is None:
        raise NeedsPydicom(f"element {_tag_text(tag)} inside a sequence has no valid VR")
    if vr in LONG_LENGTH_VRS:
        at = source.cover(position, position + 12)
        return position + 12, syntax.u32.unpack_from(source.data, at + 8)[0]
    return position + 8, syntax.u16.unpack_from(source.data, at + 6)[0]


def _skip(start: int, length: int, size: int, tag: int, where: str = "") -> int:
    """Where the value that starts at ``start`` ends; no element may declare more than the file holds."""
    if start + length > size:
        raise UnreadableFile(
            f"element {_tag_text(tag)}{where} declares {length} bytes at byte {start} but the file has "
            f"{max(size - start, 0)} left"
        )
    return start + length


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
