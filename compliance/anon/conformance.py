"""Per-attribute verdicts against Table E.1-1 and the report both the lint and the measured check emit.

The effective action of a script on an attribute is one of ``X`` (removed), ``Z`` (emptied),
``D`` (dummy value), ``U`` (UID replaced), ``K`` (explicitly kept), ``C`` (cleaned: dates shifted,
safe private tags retained), ``none`` (untouched) or ``partial`` (only on some inputs: conditional
statements, sequence-only paths, some private tags). The verdict compares it with the required action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compliance.annex_e import EDITION, EDITION_SOURCE, AnnexERow, deidentification_codes
from compliance.exit_codes import ExitCode
from compliance.reports import count_by_severity, render_html, report_metadata, text_table

NONE = "none"
PARTIAL = "partial"
VERDICTS = ("pass", "fail", "partial", "n/a")

# Effective actions that satisfy each required action. Removal or emptying satisfy an X (no value
# remains); a dummy does not satisfy Z (Type 2 must stay present but may be a dummy: Z accepts D).
ACCEPTED: dict[str, frozenset[str]] = {
    "X": frozenset({"X", "Z"}),
    "Z": frozenset({"Z", "D"}),
    "D": frozenset({"D"}),
    "Z/D": frozenset({"Z", "D"}),
    "X/Z": frozenset({"X", "Z"}),
    "X/D": frozenset({"X", "D"}),
    "X/Z/D": frozenset({"X", "Z", "D"}),
    "U": frozenset({"U"}),
    "X/Z/U*": frozenset({"X", "Z", "U"}),
    "C": frozenset({"C", "X", "Z", "D", "U"}),
    "K": frozenset({"K", NONE}),
}


def accepted_actions(required: str, basic_profile: str | None = None) -> frozenset[str]:
    """Effective actions that satisfy ``required``. Cleaning (C) an attribute may also be done by what the
    Basic Profile asks for it, and by nothing weaker: removing a Type 2 attribute that Basic empties (Z) is
    not a clean either."""
    if required == "C" and basic_profile is not None:
        return frozenset({"C"}) | ACCEPTED.get(basic_profile, frozenset())
    return ACCEPTED.get(required, frozenset())


def verdict_for(required: str, effective: str, basic_profile: str | None = None) -> str:
    """pass, fail or partial for one attribute."""
    if effective == PARTIAL:
        return "pass" if required == "K" else "partial"
    return "pass" if effective in accepted_actions(required, basic_profile) else "fail"


def explain(required: str, effective: str, basic_profile: str | None = None) -> str:
    """A one-line reason a reviewer can act on, for failing and partial verdicts."""
    if required == "C" and basic_profile and effective not in {PARTIAL, NONE}:
        return (
            f"script applies {effective}; cleaning (C) needs a cleaned value or what the Basic Profile "
            f"requires ({basic_profile})"
        )
    return _explain_action(required, effective)


def _explain_action(required: str, effective: str) -> str:
    if effective == PARTIAL:
        return "only applied on some inputs (conditional, sequence-only or a subset of tags)"
    if effective == NONE:
        return f"left untouched; profile requires {required}"
    if required == "K":
        return f"a declared retain option keeps this attribute but the script applies {effective}"
    if effective == "X" and "Z" in required:
        return "removed, but the attribute must stay present (emptied) for the IOD to remain valid"
    if effective == "Z" and required == "D":
        return "emptied, but the profile needs a non-empty dummy value (Type 1)"
    return f"script applies {effective}; profile requires {required}"


@dataclass
class AttributeResult:
    row: AnnexERow
    required: str
    effective: str
    verdict: str
    lines: list[int] = field(default_factory=list)
    note: str = ""
    option: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.row.tag,
            "name": self.row.name,
            "required": self.required,
            "effective": self.effective,
            "verdict": self.verdict,
            "lines": self.lines,
            "option": self.option,
            "note": self.note,
        }


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    line: int | None
    message: str
    column: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "line": self.line, "message": self.message}


COMMAND_SET_NOTE = "Command Set element (0000,xxxx): exchanged in DIMSE messages, never stored in files"
SEQUENCE_REPLACEMENTS = frozenset({"X", "Z", "D"})
SEQUENCE_NOTE = (
    "sequence removed or emptied: the profile's dummy/empty sequence cannot be built in DicomEdit; "
    "no identity remains, but check the IOD's Type 1/2 rules"
)


def judge(
    row: AnnexERow, effective: str, options: Sequence[str], lines: Iterable[int] = ()
) -> AttributeResult:
    required = row.required_action(options)
    verdict = verdict_for(required, effective, row.basic_profile)
    note = "" if verdict == "pass" else explain(required, effective, row.basic_profile)
    if verdict == "fail" and row.vr == "UI" and effective == "U" and required in {"D", "Z/D", "X/D", "X/Z/D"}:
        verdict, note = "pass", ""  # a replacement UID is the dummy value of a UI attribute
    sequence_emptied = row.vr == "SQ" and effective in SEQUENCE_REPLACEMENTS
    if (
        verdict == "fail"
        and sequence_emptied
        and accepted_actions(required, row.basic_profile) - {"C"} <= SEQUENCE_REPLACEMENTS
    ):
        verdict, note = "pass", SEQUENCE_NOTE
    return AttributeResult(
        row=row,
        required=required,
        effective=effective,
        verdict=verdict,
        lines=sorted(set(lines)),
        note=note,
        option=row.governing_option(options),
    )


def not_applicable(row: AnnexERow, options: Sequence[str], reason: str) -> AttributeResult:
    return AttributeResult(row, row.required_action(options), "n/a", "n/a", note=reason)


@dataclass
class ConformanceReport:
    """How a script stands against Table E.1-1: per-attribute verdicts plus script-level findings."""

    source: str
    mode: str  # "static" (lint: inferred from the script) or "measured" (deid scan --script)
    options: tuple[str, ...]
    attributes: list[AttributeResult]
    findings: list[Finding]
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conformance(self) -> float:
        """Percentage of applicable attributes that pass (partial counts as half)."""
        judged = [result for result in self.attributes if result.verdict != "n/a"]
        if not judged:
            return 0.0
        score = sum(1.0 if r.verdict == "pass" else 0.5 if r.verdict == "partial" else 0.0 for r in judged)
        return round(100.0 * score / len(judged), 1)

    @property
    def verdict_counts(self) -> dict[str, int]:
        counts = Counter(result.verdict for result in self.attributes)
        return {verdict: counts.get(verdict, 0) for verdict in VERDICTS}

    @property
    def severity_counts(self) -> dict[str, int]:
        return count_by_severity(finding.to_json() for finding in self.findings)

    @property
    def exit_code(self) -> ExitCode:
        counts = self.verdict_counts
        severities = self.severity_counts
        if counts["fail"] or counts["partial"] or severities["error"] or severities["warning"]:
            return ExitCode.FINDINGS
        return ExitCode.CLEAN

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "conformant": self.exit_code == ExitCode.CLEAN,
            "conformance": self.conformance,
            "attributes": self.verdict_counts,
            "findings": self.severity_counts,
            "edition": EDITION,
            "edition_source": EDITION_SOURCE,
            "options": list(self.options),
            "required_method_codes": deidentification_codes(self.options),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "edition": EDITION,
            "options": list(self.options),
            "conformance": self.conformance,
            "summary": self.summary,
            "findings": [finding.to_json() for finding in self.sorted_findings()],
            "attributes": [result.to_json() for result in self.attributes],
            "checks": self.checks,
        }

    def sorted_findings(self) -> list[Finding]:
        order = {"error": 0, "warning": 1, "info": 2}
        return sorted(self.findings, key=lambda f: (order.get(f.severity, 3), f.line or 0, f.code))

    def to_text(self, verbose: bool = False) -> str:
        """Summary first, then findings, then every attribute that does not pass (all with verbose)."""
        counts = self.verdict_counts
        severities = self.severity_counts
        heading = (
            "Annex E audit (static)" if self.mode == "static" else "Annex E check (measured on synthetic PHI)"
        )
        options = ", ".join(self.options) or "none (Basic Profile)"
        lines = [
            f"{heading}: {self.source}",
            f"PS3.15 Table E.1-1 edition {EDITION} ({EDITION_SOURCE}); options: {options}",
            f"Conformance: {self.conformance}% of attributes — {self._verdict_text()}",
            "Attributes: " + ", ".join(f"{count} {verdict}" for verdict, count in counts.items()),
            "Findings: " + ", ".join(f"{count} {severity}" for severity, count in severities.items()),
            "",
        ]
        if self.findings:
            lines.append("Findings")
            for finding in self.sorted_findings():
                where = f"line {finding.line}" if finding.line else "script"
                lines.append(f"  {finding.severity.upper():7} {finding.code:28} {where}: {finding.message}")
            lines.append("")
        if self.checks:
            lines.append("Checks on the de-identified output")
            lines.extend(f"  {c['result'].upper():5} {c['check']}: {c['detail']}" for c in self.checks)
            lines.append("")
        shown = [r for r in self.attributes if verbose or r.verdict in {"fail", "partial"}]
        title = "Attributes" if verbose else "Attributes that do not pass (use --verbose for all)"
        lines.append(title)
        lines.extend(
            "  " + line
            for line in text_table(
                ["tag", "name", "required", "effective", "verdict", "lines", "note"],
                (
                    [
                        r.row.tag,
                        r.row.name,
                        r.required,
                        r.effective,
                        r.verdict,
                        ",".join(map(str, r.lines)),
                        r.note,
                    ]
                    for r in shown
                ),
            )
        )
        return "\n".join(lines) + "\n"

    def _verdict_text(self) -> str:
        if self.exit_code == ExitCode.CLEAN:
            return "CONFORMANT"
        counts = self.verdict_counts
        if counts["fail"] or counts["partial"]:
            return "NOT CONFORMANT"
        return "NOT CONFORMANT (see the findings)"

    def to_html(self) -> str:
        title = (
            "DicomEdit script audit against DICOM PS3.15 Annex E"
            if self.mode == "static"
            else "De-identification check on synthetic PHI (PS3.15 Annex E)"
        )
        return render_html(
            "anon_conformance.html.j2",
            report=self,
            summary=self.summary,
            findings=[f.to_json() for f in self.sorted_findings()],
            attributes=[r.to_json() for r in self.attributes],
            **report_metadata(title, self.source),
        )
