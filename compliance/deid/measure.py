"""Measure a DicomEdit script on synthetic PHI: run it, then judge what actually happened.

Each Table E.1-1 attribute's outcome is observed on every synthetic dataset (removed, emptied, dummy,
UID replaced, date shifted, untouched); an attribute treated differently across datasets is
``partial``. MIDI-B-style checks then look at the output as a whole: PHI text removed (also from
where it was copied to), dates shifted consistently, UIDs changed and consistent within the study,
references intact, patient identity consistent, File Meta intact, de-identification marked.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from compliance.annex_e import (
    PRIVATE_PATTERN,
    AnnexERow,
    deidentification_codes,
    load_table,
    rows_by_tag,
    validate_options,
)
from compliance.anon.conformance import (
    NONE,
    PARTIAL,
    AttributeResult,
    ConformanceReport,
    Finding,
    judge,
    not_applicable,
)
from compliance.deid.synthetic import NHS_NUMBER, PHI_MARKER, SyntheticStudy, build_study
from compliance.dicomedit import DicomEditRuntimeError, apply_script, ast, collected_messages

TEXT_VRS = frozenset({"PN", "SH", "LO", "ST", "LT", "UT", "UC", "CS", "AE", "UR"})
DATE_VRS = frozenset({"DA", "DT"})


def measure_script(
    script: ast.Script,
    options: Sequence[str] = (),
    variables: Mapping[str, str | None] | None = None,
) -> ConformanceReport:
    """Run a parsed script on a synthetic study and report per attribute and per MIDI-B-style check.

    ``variables`` override the XNAT variables; ``session`` defaults to the synthetic Accession Number
    (trusts often label sessions with it), so a script that copies ``session`` somewhere is caught.
    Parse with :func:`compliance.dicomedit.load_script`; raises AnnexEError for unknown options.
    """
    declared = validate_options(options)
    study = build_study()  # cached: the originals are deep-copied before the script runs
    study.variables.update({key: value for key, value in (variables or {}).items() if value is not None})
    outputs: list[Dataset] = []
    findings: list[Finding] = []
    with collected_messages() as warnings:
        for original in study.datasets:
            output = copy.deepcopy(original)
            try:
                apply_script(script, output, study.variables)
            except DicomEditRuntimeError as error:
                message = f"script fails when run: {error.reason}"
                findings.append(Finding("error", "runtime-error", error.line, message))
                break
            outputs.append(output)
    findings.extend(Finding("info", "engine-warning", None, text) for text in dict.fromkeys(warnings))
    if len(outputs) < len(study.datasets):
        attributes = [
            not_applicable(row, declared, "script did not run to completion") for row in load_table()
        ]
        return ConformanceReport(script.source, "measured", declared, attributes, findings)
    shift = dominant_shift(study, outputs)
    attributes = [_judge_row(row, study, outputs, declared, shift) for row in load_table()]
    checks = list(_checks(study, outputs, declared))
    findings.extend(
        Finding("error" if check["severity"] == "error" else "warning", check["code"], None, check["detail"])
        for check in checks
        if check["result"] == "fail"
    )
    for check in checks:
        check.pop("severity")
        check.pop("code")
    return ConformanceReport(script.source, "measured", declared, attributes, findings, checks)


# --- per-attribute outcome --------------------------------------------------------------------------


def observe(before: DataElement, after: DataElement | None) -> str:
    """The action that turned ``before`` into ``after`` (X/Z/D/U/C or none); dates are refined later."""
    if after is None:
        return "X"
    if after.VR == "SQ":
        unchanged = _sequence_text(after) == _sequence_text(before)
        return "Z" if not after.value else NONE if unchanged else "C"
    if after.value in (None, "", b"") or (isinstance(after.value, list) and not after.value):
        return "Z"
    if after.value == before.value:
        return NONE
    return "U" if after.VR == "UI" else "D"


def _sequence_text(element: DataElement) -> str:
    return "|".join(str(item) for item in element.value)


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _combine(outcomes: list[str]) -> str:
    distinct = set(outcomes)
    if len(distinct) == 1:
        return outcomes[0]
    return PARTIAL


def _date_outcome(before: DataElement, after: DataElement | None, outcome: str, shift: int) -> str:
    """A changed date moved by the study's common offset was shifted (C), otherwise replaced (D)."""
    if outcome != "D" or after is None:
        return outcome
    return "C" if _date_delta(before, after) == shift else "D"


def _date_delta(before: DataElement, after: DataElement) -> int | None:
    old, new = _parse_date(str(before.value)), _parse_date(str(after.value))
    return (new - old).days if old and new and old != new else None


def dominant_shift(study: SyntheticStudy, outputs: list[Dataset]) -> int | None:
    """The offset most changed dates moved by, when it covers more than half of them (else None)."""
    deltas = Counter(
        _date_delta(element, output[element.tag])
        for original, output in zip(study.datasets, outputs, strict=True)
        for element in original
        if element.VR in DATE_VRS and element.tag in output and not element.tag.is_private
    )
    deltas.pop(None, None)
    if not deltas:
        return None
    shift, count = deltas.most_common(1)[0]
    return shift if count >= 2 and count * 2 > sum(deltas.values()) else None


def _judge_row(
    row: AnnexERow, study: SyntheticStudy, outputs: list[Dataset], options: Sequence[str], shift: int | None
) -> AttributeResult:
    if row.pattern == PRIVATE_PATTERN:
        return judge(row, _private_outcome(study.datasets, outputs), options)
    if row.is_pattern:
        return judge(row, _pattern_outcome(row, study.datasets, outputs), options)
    tag = row.tag_value
    present = [
        (before, after) for before, after in zip(study.datasets, outputs, strict=True) if tag in before
    ]
    if tag is None or not present:
        return not_applicable(row, options, "not present in the synthetic data (File Meta or command set)")
    outcomes = [observe(before[tag], after.get(tag)) for before, after in present]
    if row.vr in DATE_VRS and shift is not None:
        outcomes = [
            _date_outcome(before[tag], after.get(tag), outcome, shift)
            for (before, after), outcome in zip(present, outcomes, strict=True)
        ]
    return judge(row, _combine(outcomes), options)


def _private_outcome(before: list[Dataset], after: list[Dataset]) -> str:
    outcomes = []
    for original, output in zip(before, after, strict=True):
        kept = sum(1 for element in output if element.tag.is_private)
        total = sum(1 for element in original if element.tag.is_private)
        outcomes.append("X" if kept == 0 else NONE if kept == total else PARTIAL)
    return _combine(outcomes)


def _pattern_outcome(row: AnnexERow, before: list[Dataset], after: list[Dataset]) -> str:
    outcomes = []
    for original, output in zip(before, after, strict=True):
        for element in original:
            if row.pattern.matches(element.tag):
                outcomes.append(observe(element, output.get(element.tag)))
    return _combine(outcomes) if outcomes else NONE


# --- MIDI-B-style checks ----------------------------------------------------------------------------


def _check(name: str, passed: bool | None, detail: str, code: str, severity: str = "error") -> dict[str, Any]:
    result = "n/a" if passed is None else "pass" if passed else "fail"
    return {"check": name, "result": result, "detail": detail, "code": code, "severity": severity}


def _checks(
    study: SyntheticStudy, outputs: list[Dataset], options: Sequence[str]
) -> Iterator[dict[str, Any]]:
    yield _text_removed(study, outputs, options)
    yield _dates_shifted(study, outputs)
    yield _uids_changed(study, outputs, options)
    yield _uids_consistent(study, outputs)
    yield _patient_consistent(study, outputs)
    yield _file_meta_intact(study, outputs)
    yield _marked_deidentified(outputs, options)


def _walk_text(ds: Dataset, path: str = "") -> Iterator[tuple[str, str]]:
    for element in ds:
        where = f"{path}{element.tag}".replace(" ", "")
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                yield from _walk_text(item, f"{where}[{index}]/")
        elif element.VR in TEXT_VRS or element.VR in {"OB", "UN"}:
            value = element.value
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            yield where, text


def _text_removed(study: SyntheticStudy, outputs: list[Dataset], options: Sequence[str]) -> dict[str, Any]:
    kept_by_profile = {row.tag_value for row in load_table() if row.required_action(options) in {"K", "C"}}
    leaks: dict[str, set[str]] = {}
    for output in outputs:
        for where, text in _walk_text(output):
            sources = {int(match, 16) for match in PHI_MARKER.findall(text)}
            if NHS_NUMBER in text:
                sources.add(0x00100020)
            for source in sources - kept_by_profile:
                leaks.setdefault(f"({source >> 16:04X},{source & 0xFFFF:04X})", set()).add(where)
    if not leaks:
        return _check(
            "text removed", True, "no synthetic PHI text survives in the output", "phi-text-retained"
        )
    moved = {
        source: places for source, places in leaks.items() if any(not p.startswith(source) for p in places)
    }
    described = [
        f"{source} {_row_name(source)} copied into "
        + ", ".join(sorted(place for place in places if not place.startswith(source)))
        for source, places in sorted(moved.items())
    ]
    described += [f"{source} kept" for source in sorted(set(leaks) - set(moved))]
    listed = "; ".join(described[:8]) + (f"; and {len(described) - 8} more" if len(described) > 8 else "")
    return _check(
        "text removed",
        False,
        f"synthetic PHI from {len(leaks)} attribute(s) survives ({len(moved)} copied elsewhere): {listed}",
        "phi-text-retained",
    )


def _row_name(tag_text: str) -> str:
    row = rows_by_tag().get(int(tag_text[1:5] + tag_text[6:10], 16))
    return row.name if row else ""


def _dates_shifted(study: SyntheticStudy, outputs: list[Dataset]) -> dict[str, Any]:
    deltas: Counter[int] = Counter()
    for original, output in zip(study.datasets, outputs, strict=True):
        for element in original:
            if element.VR in DATE_VRS and not element.tag.is_private and element.tag in output:
                delta = _date_delta(element, output[element.tag])
                if delta is not None:
                    deltas[delta] += 1
    shift = dominant_shift(study, outputs)
    if shift is None:
        detail = "no consistent date shift (dates removed, emptied, kept or replaced by dummies)"
        return _check("date shifted", None, detail, "dates")
    others = sum(count for delta, count in deltas.items() if delta != shift)
    if others:
        detail = (
            f"most dates shifted by {shift} days but {others} by other offsets: intervals are not preserved"
        )
        return _check("date shifted", False, detail, "date-shift-inconsistent", "warning")
    return _check("date shifted", True, f"dates shifted by one consistent offset ({shift} days)", "dates")


def _uids_changed(study: SyntheticStudy, outputs: list[Dataset], options: Sequence[str]) -> dict[str, Any]:
    if "retain-uids" in options:
        return _check("UID changed", None, "retain-uids declared: UIDs are kept", "uid-unchanged")
    unchanged = sorted(
        {
            str(element.tag)
            for original, output in zip(study.datasets, outputs, strict=True)
            for element in original
            if element.VR == "UI"
            and element.tag != 0x00080016
            and element.tag in output
            and output[element.tag].value == element.value
            and _required(element.tag, options) in {"U", "X/Z/U*", "D"}
        }
    )
    if unchanged:
        listed = ", ".join(unchanged[:6]) + (" ..." if len(unchanged) > 6 else "")
        return _check(
            "UID changed", False, f"{len(unchanged)} UID attribute(s) unchanged: {listed}", "uid-unchanged"
        )
    return _check(
        "UID changed", True, "every UID the profile replaces was replaced or removed", "uid-unchanged"
    )


def _required(tag: int, options: Sequence[str]) -> str:
    row = rows_by_tag().get(tag)
    return row.required_action(options) if row else "K"


def _uids_consistent(study: SyntheticStudy, outputs: list[Dataset]) -> dict[str, Any]:
    problems = []
    study_uids = {output.get("StudyInstanceUID") for output in outputs}
    if len(study_uids) > 1:
        problems.append(f"Study Instance UID differs across one study ({len(study_uids)} values)")
    for series_uid in {ds.SeriesInstanceUID for ds in study.datasets}:
        members = [
            out for ds, out in zip(study.datasets, outputs, strict=True) if ds.SeriesInstanceUID == series_uid
        ]
        if len({out.get("SeriesInstanceUID") for out in members}) > 1:
            problems.append("Series Instance UID differs within a series")
            break
    new_instance_uids = {
        ds.SOPInstanceUID: out.get("SOPInstanceUID") for ds, out in zip(study.datasets, outputs, strict=True)
    }
    broken = 0
    for output in outputs:
        for element in output.get("ReferencedImageSequence", None) or []:
            reference = element.get("ReferencedSOPInstanceUID")
            if reference is not None and reference not in new_instance_uids.values():
                broken += 1
    if broken:
        problems.append(f"{broken} reference(s) in (0008,1140) no longer point at an instance of the study")
    if problems:
        return _check("UID consistent", False, "; ".join(problems), "uid-inconsistent")
    return _check(
        "UID consistent", True, "study/series UIDs consistent and references resolve", "uid-inconsistent"
    )


def _patient_consistent(study: SyntheticStudy, outputs: list[Dataset]) -> dict[str, Any]:
    ids = {str(output.get("PatientID", "")) for output in outputs}
    names = {str(output.get("PatientName", "")) for output in outputs}
    if len(ids) > 1 or len(names) > 1:
        return _check(
            "patient id consistent",
            False,
            f"one patient became {len(ids)} Patient ID(s) and {len(names)} Patient's Name(s)",
            "patient-inconsistent",
        )
    original = {str(ds.PatientID) for ds in study.datasets}
    if ids & original:
        return _check(
            "patient id consistent", False, "Patient ID is the original (NHS number)", "patient-id-kept"
        )
    return _check("patient id consistent", True, "one pseudonymous Patient ID across the study", "patient")


def _file_meta_intact(study: SyntheticStudy, outputs: list[Dataset]) -> dict[str, Any]:
    for original, output in zip(study.datasets, outputs, strict=True):
        meta = getattr(output, "file_meta", None)
        if meta is None or meta.get("TransferSyntaxUID") != original.file_meta.TransferSyntaxUID:
            return _check(
                "file meta intact",
                False,
                "Transfer Syntax UID (0002,0010) changed or removed: the file can no longer be decoded",
                "file-meta-modified",
            )
    return _check("file meta intact", True, "Transfer Syntax UID untouched", "file-meta-modified")


def _marked_deidentified(outputs: list[Dataset], options: Sequence[str]) -> dict[str, Any]:
    expected = set(deidentification_codes(options))
    problems = []
    for output in outputs[:1]:
        if str(output.get("PatientIdentityRemoved", "")).upper() != "YES":
            problems.append('(0012,0062) Patient Identity Removed is not "YES"')
        if not output.get("DeidentificationMethod"):
            problems.append("(0012,0063) De-identification Method missing")
        codes = {
            str(item.get("CodeValue", "")) for item in output.get("DeidentificationMethodCodeSequence", [])
        }
        if not codes:
            problems.append("(0012,0064) De-identification Method Code Sequence missing")
        elif expected - codes:
            problems.append(f"(0012,0064) lacks code(s) {', '.join(sorted(expected - codes))}")
    if problems:
        return _check(
            "marked de-identified", False, "; ".join(problems), "missing-deidentification-marker", "warning"
        )
    return _check("marked de-identified", True, "(0012,0062/0063/0064) set", "marker")
