"""Review XNAT accounts and project access against the trust's access list.

`enclave access review --xnat URL --access-list FILE --out DIR` reads XNAT through xnatpy
(credentials from XNAT_USER/XNAT_PASS or ~/.netrc, never from the command line), writes
JSON, CSV and HTML reports with a dated copy per run, and exits 0 when XNAT matches the
list, 1 when there are findings and 2 when something could not be read or written.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse

from compliance.access import mail
from compliance.access.accesslist import AccessListError, load_access_list
from compliance.access.reports import (
    ReportError,
    build_document,
    compare,
    previous_run,
    render_html_report,
    render_text,
    write_reports,
)
from compliance.access.review import review, summarise
from compliance.access.xnat_reader import read_xnat
from compliance.exit_codes import ExitCode, redact_credentials, report_error
from compliance.reports import to_json_text
from compliance.xnat.session import XnatReadError, find_credentials


def _as_of(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from error
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def xnat_url(text: str) -> str:
    """An XNAT base URL for --xnat; one carrying credentials is refused without echoing them."""
    parsed = urlparse(text)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise argparse.ArgumentTypeError(
            f"{redact_credentials(text)!r} is not an http(s) URL such as https://xnat.trust.nhs.uk"
        )
    if parsed.username is not None or parsed.password is not None:
        raise argparse.ArgumentTypeError(
            f"{redact_credentials(text)} carries credentials: give the URL without them and the account "
            "in XNAT_USER/XNAT_PASS or ~/.netrc (credentials are never taken from the command line)"
        )
    return text


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="access_command", metavar="COMMAND", required=True)
    command = commands.add_parser(
        "review",
        help="review XNAT users and project access against the access list",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--xnat",
        required=True,
        type=xnat_url,
        metavar="URL",
        help="XNAT base URL, e.g. https://xnat.trust.nhs.uk",
    )
    command.add_argument(
        "--access-list", required=True, type=Path, metavar="FILE", help="the trust's access-list YAML"
    )
    command.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for the reports")
    command.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="json",
        help="what to print on stdout (default json)",
    )
    command.add_argument(
        "--as-of",
        type=_as_of,
        metavar="YYYY-MM-DD",
        help="judge expiry and dormancy as of this date (default: now)",
    )
    command.add_argument("--workers", type=int, default=8, help="parallel REST requests (default 8)")
    command.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for the XNAT URL")
    mail.add_arguments(command)
    command.set_defaults(func=run_review)

    validate = commands.add_parser(
        "validate",
        help="check access-list files against the schema (exit 0 valid, 2 not)",
        description="Check access-list YAML files; problems are printed as FILE:LINE:COLUMN: PATH: message.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    status = ExitCode.CLEAN
    for path in args.files:
        try:
            access = load_access_list(path)
        except AccessListError as error:
            print(error, file=sys.stderr)
            status = ExitCode.ERROR
            continue
        grants = sum(len(project.grants) for project in access.projects.values())
        print(
            f"{path}: valid ({access.trust}: {len(access.projects)} projects, {grants} grants, "
            f"{len(access.admins)} admins)"
        )
    return status


def _error(message: str) -> int:
    return report_error("enclave access review", message)


def run_review(args: argparse.Namespace) -> int:
    run_time = datetime.now(tz=UTC)
    judged_at = args.as_of or run_time
    try:
        access = load_access_list(args.access_list)
    except AccessListError as error:
        return _error(f"the access list is not valid:\n{error}")
    try:
        credentials = find_credentials(args.xnat)
        snapshot = read_xnat(args.xnat, credentials, verify=args.ca_bundle or True, workers=args.workers)
    except XnatReadError as error:
        return _error(str(error))
    findings = review(access, snapshot, judged_at)
    summary = summarise(findings, access, snapshot, judged_at, run_time)
    try:
        changes = compare(findings, previous_run(args.out))
        document = build_document(findings, summary, changes)
        written = write_reports(args.out, document, run_time)
    except ReportError as error:
        return _error(str(error))
    if args.format == "json":
        sys.stdout.write(to_json_text(document))
    elif args.format == "html":
        sys.stdout.write(render_html_report(document))
    else:
        sys.stdout.write(render_text(document))
        print(f"reports: {written['json']}, {written['csv']}, {written['html']}")
    if args.mail_to:
        try:
            mail.send_summary(
                args,
                subject=mail.subject_for(document),
                body=render_text(document),
                attachment=written["html"],
            )
        except mail.MailError as error:
            return _error(str(error))
    return ExitCode.FINDINGS if findings else ExitCode.CLEAN
