"""The export's reports: per session ``LABEL.export.json`` and ``LABEL.export.html``; ``export-summary.json``.

They say what went where: the session (its XNAT label, a pseudonym for imported studies, and id), the
destination (PACS entry, AE title, host, port), the DQR workflow, per scan what was sent or held back and why,
the instances expected (files of the resource DQR sends) and confirmed at the node by C-FIND, and what is
missing. No patient identifier and no DICOM UID is written: XNAT's scans are named by scan id and type.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from compliance import __version__
from compliance.export.destination import Destination
from compliance.export.runner import SessionOutcome, Settings, counts_of
from compliance.reports import render_html, report_metadata, to_json_text, write_report

SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
METHOD = (
    "C-FIND (Study Root, SERIES level) for each series sent, NumberOfSeriesRelatedInstances compared with "
    "the number of files of the XNAT resource DQR sends (IMAGE-level matches counted when the node leaves "
    "that attribute out)"
)


def file_stem(label: str) -> str:
    """A report file name for a session label (XNAT labels are [A-Za-z0-9_-]; anything else becomes _)."""
    stem = SAFE_NAME.sub("_", label).lstrip(".") or "session"
    return f"{stem}.export"


def session_document(
    outcome: SessionOutcome, *, xnat: str, pacs_label: str, destination: Destination, settings: Settings
) -> dict[str, Any]:
    session = outcome.plan.session
    return {
        "report": "enclave export",
        "tool_version": __version__,
        "xnat": xnat,
        "project": session.project,
        "session": {"label": session.label, "id": session.id},
        "destination": {
            "pacs_entry": pacs_label,
            "ae_title": destination.ae_title,
            "host": destination.host,
            "port": destination.port,
        },
        "status": outcome.status,
        "workflow": outcome.workflow,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "confirmation": {
            "method": METHOD,
            "calling_ae": destination.calling_ae,
            "polls": outcome.polls,
            "wait_ended": outcome.ended_by,
            "settle_seconds": settings.settle,
            "timeout_seconds": settings.timeout,
            "resend": settings.resend,
        },
        "counts": counts_of(outcome),
        "scans": [
            {
                "scan": result.choice.scan,
                "type": result.choice.type,
                "decision": result.choice.decision,
                "reason": result.choice.reason,
                "resource": result.choice.resource or None,
                "instances_expected": result.choice.expected,
                "frames": result.choice.frames,
                "at_destination_before": result.before,
                "sent": result.sent,
                "instances_confirmed": result.after,
                "instances_missing": result.missing,
            }
            for result in outcome.scans
        ],
        "errors": list(outcome.errors),
        "findings": list(outcome.findings),
    }


def write_session_reports(out: Path, document: dict[str, Any]) -> tuple[Path, Path]:
    stem = file_stem(document["session"]["label"])
    json_path, html_path = out / f"{stem}.json", out / f"{stem}.html"
    write_report(to_json_text(document), json_path)
    meta = report_metadata(
        "DICOM export to an evaluation node", f"{document['project']}/{document['session']['label']}"
    )
    write_report(render_html("export_session.html.j2", document=document, **meta), html_path)
    return json_path, html_path


def write_summary(out: Path, summary: dict[str, Any]) -> Path:
    path = out / "export-summary.json"
    write_report(to_json_text(summary), path)
    return path
