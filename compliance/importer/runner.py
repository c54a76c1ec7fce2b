"""Run an import plan through DQR: bounded batches, waiting, retries, archive, and safe resume.

One cycle: look up what a crash or a lost answer left uncertain, poll XNAT for the requests in flight
(the queue, then the requests' history entries from the newest history page: RT's canonical wait), flag
requests whose status has not moved for ``stale_after``, archive received sessions from the prearchive by
session label, then submit more rows, one study per ``/import`` call tagged ``requestId = <job>:<row>``,
while fewer than ``max_in_flight`` are in flight. Every step is journalled before and after it happens.

With ``submit_workers`` > 1, :meth:`ImportRun.run` does not wait for a batch's ``/import`` calls: each
XNAT answers only after it has C-FINDed the study's series on the PACS, and a cycle that waited for them
would neither poll nor fill the slots its received rows free meanwhile. The calls go on in the background
(at most ``submit_workers`` at once) and every later cycle journals the answers that have come, in row
order; only the main thread writes the journal. A row whose call is still out is ``submitting`` as
before, so a crash then leaves exactly what a crash inside a synchronous call leaves.

No duplicate, no loss: a row whose ``/import`` may have reached XNAT (journalled ``submitting`` with no
result) is looked up in XNAT's queue and history by its tag before anything is sent again; a row is sent
again only when XNAT has no request for it, or its request FAILED (at most ``max_attempts`` times).
Archiving is likewise checked against the project's experiments before it is repeated.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from compliance.importer.dqr import (
    ArchiveBusyError,
    DqrAccessError,
    DqrClient,
    DqrError,
    DqrUnavailableError,
    ImportRequest,
    ImportStudy,
    PacsRequest,
    PrearchiveSession,
)
from compliance.importer.journal import Journal, JournalError, utc_now
from compliance.importer.planfile import Plan, PlanRow
from compliance.importer.rowstate import (
    AFTER_RECEIPT,
    ARCHIVING,
    AT_XNAT,
    IN_FLIGHT,
    PLANNED,
    RETRY_WAIT,
    SUBMITTING,
    RowState,
    apply,
    replay,
)

CLOCK_SKEW = timedelta(minutes=10)  # between this host and XNAT, when finding requests by creation time
VANISHED_POLLS = 2  # polls in a row a request may be in neither queue nor history before it counts as lost
PREARCHIVE_TROUBLE = ("ERROR", "CONFLICT")


@dataclass(frozen=True)
class RunSettings:
    max_in_flight: int = 20
    max_attempts: int = 3
    poll_interval: float = 5.0
    stale_after: float = 1800.0
    retry_wait: float = 60.0
    archive_timeout: float = 3600.0
    submit_grace: float = 180.0  # how long an unanswered /import may still be in XNAT's hands
    resubmit_stale: bool = False
    # /import calls at once. Each one makes XNAT C-FIND the study's series on the PACS before it answers,
    # so one at a time leaves the PACS idle while a batch is sent. 1 keeps the engine strictly step by
    # step (every row journalled "submitting", sent and answered before the next); with more, a batch is
    # journalled "submitting" first, sent concurrently, then each answer is journalled in row order.
    submit_workers: int = 1


class Progress(Protocol):
    def update(self, counts: dict[str, int]) -> None: ...


class Boundary(Protocol):
    """Called at every step boundary; tests raise here to simulate a crash."""

    def __call__(self, step: str, row: int) -> None: ...


def _no_boundary(step: str, row: int) -> None:
    return None


class _QuietProgress:
    def update(self, counts: dict[str, int]) -> None:
        return None


@dataclass(frozen=True)
class RunOutcome:
    stopped: str  # finished | stale | cancelled
    counts: dict[str, int]


class ImportRun:
    def __init__(
        self,
        plan: Plan,
        plan_digest: str,
        client: DqrClient,
        journal: Journal,
        settings: RunSettings,
        *,
        cancel_request: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        boundary: Boundary = _no_boundary,
    ) -> None:
        self.plan = plan
        self._digest = plan_digest
        self._client = client
        self._journal = journal
        self.settings = settings
        self._cancel_request = cancel_request
        self._clock = clock
        self._sleep = sleep
        self._boundary = boundary
        self._rows = {row.row: row for row in plan.rows}
        self.states = replay(plan, journal.events)
        self._vanished: Counter[int] = Counter()
        # /import calls still out (row -> its answer), while run() overlaps them with the next cycles.
        self._submissions: dict[int, Future[list[PacsRequest]]] = {}
        self._submit_pool: ThreadPoolExecutor | None = None
        self._overlap = False
        self._moved = False  # the last poll saw a request of this job change (received, failed, a status)

    # --- the job ------------------------------------------------------------------------------------
    def start(self, command: str) -> None:
        """Record the job (first run) or check the plan is the one the job started with (resume)."""
        jobs = [event for event in self._journal.events if event["event"] == "job"]
        if not jobs:
            self._journal.append(
                "job", job=self.plan.job, plan_sha256=self._digest, project=self.plan.project
            )
        elif jobs[0]["plan_sha256"] != self._digest:
            raise JournalError(
                f"{self._journal.path}: the plan has changed since job {jobs[0]['job']} started; a journal "
                "belongs to one plan: put a new plan in a new --out directory"
            )
        settings = {name: getattr(self.settings, name) for name in RunSettings.__dataclass_fields__}
        self._journal.append("run_started", command=command, settings=settings)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._journal.events

    def run(self, progress: Progress | None = None) -> RunOutcome:
        progress = progress or _QuietProgress()
        stopped = "finished"
        self._overlap = self.settings.submit_workers > 1
        wait_for = self.settings.poll_interval
        try:
            while True:
                if self._cancel_requested():
                    self.cancel()
                    stopped = "cancelled"
                    break
                cycle_started = time.monotonic()
                self._moved = False
                self.cycle()
                progress.update(self.counts())
                if self._finished():
                    break
                if self._only_stale_left():
                    stopped = "stale"
                    break
                # A cycle that took long is not waited twice.
                wait_for = self._next_wait(wait_for)
                self._sleep(max(0.0, wait_for - (time.monotonic() - cycle_started)))
        finally:
            # Whatever ended the run, no /import call outlives it (a crash leaves those rows submitting).
            self._overlap = False
            self._close_submit_pool()
        counts = self.counts()
        self._journal.append("run_finished", stopped=stopped, counts=counts)
        return RunOutcome(stopped, counts)

    def _next_wait(self, last: float) -> float:
        """The time to the next poll: a quarter of ``poll_interval`` after a poll that saw requests move
        (received, failed, a new status: while XNAT works through the queue more are about to finish, and a
        row is only counted out of flight once a poll has seen it received), doubling back up to
        ``poll_interval`` while polls see nothing change."""
        shortest = self.settings.poll_interval / 4
        if self._moved:
            return shortest
        return min(self.settings.poll_interval, max(2 * last, shortest))

    def cycle(self) -> None:
        self._collect_submissions()  # answers that came back since the last cycle: polled in this one
        self._reconcile_submitting()
        self._poll()
        self._mark_stale()
        self._archive_received()
        self._submit_more()

    def counts(self) -> dict[str, int]:
        counts = Counter(state.phase for state in self.states.values())
        counts["stale"] = sum(1 for state in self.states.values() if state.stale and state.phase in IN_FLIGHT)
        return dict(counts)

    def _event(self, state: RowState, event: str, **fields: object) -> None:
        apply(state, self._journal.append(event, row=state.row, **fields))

    def _now(self) -> datetime:
        return self._clock()

    # --- finding what may have reached XNAT ---------------------------------------------------------
    def _reconcile_submitting(self) -> None:
        uncertain = [
            state
            for state in self.states.values()
            if state.phase == SUBMITTING and state.row not in self._submissions  # an answer still to come
        ]
        if not uncertain:
            return
        since = min(state.status_since or self._now() for state in uncertain) - CLOCK_SKEW
        candidates = self._client.queued() + self._client.history_since(int(since.timestamp() * 1000))
        for state in uncertain:
            found = [entry for entry in candidates if self._belongs(entry, state)]
            if found:
                newest = max(found, key=lambda entry: entry.id)
                self._event(
                    state,
                    "submitted",
                    attempt=state.attempt,
                    request_id=newest.id,
                    status=newest.status,
                    adopted=True,
                )
                if len(found) > 1:
                    extra = sorted(entry.id for entry in found if entry.id != newest.id)
                    self._event(state, "duplicate_requests", request_ids=extra)
            elif self._now() - (state.status_since or self._now()) > timedelta(
                seconds=self.settings.submit_grace
            ):
                self._event(state, "not_at_xnat", attempt=state.attempt)

    def _belongs(self, entry: PacsRequest, state: RowState) -> bool:
        if entry.id in state.request_ids:
            return False
        row = self._rows[state.row]
        if entry.user_defined_id:
            return entry.user_defined_id == self.plan.request_id(row)
        # An XNAT that does not echo requestId: the same study, for the same project, since the attempt.
        return entry.study_instance_uid == row.study_uid and entry.project == self.plan.project

    # --- polling ------------------------------------------------------------------------------------
    def _poll(self) -> None:
        active = [
            (state, state.request_id)
            for state in self.states.values()
            if state.phase in AT_XNAT and state.request_id is not None
        ]
        if not active:
            return
        queued = {entry.id: entry for entry in self._client.queued()}
        history = self._client.history_entries(
            [request_id for _, request_id in active if request_id not in queued]
        )
        for state, request_id in active:
            entry = queued.get(request_id) or history.get(request_id)
            if entry is None:
                self._vanished[state.row] += 1
                if self._vanished[state.row] >= VANISHED_POLLS:
                    self._attempt_failed(
                        state, "the request left XNAT's import queue without a history entry"
                    )
                continue
            self._vanished.pop(state.row, None)
            self._observe(state, entry)
            self._boundary("after-status", state.row)

    def _observe(self, state: RowState, entry: PacsRequest) -> None:
        if entry.status != state.server_status or entry.status in ("RECEIVED", "FAILED"):
            self._moved = True
        if entry.status == "RECEIVED":
            self._event(state, "received", request_id=entry.id)
        elif entry.status == "FAILED":
            self._attempt_failed(state, entry.error or "DQR marked the request FAILED", status="FAILED")
        elif entry.status != state.server_status:
            self._event(state, "status", request_id=entry.id, status=entry.status)

    def _attempt_failed(self, state: RowState, reason: str, status: str = "") -> None:
        if state.attempt >= self.settings.max_attempts:
            self._event(
                state,
                "failed",
                reason=f"{reason} (attempt {state.attempt} of {self.settings.max_attempts})",
                status=status,
            )
        else:
            self._event(
                state,
                "attempt_failed",
                attempt=state.attempt,
                reason=reason,
                status=status,
                retry_in=self.settings.retry_wait,
            )

    def _mark_stale(self) -> None:
        limit = timedelta(seconds=self.settings.stale_after)
        for state in self.states.values():
            if (
                state.phase in AT_XNAT
                and not state.stale
                and state.status_since
                and self._now() - state.status_since > limit
            ):
                self._event(state, "stale", request_id=state.request_id, status=state.server_status)

    def resubmit_stale(self) -> None:
        """Stop waiting on stale requests (resume --resubmit-stale): cancel those still queued, send again."""
        self._collect_submissions(block=True)
        stale = [state for state in self.states.values() if state.phase in AT_XNAT and state.stale]
        queued = {entry.id for entry in self._client.queued()}
        self._cancel_ids([state.request_id for state in stale if state.request_id in queued])
        for state in stale:
            reason = f"request {state.request_id} stayed {state.server_status} too long; sent again"
            self._event(state, "abandoned", request_id=state.request_id, reason=reason)

    # --- archiving ----------------------------------------------------------------------------------
    def _archive_received(self) -> None:
        waiting = [state for state in self.states.values() if state.phase in AFTER_RECEIPT]
        if not waiting:
            return
        by_label: dict[str, list[PrearchiveSession]] = {}
        for session in self._client.prearchive(self.plan.project):
            by_label.setdefault(session.name, []).append(session)
        ready: list[tuple[RowState, PlanRow, PrearchiveSession]] = []
        for state in waiting:
            row = self._rows[state.row]
            matches = by_label.get(row.session, [])
            may_be_archived = state.phase == ARCHIVING or not matches
            if may_be_archived and self._client.experiment_labels(self.plan.project, row.session):
                self._event(state, "archived", uri="", auto=not matches and state.phase != ARCHIVING)
                continue
            if not matches:
                self._check_archive_timeout(
                    state, "no session with the row's label arrived in the prearchive or the archive"
                )
            elif len(matches) > 1:
                self._event(
                    state,
                    "failed",
                    reason=f"{len(matches)} prearchive sessions carry the row's label: archive by hand",
                )
            elif matches[0].status == "READY":
                ready.append((state, row, matches[0]))
            elif matches[0].status in PREARCHIVE_TROUBLE:
                self._event(
                    state,
                    "failed",
                    reason=f"the prearchive session is in status {matches[0].status}: resolve it in XNAT",
                )
            else:
                self._check_archive_timeout(state, f"the prearchive session stayed {matches[0].status}")
        self._archive_ready(ready)

    def _archive_ready(self, ready: list[tuple[RowState, PlanRow, PrearchiveSession]]) -> None:
        """Archive the READY sessions: one after another, or (submit_workers > 1) concurrently, each
        journalled "archiving" before any call leaves and its answer journalled in row order."""
        if self.settings.submit_workers <= 1 or len(ready) <= 1:
            for state, row, session in ready:
                self._begin_archive(state, session)
                self._finish_archive(
                    state,
                    lambda row=row, session=session: self._client.archive(
                        session, self.plan.project, row.subject, row.session
                    ),
                )
            return
        for state, _row, session in ready:
            self._begin_archive(state, session)
        with ThreadPoolExecutor(max_workers=min(self.settings.submit_workers, len(ready))) as pool:
            sent = [
                (
                    state,
                    pool.submit(self._client.archive, session, self.plan.project, row.subject, row.session),
                )
                for state, row, session in ready
            ]
        for state, future in sent:
            self._finish_archive(state, future.result)

    def _begin_archive(self, state: RowState, session: PrearchiveSession) -> None:
        self._event(state, "archiving", folder=session.folder)
        self._boundary("before-archive", state.row)

    def _finish_archive(self, state: RowState, answer: Callable[[], str]) -> None:
        try:
            uri = answer()
        except DqrAccessError:
            raise
        except (DqrUnavailableError, ArchiveBusyError):
            return  # still ARCHIVING: the next cycle looks for the experiment before trying again
        except DqrError as error:
            if state.archive_errors + 1 >= self.settings.max_attempts:
                self._event(state, "failed", reason=f"archiving failed: {error}")
            else:
                self._event(state, "archive_error", reason=f"archiving failed: {error}")
            return
        self._boundary("after-archive", state.row)
        self._event(state, "archived", uri=uri)

    def _check_archive_timeout(self, state: RowState, reason: str) -> None:
        if state.received_at and self._now() - state.received_at > timedelta(
            seconds=self.settings.archive_timeout
        ):
            self._event(
                state, "missing", reason=f"received, but {reason} within {self.settings.archive_timeout:g} s"
            )

    # --- submitting ---------------------------------------------------------------------------------
    def _submit_more(self) -> None:
        self._collect_submissions()
        free = self.settings.max_in_flight - sum(
            1 for state in self.states.values() if state.phase in IN_FLIGHT
        )
        due = self._due()[: max(0, free)]
        if self.settings.submit_workers <= 1 or (len(due) <= 1 and not self._overlap):
            for state in due:
                self._submit(state)
            return
        for state in due:  # every row of the batch journalled before any /import leaves
            self._begin_submit(state)
        pool = self._submit_pool or ThreadPoolExecutor(
            max_workers=self.settings.submit_workers, thread_name_prefix="import-submit"
        )
        self._submit_pool = pool
        for state in due:
            request = self.import_request(self._rows[state.row])
            self._submissions[state.row] = pool.submit(self._client.submit, request)
        if not self._overlap:  # a cycle on its own (not within run()) ends with its answers journalled
            self._collect_submissions(block=True)

    def _collect_submissions(self, *, block: bool = False) -> None:
        """Journal the answers of the /import calls that have come back (all of them with ``block``), in
        row order."""
        if block and self._submissions:
            wait(list(self._submissions.values()))
        for row in sorted(row for row, future in self._submissions.items() if future.done()):
            future = self._submissions.pop(row)
            self._finish_submit(self.states[row], future.result)

    def _close_submit_pool(self) -> None:
        """Wait for the calls still out and stop the workers; answers not yet journalled stay unjournalled:
        their rows are ``submitting`` and get looked up in XNAT before anything is sent again."""
        pool, self._submit_pool = self._submit_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._submissions.clear()

    def _due(self) -> list[RowState]:
        """Retries whose wait is over first, then new rows, in CSV order."""
        now = self._now()
        retries = [
            s
            for s in self.states.values()
            if s.phase == RETRY_WAIT and (s.retry_after is None or s.retry_after <= now)
        ]
        new = [state for state in self.states.values() if state.phase == PLANNED]
        return sorted(retries, key=lambda state: state.row) + sorted(new, key=lambda state: state.row)

    def _submit(self, state: RowState) -> None:
        self._begin_submit(state)
        request = self.import_request(self._rows[state.row])
        self._finish_submit(state, lambda: self._client.submit(request))

    def _begin_submit(self, state: RowState) -> None:
        self._event(state, "submitting", attempt=state.attempt + 1)
        self._boundary("before-import", state.row)

    def _finish_submit(self, state: RowState, answer: Callable[[], list[PacsRequest]]) -> None:
        """Journal what XNAT answered to the row's /import (``answer`` returns it or raises its error)."""
        try:
            queued = answer()
        except DqrAccessError:
            raise
        except DqrUnavailableError:
            return  # still SUBMITTING: looked up in XNAT's queue and history before it is ever sent again
        except DqrError as error:
            self._attempt_failed(state, f"XNAT refused the import: {error}")
            return
        self._boundary("after-import", state.row)
        if not queued:
            self._attempt_failed(
                state, "XNAT queued nothing: none of the planned series is on the PACS any more"
            )
            return
        self._event(
            state, "submitted", attempt=state.attempt, request_id=queued[0].id, status=queued[0].status
        )
        if len(queued) > 1:
            self._event(state, "duplicate_requests", request_ids=[entry.id for entry in queued[1:]])
        self._boundary("after-submitted", state.row)

    def import_request(self, row: PlanRow) -> ImportRequest:
        whole_study = self.plan.pacs_retrieve_level == "STUDY"  # DQR 3.2.0 refuses named series there
        series = () if whole_study else tuple(series.uid for series in row.series)
        return ImportRequest(
            pacs_id=self.plan.pacs_id,
            ae_title=self.plan.receiver_ae,
            port=self.plan.receiver_port,
            project=self.plan.project,
            request_id=self.plan.request_id(row),
            studies=(ImportStudy(row.study_uid, series, dict(row.relabel)),),
        )

    # --- stopping -----------------------------------------------------------------------------------
    def _finished(self) -> bool:
        return all(state.terminal for state in self.states.values())

    def _only_stale_left(self) -> bool:
        """Nothing can move without XNAT: every request in flight is stale and no slot or retry is open."""
        active = [state for state in self.states.values() if not state.terminal]
        in_flight = [state for state in active if state.phase in IN_FLIGHT]
        if not in_flight or not all(state.stale for state in in_flight):
            return False
        waiting = [state for state in active if state.phase not in IN_FLIGHT]
        free = self.settings.max_in_flight - len(in_flight)
        return not waiting or (free <= 0 and all(state.phase in (PLANNED, RETRY_WAIT) for state in waiting))

    def _cancel_requested(self) -> bool:
        return self._cancel_request is not None and self._cancel_request.exists()

    def cancel(self) -> dict[str, list[int]]:
        """Cancel this job's queued requests and its unsent rows; what XNAT is already retrieving goes on."""
        self._collect_submissions(block=True)
        self._reconcile_submitting()
        queued = {entry.id for entry in self._client.queued()}
        live = [state for state in self.states.values() if state.phase in AT_XNAT]
        to_cancel = [state for state in live if state.request_id in queued]
        cancelled_ids = set(self._cancel_ids([state.request_id for state in to_cancel]))
        result: dict[str, list[int]] = {"cancelled": [], "not_sent": [], "still_running": []}
        for state in to_cancel:
            if state.request_id in cancelled_ids:
                self._event(
                    state, "cancelled", request_id=state.request_id, reason="cancelled while queued at XNAT"
                )
                result["cancelled"].append(state.row)
        for state in self.states.values():
            if state.phase in (PLANNED, RETRY_WAIT):
                self._event(state, "cancelled", reason="cancelled before it was sent")
                result["not_sent"].append(state.row)
            elif state.phase in IN_FLIGHT:
                result["still_running"].append(state.row)
        if self._cancel_request is not None:
            self._cancel_request.unlink(missing_ok=True)
        return result

    def _cancel_ids(self, request_ids: list[int | None]) -> list[int]:
        """Cancel queued requests; one that has just left the queue (404) is left to finish."""
        ids = [request_id for request_id in request_ids if request_id is not None]
        try:
            self._client.cancel(ids)
        except DqrAccessError:
            raise
        except DqrError:
            cancelled = []
            for request_id in ids:  # some left the queue meanwhile: cancel one by one
                try:
                    self._client.cancel([request_id])
                except DqrAccessError:
                    raise
                except DqrError:
                    continue
                cancelled.append(request_id)
            return cancelled
        return ids
