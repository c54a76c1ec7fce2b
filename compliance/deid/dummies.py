"""Telling values set on purpose from real ones: dummies, values a script writes, declared options.

* :func:`is_dummy`: the placeholders de-identification tools write, by VR: dates and date-times of
  1 January 1900 (or year 1, or all zeros) with a zero time, times of all zeros, ages of zero, and
  placeholder words such as ``ANONYMISED``, ``REMOVED`` or ``REDACTED``.
* :func:`values_written_by`: the constant values a DicomEdit script assigns, read from its syntax
  tree (``(0018,1030) := "RESEARCH"``), so that a site's own dummies are recognised as well.
* :func:`declared_options`: the Annex E options the output says were applied, from the CID 7050
  codes in De-identification Method Code Sequence (0012,0064) and from Longitudinal Temporal
  Information Modified (0028,0303).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from compliance.annex_e import OPTIONS
from compliance.dicomedit import ast

DUMMY_DATE = rb"(?:1900|0001|0000)0101|00000000"
ZERO_TIME = rb"(?:00(?:00(?:00(?:\.0{1,6})?)?)?)?"
UTC_OFFSET = rb"(?:[+-]\d{4})?"
DUMMY_PATTERNS = {
    "DA": re.compile(DUMMY_DATE),
    "DT": re.compile(rb"(?:" + DUMMY_DATE + rb")" + ZERO_TIME + UTC_OFFSET),
    "TM": re.compile(rb"00(?:00(?:00(?:\.0{1,6})?)?)?"),
    "AS": re.compile(rb"000[DWMY]"),
}
PLACEHOLDER_WORDS = frozenset(
    {
        b"ANON",
        b"ANONYMISED",
        b"ANONYMIZED",
        b"ANONYMOUS",
        b"DEIDENTIFIED",
        b"DE-IDENTIFIED",
        b"DUMMY",
        b"REDACTED",
        b"REMOVED",
        b"NONE",
        b"UNKNOWN",
        b"X",
        b"XX",
        b"XXX",
        b"XXXX",
    }
)
CODE_VALUE = re.compile(rb"(?<!\d)1131\d\d(?!\d)")  # CID 7050 de-identification method codes
LONGITUDINAL_MODIFIED = b"MODIFIED"
OPTIONS_BY_CODE = {option.code: option.name for option in OPTIONS}

KnownValues = Mapping[int, frozenset[bytes]]


def is_dummy(vr: str, value: bytes, known: frozenset[bytes] = frozenset()) -> bool:
    """True when every value of a (possibly multi-valued) element is a placeholder or a known value."""
    return all(_is_dummy_value(vr, part.strip(b" \x00"), known) for part in value.split(b"\\"))


def _is_dummy_value(vr: str, value: bytes, known: frozenset[bytes]) -> bool:
    if value in known:
        return True
    pattern = DUMMY_PATTERNS.get(vr)
    if pattern is not None:
        return pattern.fullmatch(value) is not None
    return value.upper() in PLACEHOLDER_WORDS


def declared_options(codes_sequence: bytes, longitudinal: bytes = b"") -> frozenset[str]:
    """Option names whose codes (0012,0064) lists, plus retain-long-modified-dates for MODIFIED dates."""
    codes = {code.decode() for code in CODE_VALUE.findall(codes_sequence)}
    names = {OPTIONS_BY_CODE[code] for code in codes if code in OPTIONS_BY_CODE}
    if longitudinal.strip(b" \x00").upper() == LONGITUDINAL_MODIFIED:
        names.add("retain-long-modified-dates")
    if {"retain-long-full-dates", "retain-long-modified-dates"} <= names:
        names.discard("retain-long-full-dates")  # both cannot hold: the more protective reading
    return frozenset(names)


def values_written_by(script: ast.Script) -> dict[int, frozenset[bytes]]:
    """Constant values the script assigns to top-level attributes, by tag (any branch of the script)."""
    constants = _constant_variables(script)
    written: dict[int, set[bytes]] = {}
    for node in _nodes(script):
        if not isinstance(node, ast.Assign | ast.AssignIfExists) or not node.target.is_top_level:
            continue
        element = node.target.target
        value = _literal(node.value, constants)
        if element is not None and element.tag is not None and value is not None:
            written.setdefault(element.tag, set()).add(value.encode("latin-1", "replace").strip())
    return {tag: frozenset(values) for tag, values in written.items()}


def _constant_variables(script: ast.Script) -> dict[str, str]:
    """Script variables initialised once with a literal (``DUMMY := "X"``)."""
    values: dict[str, list[str]] = {}
    for node in _nodes(script):
        if isinstance(node, ast.Initialize):
            literal = _literal(node.value, {})
            values.setdefault(node.name, []).append(literal if literal is not None else "\x00")
    return {name: found[0] for name, found in values.items() if len(found) == 1 and found[0] != "\x00"}


def _literal(value: ast.Value, constants: Mapping[str, str]) -> str | None:
    if isinstance(value, ast.StringLiteral):
        return value.value
    if isinstance(value, ast.IntegerLiteral | ast.FloatLiteral):
        return str(value.value)
    if isinstance(value, ast.Variable):
        return constants.get(value.name)
    return None


def _nodes(script: ast.Script) -> Iterator[ast.Node]:
    """Every node of the tree, walked with a stack: a deeply nested script must not exhaust recursion."""
    stack: list[ast.Node] = [script]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.children())))
