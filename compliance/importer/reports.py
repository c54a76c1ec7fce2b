"""What the import tells people: the plan's CSV and HTML, the run report (JSON, CSV, HTML), status lines.

Rows are named by their CSV row number and XNAT labels (the CSV's or pseudonyms). Accession numbers,
patient IDs, StudyInstanceUIDs and study dates appear only when asked (``--show-identifiers``), read from
the re-identification map beside the plan.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from compliance.importer.files import write_private
from compliance.importer.journal import parse_timestamp, timestamp
from compliance.importer.planfile import REIDENTIFICATION_COLUMNS, Identifiers, Plan, PlanRow
from compliance.importer.rowstate import ARCHIVED, CANCELLED, FAILED, IN_FLIGHT, MISSING, RowState
from compliance.progress import Progress, Style, progress_for
from compliance.reports import render_html, report_metadata, text_table, to_json_text

PLAN_COLUMNS = (
    "row",
    "status",
    "code",
    "reason",
    "subject",
    "session",
    "label_source",
    "modalities",
    "series_to_import",
    "series_excluded",
    "excluded_by_rule",
)
RUN_COLUMNS = (
    "row",
    "outcome",
    "subject",
    "session",
    "attempts",
    "request_ids",
    "xnat_status",
    "stale",
    "series_imported",
    "series_excluded",
    "excluded_by_rule",
    "submitted_at",
    "received_at",
    "archived_at",
    "seconds_to_receive",
    "seconds_to_archive",
    "reason",
)
IDENTIFIER_COLUMNS = tuple(
    column for column in REIDENTIFICATION_COLUMNS if column not in ("row", "subject", "session")
)
RUN_REPORT_NAME = "report"
STATUS_COLUMNS = ("row", "outcome", "phase", "subject", "session", "attempts", "xnat_status", "reason")


# --- the plan ----------------------------------------------------------------------------------------
def plan_summary(plan: Plan) -> dict[str, Any]:
    ready = plan.ready_rows
    excluded = Counter(series.rule for row in ready for series in row.excluded)
    return {
        "job": plan.job,
        "project": plan.project,
        "pacs": plan.pacs_label,
        "xnat": plan.xnat,
        "receiver": f"{plan.receiver_ae}:{plan.receiver_port}",
        "created_at": plan.created_at,
        "rows": len(plan.rows),
        "ready": len(ready),
        "refused": len(plan.rows) - len(ready),
        "refused_by_code": dict(Counter(row.code for row in plan.rows if not row.ready)),
        "series_to_import": sum(len(row.series) for row in ready),
        "series_excluded": sum(len(row.excluded) for row in ready),
        "excluded_by_rule": dict(excluded),
        "exclusion_rules": plan.exclusion_rules,
        "notes": list(plan.notes),
    }


def _rule_counts(row: PlanRow) -> str:
    counts = Counter(series.rule for series in row.excluded)
    return "; ".join(f"{rule} x{count}" for rule, count in sorted(counts.items()))


def plan_rows(plan: Plan, identifiers: dict[int, Identifiers] | None) -> list[dict[str, Any]]:
    rows = []
    for row in plan.rows:
        entry: dict[str, Any] = {
            "row": row.row,
            "status": row.status,
            "code": row.code,
            "reason": row.reason,
            "subject": row.subject,
            "session": row.session,
            "label_source": row.label_source,
            "modalities": " ".join(row.modalities),
            "series_to_import": len(row.series),
            "series_excluded": len(row.excluded),
            "excluded_by_rule": _rule_counts(row),
        }
        rows.append(_with_identifiers(entry, row.row, identifiers))
    return rows


def exclusions(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "row": row.row,
            "session": row.session,
            "series_number": series.number,
            "modality": series.modality,
            "description": series.description,
            "instances": series.instances,
            "rule": series.rule,
            "reason": series.reason,
            "matched": series.matched,
        }
        for row in plan.ready_rows
        for series in row.excluded
    ]


def write_plan_reports(
    directory: Path, plan: Plan, identifiers: dict[int, Identifiers] | None
) -> dict[str, Path]:
    rows = plan_rows(plan, identifiers)
    html = render_html(
        "import_plan.html.j2",
        **report_metadata(f"DQR import plan — {plan.project}", f"{plan.xnat} · PACS {plan.pacs_label}"),
        summary=plan_summary(plan),
        rows=rows,
        exclusions=exclusions(plan),
        identifier_columns=IDENTIFIER_COLUMNS if identifiers is not None else (),
    )
    return {
        "csv": write_private(directory / "plan.csv", _csv(rows, _columns(PLAN_COLUMNS, identifiers))),
        "html": write_private(directory / "plan.html", html),
    }


def plan_text(plan: Plan, paths: dict[str, Path]) -> str:
    summary = plan_summary(plan)
    lines = [
        f"Import plan {plan.job} for project {plan.project} from PACS {plan.pacs_label}: {summary['ready']} "
        f"of {summary['rows']} rows ready, {summary['refused']} refused; {summary['series_to_import']} "
        f"series to import, {summary['series_excluded']} excluded",
    ]
    for rule, count in sorted(summary["excluded_by_rule"].items()):
        lines.append(f"  excluded by {rule}: {count} series")
    lines += [f"  note: {note}" for note in plan.notes]
    lines += [f"  row {row.row}: refused ({row.code}): {row.reason}" for row in plan.rows if not row.ready]
    lines.append("written: " + ", ".join(str(path) for path in paths.values()))
    return "\n".join(lines) + "\n"


# --- the run -----------------------------------------------------------------------------------------
def run_document(
    plan: Plan,
    states: dict[int, RowState],
    events: list[dict[str, Any]],
    identifiers: dict[int, Identifiers] | None,
) -> dict[str, Any]:
    rows = [_run_row(row, states[row.row], identifiers) for row in plan.rows]
    outcomes = Counter(row["outcome"] for row in rows)
    return {
        "report": "import-run",
        "job": plan.job,
        "project": plan.project,
        "xnat": plan.xnat,
        "pacs": plan.pacs_label,
        "identifiers_shown": identifiers is not None,
        "summary": {
            "rows": len(rows),
            "by_outcome": dict(sorted(outcomes.items())),
            "series_imported": sum(row["series_imported"] for row in rows if row["outcome"] == "archived"),
            "series_excluded": sum(len(row.excluded) for row in plan.ready_rows),
            "excluded_by_rule": dict(
                Counter(series.rule for row in plan.ready_rows for series in row.excluded)
            ),
            "attempts": sum(state.attempt for state in states.values()),
            "retried_rows": sum(1 for state in states.values() if state.attempt > 1),
            "duplicate_requests": sorted(
                request for state in states.values() for request in state.duplicates
            ),
            **_timings(events, outcomes["archived"]),
        },
        "rows": rows,
        "exclusions": exclusions(plan),
        "failures": [
            {key: row[key] for key in ("row", "session", "outcome", "reason")}
            for row in rows
            if row["outcome"] not in ("archived",)
        ],
    }


def _run_row(row: PlanRow, state: RowState, identifiers: dict[int, Identifiers] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "row": row.row,
        "outcome": state.outcome,
        "subject": row.subject,
        "session": row.session,
        "attempts": state.attempt,
        "request_ids": " ".join(str(request) for request in state.request_ids),
        "xnat_status": state.server_status,
        "stale": state.stale,
        "series_imported": len(row.series),
        "series_excluded": len(row.excluded),
        "excluded_by_rule": _rule_counts(row),
        "submitted_at": _iso(state.first_submitted_at),
        "received_at": _iso(state.received_at),
        "archived_at": _iso(state.archived_at),
        "seconds_to_receive": _seconds(state.first_submitted_at, state.received_at),
        "seconds_to_archive": _seconds(state.received_at, state.archived_at),
        "reason": state.reason,
    }
    return _with_identifiers(entry, row.row, identifiers)


def _timings(events: list[dict[str, Any]], archived: int) -> dict[str, Any]:
    runs = [parse_timestamp(event["at"]) for event in events if event["event"] == "run_started"]
    if not runs:
        return {
            "started_at": "",
            "updated_at": "",
            "elapsed_seconds": None,
            "archived_per_hour": None,
            "runs": 0,
        }
    started, updated = runs[0], parse_timestamp(events[-1]["at"])
    elapsed = (updated - started).total_seconds()
    return {
        "started_at": _iso(started),
        "updated_at": _iso(updated),
        "elapsed_seconds": round(elapsed, 3),
        "archived_per_hour": round(archived * 3600 / elapsed, 1) if elapsed > 0 else None,
        "runs": len(runs),
    }


def write_run_reports(plan_path: Path, document: dict[str, Any]) -> dict[str, Path]:
    directory = plan_path.parent
    shown = document["identifiers_shown"]
    html = render_html(
        "import_run.html.j2",
        **report_metadata(
            f"DQR import report — {document['project']}", f"{document['xnat']} · job {document['job']}"
        ),
        document=document,
        identifier_columns=IDENTIFIER_COLUMNS if shown else (),
    )
    columns = (*RUN_COLUMNS, *IDENTIFIER_COLUMNS) if shown else RUN_COLUMNS
    return {
        "json": write_private(directory / f"{RUN_REPORT_NAME}.json", to_json_text(document)),
        "csv": write_private(directory / f"{RUN_REPORT_NAME}.csv", _csv(document["rows"], columns)),
        "html": write_private(directory / f"{RUN_REPORT_NAME}.html", html),
    }


def run_text(document: dict[str, Any], stopped: str, paths: dict[str, Path]) -> str:
    summary = document["summary"]
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in summary["by_outcome"].items())
    lines = [f"Import job {document['job']} into {document['project']} ({stopped}): {outcomes}"]
    lines += [
        f"  row {row['row']}: {row['outcome']}: {row['reason']}"
        for row in document["failures"]
        if row["outcome"] != "refused"
    ]
    if stopped == "stale":
        lines.append(
            "  XNAT has not moved the stale requests: check the server (JMS listener caps, restart), then "
            "'enclave import resume' (add --resubmit-stale to send them again)"
        )
    lines.append("written: " + ", ".join(str(path) for path in paths.values()))
    return "\n".join(lines) + "\n"


def status_rows(plan: Plan, states: dict[int, RowState]) -> list[dict[str, Any]]:
    return [
        {
            "row": row.row,
            "outcome": states[row.row].outcome,
            "phase": states[row.row].phase,
            "subject": row.subject,
            "session": row.session,
            "attempts": states[row.row].attempt,
            "xnat_status": states[row.row].server_status,
            "reason": states[row.row].reason,
        }
        for row in plan.rows
    ]


def status_text(plan: Plan, rows: list[dict[str, Any]]) -> str:
    counts = Counter(row["outcome"] for row in rows)
    header = f"Import job {plan.job} into {plan.project}: " + ", ".join(
        f"{n} {o}" for o, n in sorted(counts.items())
    )
    table = text_table(
        list(STATUS_COLUMNS), [[str(row[column]) for column in STATUS_COLUMNS] for row in rows]
    )
    return "\n".join([header, "", *table]) + "\n"


# --- a run's progress on stderr ----------------------------------------------------------------------
def run_tally(counts: Mapping[str, int]) -> tuple[int, str]:
    """Rows done, and the summary: archived and in flight, then whatever else there is."""
    done = sum(counts.get(phase, 0) for phase in (ARCHIVED, FAILED, MISSING, CANCELLED))
    in_flight = sum(counts.get(phase, 0) for phase in IN_FLIGHT)
    parts = [f"{counts.get(ARCHIVED, 0)} archived", f"{in_flight} in flight"]
    parts += [
        f"{counts[name]} {name}"
        for name in ("received", FAILED, MISSING, CANCELLED, "stale")
        if counts.get(name)
    ]
    return done, ", ".join(parts)


# A line when a row finishes; when only the in-flight numbers move, at most one every 30 seconds.
RUN_PROGRESS = Style(
    prefix="enclave import",
    label="import",
    step="{done}/{total} done ({summary})",
    tally=run_tally,
    quiet_for=30.0,
)


def run_progress(total: int, stream: IO[str] | None = None) -> Progress:
    progress = progress_for(RUN_PROGRESS, stream)
    progress.start(total)
    return progress


# --- helpers -----------------------------------------------------------------------------------------
def _with_identifiers(
    entry: dict[str, Any], row: int, identifiers: dict[int, Identifiers] | None
) -> dict[str, Any]:
    if identifiers is None:
        return entry
    found = identifiers.get(row)
    values = asdict(found) if found else {}
    return entry | {column: values.get(column, "") for column in IDENTIFIER_COLUMNS}


def _columns(columns: Iterable[str], identifiers: dict[int, Identifiers] | None) -> tuple[str, ...]:
    return (*columns, *IDENTIFIER_COLUMNS) if identifiers is not None else tuple(columns)


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: _spreadsheet_safe(row.get(column, "")) for column in columns})
    return buffer.getvalue()


def _spreadsheet_safe(value: Any) -> Any:
    """Stop spreadsheet programs reading a cell such as '=HYPERLINK(...)' as a formula."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def _iso(moment: datetime | None) -> str:
    return timestamp(moment) if moment else ""


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None
