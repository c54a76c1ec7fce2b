"""Each plan row's state, rebuilt by replaying the journal: the one place that knows what an event means.

Phases follow DQR's request states (QUEUED → PROCESSING → ISSUED → RECEIVED / FAILED) with the import's
own steps around them: ``planned`` (not yet sent), ``submitting`` (an /import call may or may not have
reached XNAT), ``retry-wait``, ``archiving``, and the terminal ``archived``, ``failed``, ``missing``,
``cancelled`` and ``refused`` (by the plan).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from compliance.importer.journal import JournalError, parse_timestamp
from compliance.importer.planfile import Plan

PLANNED = "planned"
REFUSED = "refused"
SUBMITTING = "submitting"
QUEUED = "queued"
PROCESSING = "processing"
ISSUED = "issued"
RECEIVED = "received"
RETRY_WAIT = "retry-wait"
ARCHIVING = "archiving"
ARCHIVED = "archived"
FAILED = "failed"
MISSING = "missing"
CANCELLED = "cancelled"

IN_FLIGHT = (SUBMITTING, QUEUED, PROCESSING, ISSUED)  # what --max-in-flight counts
AT_XNAT = (QUEUED, PROCESSING, ISSUED)
AFTER_RECEIPT = (RECEIVED, ARCHIVING)
TERMINAL = (REFUSED, ARCHIVED, FAILED, MISSING, CANCELLED)
PHASES = (PLANNED, SUBMITTING, QUEUED, PROCESSING, ISSUED, RETRY_WAIT, RECEIVED, ARCHIVING, *TERMINAL)
DQR_PHASES = {"QUEUED": QUEUED, "PROCESSING": PROCESSING, "ISSUED": ISSUED}


@dataclass
class RowState:
    row: int
    phase: str
    attempt: int = 0
    request_id: int | None = None
    request_ids: list[int] = field(default_factory=list)  # every request XNAT made for this row
    server_status: str = ""
    status_since: datetime | None = None
    stale: bool = False
    reason: str = ""
    retry_after: datetime | None = None
    first_submitted_at: datetime | None = None
    received_at: datetime | None = None
    archived_at: datetime | None = None
    archive_uri: str = ""
    archive_errors: int = 0
    duplicates: list[int] = field(default_factory=list)  # extra requests XNAT holds for this row

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    @property
    def outcome(self) -> str:
        """For reports: the terminal phase, else ``stale``, ``not sent`` or ``in progress``."""
        if self.terminal:
            return self.phase
        if self.stale and self.phase in IN_FLIGHT:
            return "stale"
        return "not sent" if self.phase in (PLANNED, RETRY_WAIT) and not self.request_ids else "in progress"

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "phase": self.phase,
            "attempts": self.attempt,
            "request_ids": self.request_ids,
            "xnat_status": self.server_status,
            "stale": self.stale,
            "reason": self.reason,
        }


def initial_states(plan: Plan) -> dict[int, RowState]:
    return {
        row.row: RowState(row.row, PLANNED if row.ready else REFUSED, reason="" if row.ready else row.reason)
        for row in plan.rows
    }


def replay(plan: Plan, events: Iterable[dict[str, Any]]) -> dict[int, RowState]:
    states = initial_states(plan)
    for event in events:
        if "row" not in event:
            continue
        state = states.get(int(event["row"]))
        if state is None:
            raise JournalError(f"the journal names row {event['row']}, which is not in the plan: wrong plan?")
        apply(state, event)
    return states


def apply(state: RowState, event: dict[str, Any]) -> None:
    """Move ``state`` by one journal event."""
    at = parse_timestamp(event["at"])
    handler = _HANDLERS.get(event["event"])
    if handler is None:
        raise JournalError(f"unknown journal event {event['event']!r}: written by a newer enclave?")
    handler(state, event, at)


def _submitting(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase, state.attempt, state.request_id = SUBMITTING, int(event["attempt"]), None
    state.status_since, state.stale, state.retry_after = at, False, None
    state.first_submitted_at = state.first_submitted_at or at


def _submitted(state: RowState, event: dict[str, Any], at: datetime) -> None:
    request_id = int(event["request_id"])
    state.request_id = request_id
    if request_id not in state.request_ids:
        state.request_ids.append(request_id)
    _set_status(state, str(event.get("status") or "QUEUED"), at)


def _status(state: RowState, event: dict[str, Any], at: datetime) -> None:
    _set_status(state, str(event["status"]), at)


def _set_status(state: RowState, status: str, at: datetime) -> None:
    state.phase = DQR_PHASES.get(status, QUEUED)
    state.server_status, state.status_since, state.stale = status, at, False


def _stale(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.stale = True


def _not_at_xnat(state: RowState, event: dict[str, Any], at: datetime) -> None:
    """The /import call never reached XNAT: send it again as the same attempt."""
    state.phase, state.attempt, state.retry_after = RETRY_WAIT, int(event["attempt"]) - 1, at


def _duplicate(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.duplicates.extend(int(request_id) for request_id in event["request_ids"])


def _received(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase, state.server_status, state.received_at, state.stale = RECEIVED, "RECEIVED", at, False


def _attempt_failed(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase, state.reason = RETRY_WAIT, str(event["reason"])
    state.server_status = str(event.get("status") or state.server_status)
    state.retry_after = at + timedelta(seconds=float(event.get("retry_in", 0)))


def _abandoned(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase, state.reason, state.retry_after, state.stale = RETRY_WAIT, str(event["reason"]), at, False


def _archiving(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase = ARCHIVING


def _archive_error(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase, state.reason = RECEIVED, str(event["reason"])
    state.archive_errors += 1


def _archived(state: RowState, event: dict[str, Any], at: datetime) -> None:
    state.phase, state.archived_at, state.archive_uri = ARCHIVED, at, str(event.get("uri") or "")
    state.reason = "" if not event.get("auto") else "archived by XNAT on receipt"


def _final(phase: str) -> Any:
    def handler(state: RowState, event: dict[str, Any], at: datetime) -> None:
        state.phase, state.reason = phase, str(event.get("reason") or state.reason)
        if phase == FAILED:
            state.server_status = str(event.get("status") or state.server_status)

    return handler


_HANDLERS = {
    "submitting": _submitting,
    "submitted": _submitted,
    "status": _status,
    "stale": _stale,
    "not_at_xnat": _not_at_xnat,
    "duplicate_requests": _duplicate,
    "received": _received,
    "attempt_failed": _attempt_failed,
    "abandoned": _abandoned,
    "archiving": _archiving,
    "archive_error": _archive_error,
    "archived": _archived,
    "failed": _final(FAILED),
    "missing": _final(MISSING),
    "cancelled": _final(CANCELLED),
}
