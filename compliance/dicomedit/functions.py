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
from datetime import datetime

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from compliance.dicomedit import ast, dates, pixels
from compliance.dicomedit.elements import BYTES_VRS, element_text, set_value
from compliance.dicomedit.errors import DicomEditRejectionError
from compliance.dicomedit.paths import Location, resolve, walk_datasets, why_plural
from compliance.dicomedit.runtime import Run, RuntimeValue, remove, remove_private_tags, tags_of

UUID_ROOT = "2.25"

Function = Callable[[Run, ast.FunctionCall], RuntimeValue]
FUNCTIONS: dict[str, Function] = {}

# Registered in DicomEdit 6 but not implemented here: calling one is a clear runtime error. lookup reads
# a site-specific key/value table that XNAT configures and this engine does not have.
UNSUPPORTED = frozenset({"lookup"})


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
        if location.tag.is_private_creator or location.item is not None:
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
        text = None if location.item is not None else element_text(location.container[location.tag])
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
    """Arguments with lists (written, bound to variables or returned by calls) spread out, in order.

    A call is evaluated once here; a value it returns stands in its place as a string literal.
    """
    flat: list[ast.Value] = []
    for argument in arguments:
        bound = run.variables.get(argument.name) if isinstance(argument, ast.Variable) else None
        if isinstance(argument, ast.ListValue):
            flat.extend(_flatten(run, argument.items))
        elif isinstance(bound, ast.ListValue):
            flat.extend(_flatten(run, bound.items))
        elif isinstance(argument, ast.FunctionCall):
            flat.extend(_flatten(run, (_as_node(run.call(argument), argument),)))
        else:
            flat.append(argument)
    return flat


def _as_node(value: RuntimeValue, at: ast.Node) -> ast.Value:
    if isinstance(value, ast.ListValue):
        return value
    text = None if value is None else (value if isinstance(value, str) else str(value).lower())
    return ast.StringLiteral(at.line, at.column, text or "", "") if text is not None else ast.ListValue(0, 0)


@function("lowercase")
def _lowercase(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1, 1)
    return _required_text(run, call, 0).lower()


@function("uppercase")
def _uppercase(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    _arity(run, call, 1, 1)
    return _required_text(run, call, 0).upper()


@function("normalizeString")
def _normalize_string(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """normalizeString[value, replacement="_"]: every non-ASCII character replaced (dicom-edit6
    NormalizeStringFunction); a missing attribute gives no value."""
    _arity(run, call, 1, 2)
    value = _text(run, call, 0)
    replacement = _required_text(run, call, 1) if len(call.arguments) == 2 else "_"
    if value is None:
        return None
    return "".join(char if char.isascii() else replacement for char in value)


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
    """isPresent[tagpath, ...]: true when every path names something present; a path ending in a sequence
    item, (0018,9239)[1], asks whether that item exists."""
    _arity(run, call, 1)
    paths = run.tag_paths(call.arguments, call.name)
    return all(resolve(run.dataset, path) for path in paths)


@function("blankValues")
def _blank_values(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """blankValues[value, ...]: empty every element, at any depth and in the File Meta, whose value equals
    one of the values.

    Arguments are values, not targets (dicom-edit6 BlankValues/ReplaceKnownValueVisitor): a tag path
    contributes the values of the attributes it matches, so ``blankValues[(0010,0010)]`` empties the
    patient name and every other attribute holding the same text. Leading and trailing blanks do not
    count (PS3.5 6.2), letter case does; binary VRs, UN included, are never matched.
    """
    known = {text.strip() for text in _known_values(run, _flatten(run, call.arguments))}
    known.discard("")
    if not known:
        return None
    for container in _all_datasets(run.dataset):
        for tag in tags_of(container):
            element = container[tag]
            if element.VR == "SQ" or element.VR in BYTES_VRS:
                continue
            if (element_text(element) or "").strip() in known:
                set_value(container, tag, "")
    return None


@function("collectValues")
def _collect_values(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """collectValues[value, ...]: the list of the values (as blankValues reads them), kept for later use,
    e.g. before the attributes holding them are changed (dicom-edit6 CollectValues)."""
    texts = _known_values(run, _flatten(run, call.arguments))
    items = tuple(ast.StringLiteral(call.line, call.column, text, "") for text in texts)
    return ast.ListValue(call.line, call.column, items)


def _all_datasets(dataset: Dataset) -> list[Dataset]:
    datasets = [item for item, _ in walk_datasets(dataset)]
    meta = dataset.__dict__.get("file_meta")
    return [*datasets, meta] if meta is not None else datasets


def _known_values(run: Run, arguments: list[ast.Value]) -> list[str]:
    known: list[str] = []
    for argument in arguments:
        if isinstance(argument, ast.TagPath):
            locations = [loc for loc in resolve(run.dataset, argument) if loc.item is None]
            known.extend(text for loc in locations if (text := element_text(loc.container[loc.tag])))
        elif (text := run.text(argument)) is not None:
            known.append(text)
    return known


@function("removeTags")
def _remove_tags(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """removeTags[tagpath, ...] (also ``delete``): as ``-tagpath`` for each; a sequence item is emptied."""
    for location in _locations(run, call, call.arguments):
        remove(location)
    return None


FUNCTIONS["delete"] = _remove_tags


@function("set")
def _set(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """set[tagpath, value]: assign, the tag path possibly given as a string; creates what is missing."""
    _arity(run, call, 2, 2)
    (path,) = run.tag_paths(call.arguments[:1], call.name)
    run.assign(path, call.arguments[1], only_if_present=False)
    return None


@function("retainPrivateTags")
def _retain_private_tags(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """retainPrivateTags[tagpath, ...]: remove every private tag except these (and their creators).

    Each path must end in a private element named through its creator, (0029,{SIEMENS CSA HEADER}XX):
    dicom-edit6 fails on a public tag and on a private element given by number.
    """
    paths = run.tag_paths(call.arguments, call.name)
    for path in paths:
        target = path.target
        if target is None or not target.is_private:
            raise run.error(path, f"retainPrivateTags: {path.text} is not a private tag")
        if target.creator is None:
            raise run.error(
                path,
                f"retainPrivateTags: {path.text} names a private element by number; name it through its "
                f"creator, e.g. ({target.group},{{CREATOR}}{target.element[2:]})",
            )
    keep: set[tuple[int, int]] = set()
    for path in paths:
        for location in resolve(run.dataset, path):
            keep.add((id(location.container), int(location.tag)))
            creator = (location.tag.group << 16) | (location.tag.element >> 8)
            keep.add((id(location.container), creator))
    remove_private_tags(run.dataset, keep)
    return None


# --- dates ------------------------------------------------------------------------------------------


def _shift(run: Run, call: ast.FunctionCall, default_units: str, vrs: frozenset[str]) -> RuntimeValue:
    """shiftDateByIncrement/shiftDateTimeByIncrement[date, increment, units]: the shifted value.

    A tag-path argument must name one attribute whose VR is one of ``vrs``; a missing or empty value is an
    error, as upstream (the shifter cannot parse it).
    """
    _arity(run, call, 2, 3)
    source = call.arguments[0]
    if isinstance(source, ast.TagPath):
        _check_date_attribute(run, call, source, vrs)
    value = _text(run, call, 0)
    increment = _integer(run, call, 1)
    units = _required_text(run, call, 2) if len(call.arguments) == 3 else default_units
    try:
        return dates.shift(value or "", increment, units)
    except ValueError as error:
        raise run.error(call, f"{call.name}: {error}") from None


def _check_date_attribute(run: Run, call: ast.FunctionCall, path: ast.TagPath, vrs: frozenset[str]) -> None:
    plural = why_plural(path)
    if plural is not None:
        raise run.error(path, f"{call.name}: {path.text} must name one attribute: {plural}")
    locations = [location for location in resolve(run.dataset, path) if location.item is None]
    vr = locations[0].container[locations[0].tag].VR if locations else _dictionary_vr(path)
    if vr not in vrs:
        wanted = " or ".join(sorted(vrs))
        raise run.error(path, f"{call.name}: {path.text} has VR {vr}, not {wanted}")


def _dictionary_vr(path: ast.TagPath) -> str:
    target = path.target
    tag = target.tag if target is not None else None
    try:
        return dictionary_VR(tag) if tag is not None else "UN"
    except KeyError:
        return "UN"


@function("shiftDateByIncrement")
def _shift_date(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateByIncrement[date, increment, units="days"]."""
    return _shift(run, call, "days", frozenset({"DA"}))


@function("shiftDateTimeByIncrement")
def _shift_date_time(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateTimeByIncrement[datetime, increment, units="seconds"]."""
    return _shift(run, call, "seconds", frozenset({"DA", "DT"}))


@function("shiftDateTimeSequenceByIncrement")
def _shift_date_time_sequence(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateTimeSequenceByIncrement[seconds, tagpath, ...]: shift every matching value in place.

    As upstream's visitor does, a value that cannot be shifted (empty, not a date) is left as it is.
    """
    if len(call.arguments) < 2:
        raise run.error(call, f"{call.name} takes an increment in seconds and at least one tag path")
    increment = _integer(run, call, 0)
    for location in _locations(run, call, call.arguments[1:]):
        if location.item is not None:
            continue
        text = element_text(location.container[location.tag]) or ""
        try:
            set_value(location.container, location.tag, dates.shift(text, increment, "seconds"))
        except ValueError:
            continue
    return None


@function("shiftDateTimeListByIncrement")
def _shift_date_time_list(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """shiftDateTimeListByIncrement[{tagpath, ...}, increment, units]: shift every matching DA/DT (or any
    value in DT form) in place; an empty value stays empty, a value that is not a date is an error."""
    _arity(run, call, 3, 3)
    increment = _integer(run, call, 1)
    units = _required_text(run, call, 2)
    for location in _locations(run, call, call.arguments[:1]):
        if location.item is not None:
            continue
        text = element_text(location.container[location.tag])
        if not text:
            continue
        try:
            set_value(location.container, location.tag, dates.shift(text, increment, units))
        except ValueError as error:
            raise run.error(call, f"{call.name}: {error}") from None
    return None


PATIENT_AGE, PATIENT_BIRTH_DATE, STUDY_DATE = 0x00101010, 0x00100030, 0x00080020
OLDEST_AGE_YEARS = 89
DAYS_IN_89_YEARS = round(365.24 * OLDEST_AGE_YEARS)


@function("scalePatientAgeAndDobFromStudyDate")
def _scale_patient_age(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """scalePatientAgeAndDobFromStudyDate[]: for patients older than 89 (HIPAA Safe Harbor), every
    Patient's Birth Date is moved so the patient turns 89 the day after the study, and every Patient's Age
    above 89 years becomes "089Y" (dicom-edit6 ScalePatientAgeAndDobFromStudyDateFunction)."""
    _arity(run, call, 0, 0)
    birth, study = _top_level_moment(run, PATIENT_BIRTH_DATE), _top_level_moment(run, STUDY_DATE)
    if birth is not None and study is not None:
        excess_days = (study - birth).days - DAYS_IN_89_YEARS
        if excess_days > 0:
            _shift_every(run.dataset, PATIENT_BIRTH_DATE, excess_days)
    if _age_in_years(run, call) > OLDEST_AGE_YEARS:
        for container, _ in walk_datasets(run.dataset):
            if PATIENT_AGE in container:
                set_value(container, container[PATIENT_AGE].tag, f"{OLDEST_AGE_YEARS:03d}Y")
    return None


def _top_level_moment(run: Run, tag: int) -> datetime | None:
    element = run.dataset.get(tag)
    text = element_text(element) if element is not None else None
    match = dates.DATETIME.fullmatch(text or "")
    if not text or match is None:
        return None
    try:
        return dates.midpoint(match.groupdict())
    except ValueError:
        return None


def _shift_every(dataset: Dataset, tag: int, days: int) -> None:
    for container, _ in walk_datasets(dataset):
        if tag in container and (text := element_text(container[tag])):
            set_value(container, container[tag].tag, dates.shift(text, days, "days"))


def _age_in_years(run: Run, call: ast.FunctionCall) -> int:
    element = run.dataset.get(PATIENT_AGE)
    text = element_text(element) if element is not None else ""
    if not text:
        return 0
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in "DWMY":
        message = f"{call.name}: cannot read Patient's Age (0010,1010) {text!r} (expected nnnD, W, M or Y)"
        raise run.error(call, message)
    return int(text[:3]) if text[3] == "Y" else 0


# --- control and the network ------------------------------------------------------------------------


@function("reject")
def _reject(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """reject[]: stop, and tell XNAT not to archive this file (dicom-edit6 AnonymizationResultReject)."""
    raise DicomEditRejectionError(source=run.source, line=call.line, column=call.column)


@function("getURL")
def _get_url(run: Run, call: ast.FunctionCall) -> RuntimeValue:
    """getURL[url]: on XNAT, the body of an HTTP GET of ``url`` (e.g. an XNAT REST call). This engine works
    offline and fetches nothing, so a script that calls it cannot be run here: the call is an error that
    names the URL, rather than a guess at what the server would answer."""
    _arity(run, call, 1, 1)
    url = _required_text(run, call, 0)
    raise run.error(
        call,
        f"getURL: XNAT would fetch {url!r} over the network here; this engine works offline and does not, "
        "so it cannot tell what the script stores. Check such a script on XNAT itself",
    )


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
