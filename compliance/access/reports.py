"""Access-review reports: JSON, CSV and HTML, a dated copy per run and the change since the last run."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from compliance.access.review import SEVERITIES, Finding
from compliance.reports import render_html, report_metadata, text_table, to_json_text

REPORT_NAME = "access-review"
HISTORY_DIR = "history"
CSV_COLUMNS = ("severity", "code", "project", "user", "message")


class ReportError(OSError):
    """The report directory could not be read or written."""


@dataclass(frozen=True)
class Changes:
    previous: str | None  # stamp of the previous run, None for the first run
    new: list[dict[str, str]]
    resolved: list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"previous_run": self.previous, "new": self.new, "resolved": self.resolved}


def _key(finding: dict[str, str]) -> tuple[str, str, str]:
    return (finding["code"], finding["project"], finding["user"])


def previous_run(out_dir: Path) -> tuple[str, list[dict[str, str]]] | None:
    """The newest dated JSON report in ``out_dir/history``, as (stamp, findings)."""
    history = sorted((out_dir / HISTORY_DIR).glob(f"{REPORT_NAME}-*.json"), key=_run_order)
    for path in reversed(history):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return path.stem.removeprefix(f"{REPORT_NAME}-"), list(document["findings"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged copy must not stop the review; the next older one is used
    return None


def _run_order(path: Path) -> tuple[str, int]:
    """Dated copies sort by stamp, then by the -N suffix added when two runs share a second."""
    stamp, _, suffix = path.stem.removeprefix(f"{REPORT_NAME}-").partition("-")
    return (stamp, int(suffix) if suffix.isdigit() else 1)


def compare(findings: list[Finding], previous: tuple[str, list[dict[str, str]]] | None) -> Changes:
    current = [finding.to_json() for finding in findings]
    if previous is None:
        return Changes(None, [], [])
    stamp, before = previous
    before_keys = {_key(finding) for finding in before}
    current_keys = {_key(finding) for finding in current}
    return Changes(
        stamp,
        new=[finding for finding in current if _key(finding) not in before_keys],
        resolved=[finding for finding in before if _key(finding) not in current_keys],
    )


def build_document(findings: list[Finding], summary: dict[str, Any], changes: Changes) -> dict[str, Any]:
    return {
        "report": REPORT_NAME,
        "summary": {**summary, "new": len(changes.new), "resolved": len(changes.resolved)},
        "findings": [finding.to_json() for finding in findings],
        "changes": changes.to_json(),
    }


def render_csv(document: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for finding in document["findings"]:
        writer.writerow({column: _spreadsheet_safe(finding[column]) for column in CSV_COLUMNS})
    return buffer.getvalue()


# What makes a spreadsheet read a cell as a formula (OWASP "CSV injection"): = + - @, and tab or
# carriage return before them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: str) -> str:
    """Stop spreadsheet programs treating a cell such as '=HYPERLINK(...)' as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _bars(counts: dict[str, int]) -> list[dict[str, Any]]:
    largest = max(counts.values(), default=0) or 1
    return [
        {"label": label, "count": count, "width": round(100 * count / largest)}
        for label, count in counts.items()
    ]


def render_html_report(document: dict[str, Any]) -> str:
    summary = document["summary"]
    return render_html(
        "access_review.html.j2",
        **report_metadata(f"XNAT access review — {summary['trust']}", summary["xnat"]),
        summary=summary,
        findings=document["findings"],
        changes=document["changes"],
        severities=SEVERITIES,
        severity_bars=_bars(summary["by_severity"]),
        project_bars=_bars(summary["by_project"]),
    )


def render_text(document: dict[str, Any]) -> str:
    summary = document["summary"]
    counts = ", ".join(f"{count} {severity}" for severity, count in summary["by_severity"].items())
    lines = [
        f"Access review of {summary['xnat']} for {summary['trust']} ({summary['generated_at']}; "
        f"expiry and dormancy judged as of {summary['as_of']})",
        f"{summary['total']} findings: {counts}; {summary['new']} new, {summary['resolved']} resolved since "
        f"{document['changes']['previous_run'] or 'no previous run'}",
        f"{summary['counts']['users']} users, {summary['counts']['projects']} projects, "
        f"{summary['counts']['memberships']} memberships read in {summary['rest_calls']['total']} REST calls",
    ]
    if document["findings"]:
        rows = [[finding[column] for column in CSV_COLUMNS] for finding in document["findings"]]
        lines += ["", *text_table(list(CSV_COLUMNS), rows)]
    return "\n".join(lines) + "\n"


def run_stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_reports(out_dir: Path, document: dict[str, Any], now: datetime) -> dict[str, Path]:
    """Write the latest JSON/CSV/HTML reports and their dated copies; return the paths written."""
    renderings = {
        "json": to_json_text(document),
        "csv": render_csv(document),
        "html": render_html_report(document),
    }
    try:
        history = out_dir / HISTORY_DIR
        history.mkdir(parents=True, exist_ok=True)
        stamp = run_stamp(now)
        suffix = 1
        while (history / f"{REPORT_NAME}-{stamp}.json").exists():
            suffix += 1
            stamp = f"{run_stamp(now)}-{suffix}"
        written = {}
        for extension, text in renderings.items():
            dated = history / f"{REPORT_NAME}-{stamp}.{extension}"
            latest = out_dir / f"{REPORT_NAME}.{extension}"
            write_atomically(dated, text)
            write_atomically(latest, text)
            written[extension] = latest
            written[f"dated_{extension}"] = dated
    except OSError as error:
        raise ReportError(f"cannot write reports to {out_dir}: {error.strerror or error}") from error
    return written
