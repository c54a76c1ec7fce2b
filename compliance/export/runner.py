"""One export run: per session, plan the scans, ask the node what it already holds, send the rest with one
DQR export, then poll the node by C-FIND until every instance is there, the counts stop changing, or time
runs out.

DQR export is fire-and-forget (XNAT's workflow stays Queued and nothing reports completion), so the node's
own counts are the only confirmation. Sessions run ``workers`` at a time. A series the node already holds in
full is not sent again (a rerun after an interruption sends only what is missing) unless ``resend``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from compliance.export.destination import Destination, series_counts
from compliance.export.errors import ExportError
from compliance.export.selection import SEND, ScanChoice, SessionPlan, plan_session
from compliance.export.xnat_io import ExportXnat, PacsEntry, SessionRef
from compliance.pixels.gate import ReleaseMarker
from compliance.progress import Progress

CONFIRMED, INCOMPLETE, ERROR, NOTHING_SENT, DRY_RUN = (
    "confirmed",
    "incomplete",
    "error",
    "nothing sent",
    "dry run",
)


@dataclass(frozen=True)
class Settings:
    workers: int = 2  # sessions exported and confirmed at once
    poll_interval: float = 2.0  # seconds between C-FIND rounds
    settle: float = 60.0  # counts unchanged this long (after something arrived) end the wait
    timeout: float = 600.0  # longest wait for one session's instances
    resend: bool = False  # send series the node already holds in full
    dry_run: bool = False


@dataclass
class ScanResult:
    choice: ScanChoice
    before: int | None = None  # instances at the node before the export
    after: int | None = None  # instances at the node at the end
    sent: bool = False

    @property
    def missing(self) -> int | None:
        expected = self.choice.expected
        if self.choice.decision != SEND or expected is None or self.after is None:
            return None
        return max(0, expected - self.after)


@dataclass
class SessionOutcome:
    plan: SessionPlan
    scans: list[ScanResult]
    status: str = NOTHING_SENT
    workflow: int | None = None
    ended_by: str = ""  # confirmed | stable | timeout | nothing to wait for
    polls: int = 0
    started_at: str = ""
    finished_at: str = ""
    errors: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.plan.session.label


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ExportRun:
    def __init__(
        self,
        xnat: ExportXnat,
        pacs: PacsEntry,
        destination: Destination,
        settings: Settings,
        progress: Progress,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.xnat = xnat
        self.pacs = pacs
        self.destination = destination
        self.settings = settings
        self.progress = progress
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def run(self, sessions: list[SessionRef], marker: ReleaseMarker) -> list[SessionOutcome]:
        self.progress.start(len(sessions))
        with ThreadPoolExecutor(
            max_workers=max(1, self.settings.workers), thread_name_prefix="enclave-export"
        ) as pool:
            return list(pool.map(lambda session: self._one(session, marker), sessions))

    # --- one session ---------------------------------------------------------------------------------
    def _one(self, session: SessionRef, marker: ReleaseMarker) -> SessionOutcome:
        started = utc_now()
        try:
            plan = plan_session(session, self.xnat.scans(session), marker)
        except ExportError as error:
            outcome = SessionOutcome(SessionPlan(session, []), [], ERROR, started_at=started)
            outcome.errors.append(f"session {session.label}: {error}")
            return self._finish(outcome)
        outcome = SessionOutcome(plan, [ScanResult(choice) for choice in plan.scans], started_at=started)
        outcome.findings += [
            f"session {session.label} scan {choice.scan}: {choice.decision}: {choice.reason}"
            for choice in plan.not_sent
        ]
        if self.settings.dry_run:
            outcome.status = DRY_RUN
            return self._finish(outcome)
        try:
            self._export(outcome)
        except ExportError as error:
            outcome.status = ERROR
            outcome.errors.append(f"session {session.label}: {error}")
        return self._finish(outcome)

    def _export(self, outcome: SessionOutcome) -> None:
        session = outcome.plan.session
        sending = [result for result in outcome.scans if result.choice.decision == SEND]
        if not sending:
            outcome.ended_by = "nothing to wait for"
            return
        before = series_counts(self.destination, session.study_uid, [r.choice.series_uid for r in sending])
        for result in sending:
            result.before = result.after = before.get(result.choice.series_uid, 0)
        wanted = [r for r in sending if self.settings.resend or (r.before or 0) < (r.choice.expected or 0)]
        if wanted:
            outcome.workflow = self.xnat.export(self.pacs, session, [r.choice.scan for r in wanted])
            for result in wanted:
                result.sent = True
            instances = sum(r.choice.expected or 0 for r in wanted)
            self.progress.note(
                f"session {session.label}: {len(wanted)} scans ({instances} instances) sent to "
                f"{self.destination.ae_title} through DQR (workflow {outcome.workflow}); confirming by C-FIND"
            )
            self._confirm(outcome, wanted)
        else:
            outcome.ended_by = "nothing to wait for"
            self.progress.note(
                f"session {session.label}: every series already at {self.destination.ae_title}"
            )
        self._judge(outcome, sending)

    def _confirm(self, outcome: SessionOutcome, wanted: list[ScanResult]) -> None:
        """Poll until every instance is there, the counts settle after something arrived, or the timeout."""
        session = outcome.plan.session
        start = self._clock()
        last: dict[str, int] = {r.choice.series_uid: r.before or 0 for r in wanted}
        moved, last_change = False, start
        while True:
            counts = series_counts(self.destination, session.study_uid, list(last))
            outcome.polls += 1
            now = self._clock()
            for result in wanted:
                result.after = counts.get(result.choice.series_uid, 0)
            if all((r.after or 0) >= (r.choice.expected or 0) for r in wanted):
                outcome.ended_by = "confirmed"
                return
            if counts != last:
                moved, last, last_change = True, counts, now
            elif moved and now - last_change >= self.settings.settle:
                outcome.ended_by = "stable"
                return
            if now - start >= self.settings.timeout:
                outcome.ended_by = "timeout"
                return
            self._sleep(self.settings.poll_interval)

    def _judge(self, outcome: SessionOutcome, sending: list[ScanResult]) -> None:
        label = outcome.plan.session.label
        for result in sending:
            if result.missing:
                outcome.findings.append(
                    f"session {label} scan {result.choice.scan}: {result.missing} of "
                    f"{result.choice.expected} instances missing at {self.destination.ae_title} "
                    f"({result.after} confirmed by C-FIND, wait ended: {outcome.ended_by})"
                )
        missing = any(result.missing for result in sending)
        outcome.status = INCOMPLETE if missing else CONFIRMED

    def _finish(self, outcome: SessionOutcome) -> SessionOutcome:
        outcome.finished_at = utc_now()
        confirmed = sum(r.after or 0 for r in outcome.scans if r.choice.decision == SEND)
        expected = sum(r.choice.expected or 0 for r in outcome.scans if r.choice.decision == SEND)
        self.progress.advance(
            line=f"session {outcome.label}: {outcome.status} ({confirmed}/{expected} instances at "
            f"{self.destination.ae_title}; scans not sent: {len(outcome.plan.not_sent)})"
        )
        return outcome


def counts_of(outcome: SessionOutcome) -> dict[str, Any]:
    """The session's numbers, as the reports give them."""
    sending = [r for r in outcome.scans if r.choice.decision == SEND]
    return {
        "scans_sent": sum(1 for r in sending if r.sent),
        "scans_already_at_destination": sum(1 for r in sending if not r.sent and r.before is not None),
        "scans_held_back": sum(1 for r in outcome.scans if r.choice.decision == "held back"),
        "scans_skipped": sum(1 for r in outcome.scans if r.choice.decision == "skipped"),
        "instances_expected": sum(r.choice.expected or 0 for r in sending),
        "instances_confirmed": sum(min(r.after or 0, r.choice.expected or 0) for r in sending),
        "instances_missing": sum(r.missing or 0 for r in sending),
    }
