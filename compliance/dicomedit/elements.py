"""Reading and writing element values the way DicomEdit does: strings in, VR-aware values out."""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_VR, private_dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

INTEGER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
FLOAT_VRS = frozenset({"FL", "FD"})
BYTES_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
# VR of a new element pydicom's dictionaries do not know (private tags of unknown creators).
FALLBACK_VR = "LO"


class ValueConversionError(ValueError):
    """A value cannot be stored in an element of the given VR."""


def element_text(element: DataElement) -> str | None:
    """An element's value as DicomEdit sees it: a string, values joined by backslash; None for SQ."""
    if element.VR == "SQ":
        return None
    value = element.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_scalar_text(item) for item in value)
    return _scalar_text(value)


def new_element_vr(tag: BaseTag, creator: str | None = None) -> str:
    """The dictionary VR for a new element (first choice of ambiguous ones such as 'US or SS')."""
    try:
        vr = private_dictionary_VR(tag, creator) if creator else dictionary_VR(tag)
    except KeyError:
        return FALLBACK_VR
    return vr.split(" or ")[0]


def coerce(value: Any, vr: str) -> Any:
    """Convert a script value (str, int, float, bool) to what pydicom stores for ``vr``."""
    text = _script_text(value)
    if vr == "SQ":
        if text == "":
            return []  # an empty sequence: the zero-length value Annex E's Z asks for
        raise ValueConversionError('a sequence (VR SQ) can only be emptied (:= ""), not given a value')
    if text == "":
        return None if vr in INTEGER_VRS | FLOAT_VRS | {"AT"} else ("" if vr not in BYTES_VRS else b"")
    parts = text.split("\\")
    try:
        if vr in INTEGER_VRS:
            numbers: list[Any] = [wrap_integer(int(float(part)), vr) for part in parts]
        elif vr in FLOAT_VRS:
            numbers = [float(part) for part in parts]
        elif vr == "AT":
            numbers = [int(part.strip("()").replace(",", ""), 16) for part in parts]
        elif vr in BYTES_VRS:
            return text.encode("utf-8")
        else:
            return parts if len(parts) > 1 else text
    except ValueError:
        raise ValueConversionError(f"{text!r} is not a valid value for VR {vr}") from None
    return numbers if len(numbers) > 1 else numbers[0]


# Bits of each binary integer VR and whether it is signed: dcm4che writes an out-of-range value modulo
# 2**bits, so 1234567 in a US element is stored as 54919 (dicom-edit6 TestAssignToNumericVRs).
INTEGER_WIDTHS = {"US": (16, False), "SS": (16, True), "UL": (32, False), "SL": (32, True), "UV": (64, False),
                  "SV": (64, True)}  # fmt: skip


def wrap_integer(number: int, vr: str) -> int:
    """``number`` as an element of VR ``vr`` stores it: modulo 2**bits, in the signed range for SS/SL/SV."""
    bits, signed = INTEGER_WIDTHS[vr]
    wrapped = number % (1 << bits)
    if signed and wrapped >= 1 << (bits - 1):
        wrapped -= 1 << bits
    return wrapped


def value_warnings(element: DataElement, requested: Any) -> list[str]:
    """What a reviewer should know about storing ``requested`` in ``element`` (e.g. a truncated number)."""
    if element.VR not in INTEGER_VRS:
        return []
    text = _script_text(requested)
    stored = element_text(element) or ""
    asked = [str(int(float(part))) for part in text.split("\\")] if text else []
    if asked and asked != stored.split("\\"):
        return [
            f"{text!r} is out of range for VR {element.VR}; stored {stored!r} (the value modulo "
            f"2**{INTEGER_WIDTHS[element.VR][0]}), as DicomEdit does"
        ]
    return []


def set_value(container: Dataset, tag: BaseTag, value: Any, vr: str | None = None) -> DataElement:
    """Set (creating if needed) the element ``tag`` in ``container`` to ``value`` coerced to its VR."""
    if tag in container:
        element = container[tag]
        element.value = coerce(value, element.VR)
        return element
    vr = vr or new_element_vr(tag)
    container.add_new(tag, vr, coerce(value, vr))
    return container[tag]


def _script_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "\\".join(_script_text(item) for item in value)
    return str(value)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00 ")
    if type(value) is float and value.is_integer():  # not DSfloat, which keeps its text
        return str(int(value))
    if isinstance(value, BaseTag):
        return (
            f"{value:08X}"  # an AT value as dcm4che prints it: 00209056  # dcm4che prints FL/FD 30.0 as "30"
        )
    return str(value)
