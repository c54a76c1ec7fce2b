"""Helpers shared by the import tests: plan through the CLI, and an engine on the fake DQR server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fake_dqr import PASSWORD, PROJECT, USER, FakeDqr

from compliance.cli import main
from compliance.importer.dqr import DqrClient
from compliance.importer.journal import Journal, journal_path
from compliance.importer.planfile import load_plan, plan_digest
from compliance.importer.redact import Redactor
from compliance.importer.runner import Boundary, ImportRun, RunSettings
from compliance.xnat.session import Credentials, connect, disconnect

FAST = RunSettings(
    max_in_flight=4, poll_interval=0.0, stale_after=60, retry_wait=0.0, archive_timeout=60, submit_grace=0.0
)
KEY = "k" * 16 + "trust-secret-for-tests-only-0123456789"


def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def accession_csv(path: Path, numbers: range | list[int]) -> Path:
    path.write_text(
        "Accession Number\n" + "".join(f"ACC{number:05d}\n" for number in numbers), encoding="utf-8"
    )
    return path


def plan_args(fake: FakeDqr, csv: Path, out: Path, key: Path | None, *extra: str) -> list[str]:
    args = ["import", "plan", "--xnat", fake.url, "--pacs", "TRUSTPACS", "--project", PROJECT]
    args += ["--csv", str(csv), "--out", str(out)]
    if key is not None:
        args += ["--pseudonym-key-file", str(key)]
    return [*args, *extra]


def make_plan(fake: FakeDqr, tmp_path: Path, key: Path, numbers: range | list[int]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = accession_csv(tmp_path / "cohort.csv", numbers)
    main(plan_args(fake, csv, tmp_path / "job", key))
    return tmp_path / "job" / "plan.json"


def run_args(command: str, plan: Path, settings: RunSettings = FAST) -> list[str]:
    return [
        "import",
        command,
        str(plan),
        "--max-in-flight",
        str(settings.max_in_flight),
        "--max-attempts",
        str(settings.max_attempts),
        "--poll-interval",
        str(settings.poll_interval),
        "--stale-after",
        str(settings.stale_after),
        "--retry-wait",
        str(settings.retry_wait),
        "--archive-timeout",
        str(settings.archive_timeout),
        "--submit-grace",
        str(settings.submit_grace),
    ]


@contextmanager
def engine(
    fake: FakeDqr, plan_path: Path, settings: RunSettings = FAST, boundary: Boundary | None = None
) -> Iterator[ImportRun]:
    """An ImportRun on the fake, with the journal open (closed again however the block ends)."""
    session = connect(fake.url, Credentials(USER, PASSWORD, "test"))
    try:
        client = DqrClient(session, fake.url, Redactor(), read_retry_delays=())
        with Journal.open(journal_path(plan_path)) as journal:
            extra = {"boundary": boundary} if boundary else {}
            run = ImportRun(
                load_plan(plan_path),
                plan_digest(plan_path),
                client,
                journal,
                settings,
                cancel_request=plan_path.with_name("cancel-requested"),
                sleep=lambda seconds: None,
                **extra,
            )
            yield run
    finally:
        disconnect(session, fake.url)
