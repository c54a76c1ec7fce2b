"""Static audit of a DicomEdit 6 script against PS3.15 Annex E Table E.1-1.

The script is parsed into the AST of :mod:`compliance.dicomedit.ast`; every statement is turned into
actions on tag patterns (X/Z/D/U/C with the line, and whether it is conditional or only inside
sequences); wildcard and private paths are expanded against the table's rows; the last unconditional
action per attribute is its effective action. Script-level findings cover what a per-attribute view
cannot show (File Meta changes, UID references, identifying values copied into other attributes,
duplicate version lines, dead assignments, missing de-identification markers, malformed tag strings).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR

from compliance.annex_e import (
    OPTIONS,
    PRIVATE_PATTERN,
    AnnexERow,
    TagPattern,
    deidentification_codes,
    format_tag,
    load_table,
    rows_by_tag,
    validate_options,
)
from compliance.anon.conformance import (
    COMMAND_SET_NOTE,
    NONE,
    PARTIAL,
    AttributeResult,
    ConformanceReport,
    Finding,
    accepted_actions,
    judge,
    not_applicable,
)
from compliance.dicomedit import ast, unknown_function_calls

LintReport = ConformanceReport

UID_FUNCTIONS = frozenset({"hashUID", "mapUID", "newUID", "hashUIDList"})
DATE_SHIFT_FUNCTIONS = frozenset(
    {
        "shiftDateByIncrement",
        "shiftDateTimeByIncrement",
        "shiftDateTimeSequenceByIncrement",
        "shiftDateTimeListByIncrement",
        "scalePatientAgeAndDobFromStudyDate",
    }
)
# Functions whose arguments name tags: (first, last) argument positions, None for "to the end".
TAG_ARGUMENT_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "removeTags": (0, None),
    "delete": (0, None),
    "blankValues": (0, None),
    "retainPrivateTags": (0, None),
    "collectValues": (0, None),
    "isPresent": (0, None),
    "hashUIDList": (0, None),
    "mapReferencedUIDs": (1, None),
    "shiftDateTimeSequenceByIncrement": (1, None),
    "shiftDateTimeListByIncrement": (0, 1),
}
# Functions whose string arguments are values (blankValues["John"]); only their tag paths name tags.
VALUE_ARGUMENT_FUNCTIONS = frozenset({"blankValues", "collectValues"})
# What each tag-taking function statement does to the attributes it names (Table E.1-1 action).
STATEMENT_ACTIONS = {
    "removeTags": "X",
    "delete": "X",
    "blankValues": "Z",
    "retainPrivateTags": "C",
    "hashUIDList": "U",
    "shiftDateTimeSequenceByIncrement": "C",
    "shiftDateTimeListByIncrement": "C",
}
TAG_STRING = re.compile(
    r"^(?:\(\s*[0-9A-Fa-fXx#@]{4}\s*,\s*(?:\{[^{}()]+\})?[0-9A-Fa-fXx#@]{2,4}\s*\)|[0-9A-Fa-fXx#@]{8})$"
)

ITEM_SUFFIX = re.compile(r"\[(?:\d+|%)\]$")
FILE_META_GROUP = 0x0002
MARKER_TAGS = {
    0x00120062: "Patient Identity Removed",
    0x00120063: "De-identification Method",
    0x00120064: "De-identification Method Code Sequence",
}
INSTANCE_UIDS = {
    0x00080018: "SOP Instance UID",
    0x0020000E: "Series Instance UID",
    0x0020000D: "Study Instance UID",
    0x00200052: "Frame of Reference UID",
}
REFERENCE_TAGS = frozenset({0x00081155, 0x0020000D, 0x0020000E, 0x00081140, 0x00082112, 0x00081115})
DESCRIPTION_TAGS = frozenset({0x00081030, 0x0008103E, 0x00321060, 0x00400254, 0x00400007})
# Attributes that only ever occur inside sequence items (besides every "Referenced ..." attribute): a
# top-level statement does not reach them.
NESTED_ONLY_TAGS = frozenset(
    {0x0040A13A, 0x0040A124, 0x0040A171, 0x0040A123, 0x0040A120, 0x0040A032, 0x0040A030, 0x0040A075,
     0x0040A027, 0x0040A088, 0x0040A082, 0x30060024, 0x300600C2, 0x00404023}
)  # fmt: skip
# SR containers and the Table E.1-1 attributes that live only inside their items: removing or emptying the
# container disposes of its members too.
CONTAINER_MEMBERS = {
    0x0040A073: (0x0040A075, 0x0040A088, 0x0040A027, 0x0040A030),  # Verifying Observer Sequence
    0x0040A730: (0x0040A124, 0x0040A123, 0x0040A120, 0x0040A032, 0x0040A171, 0x0040A13A),  # Content Sequence
    0x0040A07A: (0x0040A082,),  # Participant Sequence
}
# Longest value each VR holds (PS3.5 Table 6.2-1), for values a script writes.
VR_MAX_LENGTH = {
    "AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64, "PN": 64, "SH": 16,
    "ST": 1024, "TM": 14, "UI": 64,
}  # fmt: skip
HASH_UID_LENGTH = 44  # "2.25." and up to 39 decimal digits of a 128-bit number
XNAT_IDENTIFYING_VARIABLES = {"session": "XNAT's session label, which at many trusts is the accession number"}
# Kinds of action records, from most to least authoritative.
TOP, CONDITIONAL, NESTED, SUBSET = "top", "conditional", "nested", "subset"


@dataclass(frozen=True)
class ActionRecord:
    action: str
    line: int
    kind: str


@dataclass
class ScriptFacts:
    """Everything the walk learns about the script, keyed for the per-attribute and script checks."""

    actions: dict[str, list[ActionRecord]] = field(default_factory=lambda: defaultdict(list))
    findings: list[Finding] = field(default_factory=list)
    unconditional_assignments: dict[int, int] = field(default_factory=dict)  # tag -> last assign line
    uid_hash_lines: dict[int, int] = field(default_factory=dict)
    references_mapped: bool = False
    markers: dict[int, int] = field(default_factory=dict)
    declared_codes: set[str] = field(default_factory=set)
    tainted_variables: dict[str, str] = field(default_factory=dict)
    list_variables: dict[str, ast.ListValue] = field(default_factory=dict)


def lint_script(script: ast.Script, options: Sequence[str] = ()) -> LintReport:
    """Audit a parsed script against Table E.1-1 with the declared option names (CLI spelling).

    Parse with :func:`compliance.dicomedit.load_script` or ``load_script_text``; raises
    :class:`compliance.annex_e.AnnexEError` for unknown or conflicting options.
    """
    declared = validate_options(options)
    facts = ScriptFacts()
    _check_versions(script, facts)
    for statement in script.statements:
        _visit_statement(statement, facts, kind=TOP)
    patterns = {key: _parse_key(key) for key in facts.actions}
    attributes = []
    for row in load_table():
        if row.is_command_set:
            attributes.append(not_applicable(row, declared, COMMAND_SET_NOTE))
            continue
        effective, lines = _effective(row, facts, patterns)
        result = judge(row, effective, declared, lines)
        if effective == PARTIAL and _only_nested(row) and row.tag_value in _top_level_tags(facts):
            result.note = NESTED_ONLY_NOTE
        attributes.append(result)
    _apply_derived_file_meta(attributes, facts, declared)
    _apply_container_removals(attributes, declared)
    _apply_member_removals(attributes)
    findings = facts.findings + list(_script_level_findings(facts, declared))
    return ConformanceReport(script.source, "static", declared, attributes, findings)


# --- walking the AST --------------------------------------------------------------------------------


def _check_versions(script: ast.Script, facts: ScriptFacts) -> None:
    versions = script.versions
    if not versions:
        facts.findings.append(
            Finding(
                "error",
                "missing-version",
                1,
                "no version line: XNAT treats a script without one as DicomEdit 4 (reportedly); start the "
                'script with version "6.3" (or the version your XNAT runs)',
            )
        )
    for extra in versions[1:]:
        facts.findings.append(
            Finding(
                "error",
                "duplicate-version",
                extra.line,
                f"second version line (version {extra.value!r}); the first is on line {versions[0].line}. "
                "A pasted-together script: keep one version line at the top",
            )
        )


def _visit_statement(statement: ast.Statement, facts: ScriptFacts, kind: str) -> None:
    match statement:
        case ast.Assign(target=target, value=value):
            _record_assignment(target, value, statement.line, facts, kind)
        case ast.AssignIfExists(target=target, value=value):
            _record_assignment(target, value, statement.line, facts, CONDITIONAL)
        case ast.Delete(target=target):
            _record_path(target, "X", statement.line, facts, kind)
            _check_file_meta(target, statement.line, facts, "deletes")
            _check_known_tag(target, statement.line, facts)
        case ast.Initialize(name=name, value=value):
            _track_variable(name, value, facts)
            if isinstance(value, ast.ListValue):
                facts.list_variables[name] = value
            _check_calls(value, facts)
        case ast.FunctionStatement(call=call):
            _record_function_statement(call, facts, kind)
        case ast.Echo(value=value) if value is not None:
            _check_calls(value, facts)
        case ast.RemoveAllPrivateTags():
            facts.actions[PRIVATE_PATTERN_KEY].append(ActionRecord("X", statement.line, kind))
        case ast.Conditional() | ast.IfBlock():
            _visit_conditional(statement, facts)
        case _:
            pass


def _visit_conditional(statement: ast.Conditional | ast.IfBlock, facts: ScriptFacts) -> None:
    match statement:
        case ast.Conditional(condition=condition, action=action, otherwise=otherwise):
            _check_calls(condition, facts)
            _visit_statement(action, facts, CONDITIONAL)
            if otherwise is not None:
                _visit_statement(otherwise, facts, CONDITIONAL)
        case ast.IfBlock(branches=branches, otherwise=otherwise):
            for branch in branches:
                _check_calls(branch.condition, facts)
                for inner in branch.body:
                    _visit_statement(inner, facts, CONDITIONAL)
            for inner in otherwise or ():
                _visit_statement(inner, facts, CONDITIONAL)


PRIVATE_PATTERN_KEY = str(PRIVATE_PATTERN)


def _record_assignment(
    target: ast.TagPath, value: ast.Value, line: int, facts: ScriptFacts, kind: str
) -> None:
    action = _value_action(value)
    element = target.target
    tag = element.tag if element is not None else None
    if action == "U" and tag is not None and _vr_of(tag) not in {None, "UI"}:
        action = "D"  # a hash in a non-UID attribute is a dummy value as far as Table E.1-1 goes
        _check_hashed_identifier(tag, line, facts)
    _record_path(target, action, line, facts, kind)
    _check_calls(value, facts)
    _check_file_meta(target, line, facts, "changes")
    if tag is None:
        _note_marker_paths(target, value, line, facts)
        return
    if target.is_top_level:
        if kind == TOP:
            facts.unconditional_assignments[tag] = line
        if tag in MARKER_TAGS:
            facts.markers[tag] = line
            _check_marker_value(tag, value, line, facts)
        if action == "U" and tag in INSTANCE_UIDS:
            facts.uid_hash_lines[tag] = line
        if action == "D":
            _check_literal_vr(tag, value, line, facts)
    else:
        _note_marker_paths(target, value, line, facts)
        if tag in REFERENCE_TAGS and action == "U":
            facts.references_mapped = True
    _check_identifying_sources(tag, value, line, facts)


def _value_action(value: ast.Value) -> str:
    match value:
        case ast.StringLiteral(value=""):
            return "Z"
        case ast.FunctionCall(name=name) if name in UID_FUNCTIONS:
            return "U"
        case ast.FunctionCall(name=name) if name in DATE_SHIFT_FUNCTIONS:
            return "C"
        case ast.FunctionCall(name="blankValues"):
            return "Z"
        case _:
            return "D"


def _record_path(path: ast.TagPath, action: str, line: int, facts: ScriptFacts, kind: str) -> None:
    element = path.target
    if element is None:
        return
    pattern = _element_pattern(element)
    effective_kind = kind if path.is_top_level or _any_depth(path) else NESTED
    if path.is_top_level and element.tag is not None and _nested_only_tag(element.tag) and kind == TOP:
        effective_kind = SUBSET  # a top-level statement never reaches an attribute that only occurs nested
    if element.creator is not None:
        effective_kind = SUBSET
    facts.actions[str(pattern)].append(ActionRecord(action, line, effective_kind))


def _any_depth(path: ast.TagPath) -> bool:
    """``*/(gggg,eeee)``: the attribute at any depth, top level included."""
    first = path.segments[0]
    return len(path.segments) == 2 and isinstance(first, ast.SequenceWildcard) and first.kind == "*"


def _element_pattern(element: ast.TagElement) -> TagPattern:
    if element.creator is not None:
        return TagPattern.parse(element.group + "XX" + element.element)
    return TagPattern.parse(element.group + element.element)


def _record_function_statement(call: ast.FunctionCall, facts: ScriptFacts, kind: str) -> None:
    _check_calls(call, facts)
    action = STATEMENT_ACTIONS.get(call.name)
    if call.name == "mapReferencedUIDs":
        facts.references_mapped = True
        for pattern_text in _reference_tag_patterns(call, facts):
            facts.actions[pattern_text].append(ActionRecord("U", call.line, kind))
        return
    if action is None:
        return  # alterPixels and the like: pixel cleaning has no column in Table E.1-1
    for tag_text, line, record_kind in _tag_arguments(call, facts, kind):
        try:
            pattern = TagPattern.parse(_strip_creator(tag_text) if "{" in tag_text else tag_text)
        except ValueError:
            continue  # reported by _check_calls as a malformed tag
        if call.name == "retainPrivateTags":
            # Retaining named private tags while the rest go: clean (Retain Safe Private) on private rows.
            facts.actions[PRIVATE_PATTERN_KEY].append(ActionRecord("C", line, SUBSET))
            continue
        if action == "U" and pattern.is_fixed and _vr_of(pattern.value) not in {None, "UI"}:
            _check_hashed_identifier(pattern.value, line, facts)
            facts.actions[str(pattern)].append(ActionRecord("D", line, record_kind))
            continue
        facts.actions[str(pattern)].append(ActionRecord(action, line, record_kind))


def _strip_creator(tag_text: str) -> str:
    group, _, rest = tag_text.strip("() ").partition(",")
    return f"({group},XX{rest.split('}')[-1]})"


def _reference_tag_patterns(call: ast.FunctionCall, facts: ScriptFacts) -> Iterator[str]:
    """What mapReferencedUIDs[prefix, sequences...] maps: (0008,1155) inside the named sequences."""
    yield "(0008,1155)"
    for tag_text, _, _ in _tag_arguments(call, facts, TOP):
        try:
            yield str(TagPattern.parse(tag_text))
        except ValueError:
            continue


def _argument_items(call: ast.FunctionCall, facts: ScriptFacts) -> Iterator[ast.Value]:
    """The tag-naming arguments of ``call``, lists (written or bound to variables) spread out."""
    first, last = TAG_ARGUMENT_FUNCTIONS.get(call.name, (0, 0))
    stack = list(reversed(call.arguments[first:last]))
    while stack:
        item = stack.pop()
        bound = facts.list_variables.get(item.name) if isinstance(item, ast.Variable) else None
        if isinstance(item, ast.ListValue) or bound is not None:
            stack.extend(reversed((bound or item).items))  # type: ignore[union-attr]
        else:
            yield item


def _tag_arguments(call: ast.FunctionCall, facts: ScriptFacts, kind: str) -> Iterator[tuple[str, int, str]]:
    """(tag pattern text, line, kind) for each tag an argument names; kind as _record_path decides it."""
    for item in _argument_items(call, facts):
        if isinstance(item, ast.StringLiteral) and call.name not in VALUE_ARGUMENT_FUNCTIONS:
            for part in _split_tag_list(item.value):
                yield (
                    _last_segment(part),
                    item.line,
                    kind if "/" not in part or part.startswith("*/") else NESTED,
                )
        elif isinstance(item, ast.TagPath) and item.target is not None:
            nested = not (item.is_top_level or _any_depth(item))
            yield str(_element_pattern(item.target)), item.line, NESTED if nested else kind


def _check_calls(node: ast.Node, facts: ScriptFacts) -> None:
    """Unknown functions and malformed tag strings inside function arguments."""
    for inner in unknown_function_calls(node):
        facts.findings.append(
            Finding(
                "error",
                "unknown-function",
                inner.line,
                f"unknown function {inner.name}[...]; DicomEdit will fail when the script runs",
                inner.column,
            )
        )
    for inner in ast.walk(node):
        if isinstance(inner, ast.FunctionCall) and inner.name in TAG_ARGUMENT_FUNCTIONS:
            _check_tag_strings(inner, facts)


def _check_tag_strings(call: ast.FunctionCall, facts: ScriptFacts) -> None:
    if call.name in VALUE_ARGUMENT_FUNCTIONS:
        return  # their strings are values to look for, not tags
    for item in _argument_items(call, facts):
        if isinstance(item, ast.StringLiteral):
            for part in _split_tag_list(item.value):
                if not _is_tag_path_text(part):
                    facts.findings.append(
                        Finding(
                            "error",
                            "malformed-tag-argument",
                            item.line,
                            f'{call.name}[...] argument {part!r} is not a tag (expected "(gggg,eeee)"); '
                            "DicomEdit fails on it at receive time and the attribute is not processed",
                            item.column,
                        )
                    )


def _is_tag_path_text(text: str) -> bool:
    """A tag, or a sequence path of tags (``(0008,1140)[%]/(0008,1155)``, ``+/(0010,0010)``)."""
    segments = text.split("/")
    for index, raw_segment in enumerate(segments):
        segment = ITEM_SUFFIX.sub("", raw_segment.strip())
        if segment in {"+", "*", "."} and index < len(segments) - 1:
            continue
        if not TAG_STRING.match(segment):
            return False
    return True


def _last_segment(text: str) -> str:
    return ITEM_SUFFIX.sub("", text.rsplit("/", maxsplit=1)[-1].strip())


def _split_tag_list(text: str) -> list[str]:
    parts = re.split(r"(?<=\))\s*,\s*", text.strip())
    return [part.strip() for part in parts if part.strip()]


def _check_file_meta(target: ast.TagPath, line: int, facts: ScriptFacts, verb: str) -> None:
    element = target.target
    if element is None or element.group.upper() != "0002":
        return
    facts.findings.append(
        Finding(
            "error",
            "file-meta-modified",
            line,
            f"{verb} File Meta attribute {target.text or element.text}; (0002,xxxx) describes how the file "
            "is encoded (e.g. Transfer Syntax UID) and is written by XNAT — changing it breaks decoding",
        )
    )


def _check_marker_value(tag: int, value: ast.Value, line: int, facts: ScriptFacts) -> None:
    if tag == 0x00120062 and not (isinstance(value, ast.StringLiteral) and value.value.upper() == "YES"):
        facts.findings.append(
            Finding("error", "patient-identity-removed-not-yes", line, '(0012,0062) must be set to "YES"')
        )


def _note_marker_paths(target: ast.TagPath, value: ast.Value, line: int, facts: ScriptFacts) -> None:
    first = target.segments[0]
    if isinstance(first, ast.TagElement) and first.tag == 0x00120064:
        facts.markers.setdefault(0x00120064, line)
        if isinstance(value, ast.StringLiteral) and value.value.isdigit():
            facts.declared_codes.add(value.value)


VR_CHECKS = {
    "DA": re.compile(r"^\d{8}$"),
    "TM": re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$"),
    "DT": re.compile(r"^\d{4}(\d{2}){0,5}(\.\d{1,6})?([+-]\d{4})?$"),
    "UI": re.compile(r"^[0-9]+(\.[0-9]+)*$"),
    "AS": re.compile(r"^\d{3}[DWMY]$"),
    "IS": re.compile(r"^[+-]?\d+$"),
    "DS": re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"),
}


def _vr_of(tag: int) -> str | None:
    row = rows_by_tag().get(tag)
    if row is not None:
        return row.vr
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _check_hashed_identifier(tag: int, line: int, facts: ScriptFacts) -> None:
    """hashUID/hashUIDList into an identifier that is not a UID (Patient ID, Accession Number, ...)."""
    name = _tag_name(tag)
    facts.findings.append(
        Finding(
            "warning",
            "identifier-hashed-without-key",
            line,
            f"{name} is replaced by hashUID, an unkeyed hash: anyone who holds the original identifier can "
            "recompute the value and re-identify the patient (pseudonymisation, not de-identification); "
            "use a dummy value such as the XNAT subject or session label",
        )
    )
    vr = _vr_of(tag)
    limit = VR_MAX_LENGTH.get(vr or "")
    if limit is not None and limit < HASH_UID_LENGTH:
        facts.findings.append(
            Finding(
                "error",
                "value-too-long-for-vr",
                line,
                f"{name} has VR {vr} (at most {limit} characters) but hashUID writes up to "
                f"{HASH_UID_LENGTH}; receivers may reject the file or truncate the value",
            )
        )


def _tag_name(tag: int) -> str:
    row = rows_by_tag().get(tag)
    return f"{format_tag(tag)} {row.name}" if row else format_tag(tag)


def _check_known_tag(target: ast.TagPath, line: int, facts: ScriptFacts) -> None:
    """A public tag that neither the DICOM dictionary nor Table E.1-1 knows: usually a typo."""
    element = target.target
    tag = element.tag if element is not None else None
    if tag is None or element is None or element.is_private or tag in rows_by_tag() or _vr_of(tag):
        return
    facts.findings.append(
        Finding(
            "warning",
            "unknown-tag",
            line,
            f"{format_tag(tag)} is not in the DICOM dictionary nor in Table E.1-1: probably a typo, so the "
            "attribute meant is left as it is; check the group and element numbers",
        )
    )


def _check_literal_vr(tag: int, value: ast.Value, line: int, facts: ScriptFacts) -> None:
    if not isinstance(value, ast.StringLiteral):
        return
    vr = _vr_of(tag)
    if vr is None:
        return
    limit = VR_MAX_LENGTH.get(vr)
    if limit is not None and len(value.value) > limit:
        facts.findings.append(
            Finding(
                "warning",
                "value-too-long-for-vr",
                line,
                f"{format_tag(tag)} has VR {vr} (at most {limit} characters) but is set to a "
                f"{len(value.value)}-character value; receivers may reject the file",
            )
        )
    check = VR_CHECKS.get(vr)
    if check is not None and not check.match(value.value):
        facts.findings.append(
            Finding(
                "warning",
                "value-invalid-for-vr",
                line,
                f"{format_tag(tag)} has VR {vr} but is set to {value.value!r}; receivers may reject the file",
            )
        )


# --- identifying values flowing into other attributes ------------------------------------------------


def _identifying_sources(value: ast.Node, facts: ScriptFacts, target: int | None) -> list[str]:
    sources: list[str] = []
    for node in ast.walk(value):
        if isinstance(node, ast.FunctionCall) and node.name in UID_FUNCTIONS | DATE_SHIFT_FUNCTIONS:
            return []  # the value is transformed into something that no longer carries the source
        if isinstance(node, ast.Variable):
            if node.name in XNAT_IDENTIFYING_VARIABLES:
                sources.append(f"variable '{node.name}' ({XNAT_IDENTIFYING_VARIABLES[node.name]})")
            elif node.name in facts.tainted_variables:
                sources.append(f"variable '{node.name}' ({facts.tainted_variables[node.name]})")
        elif isinstance(node, ast.TagPath) and node.target is not None and node.target.tag is not None:
            source_tag = node.target.tag
            row = rows_by_tag().get(source_tag)
            if source_tag != target and row is not None and row.basic_profile not in {"U", "K", "C"}:
                sources.append(f"{row.tag} {row.name}")
    return sources


def _track_variable(name: str, value: ast.Value, facts: ScriptFacts) -> None:
    sources = _identifying_sources(value, facts, target=None)
    if sources:
        facts.tainted_variables[name] = "carries " + "; ".join(sources)
    else:
        facts.tainted_variables.pop(name, None)


def _check_identifying_sources(tag: int, value: ast.Value, line: int, facts: ScriptFacts) -> None:
    sources = _identifying_sources(value, facts, target=tag)
    if not sources:
        return
    row = rows_by_tag().get(tag)
    name = f"{format_tag(tag)} {row.name}" if row else format_tag(tag)
    hint = " — a description shown to every project member" if tag in DESCRIPTION_TAGS else ""
    facts.findings.append(
        Finding(
            "warning",
            "identifier-copied",
            line,
            f"{name} is set from {', '.join(sources)}{hint}; this can put an identifier back into the data",
        )
    )


# --- effective actions per row ----------------------------------------------------------------------


def _records_for_row(
    row: AnnexERow, facts: ScriptFacts, patterns: dict[str, TagPattern]
) -> list[ActionRecord]:
    records: list[ActionRecord] = []
    row_tag = row.tag_value
    for pattern_text, entries in facts.actions.items():
        pattern = patterns[pattern_text]
        if row_tag is not None and pattern.is_fixed:
            if pattern.value == row_tag:
                records.extend(entries)
        elif pattern.covers(row.pattern):
            records.extend(entries)
        elif pattern.overlaps(row.pattern):
            records.extend(ActionRecord(r.action, r.line, SUBSET) for r in entries)
    return sorted(records, key=lambda record: record.line)


def _parse_key(text: str) -> TagPattern:
    return PRIVATE_PATTERN if text == PRIVATE_PATTERN_KEY else TagPattern.parse(text)


def _effective(row: AnnexERow, facts: ScriptFacts, patterns: dict[str, TagPattern]) -> tuple[str, list[int]]:
    records = _records_for_row(row, facts, patterns)
    lines = [record.line for record in records]
    top = [record for record in records if record.kind == TOP]
    if top:
        last = top[-1]
        later = [r for r in records if r.line > last.line and r.kind in {CONDITIONAL, SUBSET}]
        if any(r.action != last.action for r in later):
            return PARTIAL, lines
        return last.action, lines
    if records and _only_nested(row) and all(r.kind == NESTED for r in records):
        return records[-1].action, lines  # such attributes live inside sequences by nature
    if records:
        return PARTIAL, lines
    return NONE, lines


NESTED_ONLY_NOTE = (
    "occurs only inside sequence items: a top-level statement does not reach it; write */ or +/ first"
)


def _top_level_tags(facts: ScriptFacts) -> set[int]:
    return {
        _parse_key(key).value
        for key, records in facts.actions.items()
        if key != PRIVATE_PATTERN_KEY and _parse_key(key).is_fixed and any(r.kind == SUBSET for r in records)
    }


def _only_nested(row: AnnexERow) -> bool:
    """Attributes found only inside sequence items: the listed ones and "Referenced ..." values (a
    "Referenced ... Sequence" itself, such as (0008,1110), sits at the top level)."""
    return (row.name.startswith("Referenced") and row.vr != "SQ") or row.tag_value in NESTED_ONLY_TAGS


def _nested_only_tag(tag: int) -> bool:
    row = rows_by_tag().get(tag)
    return row is not None and _only_nested(row)


MEMBER_NOTE = (
    "an SR content item attribute removed or emptied: no identity remains, as when its container is "
    "removed; check the IOD's Type 1 rules"
)


def _apply_container_removals(attributes: list[AttributeResult], options: Sequence[str]) -> None:
    """Members of an SR container follow it when the container is removed or emptied."""
    by_tag = {result.row.tag_value: index for index, result in enumerate(attributes)}
    for container, members in CONTAINER_MEMBERS.items():
        holder = attributes[by_tag[container]] if container in by_tag else None
        if holder is None or holder.effective not in {"X", "Z"}:
            continue
        for member in members:
            index = by_tag.get(member)
            if index is None or attributes[index].effective not in {NONE, PARTIAL}:
                continue
            derived = judge(attributes[index].row, "X", options, holder.lines)
            if derived.verdict == "fail" and holder.verdict == "pass":
                derived.verdict = "pass"
            derived.note = f"removed with its container {holder.row.tag} {holder.row.name}"
            attributes[index] = derived


def _apply_member_removals(attributes: list[AttributeResult]) -> None:
    """A member of an SR container removed or emptied on its own is judged as its container would be."""
    members = {member for group in CONTAINER_MEMBERS.values() for member in group}
    for result in attributes:
        if result.row.tag_value not in members or result.verdict != "fail":
            continue
        if result.effective in {"X", "Z"} and accepted_actions(result.required) <= {"X", "Z", "D"}:
            result.verdict, result.note = "pass", MEMBER_NOTE


def _apply_derived_file_meta(
    attributes: list[AttributeResult], facts: ScriptFacts, options: Sequence[str]
) -> None:
    """(0002,0003) follows (0008,0018): the file is re-written with the dataset's SOP Instance UID."""
    by_tag = {result.row.tag: index for index, result in enumerate(attributes)}
    sop = attributes[by_tag["(0008,0018)"]]
    meta_index = by_tag["(0002,0003)"]
    meta = attributes[meta_index]
    if meta.effective == NONE and sop.effective != NONE:
        derived = judge(meta.row, sop.effective, options, sop.lines)
        derived.note = "follows (0008,0018) when the file is re-written" + (
            f"; {derived.note}" if derived.note else ""
        )
        attributes[meta_index] = derived


# --- script-level findings --------------------------------------------------------------------------


def _script_level_findings(facts: ScriptFacts, options: Sequence[str]) -> Iterable[Finding]:
    yield from _assigned_then_deleted(facts)
    yield from _uid_reference_findings(facts, options)
    yield from _marker_findings(facts)
    yield from _declared_code_findings(facts, options)
    if any(r.action == "Z" for entries in facts.actions.values() for r in entries):
        first = min(r.line for entries in facts.actions.values() for r in entries if r.action == "Z")
        yield Finding(
            "info",
            "empty-assignment",
            first,
            'empty assignments (:= "") were reported not to take effect on XNAT 1.8.7 (unconfirmed); '
            "confirm with `enclave deid scan --script` and on the XNAT version you run",
        )


def _assigned_then_deleted(facts: ScriptFacts) -> Iterator[Finding]:
    for pattern_text, records in facts.actions.items():
        top = sorted((r for r in records if r.kind == TOP), key=lambda r: r.line)
        for earlier, later in itertools.pairwise(top):
            if earlier.action != "X" and later.action == "X":
                yield Finding(
                    "warning",
                    "assigned-then-deleted",
                    later.line,
                    f"{pattern_text} is assigned on line {earlier.line} and deleted on line {later.line}; "
                    "the assignment has no effect — decide which one is meant",
                )


def _uid_reference_findings(facts: ScriptFacts, options: Sequence[str]) -> Iterator[Finding]:
    if "retain-uids" in options or facts.references_mapped or _reference_sequences_removed(facts):
        return
    for tag, line in sorted(facts.uid_hash_lines.items(), key=lambda item: item[1]):
        yield Finding(
            "warning",
            "uid-references-not-mapped",
            line,
            f"{format_tag(tag)} {INSTANCE_UIDS[tag]} is replaced but the references to it are not "
            "(e.g. (0008,1155) Referenced SOP Instance UID inside (0008,1140)/(0008,2112)); links between "
            "images, presentation states and SRs break. Add mapReferencedUIDs[...] or hash +/(0008,1155)",
        )


def _declared_code_findings(facts: ScriptFacts, options: Sequence[str]) -> Iterator[Finding]:
    expected = set(deidentification_codes(options))
    line = facts.markers.get(0x00120064)
    for code in sorted(facts.declared_codes - expected):
        option = next((o.name for o in OPTIONS if o.code == code), None)
        hint = f"; audit with --option {option}" if option else ""
        yield Finding(
            "info",
            "method-code-not-audited",
            line,
            f"(0012,0064) lists code {code} ({option or 'not an option code'}) but the audit was not asked "
            f"to check that option{hint}",
        )


def _reference_sequences_removed(facts: ScriptFacts) -> bool:
    """Deleting (0008,1140) and (0008,2112) outright also disposes of the common image references."""
    removed = {
        key
        for key, records in facts.actions.items()
        if any(r.action == "X" and r.kind == TOP for r in records)
    }
    return {"(0008,1140)", "(0008,2112)"} <= removed


def _marker_findings(facts: ScriptFacts) -> Iterator[Finding]:
    for tag, name in MARKER_TAGS.items():
        if tag not in facts.markers:
            yield Finding(
                "warning",
                "missing-deidentification-marker",
                None,
                f"the script does not set {format_tag(tag)} {name}; a de-identified object must say so "
                '(PS3.15 E.1.1): (0012,0062) "YES", (0012,0063) the method, (0012,0064) CID 7050 codes',
            )
