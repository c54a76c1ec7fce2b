"""DicomEdit 6 functions: ``name[arg, ...]`` as values (hashUID, format, ...) or statements (removeTags, ...).

Each function takes the Run (:class:`compliance.dicomedit.runtime.Run`: dataset, variables, evaluation
helpers) and the call node, and returns a value (str, bool, ...) or None. Semantics follow NRG's
dicom-edit6 function classes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable

from pydicom.uid import generate_uid

from compliance.dicomedit import ast, dates, pixels
from compliance.dicomedit.elements import BYTES_VRS, element_text, set_value
from compliance.dicomedit.paths import Location, resolve, walk_datasets
from compliance.dicomedit.runtime import Run, RuntimeValue, remove_private_tags, tags_of

UUID_ROOT = "2.25"

Function = Callable[[Run, ast.FunctionCall], RuntimeValue]
FUNCTIONS: dict[str, Function] = {}

# Registered in DicomEdit 6 but not implemented here: calling one is a clear runtime error.
UNSUPPORTED = frozenset(
    {
        "collectValues",
        "normalizeString",
        "reject",
        "lookup",
        "getURL",
        "scalePatientAgeAndDobFromStudyDate",
        "shiftDateTimeListByIncrement",
    }
)


def function(name: str) -> Callable[[Function], Function]:
    def register(implementation: Function) -> Function:
        FUNCTIONS[name] = implementation
        return implementation

    return register


def hash_uid(value: str) -> str:
    """XNAT's hashUID: a name-based SHA-1 (version 5) UUID of the value's bytes, with no namespace,
    written as ``2.25.<decimal of the 128-bit UUID>`` (dicom-edit6 HashUID / JUG nameBasedGenerator)."""
    digest = hashlib.sha1(value.encode("utf-8"), usedforsecurity=False).digest()
    return f"{UUID_ROOT}.{uuid.UUID(bytes=digest[:16], version=5).int}"


# --- argument helpers -------------------------------------------------------------------------------


def _arity(run: Run, call: ast.FunctionCall, minimum: int, maximum: int | None = None) -> None:
    count = len(call.arguments)
    if count < minimum or (maximum is not None and count > maximum):
        wanted = str(minimum) if maximum == minimum else f"{minimum}-{maximum}" if maximum else f"{minimum}+"
        raise run.error(call, f"{call.name} takes {wanted} argument(s), got {count}")


def _text(run: Run, call: ast.FunctionCall, index: int) -> str | None:
    return run.text(call.arguments[index])


def _required_text(run: Run, call: ast.FunctionCall, index: int) -> str:
    text = _text(run, call, index)
    if text is None:
        raise run.error(call.arguments[index], f"{call.name}: argument {index + 1} has no value")
    return text


def _integer(run: Run, call: ast.FunctionCall, index: int) -> int:
    text = _required_text(run, call, index)
    try:
        return int(float(text))
    except ValueError:
        raise run.error(call.arguments[index], f"{call.name}: {text!r} is not a number") from None


def _locations(run: Run, call: ast.FunctionCall, arguments: tuple[ast.Value, ...]) -> list[Location]:
    paths = run.tag_paths(arguments, call.name)
    return [location for path in paths for location in resolve(run.dataset, path)]


def _prefixed(prefix: str) -> str:
    return prefix if prefix.endswith(".") else prefix + "."


# --- UIDs -------------------------------------------------------------------------------------------


@function("hashUID")
def _hash_uid(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1, 2)
    value = _text(run, call, 0)
    return None if value is None else hash_uid(value)


@function("hashUIDList")
def _hash_uid_list(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    for location in _locations(run, call, call.arguments):
        if location.tag.is_private_creator:
            continue
        text = element_text(location.container[location.tag])
        if text:
            set_value(location.container, location.tag, "\\".join(hash_uid(uid) for uid in text.split("\\")))
    return None


@function("newUID")
def _new_uid(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 0, 1)
    if not call.arguments:
        return str(generate_uid(prefix=None))
    return str(generate_uid(prefix=_prefixed(_required_text(run, call, 0))))


@function("mapUID")
def _map_uid(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """mapUID[prefix, value]: the prefix followed by the decimal part of hashUID[value]."""
    _arity(run, call, 2, 2)
    prefix, value = _required_text(run, call, 0), _text(run, call, 1)
    if value is None:
        return None
    return _prefixed(prefix) + hash_uid(value).removeprefix(UUID_ROOT + ".")


@function("mapReferencedUIDs")
def _map_referenced_uids(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """mapReferencedUIDs[prefix, tagpath, ...]: replace each UID at the paths with a new UID under
    prefix, the same new UID for the same old one (for every dataset this Interpreter handles)."""
    _arity(run, call, 2)
    prefix = _prefixed(_required_text(run, call, 0))
    uid_map = run.uid_map
    for location in _locations(run, call, call.arguments[1:]):
        text = element_text(location.container[location.tag])
        if not text:
            continue
        mapped = [uid_map.setdefault(uid, str(generate_uid(prefix=prefix))) for uid in text.split("\\")]
        set_value(location.container, location.tag, "\\".join(mapped))
    return None


# --- strings ----------------------------------------------------------------------------------------


@function("format")
def _format(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1)
    pattern = _required_text(run, call, 0)
    arguments = [run.text(argument) for argument in _flatten(run, call.arguments[1:])]
    try:
        return message_format(pattern, arguments)
    except (IndexError, ValueError) as error:
        raise run.error(call, f"format: {error}") from None


def message_format(pattern: str, arguments: list[str | None]) -> str:
    """Java MessageFormat for ``{n}`` placeholders: ``'...'`` quotes literal text, ``''`` is a quote,
    a missing value prints as ``null``."""
    out: list[str] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "'":
            end = pattern.find("'", position + 1)
            if end == position + 1:
                out.append("'")
                position += 2
                continue
            end = len(pattern) if end < 0 else end
            out.append(pattern[position + 1 : end])
            position = end + 1
        elif char == "{":
            end = pattern.find("}", position)
            if end < 0:
                raise ValueError(f"unmatched '{{' in format pattern {pattern!r}")
            index = int(pattern[position + 1 : end].split(",", maxsplit=1)[0])
            value = arguments[index]
            out.append("null" if value is None else value)
            position = end + 1
        else:
            out.append(char)
            position += 1
    return "".join(out)


def _flatten(run: Run, arguments: tuple[ast.Value, ...]) -> list[ast.Value]:
    flat: list[ast.Value] = []
    for argument in arguments:
        bound = run.variables.get(argument.name) if isinstance(argument, ast.Variable) else None
        if isinstance(argument, ast.ListValue):
            flat.extend(_flatten(run, argument.items))
        elif isinstance(bound, ast.ListValue):
            flat.extend(_flatten(run, bound.items))
        else:
            flat.append(argument)
    return flat


@function("lowercase")
def _lowercase(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1, 1)
    value = _text(run, call, 0)
    return None if value is None else value.lower()


@function("uppercase")
def _uppercase(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1, 1)
    value = _text(run, call, 0)
    return None if value is None else value.upper()


@function("substring")
def _substring(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """substring[value, begin, end]: Java String.substring (end exclusive; out of range is an error)."""
    _arity(run, call, 3, 3)
    value = _text(run, call, 0)
    if value is None:
        return None
    begin, end = _integer(run, call, 1), _integer(run, call, 2)
    if not 0 <= begin <= end <= len(value):
        raise run.error(call, f"substring: range {begin}-{end} is outside {value!r} (length {len(value)})")
    return value[begin:end]


@function("concatenate")
def _concatenate(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    texts = [run.text(argument) for argument in _flatten(run, call.arguments)]
    return "".join(text for text in texts if text is not None)


@function("replace")
def _replace(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """replace[value, find, replacement]: literal (not regex) replacement of every occurrence."""
    _arity(run, call, 3, 3)
    value = _text(run, call, 0)
    if value is None:
        return None
    return value.replace(_required_text(run, call, 1), _required_text(run, call, 2))


@function("match")
def _match(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """match[value, regex, group]: the group of the first match (Java Matcher.find), else None."""
    _arity(run, call, 3, 3)
    value, pattern, group = _text(run, call, 0), _required_text(run, call, 1), _integer(run, call, 2)
    if value is None:
        return None
    found = _regex(run, call, pattern).search(value)
    if found is None:
        return None
    try:
        return found.group(group)
    except IndexError:
        raise run.error(call, f"match: regex {pattern!r} has no group {group}") from None


@function("ismatch")
def _ismatch(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """ismatch[value, regex]: true when the whole value matches the regex."""
    _arity(run, call, 2, 2)
    value, pattern = _text(run, call, 0), _required_text(run, call, 1)
    return value is not None and _regex(run, call, pattern).fullmatch(value) is not None


def _regex(run: Run, call: ast.FunctionCall, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise run.error(call, f"{call.name}: invalid regular expression {pattern!r}: {error}") from None


# --- attributes -------------------------------------------------------------------------------------


@function("isPresent")
def _is_present(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1)
    return bool(_locations(run, call, call.arguments))


@function("blankValues")
def _blank_values(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """blankValues[value, ...]: empty every element, at any depth, whose value equals one of the values.

    Arguments are values, not targets (dicom-edit6 BlankValues/ReplaceKnownValueVisitor): a tag path
    contributes the values of the attributes it matches, so ``blankValues[(0010,0010)]`` empties the
    patient name and every other attribute holding the same text. Binary VRs other than UN are kept.
    """
    known = _known_values(run, _flatten(run, call.arguments))
    if not known:
        return None
    for container, _ in walk_datasets(run.dataset):
        for tag in tags_of(container):
            element = container[tag]
            if element.VR == "UN":
                if isinstance(element.value, bytes) and element.value.decode("latin-1") in known:
                    element.value = b""
            elif element.VR != "SQ" and element.VR not in BYTES_VRS and element_text(element) in known:
                set_value(container, tag, "")
    return None


def _known_values(run: Run, arguments: list[ast.Value]) -> set[str]:
    known: set[str] = set()
    for argument in arguments:
        if isinstance(argument, ast.TagPath):
            texts = [element_text(loc.container[loc.tag]) for loc in resolve(run.dataset, argument)]
            known.update(text for text in texts if text)
        else:
            text = run.text(argument)
            if text:
                known.add(text)
    return known


@function("removeTags")
def _remove_tags(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    for location in _locations(run, call, call.arguments):
        if location.tag in location.container:
            del location.container[location.tag]
    return None


FUNCTIONS["delete"] = _remove_tags


@function("set")
def _set(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """set[tagpath, value]: assign, the tag path possibly given as a string."""
    _arity(run, call, 2, 2)
    (path,) = run.tag_paths(call.arguments[:1], call.name)
    run.assign(path, call.arguments[1], only_if_present=False)
    return None


@function("retainPrivateTags")
def _retain_private_tags(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """retainPrivateTags[tagpath, ...]: remove every private tag except these (and their creators)."""
    paths = run.tag_paths(call.arguments, call.name)
    for path in paths:
        if path.target is None or not path.target.is_private:
            raise run.error(path, f"retainPrivateTags: {path.text} is not a private tag")
    keep: set[tuple[int, int]] = set()
    for path in paths:
        for location in resolve(run.dataset, path):
            keep.add((id(location.container), int(location.tag)))
            creator = (location.tag.group << 16) | (location.tag.element >> 8)
            keep.add((id(location.container), creator))
    remove_private_tags(run.dataset, keep)
    return None


# --- dates ------------------------------------------------------------------------------------------


def _shift(run: Run, call: ast.FunctionCall, default_units: str) -> RuntimeValue:
    _arity(run, call, 2, 3)
    value = _text(run, call, 0)
    if not value:
        return value
    increment = _integer(run, call, 1)
    units = _required_text(run, call, 2) if len(call.arguments) == 3 else default_units
    try:
        return dates.shift(value, increment, units)
    except ValueError as error:
        raise run.error(call, f"{call.name}: {error}") from None


@function("shiftDateByIncrement")
def _shift_date(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateByIncrement[date, increment, units="days"]."""
    return _shift(run, call, "days")


@function("shiftDateTimeByIncrement")
def _shift_date_time(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateTimeByIncrement[datetime, increment, units="seconds"]."""
    return _shift(run, call, "seconds")


@function("shiftDateTimeSequenceByIncrement")
def _shift_date_time_sequence(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateTimeSequenceByIncrement[seconds, tagpath, ...]: shift every matching DA/DT in place."""
    _arity(run, call, 2)
    increment = _integer(run, call, 0)
    for location in _locations(run, call, call.arguments[1:]):
        text = element_text(location.container[location.tag])
        if text:
            try:
                set_value(location.container, location.tag, dates.shift(text, increment, "seconds"))
            except ValueError as error:
                raise run.error(call, f"{call.name}: {error}") from None
    return None


# --- pixels and constants ---------------------------------------------------------------------------


@function("alterPixels")
def _alter_pixels(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """alterPixels["rectangle", "l=.., t=.., r=.., b=..", "solid", "v=.."]."""
    _arity(run, call, 4, 4)
    shape, shape_text, fill, fill_text = (_required_text(run, call, index) for index in range(4))
    if shape.lower() != "rectangle" or fill.lower() != "solid":
        raise run.error(
            call, f"alterPixels: only 'rectangle' with 'solid' fill is supported, not {shape!r}/{fill!r}"
        )
    try:
        box, fill_parameters = pixels.parse_parameters(shape_text), pixels.parse_parameters(fill_text)
        left, top, right, bottom = (int(box[name]) for name in ("l", "t", "r", "b"))
        pixels.fill_rectangle(run.dataset, (left, top, right, bottom), fill_parameters.get("v", 0))
    except KeyError as error:
        raise run.error(call, f"alterPixels: rectangle parameter {error} missing (need l, t, r, b)") from None
    except (ValueError, AttributeError, NotImplementedError, RuntimeError) as error:
        raise run.error(call, f"alterPixels: {error}") from None
    return None


@function("true")
def _true(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    return True


@function("false")
def _false(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    return False


# Every function name DicomEdit 6 registers that this engine knows, implemented or not: the names a
# script may call without "unknown function".
KNOWN_FUNCTIONS = frozenset(FUNCTIONS) | UNSUPPORTED

__all__ = ["FUNCTIONS", "KNOWN_FUNCTIONS", "UNSUPPORTED", "hash_uid", "message_format"]
