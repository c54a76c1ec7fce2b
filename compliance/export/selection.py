"""Which scans of a session an export sends, and which it holds back and why.

DQR export sends, per scan, the files of the scan's first resource whose format is DICOM, whatever its label
(DQR ``BasicCStoreSCU``): it cannot be told to send a cleaned resource instead. So the release gate
(``compliance.pixels.gate``, the same rules as ``enclave fetch``) is asked about exactly that resource, and a
scan is sent only when the gate releases that resource as it is. A scan the project requires to be cleaned
(or defaced) is held back even when its cleaned resource exists, because DQR would send the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.export.xnat_io import ScanResource, ScanRow, SessionRef
from compliance.pixels.gate import ReleaseMarker, release_decisions

DICOM_FORMAT = "DICOM"
SEND, HELD, SKIPPED = "send", "held back", "skipped"


@dataclass
class ScanChoice:
    scan: str
    type: str
    decision: str  # SEND | HELD | SKIPPED
    reason: str
    resource: str = ""  # the resource DQR sends (label)
    expected: int | None = None  # its files: the instances the node should hold
    frames: int | None = None  # XNAT's frames for the scan (reported beside the file count)
    series_uid: str = field(default="", repr=False)  # for the C-FIND; never written to a report


@dataclass
class SessionPlan:
    session: SessionRef
    scans: list[ScanChoice]

    @property
    def to_send(self) -> list[ScanChoice]:
        return [choice for choice in self.scans if choice.decision == SEND]

    @property
    def not_sent(self) -> list[ScanChoice]:
        return [choice for choice in self.scans if choice.decision != SEND]


def dqr_resource(scan: ScanRow) -> ScanResource | None:
    """The resource DQR export sends for the scan: its first DICOM-format resource."""
    return next((resource for resource in scan.resources if resource.format == DICOM_FORMAT), None)


def plan_session(session: SessionRef, scans: list[ScanRow], marker: ReleaseMarker) -> SessionPlan:
    return SessionPlan(session, [choose(scan, marker) for scan in scans])


def choose(scan: ScanRow, marker: ReleaseMarker) -> ScanChoice:
    resource = dqr_resource(scan)
    base = {"scan": scan.id, "type": scan.type, "frames": scan.frames, "series_uid": scan.series_uid}
    if resource is None:
        return ScanChoice(
            **base, decision=SKIPPED, reason="no DICOM-format resource: DQR has nothing to send"
        )
    base["resource"] = resource.label
    [decision] = release_decisions([scan.gate_row()], marker, resource.label)
    if not decision.allowed and decision.by_policy:
        return ScanChoice(**base, decision=HELD, reason=decision.reason)
    if decision.allowed and decision.resource != resource.label:
        return ScanChoice(
            **base,
            decision=HELD,
            reason=(
                f"{decision.reason}; DQR export sends the scan's {resource.label} resource and cannot send "
                f"{decision.resource}, so the scan is not exported"
            ),
        )
    if not resource.files:
        return ScanChoice(**base, decision=SKIPPED, reason=f"the {resource.label} resource has no files")
    if not scan.series_uid:
        return ScanChoice(
            **base,
            decision=SKIPPED,
            reason="XNAT holds no Series Instance UID for the scan, so its arrival could not be confirmed",
        )
    return ScanChoice(**base, decision=SEND, reason=decision.reason, expected=resource.files)
