"""Import studies from a PACS into XNAT through DQR: plan from a CSV, run in batches, resume, status, cancel.

  enclave import plan --xnat URL --pacs LABEL --project P --csv FILE --out DIR [--exclude-rules FILE]
  enclave import run PLAN      submit the plan (default 20 studies in flight), wait, retry, archive
  enclave import resume PLAN   continue after a crash or kill -9: no study repeated, none lost
  enclave import status PLAN   every row's state, from the journal beside the plan
  enclave import cancel PLAN   cancel this job's queued requests and the rows not yet sent

XNAT credentials come from XNAT_USER/XNAT_PASS or ~/.netrc, never from the command line; the pseudonym key
from --pseudonym-key-file, $ENCLAVE_PSEUDONYM_KEY_FILE or $ENCLAVE_PSEUDONYM_KEY. The plan, journal,
re-identification map and reports are written beside each other, readable by their owner only. Exit 0:
every row planned / archived; 1: rows refused, failed, stale or cancelled; 2: error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compliance.exit_codes import ExitCode, report_error
from compliance.importer.csvrows import CsvFileError, read_csv
from compliance.importer.dqr import DqrClient, DqrError
from compliance.importer.exclusions import RulesFileError, load_rules
from compliance.importer.files import private_directory, write_private
from compliance.importer.journal import (
    CANCEL_REQUEST_NAME,
    Journal,
    JournalBusyError,
    JournalError,
    journal_path,
    read_events,
)
from compliance.importer.labels import PseudonymKey, PseudonymKeyError, load_key
from compliance.importer.planfile import (
    PLAN_NAME,
    Identifiers,
    Plan,
    PlanError,
    load_plan,
    plan_digest,
    read_identifiers,
    write_plan,
)
from compliance.importer.planner import PlanningError, PlanRequest, build_plan
from compliance.importer.redact import Redactor
from compliance.importer.reports import plan_text as plan_summary_text
from compliance.importer.reports import (
    run_document,
    run_progress,
    run_text,
    status_rows,
    status_text,
    write_plan_reports,
    write_run_reports,
)
from compliance.importer.rowstate import RowState, replay
from compliance.importer.runner import ImportRun, RunSettings
from compliance.reports import to_json_text
from compliance.xnat.session import XnatReadError, connect, disconnect, find_credentials

FINDINGS = ("refused", "failed", "missing", "cancelled", "stale")


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="import_command", metavar="SUBCOMMAND", required=True)
    plan = commands.add_parser(
        "plan",
        help="validate a CSV and resolve it through DQR into an import plan (nothing is imported)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("--xnat", required=True, metavar="URL", help="XNAT base URL")
    plan.add_argument(
        "--pacs", required=True, metavar="LABEL", help="the PACS's label in XNAT's DQR settings"
    )
    plan.add_argument("--project", required=True, metavar="P", help="the XNAT project to import into")
    plan.add_argument(
        "--csv", required=True, type=Path, metavar="FILE", help="DQR CSV of the studies to import"
    )
    plan.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="directory for the plan and its job"
    )
    plan.add_argument(
        "--exclude-rules", type=Path, metavar="FILE", help="the trust's series-exclusion rules (YAML)"
    )
    plan.add_argument(
        "--receiver",
        type=_receiver,
        metavar="AE:PORT",
        help="XNAT receiver DQR C-MOVEs to (default: the DQR one)",
    )
    plan.add_argument("--pseudonym-key-file", type=Path, metavar="FILE", help="the trust's pseudonym secret")
    plan.add_argument("--workers", type=_positive_int, default=4, help="study queries at once (default 4)")
    _add_common(plan)
    plan.set_defaults(func=run_plan)

    for name, help_text in (
        ("run", "submit a plan through DQR import, wait for every study, archive it"),
        ("resume", "continue a run after a crash or kill -9, from the journal and XNAT"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "plan", type=Path, metavar="PLAN", help="plan.json written by 'enclave import plan'"
        )
        _add_run_options(command)
        if name == "resume":
            command.add_argument(
                "--resubmit-stale",
                action="store_true",
                help="send stale requests again (those still queued are cancelled first); may repeat a study "
                "if XNAT later delivers the stale request after all",
            )
        _add_common(command)
        command.set_defaults(func=run_import, resume=name == "resume")

    status = commands.add_parser("status", help="every row's state, from the journal")
    status.add_argument("plan", type=Path, metavar="PLAN")
    status.add_argument("--format", choices=("text", "json"), default="text", help="output (default text)")
    status.set_defaults(func=run_status)

    cancel = commands.add_parser("cancel", help="cancel this job's queued requests and rows not yet sent")
    cancel.add_argument("plan", type=Path, metavar="PLAN")
    _add_common(cancel)
    cancel.set_defaults(func=run_cancel)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for the XNAT URL")
    parser.add_argument(
        "--show-identifiers",
        action="store_true",
        help="put accession numbers, patient IDs and StudyInstanceUIDs in the reports (PHI: keep private)",
    )


def _receiver(text: str) -> tuple[str, int]:
    ae_title, _, port = text.rpartition(":")
    if not ae_title or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not AE:PORT, e.g. XNAT:8104")
    return ae_title, int(port)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


# (option, RunSettings field, parser, metavar, help); the defaults come from RunSettings.
RUN_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str | None, str], ...] = (
    ("--max-in-flight", "max_in_flight", _positive_int, None, "studies at XNAT at once (default 20)"),
    ("--max-attempts", "max_attempts", _positive_int, None, "imports per study before it fails (default 3)"),
    (
        "--submit-workers",
        "submit_workers",
        _positive_int,
        None,
        "/import, archive and status calls sent at once within a cycle (default 4; 1 = one by one)",
    ),
    (
        "--poll-interval",
        "poll_interval",
        _seconds,
        "S",
        "longest wait between polls (default 5; a quarter of it while requests are finishing)",
    ),
    (
        "--stale-after",
        "stale_after",
        _seconds,
        "S",
        "flag a request whose status has not changed for S s (default 1800)",
    ),
    ("--retry-wait", "retry_wait", _seconds, "S", "seconds before a failed study is sent again (default 60)"),
    (
        "--archive-timeout",
        "archive_timeout",
        _seconds,
        "S",
        "seconds for a received study to reach the prearchive or archive (default 3600)",
    ),
    (
        "--submit-grace",
        "submit_grace",
        _seconds,
        "S",
        "seconds an unanswered /import may be at XNAT (default 180)",
    ),
)


# The CLI sends a batch's /import calls concurrently (RunSettings keeps the engine step by step by default).
CLI_DEFAULTS = {"submit_workers": 4}


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    defaults = RunSettings()
    for option, name, parse, metavar, help_text in RUN_OPTIONS:
        default = CLI_DEFAULTS.get(name, getattr(defaults, name))
        parser.add_argument(option, dest=name, type=parse, default=default, metavar=metavar, help=help_text)


def _settings(args: argparse.Namespace) -> RunSettings:
    chosen = {name: getattr(args, name) for _, name, _, _, _ in RUN_OPTIONS}
    return RunSettings(**chosen, resubmit_stale=getattr(args, "resubmit_stale", False))


@contextmanager
def _dqr(url: str, ca_bundle: str | None, redactor: Redactor) -> Iterator[DqrClient]:
    session = connect(url, find_credentials(url), verify=ca_bundle or True)
    try:
        yield DqrClient(session, url, redactor)
    finally:
        disconnect(session, url)


# --- plan --------------------------------------------------------------------------------------------
def run_plan(args: argparse.Namespace) -> int:
    program = "enclave import plan"
    try:
        rules = load_rules(args.exclude_rules)
        check = read_csv(args.csv)
        key = _key_if_needed(args.pseudonym_key_file, any(row.needs_pseudonym for row in check.rows))
        _check_out_directory(args.out)
    except (RulesFileError, CsvFileError, PseudonymKeyError, JournalError) as error:
        return report_error(program, error)
    for problem in check.problems:  # refused before anything is queried
        print(f"{program}: {check.source}: {problem}", file=sys.stderr)
    redactor = Redactor()  # the client adds each row's identifiers as it queries them
    request = PlanRequest(args.xnat, args.project, args.pacs, args.receiver, rules, key, args.workers)
    try:
        with _dqr(args.xnat, args.ca_bundle, redactor) as client:
            plan, identifiers = build_plan(check, client, request)
        directory = private_directory(args.out)
        written = write_plan(directory, plan, identifiers)
        shown = {entry.row: entry for entry in identifiers} if args.show_identifiers else None
        written |= write_plan_reports(directory, plan, shown)
    except (XnatReadError, DqrError, PlanningError) as error:
        return report_error(program, redactor(str(error)))
    except OSError as error:
        return report_error(program, f"cannot write the plan to {args.out}: {error.strerror or error}")
    sys.stdout.write(plan_summary_text(plan, written))
    return ExitCode.FINDINGS if len(plan.ready_rows) < len(plan.rows) else ExitCode.CLEAN


def _key_if_needed(path: Path | None, needed: bool) -> PseudonymKey | None:
    if not needed and path is None:
        return None
    return load_key(path)


def _check_out_directory(out: Path) -> None:
    if read_events(journal_path(out / PLAN_NAME)):
        raise JournalError(
            f"{out} holds a plan that has been run (its journal is {journal_path(out / PLAN_NAME)}); write "
            "the new plan to another --out directory"
        )


# --- run, resume -------------------------------------------------------------------------------------
def run_import(args: argparse.Namespace) -> int:
    program = f"enclave import {'resume' if args.resume else 'run'}"
    try:
        plan, digest, identifiers = _load(args.plan)
        _check_job_state(args.plan, resume=args.resume)
    except (PlanError, JournalError) as error:
        return report_error(program, error)
    redactor = _redactor(identifiers)
    settings = _settings(args)
    try:
        with (
            _dqr(plan.xnat, args.ca_bundle, redactor) as client,
            Journal.open(journal_path(args.plan)) as journal,
        ):
            engine = ImportRun(
                plan,
                digest,
                client,
                journal,
                settings,
                cancel_request=args.plan.with_name(CANCEL_REQUEST_NAME),
            )
            try:
                engine.start(program.removeprefix("enclave "))
                if settings.resubmit_stale:
                    engine.resubmit_stale()
                with run_progress(len(plan.ready_rows)) as progress:
                    outcome = engine.run(progress)
            finally:
                paths = _write_report(args, plan, engine, identifiers)
    except (XnatReadError, DqrError, JournalError) as error:
        return report_error(program, redactor(str(error)) + _resume_hint(args.plan))
    sys.stdout.write(run_text(run_document(plan, engine.states, engine.events, None), outcome.stopped, paths))
    return _exit_for(engine.states.values())


def _load(plan_path: Path) -> tuple[Plan, str, dict[int, Identifiers]]:
    plan = load_plan(plan_path)
    try:
        identifiers = read_identifiers(plan_path)
    except PlanError as error:
        warning = f"{error}; XNAT's answers are still redacted, but --show-identifiers has nothing to show"
        print(f"enclave import: warning: {warning}", file=sys.stderr)
        identifiers = {}
    return plan, plan_digest(plan_path), identifiers


def _job_started(plan_path: Path) -> bool:
    return any(event["event"] == "job" for event in read_events(journal_path(plan_path)))


def _check_job_state(plan_path: Path, resume: bool) -> None:
    started = _job_started(plan_path)
    if resume and not started:
        raise JournalError(f"{plan_path}: this plan has not been run; use 'enclave import run {plan_path}'")
    if not resume and started:
        raise JournalError(
            f"{plan_path}: this plan has been run already (journal {journal_path(plan_path)}); use 'enclave "
            f"import resume {plan_path}' to continue it"
        )


def _redactor(identifiers: dict[int, Identifiers]) -> Redactor:
    redactor = Redactor()
    for entry in identifiers.values():
        redactor.add(entry.accession_number, entry.patient_id)
        redactor.add_name(entry.patient_name)
    return redactor


def _resume_hint(plan_path: Path) -> str:
    try:
        started = _job_started(plan_path)
    except JournalError:
        return ""
    return f"\nthe journal is intact: continue with 'enclave import resume {plan_path}'" if started else ""


def _write_report(
    args: argparse.Namespace, plan: Plan, engine: ImportRun, identifiers: dict[int, Identifiers]
) -> dict[str, Path]:
    shown = identifiers if args.show_identifiers else None
    return write_run_reports(args.plan, run_document(plan, engine.states, engine.events, shown))


def _exit_for(states: Iterable[RowState]) -> int:
    """0 only when every row of the plan is archived."""
    return ExitCode.CLEAN if all(state.outcome == "archived" for state in states) else ExitCode.FINDINGS


# --- status, cancel ----------------------------------------------------------------------------------
def run_status(args: argparse.Namespace) -> int:
    try:
        plan = load_plan(args.plan)
        states = replay(plan, read_events(journal_path(args.plan)))
    except (PlanError, JournalError) as error:
        return report_error("enclave import status", error)
    rows = status_rows(plan, states)
    if args.format == "json":
        sys.stdout.write(to_json_text({"job": plan.job, "project": plan.project, "rows": rows}))
    else:
        sys.stdout.write(status_text(plan, rows))
    return ExitCode.FINDINGS if any(row["outcome"] in FINDINGS for row in rows) else ExitCode.CLEAN


def run_cancel(args: argparse.Namespace) -> int:
    program = "enclave import cancel"
    try:
        plan, digest, identifiers = _load(args.plan)
        journal = Journal.open(journal_path(args.plan))
    except JournalBusyError:
        write_private(args.plan.with_name(CANCEL_REQUEST_NAME), "cancel\n")
        print(
            f"{args.plan}: a run of this plan is going on; it will cancel its queued requests at its next "
            "poll"
        )
        return ExitCode.CLEAN
    except (PlanError, JournalError) as error:
        return report_error(program, error)
    redactor = _redactor(identifiers)
    try:
        with journal, _dqr(plan.xnat, args.ca_bundle, redactor) as client:
            engine = ImportRun(plan, digest, client, journal, RunSettings())
            engine.start("cancel")
            result = engine.cancel()
            _write_report(args, plan, engine, identifiers)
    except (XnatReadError, DqrError, JournalError) as error:
        return report_error(program, redactor(str(error)))
    print(
        f"job {plan.job}: cancelled {len(result['cancelled'])} queued requests (rows "
        f"{_rows(result['cancelled'])}) and {len(result['not_sent'])} rows not yet sent; "
        f"{len(result['still_running'])} rows XNAT is already retrieving go on (rows "
        f"{_rows(result['still_running'])}): follow them with 'enclave import resume'"
    )
    return ExitCode.CLEAN


def _rows(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers) or "none"
