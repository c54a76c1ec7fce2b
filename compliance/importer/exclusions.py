"""Which series of a study are not imported, and why.

DQR has inclusion filters only (xnat-data-lifecycle.md §2.3), so the plan names the series to import and
leaves out those a rule matches. By default: CT dose reports and dose info, patient protocol pages and
screen captures (burnt-in patient data, the trust SOP), and non-image objects (SR, OT, DOC, PR, KO).

A rule matches a series when every condition it gives matches (each condition lists alternatives):
``modality`` (DICOM modality codes), ``series_description`` (Python regular expressions searched in the
description, case-insensitive) and ``sop_class`` (SOP Class UIDs). DQR's series answer carries no SOP class,
so SOP-class conditions apply only where the answer has one; the plan says when they could not.

The trust's rules file (YAML) extends the defaults (``mode: extend``) or replaces them (``mode: replace``)::

    mode: extend
    rules:
      - name: ge-dose-screen
        reason: GE dose screen with the patient's name burnt in
        modality: [CT]
        series_description: ['^dose screen']

Problems are reported as FILE:LINE:COLUMN: message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from compliance.importer.dqr import Series

RULE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
DICOM_UID = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))+")
MODALITY = re.compile(r"[A-Z0-9_]{1,16}")
MODES = ("extend", "replace")
CONDITIONS = ("modality", "series_description", "sop_class")
RULE_KEYS = ("name", "reason", *CONDITIONS)
STRING_TAG = "tag:yaml.org,2002:str"

DOSE_SR_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.73",  # Patient Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.76",  # Enhanced X-Ray Radiation Dose SR
)
SECONDARY_CAPTURE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame ... Secondary Capture Image
)


class RulesFileError(Exception):
    """The rules file cannot be used; every problem is FILE:LINE:COLUMN: message."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str
    modalities: tuple[str, ...] = ()
    descriptions: tuple[str, ...] = ()
    sop_classes: tuple[str, ...] = ()

    def match(self, series: Series) -> str | None:
        """What matched (for the plan: ``modality SR``, ``description``, ``SOP class``), or None."""
        found: list[str] = []
        if self.modalities:
            if series.modality.upper() not in self.modalities:
                return None
            found.append(f"modality {series.modality.upper()}")
        if self.descriptions:
            if not any(
                re.search(pattern, series.description, re.IGNORECASE) for pattern in self.descriptions
            ):
                return None
            found.append("series description")
        if self.sop_classes:
            if not set(series.sop_classes) & set(self.sop_classes):
                return None
            found.append("SOP class")
        return " and ".join(found) or None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reason": self.reason,
            "modality": list(self.modalities),
            "series_description": list(self.descriptions),
            "sop_class": list(self.sop_classes),
        }


DEFAULT_RULES = (
    Rule(
        "dose-report",
        "CT dose report or dose info: patient data burnt into the pixels (trust SOP)",
        descriptions=(r"dose\s*(report|info|summary)", r"radiation\s*dose"),
    ),
    Rule("dose-structured-report", "radiation dose structured report", sop_classes=DOSE_SR_CLASSES),
    Rule(
        "patient-protocol",
        "patient protocol page: patient data burnt into the pixels (trust SOP)",
        descriptions=(r"patient\s*protocol",),
    ),
    Rule(
        "screen-capture",
        "screen capture: may show patient data in the pixels",
        descriptions=(r"screen\s*(capture|save|shot)", r"screenshot"),
    ),
    Rule(
        "secondary-capture",
        "secondary capture image: may show patient data",
        sop_classes=SECONDARY_CAPTURE_CLASSES,
    ),
    Rule(
        "non-image-object",
        "not an image (structured report, other, document, presentation state or key object)",
        modalities=("SR", "OT", "DOC", "PR", "KO"),
    ),
)


@dataclass(frozen=True)
class Exclusion:
    rule: str
    reason: str
    matched: str


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str  # "defaults", or "FILE (mode extend|replace)"

    def judge(self, series: Series) -> Exclusion | None:
        for rule in self.rules:
            matched = rule.match(series)
            if matched:
                return Exclusion(rule.name, rule.reason, matched)
        return None

    @property
    def uses_sop_classes(self) -> bool:
        return any(rule.sop_classes for rule in self.rules)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "rules": [rule.to_json() for rule in self.rules]}


DEFAULT_RULE_SET = RuleSet(DEFAULT_RULES, "defaults")


def load_rules(path: Path | None) -> RuleSet:
    if path is None:
        return DEFAULT_RULE_SET
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesFileError([f"{path}:1:1: cannot read the exclusion rules: {error}"]) from error
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str) -> RuleSet:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        raise RulesFileError([f"{where}: YAML syntax error: {error.problem or error.context}"]) from error
    reader = _NodeReader(source)
    if root is None:
        raise RulesFileError([f"{source}:1:1: the rules file is empty; it needs a 'rules' list"])
    mode, rules = reader.document(root)
    if not reader.problems:
        rules = _check_names(rules, mode, reader)
    if reader.problems:
        raise RulesFileError(reader.problems)
    combined = rules if mode == "replace" else (*DEFAULT_RULES, *rules)
    return RuleSet(tuple(combined), f"{source} (mode {mode})")


def _check_names(rules: list[tuple[Rule, yaml.Node]], mode: str, reader: _NodeReader) -> tuple[Rule, ...]:
    taken = {rule.name for rule in DEFAULT_RULES} if mode == "extend" else set()
    seen: set[str] = set()
    for rule, node in rules:
        if rule.name in seen:
            reader.problem(node, f"rule name '{rule.name}' is used twice; rule names must be unique")
        elif rule.name in taken:
            reader.problem(
                node, f"'{rule.name}' is a default rule; give another name, or use 'mode: replace'"
            )
        seen.add(rule.name)
    return tuple(rule for rule, _ in rules)


class _NodeReader:
    """Walks the composed YAML so every problem names the line and column where it was written."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(
            f"{self.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}: {message}"
        )

    def document(self, root: yaml.Node) -> tuple[str, list[tuple[Rule, yaml.Node]]]:
        fields = self.mapping(root, ("mode", "rules"), "the rules file")
        mode = "extend"
        if "mode" in fields:
            mode = self.text(fields["mode"], "mode") or mode
            if mode not in MODES:
                self.problem(fields["mode"], f"mode must be one of {', '.join(MODES)}")
        if "rules" not in fields:
            self.problem(root, "missing 'rules': a list of rules (it may be empty with 'mode: replace')")
            return mode, []
        node = fields["rules"]
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "'rules' must be a list of rules")
            return mode, []
        return mode, [(rule, item) for item in node.value if (rule := self.rule(item)) is not None]

    def mapping(self, node: yaml.Node, allowed: Iterable[str], what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of keys to values")
            return {}
        fields: dict[str, yaml.Node] = {}
        allowed = tuple(allowed)
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                self.problem(key_node, f"unknown key '{key}'; allowed keys: {', '.join(allowed)}")
            elif key in fields:
                self.problem(key_node, f"duplicate key '{key}'")
            else:
                fields[key] = value_node
        return fields

    def text(self, node: yaml.Node, key: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != STRING_TAG or not str(node.value).strip():
            self.problem(node, f"'{key}' must be non-empty text")
            return None
        return str(node.value)

    def texts(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node]]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if isinstance(node, yaml.SequenceNode) and not items:
            self.problem(node, f"'{key}' is an empty list; give at least one value or leave the key out")
        return [(value, item) for item in items if (value := self.text(item, key)) is not None]

    def rule(self, node: yaml.Node) -> Rule | None:
        before = len(self.problems)
        fields = self.mapping(node, RULE_KEYS, "a rule")
        for required in ("name", "reason"):
            if required not in fields and isinstance(node, yaml.MappingNode):
                self.problem(node, f"a rule needs '{required}'")
        if isinstance(node, yaml.MappingNode) and not set(CONDITIONS) & set(fields):
            self.problem(node, f"a rule needs at least one condition: {', '.join(CONDITIONS)}")
        name = self.text(fields["name"], "name") if "name" in fields else None
        if name is not None and not RULE_NAME.fullmatch(name):
            self.problem(fields["name"], "a rule name is lower-case letters, digits and '-'")
        reason = self.text(fields["reason"], "reason") if "reason" in fields else None
        modalities = self.checked(fields.get("modality"), "modality", self.modality_problem)
        descriptions = self.checked(
            fields.get("series_description"), "series_description", self.regex_problem
        )
        sop_classes = self.checked(fields.get("sop_class"), "sop_class", self.uid_problem)
        if len(self.problems) > before or name is None or reason is None:
            return None
        return Rule(
            name,
            reason,
            tuple(value.upper() for value in modalities),
            tuple(descriptions),
            tuple(sop_classes),
        )

    def checked(self, node: yaml.Node | None, key: str, problem_of: Any) -> list[str]:
        if node is None:
            return []
        values = []
        for value, item in self.texts(node, key):
            problem = problem_of(value)
            if problem:
                self.problem(item, f"{key}: {problem}")
            values.append(value)
        return values

    @staticmethod
    def modality_problem(value: str) -> str | None:
        return None if MODALITY.fullmatch(value.upper()) else "not a DICOM modality code (e.g. CT, SR)"

    @staticmethod
    def regex_problem(value: str) -> str | None:
        try:
            re.compile(value)
        except re.error as error:
            return f"not a valid regular expression: {error}"
        return None

    @staticmethod
    def uid_problem(value: str) -> str | None:
        return None if DICOM_UID.fullmatch(value) else "not a DICOM UID (digits and dots)"
