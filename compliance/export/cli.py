"""Send a project's sessions to a DICOM node through DQR export and confirm their arrival by C-FIND.

  enclave export --xnat URL --project P --to PACS_LABEL [--sessions LABEL ...] [--dry-run] --out DIR

The destination is a PACS entry of XNAT's DQR plugin (its label), which must be storable. Per session, one DQR
export sends every selected scan (the scan's first DICOM-format resource, as DQR does); scans the project's
release marker holds back (pixel cleaning, defacing: compliance/pixels/gate.py, as for enclave fetch) are
never sent. DQR export is fire-and-forget, so each series is then counted at the node by C-FIND (SERIES level,
NumberOfSeriesRelatedInstances) until every instance is there, the counts stop changing (--settle) or
--timeout. Series the node already holds in full are not sent again (--resend to send them anyway).
Writes DIR/LABEL.export.json and .html per session and DIR/export-summary.json; --dry-run only reads XNAT
and writes nothing. XNAT credentials come from XNAT_USER/XNAT_PASS or ~/.netrc. Exit 0: every instance
confirmed; 1: findings (instances missing at the node, scans held back or skipped); 2: error (XNAT or the
node unreachable, no such PACS entry or session, the entry not storable, an export refused).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from compliance.exit_codes import ExitCode, report_error
from compliance.export.destination import Destination
from compliance.export.errors import ExportError
from compliance.export.report import session_document, write_session_reports, write_summary
from compliance.export.runner import DRY_RUN, ERROR, ExportRun, SessionOutcome, Settings, counts_of
from compliance.export.xnat_io import ExportXnat, PacsEntry, SessionRef
from compliance.pixels.gate import marker_from_keywords
from compliance.progress import Style, progress_for
from compliance.reports import ReportWriteError, to_json_text
from compliance.xnat.session import XnatReadError, connect, disconnect, find_credentials

PROGRAM = "enclave export"
PROGRESS = Style(
    prefix=PROGRAM, label="export", started="{total} sessions to export", step="[{done}/{total}] {line}"
)
MAX_AE_TITLE = 16


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--xnat", required=True, metavar="URL", help="XNAT base URL")
    parser.add_argument("--project", required=True, metavar="P", help="the XNAT project")
    parser.add_argument(
        "--to", required=True, metavar="PACS_LABEL", help="label of the destination PACS entry"
    )
    parser.add_argument(
        "--sessions", nargs="+", metavar="LABEL", help="session labels (default: every session)"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="where the reports go")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be sent; send and write nothing"
    )
    parser.add_argument("--resend", action="store_true", help="send series the node already holds in full")
    parser.add_argument("--workers", type=_positive_int, default=2, metavar="N", help="sessions at once (2)")
    parser.add_argument(
        "--poll-interval", type=_seconds, default=2.0, metavar="S", help="between C-FINDs (2)"
    )
    parser.add_argument(
        "--settle",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="stop once counts are unchanged this long (60)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, default=600.0, metavar="S", help="longest wait per session (600)"
    )
    parser.add_argument(
        "--calling-ae", type=_ae_title, default="ENCLAVE", metavar="AE", help="our AE for C-FIND"
    )
    parser.add_argument(
        "--dicom-timeout", type=_seconds, default=30.0, metavar="S", help="DICOM network timeout"
    )
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for the XNAT URL")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="summary on stdout")
    parser.set_defaults(func=run_export)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a whole number of at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: give seconds, 0 or more")
    return value


def _ae_title(text: str) -> str:
    if not text.strip() or len(text) > MAX_AE_TITLE or "\\" in text:
        raise argparse.ArgumentTypeError(f"{text!r}: an AE title is 1 to 16 characters, no backslash")
    return text


def run_export(args: argparse.Namespace) -> int:
    try:
        session = connect(args.xnat, find_credentials(args.xnat), verify=args.ca_bundle or True)
    except XnatReadError as error:
        return report_error(PROGRAM, error)
    xnat = ExportXnat(session, args.xnat)
    try:
        return _export(args, xnat)
    except ExportError as error:
        return report_error(PROGRAM, error)
    finally:
        disconnect(session, args.xnat)


def _export(args: argparse.Namespace, xnat: ExportXnat) -> int:
    pacs = xnat.pacs(args.to)
    if not pacs.storable:
        raise ExportError(
            f"{pacs.describe()} is not storable in XNAT, so DQR would refuse to send to it (409); "
            "nothing was sent. Once the node is an approved destination, mark the entry storable "
            "(xnat_config_pacs: storable: true, through the xnat_dqr module) and run again"
        )
    sessions = _selected(xnat.sessions(args.project), args.sessions, args.project)
    if not sessions:
        print(f"project {args.project}: no image sessions; nothing to export")
        return ExitCode.CLEAN
    marker = marker_from_keywords(xnat.project_keywords(args.project))
    if not args.dry_run:
        _make_out(args.out)  # before anything is sent: a report that cannot be written is known now
    destination = Destination(
        pacs.label, pacs.ae_title, pacs.host, pacs.port, args.calling_ae, args.dicom_timeout
    )
    settings = Settings(
        workers=args.workers,
        poll_interval=args.poll_interval,
        settle=args.settle,
        timeout=args.timeout,
        resend=args.resend,
        dry_run=args.dry_run,
    )
    with progress_for(PROGRESS) as progress:
        outcomes = ExportRun(xnat, pacs, destination, settings, progress).run(sessions, marker)
    documents = [
        session_document(
            outcome, xnat=args.xnat, pacs_label=pacs.label, destination=destination, settings=settings
        )
        for outcome in outcomes
    ]
    paths = [] if args.dry_run else _write(args.out, documents, _summary(args, pacs, outcomes, xnat))
    _print(args.format, outcomes, documents, paths)
    return _exit_code(outcomes)


def _selected(sessions: list[SessionRef], labels: list[str] | None, project: str) -> list[SessionRef]:
    if not labels:
        return sorted(sessions, key=lambda session: session.label)
    by_label = {session.label: session for session in sessions}
    unknown = [label for label in labels if label not in by_label]
    if unknown:
        raise ExportError(
            f"project {project} has no image session labelled {', '.join(unknown)}; nothing was sent"
        )
    return [by_label[label] for label in dict.fromkeys(labels)]


def _summary(
    args: argparse.Namespace, pacs: PacsEntry, outcomes: list[SessionOutcome], xnat: ExportXnat
) -> dict[str, Any]:
    return {
        "report": "enclave export summary",
        "xnat": args.xnat,
        "project": args.project,
        "destination": {
            "pacs_entry": pacs.label,
            "ae_title": pacs.ae_title,
            "host": pacs.host,
            "port": pacs.port,
        },
        "sessions": [
            {"label": o.label, "status": o.status, "workflow": o.workflow, **counts_of(o)} for o in outcomes
        ],
        "exit_code": int(_exit_code(outcomes)),
        "rest_calls": dict(xnat.calls),
    }


def _make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(
            f"cannot create the report directory {out}: {error.strerror or error}; nothing was sent"
        ) from error


def _write(out: Path, documents: list[dict[str, Any]], summary: dict[str, Any]) -> list[Path]:
    try:
        paths = [path for document in documents for path in write_session_reports(out, document)]
        return [*paths, write_summary(out, summary)]
    except (OSError, ReportWriteError) as error:
        raise ExportError(f"cannot write the reports to {out}: {error}") from error


def _print(
    fmt: str, outcomes: list[SessionOutcome], documents: list[dict[str, Any]], paths: list[Path]
) -> None:
    for outcome in outcomes:
        for error in outcome.errors:
            print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        for finding in outcome.findings:
            print(f"{PROGRAM}: finding: {finding}", file=sys.stderr)
    if fmt == "json":
        sys.stdout.write(to_json_text({"sessions": documents, "reports": [str(path) for path in paths]}))
        return
    for outcome in outcomes:
        counts = counts_of(outcome)
        planned = ", ".join(f"{r.choice.scan} {r.choice.decision}" for r in outcome.scans) or "no scans"
        if outcome.status == DRY_RUN:
            print(f"session {outcome.label}: would send {len(outcome.plan.to_send)} scans ({planned})")
            continue
        print(
            f"session {outcome.label}: {counts['scans_sent']} scans sent, {counts['instances_confirmed']}/"
            f"{counts['instances_expected']} instances confirmed, {counts['instances_missing']} missing, "
            f"{counts['scans_held_back']} held back [{outcome.status}]"
        )
    for path in paths:
        if path.suffix == ".html" or path.name == "export-summary.json":
            print(f"report: {path}")


def _exit_code(outcomes: list[SessionOutcome]) -> ExitCode:
    if any(outcome.errors or outcome.status == ERROR for outcome in outcomes):
        return ExitCode.ERROR
    return ExitCode.FINDINGS if any(outcome.findings for outcome in outcomes) else ExitCode.CLEAN
