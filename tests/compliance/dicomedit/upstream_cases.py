"""Cases ported from NRG's own DicomEdit 6 tests, run against this engine: the agreement harness.

Each YAML file under ``upstream/`` lists cases; every case names the upstream test it comes from
(``source``), the script, a dataset built from a short description, and what upstream's test asserts:

    - id: rest/standardSequenceDelete
      source: NrgXnat/xnat-rest-tests:src/test/.../TestAnonymizationSequenceOperations.java
      script: |
        version "6.1"
        -(0018,0026)[1]
      dataset:
        (0018,0026):                 # a list is a sequence, each mapping one item
          - {(0018,0028): "150000"}
          - {(0018,0028): "100000"}
        (2001,100c): [CS, "N"]       # [VR, value] when the dictionary has no VR (private elements)
        file_meta: {(0002,0016): DicomBrowser}
      variables: {project: P1}       # XNAT's variables, when the script reads them
      outcome: applied               # or: parses, syntax-error, error, rejected
      expect:
        (0018,0026)[1]/(0018,0028): null      # absent
        (0018,0026): {items: 2}               # a sequence with two items
        (0018,0026)[0]/(0018,0028): "150000"  # the value as DicomEdit prints it (multi-values with \\)
        (2001,10@X): null                     # wildcard digits: nothing matching is left
      differs: why this engine deliberately does not do what upstream does (the case is then expected
        to disagree, and is counted as disagreeing)

The module only uses the engine's public API (``parse``, ``apply_script`` and the error classes), so
``scripts/dicomedit-agreement --engine-root`` can run the same cases against another copy of the engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydicom.config import disable_value_validation
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

CASES_DIRECTORY = Path(__file__).parent / "upstream"
OUTCOMES = ("applied", "parses", "syntax-error", "error", "rejected")
NUMERIC_VRS = {"US": int, "SS": int, "UL": int, "SL": int, "UV": int, "SV": int, "FL": float, "FD": float}
_TAG = re.compile(r"\((?P<group>[0-9A-Fa-fXx#@]{4}),(?P<element>[0-9A-Fa-fXx#@]{4})\)(?:\[(?P<item>\d+)\])?")


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    script: str
    file: str
    dataset: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    outcome: str = "applied"
    expect: dict[str, Any] = field(default_factory=dict)
    differs: str | None = None


@dataclass(frozen=True)
class Result:
    case: Case
    agrees: bool
    detail: str = ""


def load_cases(directory: Path = CASES_DIRECTORY) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            case = Case(file=path.name, **raw)
            if case.outcome not in OUTCOMES:
                raise ValueError(f"{path.name}: case {case.id}: unknown outcome {case.outcome!r}")
            cases.append(case)
    ids = [case.id for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    if duplicates:
        raise ValueError(f"duplicate case ids: {', '.join(duplicates)}")
    return cases


def run_case(case: Case, engine: Any) -> Result:
    """Run one case with ``engine`` (the compliance.dicomedit module); agrees = upstream's outcome."""
    try:
        script = engine.parse(case.script, source=f"{case.id}.das")
    except engine.DicomEditSyntaxError as error:
        return _outcome(case, "syntax-error", str(error))
    if case.outcome == "parses":
        return Result(case, True)
    dataset = build_dataset(case.dataset)
    try:
        engine.apply_script(script, dataset, case.variables)
    except engine.DicomEditRuntimeError as error:
        rejected = type(error).__name__ == "DicomEditRejectionError"
        return _outcome(case, "rejected" if rejected else "error", str(error))
    if case.outcome != "applied":
        return Result(case, False, f"expected {case.outcome}, but the script applied")
    failures = list(check(dataset, case.expect))
    return Result(case, not failures, "; ".join(failures))


def _outcome(case: Case, actual: str, message: str) -> Result:
    if case.outcome == actual or (case.outcome == "parses" and actual != "syntax-error"):
        return Result(case, True, message)
    return Result(case, False, f"expected {case.outcome}, got {actual}: {message}")


def run_all(engine: Any, cases: list[Case] | None = None) -> list[Result]:
    return [run_case(case, engine) for case in (cases if cases is not None else load_cases())]


# --- building datasets -------------------------------------------------------------------------------


def build_dataset(spec: dict[str, Any]) -> Dataset:
    with disable_value_validation():
        return _build(spec)


def _build(spec: dict[str, Any]) -> Dataset:
    dataset = Dataset()
    for key, value in spec.items():
        if key == "file_meta":
            dataset.file_meta = FileMetaDataset()
            _fill(dataset.file_meta, value)
    _fill(dataset, {key: value for key, value in spec.items() if key != "file_meta"})
    return dataset


def _fill(container: Dataset, spec: dict[str, Any]) -> None:
    for key, value in spec.items():
        tag = _tag_of(key)
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            items = []
            for item_spec in value:
                item = Dataset()
                _fill(item, item_spec)
                items.append(item)
            container.add_new(tag, "SQ", Sequence(items))
            continue
        vr, raw = (value[0], value[1]) if isinstance(value, list) else (_vr_of(tag), value)
        container.add_new(tag, vr, _stored(vr, raw))


def _tag_of(text: str) -> int:
    match = _TAG.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a concrete tag: {text!r}")
    return int(match["group"] + match["element"], 16)


def _vr_of(tag: int) -> str:
    if (tag >> 16) & 1 and (tag & 0xFF00) == 0:
        return "LO"  # a private creator
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "LO"


def _stored(vr: str, raw: Any) -> Any:
    text = "" if raw is None else str(raw)
    if vr in NUMERIC_VRS:
        parts = [NUMERIC_VRS[vr](part) for part in text.split("\\") if part != ""]
        return None if not parts else parts[0] if len(parts) == 1 else parts
    if vr in {"OB", "OW", "UN"}:
        return text.encode("latin-1")
    parts = text.split("\\")
    return parts if len(parts) > 1 else text


# --- checking the result -----------------------------------------------------------------------------


def check(dataset: Dataset, expect: dict[str, Any]) -> Iterator[str]:
    for path, wanted in expect.items():
        containers, last = _containers(dataset, path)
        if last is None:
            yield f"{path}: bad expectation path"
            continue
        if any(char in last for char in "Xx#@") and wanted is None:
            pattern = _wildcard(last)
            left = [
                f"{tag:08X}" for item in containers for tag in _tags(item) if pattern.fullmatch(f"{tag:08X}")
            ]
            if left:
                yield f"{path}: expected none left, found {', '.join(left)}"
            continue
        yield from _check_one(containers, path, last, wanted)


def _check_one(containers: list[Dataset], path: str, last: str, wanted: Any) -> Iterator[str]:
    match = _TAG.fullmatch(last)
    assert match is not None
    tag = int(match["group"] + match["element"], 16)
    element = containers[0].get(tag) if containers else None
    if match["item"] is not None:
        items = list(element.value or ()) if element is not None and element.VR == "SQ" else []
        index = int(match["item"])
        present = index < len(items)
        if wanted is None and present:
            yield f"{path}: expected no such item, found one"
        elif isinstance(wanted, dict) and not present:
            yield f"{path}: expected the item, it is missing"
        elif (
            isinstance(wanted, dict) and "attributes" in wanted and len(items[index]) != wanted["attributes"]
        ):
            yield f"{path}: expected {wanted['attributes']} attributes in the item, found {len(items[index])}"
        return
    if wanted is None:
        if element is not None:
            yield f"{path}: expected absent, found {text_of(element)!r}"
        return
    if element is None:
        yield f"{path}: expected {wanted!r}, attribute is missing"
        return
    if isinstance(wanted, dict):
        count = len(element.value or ()) if element.VR == "SQ" else None
        if "items" in wanted and count != wanted["items"]:
            yield f"{path}: expected {wanted['items']} items, found {count}"
        if "vr" in wanted and wanted["vr"] != element.VR:
            yield f"{path}: expected VR {wanted['vr']}, found {element.VR}"
        if "value" in wanted and text_of(element) != str(wanted["value"]):
            yield f"{path}: expected {wanted['value']!r}, found {text_of(element)!r}"
        if wanted.get("present") and element is None:
            yield f"{path}: expected present"
        return
    if text_of(element) != str(wanted):
        yield f"{path}: expected {str(wanted)!r}, found {text_of(element)!r}"


def _containers(dataset: Dataset, path: str) -> tuple[list[Dataset], str | None]:
    segments = [segment.strip() for segment in path.split("/")]
    current = [dataset]
    if segments[0] == "file_meta":
        current = [dataset.file_meta] if "file_meta" in dataset.__dict__ else []
        segments = segments[1:]
    for segment in segments[:-1]:
        match = _TAG.fullmatch(segment)
        if match is None or match["item"] is None:
            return [], None
        tag = int(match["group"] + match["element"], 16)
        element = current[0].get(tag) if current else None
        items = list(element.value or ()) if element is not None and element.VR == "SQ" else []
        index = int(match["item"])
        current = [items[index]] if index < len(items) else []
    return current, segments[-1] if segments else None


def _tags(dataset: Dataset) -> list[int]:
    return list(dataset.keys())  # iterating a Dataset yields elements, not tags


def _wildcard(text: str) -> re.Pattern[str]:
    digits = text.strip("()").replace(",", "").upper()
    classes = {"X": "[0-9A-F]", "#": "[13579BDF]", "@": "[02468ACE]"}
    return re.compile("".join(classes.get(char, char) for char in digits))


def text_of(element: Any) -> str:
    """An element's value as DicomEdit's getString shows it."""
    value = element.value
    if element.VR == "SQ":
        return f"<{len(value or ())} items>"
    if value is None:
        return ""
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return "\\".join(_scalar(item) for item in values)


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00 ")
    if type(value) is float and value.is_integer():
        return str(int(value))
    if isinstance(value, BaseTag):
        return f"{value:08X}"
    return str(value)


def agreement_line(results: list[Result]) -> str:
    agreed = sum(result.agrees for result in results)
    share = 100.0 * agreed / len(results) if results else 0.0
    return f"{agreed} of {len(results)} upstream cases agree ({share:.1f}%)"
