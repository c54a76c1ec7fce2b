"""Fetch sessions' NIfTI or DICOM by accession number, verified against XNAT's digests (MLOps).

  enclave fetch --xnat URL --project P --accession A [--accession B ...] [--resource NIFTI DICOM] --out DIR
  enclave fetch --xnat URL --project P --session LABEL --out DIR

Each session lands in DIR/P/LABEL/SCAN/RESOURCE/. Sessions are found by the keyed pseudonym 'enclave import'
gave them (with the trust's key: --pseudonym-key-file, $ENCLAVE_PSEUDONYM_KEY_FILE or $ENCLAVE_PSEUDONYM_KEY),
by dcmAccessionNumber, or by label. Every file is checked against XNAT's size and MD5 digest; a rerun fetches
only what is missing. Archive members that would escape DIR or are links are refused. XNAT credentials come
from XNAT_USER/XNAT_PASS or ~/.netrc. Exit 0: everything fetched; 1: findings (scans without the resource,
files XNAT keeps no digest for); 2: error (session not found, empty resource, digest mismatch, unsafe zip).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compliance.exit_codes import ExitCode, report_error
from compliance.fetch.client import FetchClient, check_resource
from compliance.fetch.errors import FetchError
from compliance.fetch.fetcher import FetchResult
from compliance.progress import Style, human, progress_for
from compliance.reports import to_json_text

PROGRAM = "enclave fetch"
PROGRESS = Style(prefix=PROGRAM, label="fetch", unit="bytes", replace=True)  # a bar per session


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--xnat", required=True, metavar="URL", help="XNAT base URL")
    parser.add_argument("--project", required=True, metavar="P", help="the XNAT project")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--accession",
        action="append",
        metavar="A",
        help="accession number of a study (repeat for several); never shown unredacted",
    )
    which.add_argument("--session", action="append", metavar="LABEL", help="XNAT session label (repeatable)")
    parser.add_argument(
        "--resource",
        nargs="+",
        type=_resource,
        default=["NIFTI"],
        metavar="LABEL",
        help="resource types to fetch, e.g. NIFTI DICOM (default NIFTI)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="where the sessions go")
    parser.add_argument(
        "--pseudonym-key-file", type=Path, metavar="FILE", help="the trust's pseudonym secret"
    )
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust for the XNAT URL")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="summary on stdout")
    parser.set_defaults(func=run_fetch)


def _resource(text: str) -> str:
    try:
        return check_resource(text)
    except FetchError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def run_fetch(args: argparse.Namespace) -> int:
    try:
        client = FetchClient(
            args.xnat, args.out, pseudonym_key_file=args.pseudonym_key_file, verify=args.ca_bundle or True
        )
    except FetchError as error:
        return report_error(PROGRAM, error)
    results: list[FetchResult] = []
    try:
        with progress_for(PROGRESS) as progress:
            for accession in args.accession or []:
                results.append(
                    client.fetch(args.project, args.resource, accession_number=accession, progress=progress)
                )
            for label in args.session or []:
                results.append(client.fetch(args.project, args.resource, label=label, progress=progress))
    finally:
        client.close()
    for result in results:
        for error in result.errors:
            print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        for finding in result.findings:
            print(f"{PROGRAM}: finding: {finding}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(
            to_json_text(
                {"sessions": [result.document() for result in results], "calls": dict(client.reader.calls)}
            )
        )
    else:
        for result in results:
            print(summary(result))
    if any(result.errors for result in results):
        return ExitCode.ERROR
    return ExitCode.FINDINGS if any(result.findings for result in results) else ExitCode.CLEAN


def summary(result: FetchResult) -> str:
    if result.session is None:
        return f"{result.asked}: not fetched ({result.status})"
    fetched = [outcome for outcome in result.outcomes if outcome.status in ("fetched", "already")]
    files = sum(outcome.files for outcome in fetched)
    size = sum(outcome.bytes for outcome in fetched)
    where = result.path if result.path else "nothing written"
    return (
        f"{result.asked}: session {result.session.label} (found by {result.session.found_by}): {files} files "
        f"in {len(fetched)} scan resources verified, {human(size)} downloaded -> {where} [{result.status}]"
    )
