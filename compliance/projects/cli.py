"""Close a project at the end of its life: remove its members, delete its data, keep a deletion record.

`enclave project close --xnat URL --project P --access-list FILE [--dry-run]` refuses unless the trust's
access list marks P `closed: true` or P is past its `end_date`. It then makes the project private,
deactivates the event subscriptions scoped to P alone and disables the container wrappers enabled for P
(before any delete, so no event of the close runs a command), removes every member, cancels the project's
queued DQR imports, deletes every session and subject with removeFiles=true (scans, resources and files
go with them), the project's resources and its prearchive sessions, checks XNAT's listings again and
reports what XNAT keeps (DQR import history with the PACS identifiers, copies under the cache's DELETED
folder, file history, the audit trail). The deletion record (JSON and HTML with an information-governance
sign-off block and the record's SHA-256) goes into --reports-dir; it lists what was switched off
(subscription ids, names and event types; wrapper names). `--dry-run` only reads and says what would be
deleted and switched off.

Credentials come from XNAT_USER/XNAT_PASS or ~/.netrc, never from the command line. Exit codes: 0 closed
and nothing remains, 1 closed but something remains (listed in the record), 2 refused or an error.
`enclave project verify-record FILE` recomputes a record's SHA-256 (0 matches, 1 does not, 2 unreadable).
"""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from compliance.access.accesslist import AccessListError, load_access_list
from compliance.exit_codes import ExitCode, report_error
from compliance.progress import Style, progress_for
from compliance.projects.close import Inventory, close_project, read_inventory
from compliance.projects.events import describe_subscription, describe_wrapper, plan_lines
from compliance.projects.record import RecordError, build_record, verify_record, write_record
from compliance.projects.xnat_io import CloseClient, XnatWriteError
from compliance.reports import to_json_text
from compliance.xnat import routes
from compliance.xnat.session import XnatReadError, connect, disconnect, find_credentials

DEFAULT_REPORTS_DIR = Path("/var/lib/xnat-enclave/reports/projects")  # beside .../reports/access (role)
PROGRAM = "enclave project close"
# A line when a phase starts and ends, and every tenth of the way.
PROGRESS = Style(
    prefix=PROGRAM, started="{description} 0/{total}", step="{description} {done}/{total}", tenths=True
)


def _xnat_url(text: str) -> str:
    from compliance.access.cli import xnat_url  # noqa: PLC0415 - the access review's URL check

    return xnat_url(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from error


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="project_command", metavar="COMMAND", required=True)
    close = commands.add_parser(
        "close",
        help="delete a closed project's data and members and write its deletion record",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    close.add_argument("--xnat", required=True, type=_xnat_url, metavar="URL", help="XNAT base URL")
    close.add_argument("--project", required=True, metavar="P", help="the XNAT project ID to close")
    close.add_argument(
        "--access-list", required=True, type=Path, metavar="FILE", help="the trust's access-list YAML"
    )
    close.add_argument("--dry-run", action="store_true", help="read only: say what would be deleted")
    close.add_argument(
        "--reports-dir",
        type=Path,
        default=DEFAULT_REPORTS_DIR,
        metavar="DIR",
        help=f"where the deletion record goes (default {DEFAULT_REPORTS_DIR})",
    )
    close.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="XNAT's cachePath as seen from here (on the XNAT host): check DIR/DELETED for copies",
    )
    close.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD", help="judge the end date on this day")
    close.add_argument("--workers", type=int, default=4, help="parallel REST requests (default 4)")
    close.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for the XNAT URL")
    close.add_argument(
        "--progress",
        choices=("auto", "bar", "plain", "none"),
        default="auto",
        help="progress on stderr: a bar on a terminal (auto), plain lines, or none",
    )
    close.set_defaults(func=run_close)

    check = commands.add_parser(
        "verify-record", help="recompute a deletion record's SHA-256 (exit 0 matches, 1 not, 2 unreadable)"
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(func=run_verify)


# --- close ------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(message: object) -> int:
    return report_error(PROGRAM, message)


def run_close(args: argparse.Namespace) -> int:  # noqa: PLR0911 - each refusal says why
    started_at = _now()
    try:
        access = load_access_list(args.access_list)
    except AccessListError as error:
        return _error(f"the access list is not valid; nothing was done:\n{error}")
    approved = access.projects.get(args.project)
    if approved is None:
        return _error(
            f"project {args.project} is not in the access list {args.access_list}; nothing was done"
        )
    today = args.as_of or datetime.now(tz=UTC).date()
    if not approved.is_closed(today):
        return _error(
            f"refusing to close {args.project}: the access list neither marks it closed nor has its end date "
            f"({approved.end_date.isoformat()}) passed on {today.isoformat()}. Set `closed: true` for the "
            "project in the access list once it is approved for deletion; nothing was done"
        )
    basis = (
        "marked closed in the access list"
        if approved.closed
        else (f"end date {approved.end_date.isoformat()} passed on {today.isoformat()}")
    )
    try:
        credentials = find_credentials(args.xnat)
        session = connect(args.xnat, credentials, verify=args.ca_bundle or True)
    except XnatReadError as error:
        return _error(f"{error}; nothing was done")
    client = CloseClient(session, args.xnat)
    try:
        with progress_for(PROGRESS, sys.stderr, args.progress) as progress:
            if client.get(routes.PROJECT, project=args.project) is None:
                return _error(
                    f"XNAT at {args.xnat} has no project {args.project} (or the account cannot see it)"
                )
            inventory = read_inventory(client, args.project, args.workers, progress)
            if not args.dry_run:
                outcome = close_project(
                    client,
                    inventory,
                    operator=credentials.user,
                    workers=args.workers,
                    progress=progress,
                    cache_dir=args.cache_dir,
                )
        if args.dry_run:
            sys.stdout.write(plan_text(inventory, basis, client))
            return ExitCode.CLEAN
    except XnatWriteError as error:
        return _error(f"{error} (the close stopped; run it again to finish: it picks up what is left)")
    finally:
        disconnect(session, args.xnat)
    document = build_record(
        project=args.project,
        xnat=args.xnat,
        access={
            "source": str(args.access_list),
            "trust": access.trust,
            "approval": approved.approval,
            "end_date": approved.end_date.isoformat(),
            "closed": approved.closed,
            "basis": basis,
        },
        operator={
            "xnat_account": credentials.user,
            "os_user": getpass.getuser(),
            "host": socket.gethostname(),
        },
        started_at=started_at,
        finished_at=_now(),
        totals=outcome.deleted_totals(),
        sessions=[session.as_dict() for session in inventory.sessions],
        members_removed=outcome.members_removed,
        dqr_cancelled=outcome.dqr_cancelled,
        switched_off=outcome.switched_off.as_dict(),
        verification=outcome.verification,
        remains=outcome.remains,
        rest_calls=dict(client.calls),
    )
    try:
        written = write_record(args.reports_dir, document)
    except RecordError as error:
        sys.stdout.write(to_json_text(document))
        return _error(f"{error}; the record is printed above - keep it")
    sys.stdout.write(summary_text(document, written))
    return ExitCode.FINDINGS if document["outcome"] != "clean" else ExitCode.CLEAN


def plan_text(inventory: Inventory, basis: str, client: CloseClient) -> str:
    totals = inventory.totals
    project = inventory.project
    lines = [
        f"DRY RUN: nothing was changed in XNAT. Closing {project} ({basis}) would:",
        "  make it private and remove "
        f"{totals['members']} members: {', '.join(m['user'] for m in inventory.members) or 'none'}",
        *plan_lines(inventory.processing),
        f"  cancel {totals['dqr_queued']} queued DQR imports",
        f"  delete {totals['sessions']} sessions, {totals['subjects']} subjects, {totals['scans']} scans, "
        f"{totals['files']} files ({totals['bytes']} bytes) with removeFiles=true",
        f"  delete {totals['project_resources']} project resources and {totals['prearchive_sessions']} "
        "prearchive sessions",
    ]
    if inventory.shared_in:
        lines.append(f"  leave {len(inventory.shared_in)} sessions shared in from other projects")
    shared = inventory.processing.shared_active
    if shared:
        ids = ", ".join(str(entry["id"]) for entry in shared)
        lines.append(f"  leave {len(shared)} active event subscriptions shared with other projects: {ids}")
    kept = []
    if inventory.dqr_history:
        kept.append(f"{len(inventory.dqr_history)} DQR import history rows (no REST delete)")
    if str(inventory.preferences.get("backupDeletedToCache")).lower() == "true":
        kept.append(f"copies of every deleted file under {inventory.preferences.get('cachePath')}/DELETED")
    if str(inventory.preferences.get("maintainFileHistory")).lower() == "true":
        kept.append("file history copies (maintainFileHistory)")
    kept.append("XNAT's audit trail")
    lines.append(f"XNAT would keep: {'; '.join(kept)}")
    lines.append("Sessions: " + (", ".join(sorted(s.label for s in inventory.sessions)) or "none"))
    lines.append(f"REST calls made (reads only): {sum(client.calls.values())}")
    return "\n".join(lines) + "\n"


def summary_text(document: dict[str, Any], written: dict[str, Path]) -> str:
    deleted = document["deleted"]
    lines = [
        f"closed {document['project']}: deleted {deleted['subjects']} subjects, "
        f"{deleted['sessions']} sessions, "
        f"{deleted['scans']} scans, {deleted['files']} files ({deleted['bytes']} bytes); "
        f"removed {len(deleted['members_removed'])} members; {document['rest_calls']['total']} REST calls",
    ]
    switched = document["switched_off"]
    subscriptions = ", ".join(describe_subscription(entry) for entry in switched["event_subscriptions"])
    wrappers = ", ".join(describe_wrapper(entry) for entry in switched["project_wrappers"])
    count = len(switched["event_subscriptions"])
    lines.append(
        f"  switched off {count} event subscriptions: {subscriptions or 'none'}; "
        f"{len(switched['project_wrappers'])} container wrappers for the project: {wrappers or 'none'}"
    )
    for item in document["remains"]:
        lines.append(f"  {item['severity']}: {item['what']}: {item['detail']}")
    lines.append(f"record: {written['json']} and {written['html']} (SHA-256 {document['record_sha256']})")
    return "\n".join(lines) + "\n"


def run_verify(args: argparse.Namespace) -> int:
    status = ExitCode.CLEAN
    for path in args.files:
        try:
            matches, stored, computed = verify_record(path)
        except RecordError as error:
            report_error("enclave project verify-record", error)
            status = ExitCode.ERROR
            continue
        if matches:
            print(f"{path}: SHA-256 matches ({computed})")
        else:
            print(f"{path}: SHA-256 does NOT match: recorded {stored or 'none'}, content gives {computed}")
            status = max(status, ExitCode.FINDINGS)
    return status
