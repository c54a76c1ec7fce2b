"""Audit what is configured in a running XNAT (nightly anonymisation-script audit).

`enclave xnat-audit anon --xnat URL --out DIR` fetches the site-wide and every project's
anonymisation script through xnatpy (credentials from XNAT_USER/XNAT_PASS or ~/.netrc),
audits each against DICOM PS3.15 Annex E with the same checks as `enclave anon lint`, and
writes a JSON and text summary plus one HTML report per script. Exit 0 when every enabled
script conforms, 1 when a script does not (or site anonymisation is off), 2 on errors.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compliance.access import mail
from compliance.access.cli import xnat_url
from compliance.access.reports import run_stamp, write_atomically
from compliance.exit_codes import ExitCode, report_error
from compliance.reports import to_json_text
from compliance.xnat import routes
from compliance.xnat.session import (
    XnatReadError,
    XnatReads,
    XnatSessionLike,
    connect,
    disconnect,
    find_credentials,
)

PROGRAM = "enclave xnat-audit anon"
REPORT_NAME = "anon-audit"


@dataclass
class FetchedScript:
    scope: str  # "site" or "project"
    project: str
    enabled: bool
    text: str


@dataclass
class ScriptResult:
    scope: str
    project: str
    enabled: bool
    conformant: bool
    conformance: float | None
    findings: dict[str, int] = field(default_factory=dict)
    problem: str = ""
    error: str = ""  # the audit itself failed on this script: the run exits 2 after writing the rest
    html: str = ""

    @property
    def name(self) -> str:
        return "site" if self.scope == "site" else f"project-{self.project}"


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="xnat_audit_command", metavar="COMMAND", required=True)
    command = commands.add_parser(
        "anon",
        help="audit the site and project anonymisation scripts in XNAT against Annex E",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--xnat", required=True, type=xnat_url, metavar="URL", help="XNAT base URL")
    command.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for the reports")
    command.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME",
        help="Annex E profile option the scripts must meet (repeatable, as for `anon lint`)",
    )
    command.add_argument("--format", choices=("text", "json"), default="json", help="stdout format")
    command.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for the XNAT URL")
    mail.add_arguments(command)
    command.set_defaults(func=run_anon_audit)


def fetch_scripts(session: XnatSessionLike, url: str) -> tuple[list[FetchedScript], int]:
    """The site script and every project script that exists, with their enabled flags; and the call count."""
    reads = XnatReads(session, url)
    site = FetchedScript(
        "site", "", reads.flag(routes.SITE_ANON_ENABLED), reads.text(routes.SITE_ANON_SCRIPT) or ""
    )
    scripts = [site]
    for row in reads.result_set(routes.PROJECTS):
        project_id = row["ID"]
        text = reads.text(routes.PROJECT_ANON_SCRIPT, project=project_id)
        if text is None or not text.strip():
            continue
        enabled = reads.flag(routes.PROJECT_ANON_ENABLED, project=project_id)
        scripts.append(FetchedScript("project", project_id, enabled, text))
    return scripts, sum(reads.calls.values())


def audit_script(script: FetchedScript, options: list[str], url: str) -> ScriptResult:
    from compliance.anon.lint import lint_script  # noqa: PLC0415 - keeps `enclave --help` fast
    from compliance.dicomedit import ScriptError, load_script_text  # noqa: PLC0415

    source = f"{url} site script" if script.scope == "site" else f"{url} project {script.project} script"
    result = ScriptResult(script.scope, script.project, script.enabled, conformant=False, conformance=None)
    if script.scope == "site" and not script.enabled:
        result.problem = "site-wide anonymisation is disabled: DICOM arriving at XNAT is stored as sent"
    if not script.text.strip():
        result.problem = result.problem or "the site-wide anonymisation script is empty"
        return result
    try:
        report = lint_script(load_script_text(script.text, source), options)
    except ScriptError as error:
        result.problem = str(error)
        return result
    except Exception as error:
        result.error = f"{source}: the audit could not analyse this script ({type(error).__name__}: {error})"
        result.problem = "not audited: " + result.error
        return result
    result.conformance = report.conformance
    result.findings = report.severity_counts
    result.conformant = report.exit_code == ExitCode.CLEAN and not result.problem
    result.html = report.to_html()
    return result


def _summary_text(results: list[ScriptResult], url: str, now: datetime) -> str:
    bad = [result for result in results if not result.conformant]
    lines = [
        f"Annex E audit of the anonymisation scripts of {url} ({now.isoformat(timespec='seconds')})",
        f"{len(results)} scripts audited, {len(bad)} not conformant",
    ]
    for result in results:
        state = "CONFORMANT" if result.conformant else "NOT CONFORMANT"
        score = "" if result.conformance is None else f" {result.conformance}%"
        flag = "" if result.enabled else " (disabled)"
        detail = f": {result.problem}" if result.problem else ""
        lines.append(f"  {result.name}{flag}: {state}{score}{detail}")
    return "\n".join(lines) + "\n"


def _write_reports(
    out: Path, document: dict[str, Any], text: str, results: list[ScriptResult], now: datetime
) -> None:
    history = out / "history"
    scripts_dir = out / "scripts"
    history.mkdir(parents=True, exist_ok=True)
    scripts_dir.mkdir(parents=True, exist_ok=True)
    stamp = run_stamp(now)
    write_atomically(out / f"{REPORT_NAME}.json", to_json_text(document))
    write_atomically(out / f"{REPORT_NAME}.txt", text)
    write_atomically(history / f"{REPORT_NAME}-{stamp}.json", to_json_text(document))
    for result in results:
        if result.html:
            write_atomically(scripts_dir / f"{result.name}.html", result.html)


def _error(message: str) -> int:
    return report_error(PROGRAM, message)


def run_anon_audit(args: argparse.Namespace) -> int:
    from compliance.annex_e import AnnexEError, validate_options  # noqa: PLC0415 - keeps `enclave --help` fast

    now = datetime.now(tz=UTC)
    try:
        validate_options(args.option)
    except AnnexEError as error:
        return _error(str(error))
    try:
        session = connect(args.xnat, find_credentials(args.xnat), verify=args.ca_bundle or True)
    except XnatReadError as error:
        return _error(str(error))
    try:
        scripts, calls = fetch_scripts(session, args.xnat)
    except XnatReadError as error:
        return _error(f"cannot read the anonymisation scripts from {args.xnat}: {error}")
    finally:
        disconnect(session, args.xnat)
    results = [audit_script(script, args.option, args.xnat) for script in scripts]
    failed = [result.error for result in results if result.error]
    text = _summary_text(results, args.xnat, now)
    document = {
        "report": REPORT_NAME,
        "summary": {
            "xnat": args.xnat,
            "generated_at": now.isoformat(timespec="seconds"),
            "scripts": len(results),
            "not_conformant": sum(1 for result in results if not result.conformant),
            "not_audited": len(failed),
            "options": args.option,
            "rest_calls": calls,
        },
        "scripts": [
            {key: value for key, value in asdict(result).items() if key != "html"} for result in results
        ],
    }
    try:
        _write_reports(args.out, document, text, results, now)
    except OSError as error:
        return _error(f"cannot write reports to {args.out}: {error}")
    sys.stdout.write(text if args.format == "text" else to_json_text(document))
    for error in failed:
        _error(error)
    status = ExitCode.FINDINGS if document["summary"]["not_conformant"] else ExitCode.CLEAN
    if failed:
        status = ExitCode.ERROR
    if args.mail_to:
        subject = (
            f"XNAT anonymisation audit of {args.xnat}: {document['summary']['not_conformant']} not conformant"
        )
        try:
            mail.send_summary(args, subject=subject, body=text)
        except mail.MailError as error:
            return _error(str(error))
    return status
